"""Traces end to end: two instrumented Python services (opentelemetry-sdk, one exporting
over OTLP/gRPC, one over OTLP/HTTP) propagate a W3C traceparent between them; each trace
comes back whole by id with the right parent links, in Sightline's and in Jaeger's JSON
shape; span metrics and service-graph edges count it exactly; every acknowledged span
survives kill -9; bad input gets a clean error."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import requests

SERVICES = Path(__file__).with_name("trace_services.py")
TRACE_SERVICE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def wait_for(condition, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def spans_of(server, trace_id: str, expected: int) -> list[dict]:
    def found():
        response = requests.get(server.url(f"/api/v1/traces/{trace_id}"), timeout=10)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        spans = response.json()["data"]["spans"]
        return spans if len(spans) >= expected else None

    return wait_for(found, 20, f"{expected} spans of {trace_id}")


def instant(server, query: str) -> dict[str, float]:
    response = requests.get(server.url("/api/v1/query"), params={"query": query}, timeout=10)
    assert response.status_code == 200, response.text
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in response.json()["data"]["result"]}


def run_two_services(server, tmp_path: Path, requests_count: int, fail: list[int]) -> list[dict]:
    env = {**os.environ, "OTEL_SDK_DISABLED": "false"}
    backend_log = (tmp_path / "backend.log").open("w")
    backend = subprocess.Popen(
        [sys.executable, str(SERVICES), "backend", "--otlp-http",
         f"http://127.0.0.1:{server.ports['otlp_http.listen']}/v1/traces"],
        stdout=subprocess.PIPE, stderr=backend_log, text=True, env=env,
    )
    try:
        ready = backend.stdout.readline().split()
        assert ready and ready[0] == "ready", f"backend did not start: {(tmp_path / 'backend.log').read_text()}"
        frontend = subprocess.run(
            [sys.executable, str(SERVICES), "frontend",
             "--otlp-grpc", f"127.0.0.1:{server.ports['otlp_grpc.listen']}",
             "--backend", f"http://127.0.0.1:{ready[1]}",
             "--requests", str(requests_count), "--fail", *map(str, fail)],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert frontend.returncode == 0, frontend.stderr
        return [json.loads(line) for line in frontend.stdout.splitlines()]
    finally:
        backend.terminate()
        backend.wait(timeout=20)
        backend_log.close()


def test_a_trace_across_two_processes_comes_back_whole_with_metrics(start_server, tmp_path):
    server = start_server(extra_args=["--set=traces.metrics_flush_interval=1s"])
    requests_sent = run_two_services(server, tmp_path, requests_count=3, fail=[1])
    assert len(requests_sent) == 3

    for sent in requests_sent:
        spans = spans_of(server, sent["trace_id"], 4)
        assert len(spans) == 4, spans
        by_name = {(s["service"], s["name"]): s for s in spans}
        checkout = by_name[("frontend", "checkout")]
        client = by_name[("frontend", "GET /inventory")]
        backend = by_name[("inventory", "GET /inventory")]
        select = by_name[("inventory", "select stock")]
        assert checkout["span_id"] == sent["checkout"] and checkout.get("parent_span_id") in (None, "")
        assert client["span_id"] == sent["client"] and client["parent_span_id"] == sent["checkout"]
        # The link that crossed the process boundary: the backend's server span is a child
        # of the frontend's client span, through the traceparent header.
        assert backend["parent_span_id"] == sent["client"]
        assert select["parent_span_id"] == backend["span_id"]
        assert [checkout["kind"], client["kind"], backend["kind"]] == ["server", "client", "server"] or \
            [checkout["kind"], client["kind"], backend["kind"]] == ["SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_SERVER"]
        assert all(s["trace_id"] == sent["trace_id"] for s in spans)

        # Jaeger's shape, as Grafana's Jaeger data source and the Jaeger UI read it.
        jaeger = requests.get(server.url(f"/api/traces/{sent['trace_id']}"), timeout=10)
        assert jaeger.status_code == 200, jaeger.text
        (trace,) = jaeger.json()["data"]
        assert trace["traceID"] == sent["trace_id"]
        assert len(trace["spans"]) == 4
        services = {p["serviceName"] for p in trace["processes"].values()}
        assert services == {"frontend", "inventory"}
        jaeger_backend = next(
            s for s in trace["spans"]
            if s["operationName"] == "GET /inventory" and trace["processes"][s["processID"]]["serviceName"] == "inventory"
        )
        assert jaeger_backend["references"] == [{"refType": "CHILD_OF", "traceID": sent["trace_id"], "spanID": sent["client"]}]
        assert isinstance(jaeger_backend["startTime"], int) and isinstance(jaeger_backend["duration"], int)
        assert jaeger_backend["startTime"] > 1_600_000_000_000_000  # microseconds
        tags = {t["key"]: t["value"] for t in jaeger_backend["tags"]}
        assert tags["http.route"] == "/inventory"
        assert tags["span.kind"] == "server"
        assert tags.get("error") is (True if sent["failed"] else None)

    # Written to a Parquet block, every trace still comes back whole.
    flushed = requests.post(server.url("/api/v1/admin/traces/flush"), timeout=30)
    assert flushed.status_code == 200, flushed.text
    assert flushed.json()["data"]["blocks"] >= 1
    assert flushed.json()["data"]["block_spans"] == 12
    for sent in requests_sent:
        assert len(spans_of(server, sent["trace_id"], 4)) == 4

    # An unknown trace is a 404, never an empty 200.
    assert requests.get(server.url("/api/traces/0123456789abcdef0123456789abcdef"), timeout=10).status_code == 404
    assert requests.get(server.url("/api/v1/traces/0123456789abcdef0123456789abcdef"), timeout=10).status_code == 404

    # Span metrics and the service graph, exactly: 3 checkouts, 3 edges, 1 failed.
    def metrics_arrived():
        calls = instant(server, 'traces_spanmetrics_calls_total{service="frontend", span_name="checkout"}')
        edges = instant(server, 'traces_service_graph_request_total{client="frontend", server="inventory"}')
        return (calls, edges) if sum(calls.values()) == 3 and sum(edges.values()) == 3 else None

    wait_for(metrics_arrived, 30, "span metrics for 3 requests")
    failed = instant(server, 'traces_service_graph_request_failed_total{client="frontend", server="inventory"}')
    assert list(failed.values()) == [1.0]
    errors = instant(server, 'sum(traces_spanmetrics_calls_total{service="inventory", status_code="STATUS_CODE_ERROR"})')
    assert list(errors.values()) == [1.0]
    count = instant(server, 'sum(traces_spanmetrics_latency_count{service="inventory", span_name="select stock"})')
    assert list(count.values()) == [3.0]

    # Jaeger's pickers and search.
    services = requests.get(server.url("/api/services"), timeout=10).json()["data"]
    assert {"frontend", "inventory"} <= set(services)
    operations = requests.get(server.url("/api/services/inventory/operations"), timeout=10).json()["data"]
    assert {"GET /inventory", "select stock"} <= set(operations)
    found = requests.get(
        server.url("/api/traces"),
        params={"service": "inventory", "tags": json.dumps({"error": "true"}), "lookback": "1h", "limit": "20"},
        timeout=10,
    )
    assert found.status_code == 200, found.text
    failed_trace = next(sent["trace_id"] for sent in requests_sent if sent["failed"])
    assert [t["traceID"] for t in found.json()["data"]] == [failed_trace]


def otlp_json_trace(trace_index: int, spans: int = 3) -> tuple[str, dict]:
    trace_id = f"{trace_index + 1:032x}"
    now = time.time_ns()
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "loader"}}]},
            "scopeSpans": [{"spans": [
                {
                    "traceId": trace_id,
                    "spanId": f"{trace_index * 16 + i + 1:016x}",
                    "name": f"step {i}",
                    "kind": 2,
                    "startTimeUnixNano": str(now),
                    "endTimeUnixNano": str(now + 1_000_000),
                }
                for i in range(spans)
            ]}],
        }]
    }
    return trace_id, body


def test_every_acknowledged_span_survives_kill_9(start_server, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir)
    acknowledged: list[str] = []
    stop = threading.Event()

    def send():
        index = 0
        session = requests.Session()
        while not stop.is_set():
            trace_id, body = otlp_json_trace(index)
            index += 1
            try:
                response = session.post(server.url("/v1/traces"), json=body, timeout=5)
            except requests.ConnectionError:
                return
            if response.status_code == 200:
                acknowledged.append(trace_id)

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: len(acknowledged) >= 300, 60, "300 acknowledged exports")
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    stop.set()
    sender.join(timeout=10)

    restarted = start_server(data_dir=data_dir)
    missing = []
    for trace_id in acknowledged:
        response = requests.get(restarted.url(f"/api/v1/traces/{trace_id}"), timeout=10)
        if response.status_code != 200 or len(response.json()["data"]["spans"]) != 3:
            missing.append(trace_id)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged traces lost, e.g. {missing[:3]}"


def test_bad_input_gets_a_clean_error_and_the_server_keeps_going(server):
    otlp = server.url("/v1/traces")
    # Malformed protobuf.
    bad = requests.post(otlp, data=b"\x0a\xff\xff\xff\xff\x0f", headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert bad.status_code == 400
    # OTLP/JSON with a short trace id: that span is rejected, its neighbour kept.
    trace_id, body = otlp_json_trace(7, spans=2)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["traceId"] = "abcd"
    partial = requests.post(otlp, json=body, timeout=10)
    assert partial.status_code == 200, partial.text
    assert partial.json()["partialSuccess"]["rejectedSpans"] in (1, "1")
    assert "trace" in partial.json()["partialSuccess"]["errorMessage"].lower()
    assert len(spans_of(server, trace_id, 1)) == 1
    # A 70 MiB request is over http.max_request_body (16 MiB).
    huge = requests.post(otlp, data=b"\x00" * (70 << 20), headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    assert huge.status_code == 413
    # A gzip bomb: 200 MiB of zeros in a small body.
    bomb = gzip.compress(b"\x00" * (200 << 20), compresslevel=9)
    answer = requests.post(otlp, data=bomb, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, timeout=60)
    assert answer.status_code == 413, answer.text
    # Malformed protobuf over gRPC: INVALID_ARGUMENT.
    with grpc.insecure_channel(f"127.0.0.1:{server.ports['otlp_grpc.listen']}") as channel:
        export = channel.unary_unary(TRACE_SERVICE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            export(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
            raise AssertionError("malformed protobuf was accepted")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    # Still serving.
    trace_id, body = otlp_json_trace(9)
    assert requests.post(otlp, json=body, timeout=10).status_code == 200
    assert len(spans_of(server, trace_id, 3)) == 3


def test_zipkin_v2_spans_are_stored_like_otlp_ones(server):
    now_us = time.time_ns() // 1000
    body = [
        {
            "traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "name": "get /api",
            "kind": "SERVER", "timestamp": now_us, "duration": 2_500,
            "localEndpoint": {"serviceName": "zipkin-web", "ipv4": "10.0.0.1"},
            "tags": {"http.method": "GET", "http.path": "/api"},
        },
        {
            "traceId": "5af7183fb1d4cf5f", "parentId": "6b221d5bc9e6496c", "id": "352bff9a74ca9ad2",
            "name": "query", "kind": "CLIENT", "timestamp": now_us + 100, "duration": 1_000,
            "localEndpoint": {"serviceName": "zipkin-web"}, "remoteEndpoint": {"serviceName": "mysql", "port": 3306},
            "tags": {"error": "timeout"},
            "annotations": [{"timestamp": now_us + 200, "value": "retry"}],
        },
    ]
    answer = requests.post(server.url("/api/v2/spans"), json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    spans = spans_of(server, "00000000000000005af7183fb1d4cf5f", 2)
    child = next(s for s in spans if s["name"] == "query")
    assert child["parent_span_id"] == "6b221d5bc9e6496c"
    assert child["service"] == "zipkin-web"
    bad = requests.post(server.url("/api/v2/spans"), data=b"[{", headers={"Content-Type": "application/json"}, timeout=10)
    assert bad.status_code == 400
