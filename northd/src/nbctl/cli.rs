//! The command line: global options, then commands separated by `--`, each with its own options.
//!
//! ```text
//!   nbctl [--db=REMOTE] [--timeout=S] [--may-exist] ls-add sw -- lsp-add sw p1 -- --if-exists lsp-del p2
//!         └──── global ───────────┘ └─ options of the first command ─┘     └ options of the third ┘
//! ```
//! `ovn-nbctl` lets options that belong to the first command stand among the global ones, so the split is by
//! name: the global options are listed in [`GLOBAL_OPTIONS`]; any other option before the first command name
//! belongs to that command. clap parses the global options (it gives `--help`, `--version` and their errors);
//! the chain itself is split here, because clap has no notion of `--`-separated subcommands with options.

use std::collections::BTreeMap;

/// Global option names (long form, without dashes) and whether they take a value.
pub const GLOBAL_OPTIONS: &[(&str, bool)] = &[
    ("db", true),
    ("timeout", true),
    ("t", true),
    ("no-wait", false),
    ("wait", true),
    ("verbose", false),
    ("v", false),
    ("help", false),
    ("h", false),
    ("version", false),
    ("V", false),
    ("no-leader-only", false),
    ("leader-only", false),
];

/// One command of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub name: String,
    pub args: Vec<String>,
    /// `--name` -> None, `--name=value` -> Some(value).
    pub options: BTreeMap<String, Option<String>>,
}

impl CommandLine {
    pub fn has(&self, option: &str) -> bool {
        self.options.contains_key(option)
    }

    pub fn value(&self, option: &str) -> Option<&str> {
        self.options.get(option).and_then(|v| v.as_deref())
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The global options in the form clap reads (`--db=x`).
    pub global: Vec<String>,
    pub commands: Vec<CommandLine>,
}

fn split_option(arg: &str) -> Option<(String, Option<String>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    Some(match body.split_once('=') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (body.to_string(), None),
    })
}

pub fn split(args: &[String]) -> Result<Invocation, String> {
    let mut global = Vec::new();
    let mut first_opts = BTreeMap::new();
    let mut i = 0;
    while i < args.len() && args[i] != "--" {
        let Some((name, value)) = split_option(&args[i]) else { break };
        match GLOBAL_OPTIONS.iter().find(|(n, _)| *n == name) {
            Some((_, takes_value)) => {
                global.push(args[i].clone());
                if *takes_value && value.is_none() {
                    i += 1;
                    let v = args.get(i).ok_or_else(|| format!("option '{}' requires an argument", args[i - 1]))?;
                    global.push(v.clone());
                }
            }
            None => {
                first_opts.insert(name, value);
            }
        }
        i += 1;
    }
    let mut commands = Vec::new();
    let mut opts = first_opts;
    let rest = &args[i..];
    for segment in rest.split(|a| a == "--") {
        let mut j = 0;
        while j < segment.len() {
            match split_option(&segment[j]) {
                Some((n, v)) if segment[j].starts_with("--") => {
                    opts.insert(n, v);
                    j += 1;
                }
                _ => break,
            }
        }
        let Some(name) = segment.get(j) else {
            if !opts.is_empty() {
                return Err("missing command name (options given without a command)".into());
            }
            continue;
        };
        commands.push(CommandLine { name: name.clone(), args: segment[j + 1..].to_vec(), options: std::mem::take(&mut opts) });
    }
    if !opts.is_empty() {
        return Err("missing command name (options given without a command)".into());
    }
    Ok(Invocation { global, commands })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_global_options_and_chain() {
        let inv =
            split(&s(&["--db", "unix:/x", "--may-exist", "ls-add", "a", "--", "--if-exists", "lsp-del", "p", "--", "ls-list"])).unwrap();
        assert_eq!(inv.global, s(&["--db", "unix:/x"]));
        assert_eq!(inv.commands.len(), 3);
        assert!(inv.commands[0].has("may-exist"));
        assert_eq!(inv.commands[1].name, "lsp-del");
        assert!(inv.commands[1].has("if-exists"));
        assert!(inv.commands[2].options.is_empty());
    }

    #[test]
    fn option_values_and_errors() {
        let inv = split(&s(&["--policy=src-ip", "lr-route-add", "r", "10.0.0.0/8", "1.1.1.1"])).unwrap();
        assert_eq!(inv.commands[0].value("policy"), Some("src-ip"));
        assert!(split(&s(&["ls-add", "a", "--", "--may-exist"])).is_err());
        assert!(split(&s(&["--db"])).is_err());
        assert!(split(&s(&[])).unwrap().commands.is_empty());
    }
}
