#!/usr/bin/env bash
# JSON-log ingest and queries, in one run: the shared harness's "physical limit"
# (tantivy_limit: the same lines indexed straight into Tantivy 0.27, in process) and
# Sightline end to end over HTTP (POST /api/v1/logs, NDJSON, 10,000-line batches over 2
# connections), on the same lines.
#
#   LOGS=/tmp/bench/data/logs_5m WORK=/tmp/bench/logs PYTHON=/tmp/bench/venv/bin/python \
#       benches/logs_peers.sh
#
# Lines: ../shared/bench/logs_gen.py gen --out $LOGS --lines 5000000 --files 10
# Sightline is "searchable" when sightline_logs_lines_indexed_total counts every line:
# the meter's flush command polls that, so CPU "incl. flush" is CPU per GB made
# searchable (then 20 s of settling, in which merges go on, are billed too).
# Queries (curl, median of $QRUNS after one warm-up): the trace lookup of the trace id on
# line 1001 of the first file (as tantivy_limit's), the full-text query
# "connection AND timed" (top 100 newest + the total count), and two queries on a field
# without index terms (status): beside a service, and alone ($FIELD_QRUNS runs each).
# Prints JSON lines; appends them to $WORK/results.jsonl.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$REPO/../shared/bench}
LOGS=${LOGS:?set LOGS to a directory made by logs_gen.py gen}
WORK=${WORK:-/tmp/sightline-logs-bench}
PYTHON=${PYTHON:-python3}
QRUNS=${QRUNS:-20}
PORT=${PORT:-17413}
BIN=${BIN:-$REPO/target/release/sightline}
RUN_TANTIVY=${RUN_TANTIVY:-1}
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
LINES=$("$PYTHON" -c "import json,sys;print(json.load(open(sys.argv[1]))['lines'])" "$LOGS/manifest.json")

# TL_BIN: an already built tantivy_limit (default: build it in the harness's directory).
TL_BIN=${TL_BIN:-}
if [[ $RUN_TANTIVY == 1 ]]; then
  if [[ -z $TL_BIN ]]; then
    (cd "$BENCH/tantivy_limit" && cargo build --release --quiet)
    TL_BIN=$BENCH/tantivy_limit/target/release/tantivy_limit
  fi
  rm -rf "$WORK/tantivy_index"
  "$TL_BIN" --index-dir "$WORK/tantivy_index" --heap-mb 1024 \
    --max-seconds 480 --runs "$QRUNS" "$LOGS"/*.ndjson | tee -a "$RESULTS"
  rm -rf "$WORK/tantivy_index"
fi

SERVER_PID=""
cleanup() { if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi; }
trap cleanup EXIT
rm -rf "$WORK/sightline_data"
"$BIN" --data-dir "$WORK/sightline_data" --http-listen "127.0.0.1:$PORT" --set statsd.enabled=false \
  ${SIGHTLINE_ARGS:-} >"$WORK/sightline.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done

URL="http://127.0.0.1:$PORT"
# Searchable = committed: the store's own counter, cheap to poll (a search for every
# line would sort millions of lines per poll and bill the server for the meter's work).
INDEXED="curl -s $URL/metrics | awk '/^sightline_logs_lines_indexed_total/ {print \$2}'"
SEARCHABLE="until [ \"\$($INDEXED)\" -ge $LINES ] 2>/dev/null; do sleep 0.2; done; echo indexed \$($INDEXED)"
"$PYTHON" "$BENCH/logs_gen.py" post --input "$LOGS" --url "$URL/api/v1/logs" \
  --batch-lines 10000 --concurrency 2 --content-type application/x-ndjson \
  --pid "$SERVER_PID" --data-dir "$WORK/sightline_data/logs" --flush-cmd "$SEARCHABLE" --settle 20 \
  --max-seconds 900 --label "sightline $(git -C "$REPO" rev-parse --short HEAD)" --json-out "$RESULTS"

TRACE=$(sed -n '1001p;1001q' "$LOGS/logs_000.ndjson" | "$PYTHON" -c 'import sys,json;print(json.loads(sys.stdin.read()).get("trace_id",""))')
query() { # name path
  curl -s -o /dev/null "$URL$2"
  for _ in $(seq 1 "$QRUNS"); do curl -s -o /dev/null -w '%{time_total}\n' "$URL$2"; done >"$WORK/q_$1.txt"
  local answer
  answer=$(curl -s "$URL$2" | "$PYTHON" -c 'import sys,json;d=json.load(sys.stdin)["data"];print(len(d["lines"]), d["total"])')
  "$PYTHON" -c "
import json,statistics,sys
v=sorted(float(x)*1000 for x in open(sys.argv[2]))
lines,total=sys.argv[4].split()
print(json.dumps({'label':'sightline','query':sys.argv[1],'path':sys.argv[3],'runs':len(v),'median_ms':round(statistics.median(v),2),'min_ms':round(v[0],2),'max_ms':round(v[-1],2),'lines':int(lines),'total':int(total)}))" \
    "$1" "$WORK/q_$1.txt" "$2" "$answer" | tee -a "$RESULTS"
}
query trace_id "/api/v1/logs/trace/$TRACE"
query fulltext "/api/v1/logs/search?query=connection%20AND%20timed&limit=100&start=0&end=4102444800"
# Field queries: with an indexed clause beside (service), and alone (every line read).
QRUNS=${FIELD_QRUNS:-3} query field_with_service "/api/v1/logs/search?query=service:checkout%20AND%20status:503&limit=100&start=0&end=4102444800"
QRUNS=${FIELD_QRUNS:-3} query field_alone "/api/v1/logs/search?query=status:503&limit=100&start=0&end=4102444800"
du -sb "$WORK/sightline_data/logs"/* | sed 's/^/sightline logs dir: /'
