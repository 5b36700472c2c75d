#!/usr/bin/env bash
# The whole test suite: unit, doc, integration (against a real Kafka-API
# broker), crash and example tests. Installs what the tests need first (see
# scripts/services.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh install
export $(scripts/services.sh paths)
exec cargo test --all-features "$@"
