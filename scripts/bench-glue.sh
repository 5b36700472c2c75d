#!/usr/bin/env bash
# What live Glue registration costs: kafka_to_lake (release build) on the
# in-process mock cluster into an S3 lake on a local moto server, the same
# demo records without and with --glue-database, in one invocation; then a
# run with one partition per index and day for the API calls per partition.
#
#   scripts/bench-glue.sh [RECORDS]      (default 200000)
#
# Prints each run's summary (throughput, objects, registration latency and
# API calls). Needs .venv from scripts/services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-200000}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release --features kafka,s3,glue --example kafka_to_lake
EXE="$TARGET/release/examples/kafka_to_lake"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
MOTO=$!
trap 'kill $MOTO' EXIT
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
curl -sf -X PUT "http://127.0.0.1:$PORT/lake" >/dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing-secret \
    AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent

run() {
    local label="$1"; shift
    echo "== $label"
    /usr/bin/time -f "process:  %e s wall, %U s user + %S s sys" \
        "$EXE" --demo-records "$RECORDS" --idle-timeout 1 "$@" 2>&1 \
        | grep -E "^(time|objects|glue|process|records):"
}
run "without registration" --lake s3://lake/plain
run "with --glue-database" --lake s3://lake/registered --glue-database bench
RECORDS=2000 run "one partition per index and day, registered" \
    --lake s3://lake/daily --partition-by 'index={Index}/dt={@date}' --glue-database bench_daily
