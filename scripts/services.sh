#!/usr/bin/env bash
# Services the integration tests start: installs them once and reuses them.
#
#   scripts/services.sh install   install what is missing (default)
#   scripts/services.sh paths     print the environment the tests read
#
# Independent Kafka client for the interoperability test: kafka-python in a
# project-local virtualenv (.venv).
#
# Kafka-API broker: tansu 0.6.0 (a Rust crate), built with cargo into
# $STREAMLAKE_TOOLS (default ~/.cache/streamlake/tools). The first install
# takes 20-40 minutes on 2 cores; later runs reuse the binary. The tests
# start one broker per test on a free loopback port, in a temporary
# directory, with the sqlite storage engine, and stop it afterwards.
set -euo pipefail

TOOLS="${STREAMLAKE_TOOLS:-$HOME/.cache/streamlake/tools}"
TANSU_VERSION=0.6.0

install_tansu() {
    if [ -x "$TOOLS/bin/tansu" ] && "$TOOLS/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
        return
    fi
    echo "services: installing tansu $TANSU_VERSION into $TOOLS (once; 20-40 minutes on 2 cores)" >&2
    cargo install "tansu@$TANSU_VERSION" --locked --features dynostore,libsql --root "$TOOLS"
}

KAFKA_PYTHON_VERSION=3.0.12

install_python_client() {
    local root venv
    root="$(cd "$(dirname "$0")/.." && pwd)"
    venv="$root/.venv"
    if "$venv/bin/python" -c "import kafka, lz4, zstandard; assert kafka.__version__ == '$KAFKA_PYTHON_VERSION'" 2>/dev/null; then
        return
    fi
    echo "services: installing kafka-python $KAFKA_PYTHON_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "kafka-python==$KAFKA_PYTHON_VERSION" lz4 zstandard
}

case "${1:-install}" in
    install) install_tansu; install_python_client ;;
    paths) echo "STREAMLAKE_TANSU=$TOOLS/bin/tansu" ;;
    *) echo "usage: $0 [install|paths]" >&2; exit 2 ;;
esac
