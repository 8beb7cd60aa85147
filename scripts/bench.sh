#!/usr/bin/env bash
# The scale benchmarks (issue 6): our northd and controller against OVN's ovn-northd and ovn-controller on
# the same generated networks, in the same run, side by side with their ratio, then which acceptance
# targets hold. Arguments go to target/release/bench (see `target/release/bench --help`), e.g.
#
#   scripts/bench.sh                                   # northd at 10x100, 50x100, 100x100 and one switch of
#                                                      # 10,000 VIFs (1x10000); controller at 100x100
#   scripts/bench.sh --sizes 10x100 --northd-only      # a quick look
#   scripts/bench.sh --controller-only --hosted 200
#
# Needs root (the benchmark's Open vSwitch runs in its own network namespace). Takes a few minutes at the
# default sizes, most of it OVN's ovn-northd; nothing else should be running on the machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --bins --quiet

# Every temp dir of the run under one directory, removed however the run ends (the benchmark removes its
# own on success and failure; this also covers an interrupted run).
export TMPDIR
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
trap 'rm -rf "$TMPDIR"' EXIT

# Without arguments: the issue's sizes, S x P = 10x100, 50x100, 100x100 with 10% of the VIFs given a FIP,
# the big switch of issue 14 (bench's default --big-switch 10000; --no-big-switch leaves it out), and the
# controller on one chassis of the 100x100 network hosting 100 VIFs.
[ $# -gt 0 ] || set -- --sizes 10x100,50x100,100x100 --fips-percent 10 --hosted 100
target/release/bench "$@"
