#!/usr/bin/env bash
# Quick start, command 1: the seed scenario, end to end on this machine.
#
# Three nodes in network namespaces, each with its own real ovsdb-server + ovs-vswitchd (userspace
# datapath) and a controller; the seed topology (shared/seed: switches ovn-default, join, external; router
# ovn-cluster with its gateway port on n1; FIP 192.168.100.101 -> testvm 100.0.0.14) made with our nbctl and
# translated by our northd, carried by our controller on every node; then the checks a user makes with
# ping and tcpdump, in both NAT modes. Prints `nbctl show`, the gateway's OpenFlow table sizes and the ping
# results, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --bins --quiet

for mode in centralized distributed; do
    echo "=================== seed scenario, $mode NAT ==================="
    target/release/seed --nat "$mode"
done
