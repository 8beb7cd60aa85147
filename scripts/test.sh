#!/usr/bin/env bash
# Quick start, command 2: every test. Installs what the tests run against (real ovsdb-server, OVN's tools),
# checks formatting and lints, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
