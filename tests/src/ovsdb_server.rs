//! A real `ovsdb-server` in its own temp dir, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{require, run, Ran};

pub struct OvsdbServer {
    dir: tempfile::TempDir,
    db: PathBuf,
    sock: PathBuf,
    tcp: Option<u16>,
    child: Option<Child>,
}

impl OvsdbServer {
    /// A fresh database of OVN's Northbound schema.
    pub fn nb() -> OvsdbServer {
        Self::with_schema(Path::new("/usr/share/ovn/ovn-nb.ovsschema"), false)
    }

    /// A fresh database of OVN's Southbound schema.
    pub fn southbound() -> OvsdbServer {
        Self::with_schema(Path::new("/usr/share/ovn/ovn-sb.ovsschema"), false)
    }

    /// A fresh Northbound database that also listens on a loopback TCP port.
    pub fn nb_with_tcp() -> OvsdbServer {
        Self::with_schema(Path::new("/usr/share/ovn/ovn-nb.ovsschema"), true)
    }

    pub fn with_schema(schema: &Path, tcp: bool) -> OvsdbServer {
        assert!(schema.is_file(), "schema {} is missing: run scripts/install-deps.sh (Debian package ovn-common)", schema.display());
        let dir = tempfile::Builder::new().prefix("ovsdb-test-").tempdir().expect("temp dir");
        let db = dir.path().join("db");
        let tool = require("ovsdb-tool");
        run(&tool, &["create", path_str(&db), path_str(schema)], &[]).ok();
        let sock = dir.path().join("db.sock");
        let tcp = tcp.then(free_port);
        let mut s = OvsdbServer { dir, db, sock, tcp, child: None };
        s.start();
        s
    }

    /// Starts the server on the existing database file.
    pub fn start(&mut self) {
        let d = self.dir.path();
        let mut cmd = Command::new(require("ovsdb-server"));
        cmd.arg(format!("--remote=punix:{}", self.sock.display()))
            .arg(format!("--unixctl={}", d.join("ctl").display()))
            .arg(format!("--log-file={}", d.join("ovsdb-server.log").display()))
            .arg("--no-chdir")
            .arg(&self.db)
            .env("OVS_RUNDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_DBDIR", d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = self.tcp {
            cmd.arg(format!("--remote=ptcp:{p}:127.0.0.1"));
        }
        self.child = Some(cmd.spawn().expect("start ovsdb-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            assert!(Instant::now() < deadline, "ovsdb-server did not come up; see {}", d.join("ovsdb-server.log").display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (the database file stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `unix:PATH` of the server.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// `tcp:127.0.0.1:PORT`, when started with TCP.
    pub fn tcp_remote(&self) -> Option<String> {
        self.tcp.map(|p| format!("tcp:127.0.0.1:{p}"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ovsdb-client dump` of the whole database: compare two dumps to see that nothing changed.
    pub fn dump(&self) -> String {
        run(&require("ovsdb-client"), &["dump", &self.remote()], &[]).ok().stdout
    }

    /// Runs OVN's own `ovn-sbctl` against this database.
    pub fn ovn_sbctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.remote());
        let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
        run(&require("ovn-sbctl"), &all, &[])
    }

    /// Runs OVN's own `ovn-nbctl` against this database.
    pub fn ovn_nbctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.remote());
        let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
        run(&require("ovn-nbctl"), &all, &[])
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A loopback TCP port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}
