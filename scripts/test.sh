#!/usr/bin/env bash
# The whole test suite: unit, doc, integration, crash and example tests.
# Everything the tests need is installed by this script; today that is only
# the Rust toolchain. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --all-features "$@"
