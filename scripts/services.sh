#!/usr/bin/env bash
# Services the integration tests start: installs them once and reuses them.
#
#   scripts/services.sh install   install what is missing (default)
#   scripts/services.sh paths     print the environment the tests read
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

case "${1:-install}" in
    install) install_tansu ;;
    paths) echo "STREAMLAKE_TANSU=$TOOLS/bin/tansu" ;;
    *) echo "usage: $0 [install|paths]" >&2; exit 2 ;;
esac
