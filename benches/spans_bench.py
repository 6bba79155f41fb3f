#!/usr/bin/env python3
"""Span load generator and meter for Sightline's trace ingest (OTLP over HTTP and gRPC).

gen:   pre-encodes realistic traces as OTLP ExportTraceServiceRequest protobuf files:
       several services (frontend, cart, checkout, payments, inventory, shipping, auth,
       search), 5 to 50 spans per trace in a call tree (SERVER spans for each service
       hop, CLIENT spans for outgoing calls, INTERNAL spans for work, db CLIENT spans
       with db.statement), attributes like http.request.method, http.route,
       http.response.status_code, db.system, db.statement, a few percent errors with
       exception events, timestamps ending now. One request = one batch of whole traces
       (~1000 spans) grouped by service into resourceSpans, as an SDK's batch processor
       or a Collector sends them. Files: batches_<n>.bin (length-prefixed requests) and
       manifest.json (spans, traces, the trace ids of a sample for lookups).
send:  posts the batches over OTLP/HTTP (POST /v1/traces, protobuf) or OTLP/gRPC
       (TraceService/Export) with N concurrent senders, metering the server's CPU from
       /proc/PID (utime+stime, all threads, ../shared/bench/procmeter.py) through the load
       and an optional flush command, then the size of its data directory.
lookup: trace-by-id latency (median, p99) over HTTP for the sampled trace ids, and the
       latency of a few searches.

Every tool prints one JSON line and appends it to --json-out when given.

  python benches/spans_bench.py gen --out /tmp/spans --spans 10000000
  python benches/spans_bench.py send --input /tmp/spans --url http://127.0.0.1:7413 --pid PID \\
      --data-dir DATA/traces --flush-cmd 'curl -s -XPOST .../api/v1/admin/traces/flush'
  python benches/spans_bench.py lookup --input /tmp/spans --url http://127.0.0.1:7413
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO.parent / "shared" / "bench"))
import procmeter  # noqa: E402  (the shared harness's meters)

SERVICES = ["frontend", "cart", "checkout", "payments", "inventory", "shipping", "auth", "search"]
ROUTES = {
    "frontend": ["/", "/product/{id}", "/cart", "/checkout"],
    "cart": ["/cart/items", "/cart/{id}"],
    "checkout": ["/checkout", "/checkout/confirm"],
    "payments": ["/charge", "/refund"],
    "inventory": ["/stock/{sku}", "/reserve"],
    "shipping": ["/quote", "/ship"],
    "auth": ["/token", "/verify"],
    "search": ["/search", "/suggest"],
}
STATEMENTS = [
    "SELECT id, qty FROM stock WHERE sku = ?",
    "UPDATE carts SET updated_at = ? WHERE id = ?",
    "INSERT INTO orders (id, user_id, total) VALUES (?, ?, ?)",
    "SELECT * FROM users WHERE id = ?",
]


def kv(key: str, value) -> common_pb2.KeyValue:
    if isinstance(value, bool):
        any_value = common_pb2.AnyValue(bool_value=value)
    elif isinstance(value, int):
        any_value = common_pb2.AnyValue(int_value=value)
    elif isinstance(value, float):
        any_value = common_pb2.AnyValue(double_value=value)
    else:
        any_value = common_pb2.AnyValue(string_value=value)
    return common_pb2.KeyValue(key=key, value=any_value)


def make_trace(rng: random.Random, end_ns: int) -> list[tuple[str, trace_pb2.Span]]:
    """One trace: (service, span) pairs, 5 to 50 spans."""
    target = rng.randint(5, 50)
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    start = end_ns - rng.randint(1, 60_000) * 1_000_000
    failed = rng.random() < 0.03
    spans: list[tuple[str, trace_pb2.Span]] = []

    def new_span(service, name, kind, parent, t0, duration, attributes, error=False):
        span = trace_pb2.Span(
            trace_id=trace_id,
            span_id=rng.getrandbits(64).to_bytes(8, "big"),
            parent_span_id=parent or b"",
            name=name,
            kind=kind,
            start_time_unix_nano=t0,
            end_time_unix_nano=t0 + duration,
            attributes=[kv(k, v) for k, v in attributes.items()],
        )
        if error:
            span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            span.status.message = "upstream failed"
            span.events.append(trace_pb2.Span.Event(
                time_unix_nano=t0 + duration // 2, name="exception",
                attributes=[kv("exception.type", "TimeoutError"), kv("exception.message", "deadline exceeded")],
            ))
        spans.append((service, span))
        return span

    root_route = rng.choice(ROUTES["frontend"])
    root = new_span("frontend", f"GET {root_route}", trace_pb2.Span.SPAN_KIND_SERVER, None, start, 0,
                    {"http.request.method": "GET", "http.route": root_route, "http.response.status_code": 500 if failed else 200},
                    error=failed)
    frontier = [("frontend", root)]
    t = start
    while len(spans) < target:
        caller_service, caller = rng.choice(frontier)
        t += rng.randint(50_000, 2_000_000)
        kind_roll = rng.random()
        if kind_roll < 0.45 and len(spans) + 2 <= target:
            callee = rng.choice(SERVICES[1:])
            route = rng.choice(ROUTES[callee])
            duration = rng.randint(1, 200) * 1_000_000
            error = failed and rng.random() < 0.3
            client = new_span(caller_service, f"POST {route}", trace_pb2.Span.SPAN_KIND_CLIENT, caller.span_id, t, duration,
                              {"http.request.method": "POST", "server.address": callee, "http.response.status_code": 500 if error else 200},
                              error=error)
            server = new_span(callee, f"POST {route}", trace_pb2.Span.SPAN_KIND_SERVER, client.span_id, t + 200_000,
                              duration - 400_000,
                              {"http.request.method": "POST", "http.route": route, "http.response.status_code": 500 if error else 200},
                              error=error)
            frontier.append((callee, server))
        elif kind_roll < 0.75:
            statement = rng.choice(STATEMENTS)
            new_span(caller_service, statement.split()[0] + " " + ("stock" if "stock" in statement else "db"),
                     trace_pb2.Span.SPAN_KIND_CLIENT, caller.span_id, t, rng.randint(200, 20_000) * 1_000,
                     {"db.system": "postgresql", "db.statement": statement, "db.name": "shop"})
        else:
            new_span(caller_service, rng.choice(["render", "validate", "serialize", "cache.get"]),
                     trace_pb2.Span.SPAN_KIND_INTERNAL, caller.span_id, t, rng.randint(10, 5_000) * 1_000, {"code.function": "handle"})
    root.end_time_unix_nano = max(s.end_time_unix_nano for _, s in spans) + 100_000
    return spans


def request_of(traces: list[list[tuple[str, trace_pb2.Span]]]) -> bytes:
    by_service: dict[str, list[trace_pb2.Span]] = {}
    for trace in traces:
        for service, span in trace:
            by_service.setdefault(service, []).append(span)
    request = trace_service_pb2.ExportTraceServiceRequest()
    for service, spans in by_service.items():
        resource_spans = request.resource_spans.add()
        resource_spans.resource.CopyFrom(resource_pb2.Resource(attributes=[
            kv("service.name", service), kv("service.version", "1.4.2"), kv("host.name", f"{service}-7f9c4"),
            kv("k8s.namespace.name", "shop"), kv("telemetry.sdk.language", "python"),
        ]))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = f"{service}.instrumentation"
        scope_spans.spans.extend(spans)
    return request.SerializeToString()


def cmd_gen(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    end_ns = time.time_ns()
    n_spans = n_traces = n_requests = 0
    sample: list[str] = []
    files = [open(out / f"batches_{i}.bin", "wb") for i in range(args.files)]
    started = time.monotonic()
    batch: list = []
    batch_spans = 0
    while n_spans < args.spans:
        trace = make_trace(rng, end_ns)
        batch.append(trace)
        batch_spans += len(trace)
        n_spans += len(trace)
        n_traces += 1
        if rng.random() < args.sample_rate and len(sample) < 10_000:
            sample.append(trace[0][1].trace_id.hex())
        if batch_spans >= args.batch_spans or n_spans >= args.spans:
            payload = request_of(batch)
            target = files[n_requests % len(files)]
            target.write(struct.pack("<I", len(payload)) + payload)
            n_requests += 1
            batch, batch_spans = [], 0
    for f in files:
        f.close()
    manifest = {"spans": n_spans, "traces": n_traces, "requests": n_requests, "files": args.files,
                "sample_trace_ids": sample, "seed": args.seed, "end_ns": end_ns}
    (out / "manifest.json").write_text(json.dumps(manifest))
    bytes_total = sum((out / f"batches_{i}.bin").stat().st_size for i in range(args.files))
    print(json.dumps({"tool": "spans_bench gen", "spans": n_spans, "traces": n_traces, "requests": n_requests,
                      "protobuf_bytes": bytes_total, "bytes_per_span": round(bytes_total / n_spans, 1),
                      "seconds": round(time.monotonic() - started, 1)}))


def read_requests(path: Path):
    with open(path, "rb") as f:
        while header := f.read(4):
            (length,) = struct.unpack("<I", header)
            yield f.read(length)


def cmd_send(args) -> None:
    import grpc

    source = Path(args.input)
    manifest = json.loads((source / "manifest.json").read_text())
    counts = {"ok": 0, "refused": 0, "errors": 0, "retries": 0, "bytes": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + args.max_seconds

    def worker(index: int) -> None:
        files = [source / f"batches_{i}.bin" for i in range(manifest["files"]) if i % args.concurrency == index]
        session = requests.Session()
        channel = grpc.insecure_channel(args.grpc) if args.transport == "grpc" else None
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export") if channel else None
        for path in files:
            for payload in read_requests(path):
                if time.monotonic() > deadline:
                    return
                for attempt in range(20):
                    try:
                        if export is not None:
                            export(payload, timeout=args.timeout)
                            ok = True
                        else:
                            response = session.post(args.url + "/v1/traces", data=payload, timeout=args.timeout,
                                                    headers={"Content-Type": "application/x-protobuf"})
                            ok = response.status_code == 200
                            if response.status_code in (429, 503):
                                raise RuntimeError("retry")
                    except Exception:  # noqa: BLE001 (a refused or failed export is retried, then counted)
                        with lock:
                            counts["retries"] += 1
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    with lock:
                        counts["ok" if ok else "refused"] += 1
                        counts["bytes"] += len(payload)
                    break
                else:
                    with lock:
                        counts["errors"] += 1
        if channel is not None:
            channel.close()

    cpu0 = procmeter.proc_cpu(args.pid)[0] if args.pid else 0.0
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_s = time.monotonic() - started
    cpu_load = (procmeter.proc_cpu(args.pid)[0] - cpu0) if args.pid else None
    if args.flush_cmd:
        subprocess.run(args.flush_cmd, shell=True, check=True, timeout=args.flush_timeout, stdout=subprocess.DEVNULL)
    time.sleep(args.settle)
    cpu_total = (procmeter.proc_cpu(args.pid)[0] - cpu0) if args.pid else None
    size = procmeter.dir_size(args.data_dir) if args.data_dir else None
    spans_sent = manifest["spans"] * counts["ok"] / max(manifest["requests"], 1)
    result = {
        "tool": "spans_bench send", "label": args.label, "transport": args.transport,
        "requests_ok": counts["ok"], "requests_refused": counts["refused"], "requests_failed": counts["errors"],
        "retries": counts["retries"], "spans": round(spans_sent), "load_s": round(load_s, 2),
        "spans_per_s": round(spans_sent / load_s) if load_s else None,
        "server_cpu_s": round(cpu_load, 2) if cpu_load is not None else None,
        "server_cpu_s_per_million_spans": round(cpu_load / spans_sent * 1e6, 2) if cpu_load else None,
        "server_cpu_s_incl_flush": round(cpu_total, 2) if cpu_total is not None else None,
        "server_cpu_s_per_million_spans_incl_flush": round(cpu_total / spans_sent * 1e6, 2) if cpu_total else None,
        "peak_rss_kb": procmeter.proc_status(args.pid).get("VmHWM") if args.pid else None,
        "data_dir_bytes": size[0] if size else None,
        "bytes_per_span": round(size[0] / spans_sent, 1) if size and spans_sent else None,
    }
    print(json.dumps(result))
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(result) + "\n")


def timed_get(session: requests.Session, url: str, params=None) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=60)
    return (time.perf_counter() - started) * 1000, response


def cmd_lookup(args) -> None:
    manifest = json.loads((Path(args.input) / "manifest.json").read_text())
    ids = manifest["sample_trace_ids"][: args.lookups]
    session = requests.Session()
    latencies, spans = [], []
    for trace_id in ids:
        ms, response = timed_get(session, f"{args.url}/api/v1/traces/{trace_id}")
        if response.status_code != 200:
            raise SystemExit(f"trace {trace_id}: HTTP {response.status_code} {response.text[:200]}")
        latencies.append(ms)
        spans.append(len(response.json()["data"]["spans"]))
    latencies.sort()
    searches = {}
    for name, params in [
        ("service", {"service": "payments", "limit": "20"}),
        ("service+error", {"service": "payments", "status": "error", "limit": "20"}),
        ("attr", {"attr": "http.route=/checkout", "limit": "20"}),
        ("duration", {"service": "checkout", "minDuration": "150ms", "limit": "20"}),
    ]:
        params = {**params, "start": str(manifest["end_ns"] // 1_000_000_000 - 3600), "end": str(manifest["end_ns"] // 1_000_000_000 + 60)}
        times = []
        for _ in range(args.search_runs):
            ms, response = timed_get(session, f"{args.url}/api/v1/traces/search", params)
            if response.status_code != 200:
                raise SystemExit(f"search {name}: HTTP {response.status_code} {response.text[:200]}")
            times.append(ms)
        searches[name] = {"median_ms": round(statistics.median(times), 1), "traces": len(response.json()["data"]["traces"])}
    result = {
        "tool": "spans_bench lookup", "label": args.label, "stored_spans": manifest["spans"], "lookups": len(ids),
        "trace_by_id_median_ms": round(statistics.median(latencies), 2),
        "trace_by_id_p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
        "spans_per_trace_median": statistics.median(spans), "search": searches,
    }
    print(json.dumps(result))
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(result) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("gen")
    gen.add_argument("--out", required=True)
    gen.add_argument("--spans", type=int, default=1_000_000)
    gen.add_argument("--batch-spans", type=int, default=1000, help="spans per request (whole traces)")
    gen.add_argument("--files", type=int, default=8)
    gen.add_argument("--sample-rate", type=float, default=0.01, help="share of trace ids kept for lookups")
    gen.add_argument("--seed", type=int, default=42)
    send = sub.add_parser("send")
    send.add_argument("--input", required=True)
    send.add_argument("--transport", choices=["http", "grpc"], default="http")
    send.add_argument("--url", default="http://127.0.0.1:7413", help="base URL for OTLP/HTTP")
    send.add_argument("--grpc", default="127.0.0.1:4317")
    send.add_argument("--concurrency", type=int, default=4)
    send.add_argument("--pid", type=int, default=0)
    send.add_argument("--data-dir", default="")
    send.add_argument("--flush-cmd", default="")
    send.add_argument("--flush-timeout", type=float, default=600)
    send.add_argument("--settle", type=float, default=0)
    send.add_argument("--max-seconds", type=float, default=1800)
    send.add_argument("--timeout", type=float, default=60)
    send.add_argument("--label", default="sightline")
    send.add_argument("--json-out", default="")
    lookup = sub.add_parser("lookup")
    lookup.add_argument("--input", required=True)
    lookup.add_argument("--url", default="http://127.0.0.1:7413")
    lookup.add_argument("--lookups", type=int, default=1000)
    lookup.add_argument("--search-runs", type=int, default=5)
    lookup.add_argument("--label", default="sightline")
    lookup.add_argument("--json-out", default="")
    args = parser.parse_args()
    {"gen": cmd_gen, "send": cmd_send, "lookup": cmd_lookup}[args.command](args)


if __name__ == "__main__":
    main()
