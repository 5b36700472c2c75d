#!/usr/bin/env bash
# The whole test suite: unit, doc, integration (against a real Kafka-API
# broker and a real S3-compatible server), crash and example tests. Installs
# what the tests need first (see scripts/services.sh). Extra arguments go to
# `cargo test`.
#
# Every wait inside the tests has a deadline (STREAMLAKE_TEST_TIMEOUT_SCALE
# multiplies them on slow machines) and fails with a diagnosis. As a last
# resort the whole run is stopped after 60 minutes (scaled the same way), so
# a hang can never hold CI until its own limit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh install
export $(scripts/services.sh paths)
limit=$(awk "BEGIN { printf \"%d\", 3600 * ${STREAMLAKE_TEST_TIMEOUT_SCALE:-1} }")
status=0
timeout --kill-after=30 "$limit" cargo test --all-features "$@" || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "scripts/test.sh: the tests ran past ${limit} s and were stopped: a test hangs" \
         "(cargo test names tests running for over 60 s above)" >&2
fi
exit "$status"
