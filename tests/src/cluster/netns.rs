//! Network namespaces owned by a test: created with a name unique to the run, deleted on drop.

use std::path::Path;

use crate::{require, run, Ran};

/// The prefix of every namespace the harness creates: `ovne2e-<pid>-<n>-<role>`. It lets a later run find
/// (and remove) what a crashed run left behind, and keeps two concurrent runs apart.
pub(crate) const PREFIX: &str = "ovne2e-";

/// A named network namespace, deleted (with whatever interfaces it holds) when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up. A namespace of the same name left by a crashed run
    /// is deleted first, so setup never trips over leftovers.
    pub(crate) fn new(name: &str) -> Netns {
        let ip = require("ip");
        if Path::new("/run/netns").join(name).exists() {
            let _ = run(&ip, &["netns", "del", name], &[]);
        }
        let r = run(&ip, &["netns", "add", name], &[]);
        assert_eq!(r.code, 0, "ip netns add {name} failed (the tests need root): {}", r.stderr);
        let ns = Netns { name: name.to_string() };
        ns.ip(&["link", "set", "lo", "up"]).ok();
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS…`
    pub fn ip(&self, args: &[&str]) -> Ran {
        let all: Vec<&str> = ["-n", self.name.as_str()].into_iter().chain(args.iter().copied()).collect();
        run(&require("ip"), &all, &[])
    }

    /// `ip netns exec NS PROGRAM ARGS…`
    pub fn exec(&self, args: &[&str]) -> Ran {
        exec_in(&self.name, args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&require("ip"), &["netns", "del", &self.name], &[]);
    }
}

/// `ip netns exec NS ARGS…`
pub(crate) fn exec_in(ns: &str, args: &[&str]) -> Ran {
    let all: Vec<&str> = ["netns", "exec", ns].into_iter().chain(args.iter().copied()).collect();
    run(&require("ip"), &all, &[])
}

/// Creates a veth pair with one end in each namespace (created there directly, so the names only need to
/// be unique inside their namespace) and sets both ends up.
pub(crate) fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
    run(
        &require("ip"),
        &["link", "add", "name", a_name, "netns", a.name(), "type", "veth", "peer", "name", b_name, "netns", b.name()],
        &[],
    )
    .ok();
    a.ip(&["link", "set", a_name, "up"]).ok();
    b.ip(&["link", "set", b_name, "up"]).ok();
}
