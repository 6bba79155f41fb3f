#!/usr/bin/env bash
# StatsD over UDP, side by side: Sightline and the Etsy statsd daemon (0.9.0), measured
# by the shared harness (../shared/bench/statsd_bench.py): the highest rate with loss
# under MAX_LOSS (a sweep), and CPU per metric at a fixed rate.
#
#   benches/statsd_peers.sh      # MAX_LOSS=0.001 MPP="1 10" RATE=20000 PEERS="sightline etsy"
#
# Env: BENCH (harness dir), WORK, RESULTS, PYTHON, SIGHTLINE (release binary), ETSY_DIR
# (a directory with `npm ci` done on ../shared/bench/statsd/package*.json and its
# config.js), MAX_LOSS, MPP (metrics per packet), RATE (packets/s for the CPU run).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$repo/../shared/bench}
WORK=${WORK:-/tmp/sightline-bench}
RESULTS=${RESULTS:-$WORK/statsd_runs.jsonl}
PYTHON=${PYTHON:-python3}
SIGHTLINE=${SIGHTLINE:-$repo/target/release/sightline}
ETSY_DIR=${ETSY_DIR:-$WORK/etsy-statsd}
MAX_LOSS=${MAX_LOSS:-0.001}
MPP=${MPP:-"1 10"}
RATE=${RATE:-20000}
PEERS=${PEERS:-"sightline etsy"}
SL_PORT=17413
mkdir -p "$WORK"

SERVER_PID=""
cleanup() { if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi; }
trap cleanup EXIT

for peer in $PEERS; do
  for mpp in $MPP; do
    case $peer in
      sightline)
        dir=$WORK/data_statsd_sightline; rm -rf "$dir"
        "$SIGHTLINE" --data-dir "$dir" --http-listen 127.0.0.1:$SL_PORT --set statsd.listen=127.0.0.1:8125 \
          --set statsd.tcp_enabled=false --set statsd.max_series=0 --set otlp_grpc.enabled=false --set otlp_http.enabled=false \
          > "$WORK/statsd-$peer.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$SL_PORT/-/ready >/dev/null && break; sleep 0.1; done
        count=(--count-mode cmd --count-cmd "curl -s http://127.0.0.1:$SL_PORT/metrics | awk '/^sightline_ingest_items_total\\{protocol=\"statsd\"\\}/{print \$2}'") ;;
      etsy)
        node "$ETSY_DIR/node_modules/statsd/stats.js" "$ETSY_DIR/config.js" > "$WORK/statsd-$peer.log" 2>&1 &
        SERVER_PID=$!
        sleep 1
        count=(--count-mode etsy) ;;
    esac
    "$PYTHON" "$BENCH/statsd_bench.py" sweep --pid "$SERVER_PID" --lo 10000 --seconds 10 --metrics-per-packet "$mpp" \
      --max-loss "$MAX_LOSS" "${count[@]}" --label "$peer-sweep-mpp$mpp" --json-out "$RESULTS"
    "$PYTHON" "$BENCH/statsd_bench.py" run --pid "$SERVER_PID" --rate "$RATE" --seconds 10 --metrics-per-packet "$mpp" \
      "${count[@]}" --label "$peer-rate$RATE-mpp$mpp" --json-out "$RESULTS"
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
  done
done
