//! Where a database lives: `unix:PATH`, `tcp:IP:PORT`, or a comma-separated list of them tried in turn (as
//! OVN's tools take `--db=tcp:a:6641,tcp:b:6641` for a clustered database).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: not a database remote (expected unix:PATH or tcp:IP:PORT)")]
pub struct RemoteParseError(pub String);

impl FromStr for Remote {
    type Err = RemoteParseError;

    fn from_str(s: &str) -> Result<Remote, RemoteParseError> {
        let bad = || RemoteParseError(s.to_string());
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Remote::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            return addr.parse::<SocketAddr>().map(Remote::Tcp).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// Parses a comma-separated list of remotes.
pub fn parse_list(s: &str) -> Result<Vec<Remote>, RemoteParseError> {
    let list: Vec<Remote> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(RemoteParseError(s.to_string()));
    }
    Ok(list)
}

/// A connected byte stream to a database server.
pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

impl Remote {
    pub async fn connect(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(match self {
            Remote::Unix(p) => Box::new(UnixStream::connect(p).await?),
            Remote::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_tcp_and_lists() {
        assert_eq!("unix:/tmp/nb.sock".parse::<Remote>().unwrap(), Remote::Unix("/tmp/nb.sock".into()));
        assert_eq!("tcp:127.0.0.1:6641".parse::<Remote>().unwrap().to_string(), "tcp:127.0.0.1:6641");
        assert_eq!("tcp:[::1]:6641".parse::<Remote>().unwrap().to_string(), "tcp:[::1]:6641");
        assert_eq!(parse_list("unix:/a, tcp:127.0.0.1:1").unwrap().len(), 2);
        for bad in ["", "unix:", "tcp:1.2.3.4", "ssl:1.2.3.4:5", "/tmp/x"] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }
}
