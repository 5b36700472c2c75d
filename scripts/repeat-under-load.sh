#!/usr/bin/env bash
# Runs a command N times in a row while busy loops keep every core loaded,
# and prints each run's outcome and wall time: the way to show that a test
# (or the whole suite) passes every time on a busy machine.
#
#   scripts/repeat-under-load.sh 20 cargo test --all-features --test kafka_pipeline sigkill
#   scripts/repeat-under-load.sh 5 scripts/test.sh
#
# Each run's output goes to $LOGS/run-K.log (default target/repeat-logs).
# LOAD=0 runs without the busy loops.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="$1"
shift
logs="${LOGS:-target/repeat-logs}"
mkdir -p "$logs"

burners=()
if [ "${LOAD:-1}" != 0 ]; then
    for _ in $(seq "$(nproc)"); do
        (while :; do :; done) &
        burners+=($!)
    done
fi
trap 'kill "${burners[@]}" 2>/dev/null' EXIT

failed=0
for k in $(seq "$runs"); do
    start=$(date +%s)
    if "$@" >"$logs/run-$k.log" 2>&1; then outcome=passed; else outcome=FAILED; failed=$((failed + 1)); fi
    echo "run $k/$runs: $outcome in $(( $(date +%s) - start )) s (log: $logs/run-$k.log)"
done
echo "$failed of $runs runs failed"
[ "$failed" = 0 ]
