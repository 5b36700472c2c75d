#!/usr/bin/env bash
# Services the integration tests start: installs them once and reuses them.
#
#   scripts/services.sh install   install what is missing (default)
#   scripts/services.sh paths     print the environment the tests read
#
# Python tools in a project-local virtualenv (.venv): kafka-python, the
# independent Kafka client of the interoperability test, and the moto
# server for S3 and Glue on one port (with boto3, the independent S3 and
# Glue client), and deltalake (delta-rs's Python package: the independent
# reader of the Delta tables streamlake writes). The S3 and Glue tests start one moto_server per test on a
# free loopback port and stop it afterwards.
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
MOTO_VERSION=5.2.5
DELTALAKE_VERSION=1.6.6
VENV="$(cd "$(dirname "$0")/.." && pwd)/.venv"

install_python_tools() {
    if "$VENV/bin/python" -c "
import importlib.metadata as m, kafka, lz4, zstandard, boto3, flask_cors, pyparsing, deltalake
assert kafka.__version__ == '$KAFKA_PYTHON_VERSION'
assert m.version('moto') == '$MOTO_VERSION'
assert m.version('deltalake') == '$DELTALAKE_VERSION'" 2>/dev/null; then
        return
    fi
    echo "services: installing kafka-python $KAFKA_PYTHON_VERSION, moto $MOTO_VERSION and deltalake $DELTALAKE_VERSION into $VENV" >&2
    if ! python3 -m venv "$VENV"; then
        # Debian ships the venv module separately.
        echo "services: python3 -m venv failed; installing python3-venv with apt" >&2
        rm -rf "$VENV"
        if [ "$(id -u)" = 0 ]; then apt-get install -y python3-venv; else sudo apt-get install -y python3-venv; fi
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet "kafka-python==$KAFKA_PYTHON_VERSION" lz4 zstandard \
        "moto[s3,glue]==$MOTO_VERSION" flask flask-cors "deltalake==$DELTALAKE_VERSION"
}

case "${1:-install}" in
    install) install_tansu; install_python_tools ;;
    paths)
        echo "STREAMLAKE_TANSU=$TOOLS/bin/tansu"
        echo "STREAMLAKE_MOTO=$VENV/bin/moto_server"
        ;;
    *) echo "usage: $0 [install|paths]" >&2; exit 2 ;;
esac
