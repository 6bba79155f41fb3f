#!/usr/bin/env bash
# Remote-write ingest, side by side: Sightline, Prometheus 2.42 and VictoriaMetrics 1.79
# (Debian packages) on the same payload, one after the other on this machine, measured
# by the shared harness (../shared/bench/rw_bench.py: CPU and peak RSS from /proc,
# bytes on disk after each server's flush).
#
#   benches/remote_write_peers.sh            # REPS=1 PEERS="sightline prometheus victoriametrics"
#
# Env: BENCH (harness dir, default ../shared/bench), PAYLOAD (a `rw_bench.py gen`
# directory; generated if missing), WORK (data dirs and logs), RESULTS (JSON lines),
# PYTHON (with cramjam, numpy, orjson), REPS, PEERS, SIGHTLINE (release binary).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$repo/../shared/bench}
WORK=${WORK:-/tmp/sightline-bench}
PAYLOAD=${PAYLOAD:-$WORK/data/rw_10000_1440}
RESULTS=${RESULTS:-$WORK/rw_runs.jsonl}
PYTHON=${PYTHON:-python3}
REPS=${REPS:-1}
PEERS=${PEERS:-"sightline prometheus victoriametrics"}
SIGHTLINE=${SIGHTLINE:-$repo/target/release/sightline}
SL_PORT=17413 PROM_PORT=19090 VM_PORT=18428
mkdir -p "$WORK"

if [[ ! -f $PAYLOAD/manifest.json ]]; then
  # The payload the harness's saved Prometheus answers were computed on.
  "$PYTHON" "$BENCH/rw_bench.py" gen --out "$PAYLOAD" --series 10000 --steps 1440 --shards 4 --start-ms 1795283910000
fi

SERVER_PID=""
cleanup() { if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi; }
trap cleanup EXIT

wait_ready() { for _ in $(seq 1 150); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }

for rep in $(seq 1 "$REPS"); do
  for peer in $PEERS; do
    dir=$WORK/data_$peer
    rm -rf "$dir"; mkdir -p "$dir"
    case $peer in
      sightline)
        "$SIGHTLINE" --data-dir "$dir" --http-listen 127.0.0.1:$SL_PORT \
          --set statsd.enabled=false --set otlp_grpc.enabled=false --set otlp_http.enabled=false \
          > "$WORK/$peer.log" 2>&1 &
        SERVER_PID=$!
        wait_ready http://127.0.0.1:$SL_PORT/-/ready
        url=http://127.0.0.1:$SL_PORT/api/v1/write
        flush="curl -s -XPOST http://127.0.0.1:$SL_PORT/api/v1/admin/tsdb/flush"
        globs=(--size-glob "$dir/tsdb/blocks"); settle=10 ;;
      prometheus)
        printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' > "$WORK/prom_empty.yml"
        prometheus --config.file="$WORK/prom_empty.yml" --web.listen-address=127.0.0.1:$PROM_PORT \
          --storage.tsdb.path="$dir" --storage.tsdb.retention.time=100y \
          --web.enable-remote-write-receiver --web.enable-admin-api > "$WORK/$peer.log" 2>&1 &
        SERVER_PID=$!
        wait_ready http://127.0.0.1:$PROM_PORT/-/ready
        url=http://127.0.0.1:$PROM_PORT/api/v1/write
        flush="curl -s -XPOST http://127.0.0.1:$PROM_PORT/api/v1/admin/tsdb/snapshot"
        globs=(--size-glob "$dir/snapshots/*"); settle=0 ;;
      victoriametrics)
        victoria-metrics -httpListenAddr=127.0.0.1:$VM_PORT -storageDataPath="$dir" -retentionPeriod=100y \
          > "$WORK/$peer.log" 2>&1 &
        SERVER_PID=$!
        wait_ready http://127.0.0.1:$VM_PORT/health
        url=http://127.0.0.1:$VM_PORT/api/v1/write
        flush="curl -s http://127.0.0.1:$VM_PORT/internal/force_flush"
        globs=(--size-glob "$dir/data" --size-glob "$dir/indexdb"); settle=10 ;;
    esac
    "$PYTHON" "$BENCH/rw_bench.py" send --payload "$PAYLOAD" --url "$url" --concurrency 4 --pid "$SERVER_PID" \
      --data-dir "$dir" --flush-cmd "$flush" "${globs[@]}" --settle "$settle" --max-seconds 600 \
      --label "$peer-rep$rep" --json-out "$RESULTS"
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
  done
done
