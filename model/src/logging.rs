//! Logging for the daemons (`northd`, `controller`): one setup so that their `--verbose` and `--log-file`
//! options mean the same thing.

use std::path::Path;

/// Starts `tracing` output: the filter is `$RUST_LOG` if set, else `verbose` (e.g. `info`,
/// `northd=debug`); lines go to `log_file` (appended, no colours) or to stderr (colours on a terminal).
/// The error is the one-line message to print when the file cannot be opened.
pub fn init(verbose: &str, log_file: Option<&Path>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(verbose));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(f)).init();
        }
        None => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_writer(std::io::stderr).init(),
    }
    Ok(())
}
