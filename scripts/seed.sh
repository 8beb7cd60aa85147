#!/usr/bin/env bash
# Quick start, command 1: the seed scenario.
#
# Today this builds the seed topology (shared/seed: switches ovn-default, join, external; router
# ovn-cluster with its gateway port on n1; FIP 192.168.100.101 -> 100.0.0.14) with our nbctl in a
# throwaway ovsdb-server holding OVN's Northbound schema, prints it with our nbctl and with OVN's own
# ovn-nbctl, and cleans up. As northd and the controller land, it grows into the whole scenario end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --bins --quiet

dir=$(mktemp -d /tmp/seed.XXXXXX)
cleanup() {
    if [ -f "$dir/nb.pid" ]; then kill "$(cat "$dir/nb.pid")" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

ovsdb-tool create "$dir/nb.db" /usr/share/ovn/ovn-nb.ovsschema
ovsdb-server --remote="punix:$dir/nb.sock" --pidfile="$dir/nb.pid" --unixctl="$dir/nb.ctl" \
    --log-file="$dir/nb.log" --detach --no-chdir -vconsole:off "$dir/nb.db"

db="--db=unix:$dir/nb.sock"
NBCTL="target/release/nbctl $db" NAT_MODE="${NAT_MODE:-centralized}" fixtures/seed/topology.sh

run() { echo "\$ $*"; "$@"; echo; }
run target/release/nbctl "$db" show
run target/release/nbctl "$db" lr-nat-list ovn-cluster
run target/release/nbctl "$db" lr-route-list ovn-cluster
run target/release/nbctl "$db" lrp-get-gateway-chassis ovn-cluster-external
echo "# OVN's own ovn-nbctl reads the same database:"
run ovn-nbctl "$db" show
