"""Every log protocol into the one store: Elasticsearch _bulk bodies exactly as Fluent Bit's
es output writes them, Loki push in JSON and in snappy protobuf, OTLP logs from Python's
opentelemetry-sdk over gRPC and over HTTP; then one trace lookup returns the lines of a
request from all of them, in time order."""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
import time

import cramjam
import requests
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

SECOND_NS = 1_000_000_000


def iso_ms(ns: int) -> str:
    """Fluent Bit's @timestamp: RFC 3339 with milliseconds, UTC."""
    moment = datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(ns // 1_000_000) % 1000:03d}Z"


def wait_for(condition, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def lines_of(server, request_id: str, expected: int) -> list[dict]:
    def found():
        response = requests.get(server.url(f"/api/v1/logs/trace/{request_id}"), timeout=10)
        assert response.status_code == 200, response.text
        lines = response.json()["data"]["lines"]
        return lines if len(lines) >= expected else None

    return wait_for(found, 20, f"{expected} lines of {request_id}")


def fluent_bit_bulk(records: list[dict], index: str = "fluent-bit", type_name: bool = False) -> bytes:
    """The es output's body: a create action per record (with _type when
    Suppress_Type_Name is off), the record with @timestamp first, newline-terminated."""
    out = []
    for record in records:
        action = {"_index": index, **({"_type": "_doc"} if type_name else {})}
        out.append(json.dumps({"create": action}, separators=(",", ":")))
        out.append(json.dumps(record, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def loki_push_protobuf(streams: list[tuple[str, list[tuple[int, str]]]]) -> bytes:
    """logproto.PushRequest, hand-encoded: streams (1) of labels (1) and entries (2) of
    timestamp (1: seconds 1, nanos 2) and line (2); snappy block format, as Promtail sends."""
    request = b""
    for labels, entries in streams:
        stream = field(1, labels.encode())
        for ns, line in entries:
            timestamp = varint(1 << 3) + varint(ns // SECOND_NS) + varint(2 << 3) + varint(ns % SECOND_NS)
            stream += field(2, field(1, timestamp) + field(2, line.encode()))
        request += field(1, stream)
    return bytes(cramjam.snappy.compress_raw(request))


def test_fluent_bit_elasticsearch_bulk(server):
    t0 = time.time_ns() - 60 * SECOND_NS
    trace_id = os.urandom(16).hex()
    records = [
        {"@timestamp": iso_ms(t0 + i * 1_000_000), "log": f"GET /api/cart {200 + i}", "stream": "stdout",
         "kubernetes": {"pod_name": f"cart-{i}", "namespace_name": "shop"}, "service": "cart", "trace_id": trace_id}
        for i in range(3)
    ]
    for type_name, coding in [(False, None), (True, "gzip")]:
        body = fluent_bit_bulk(records, type_name=type_name)
        headers = {"Content-Type": "application/x-ndjson"}
        if coding:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = requests.post(server.url("/_bulk"), data=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
        answer = response.json()
        assert answer["errors"] is False
        assert [item["create"]["status"] for item in answer["items"]] == [201, 201, 201]
        assert {item["create"]["_index"] for item in answer["items"]} == {"fluent-bit"}
        assert len({item["create"]["_id"] for item in answer["items"]}) == 3

    lines = lines_of(server, trace_id, 6)
    assert len(lines) == 6
    sent = [json.dumps(r, separators=(",", ":")) for r in records]
    assert [line["line"] for line in lines] == [sent[0], sent[0], sent[1], sent[1], sent[2], sent[2]]
    assert {line["service"] for line in lines} == {"cart"}
    search = requests.get(
        server.url("/api/v1/logs/search"), params={"query": "kubernetes.namespace_name:shop AND _index:fluent-bit"}, timeout=10
    ).json()["data"]
    assert search["total"] == 6

    # A document that is not JSON fails alone; ES's per-item shape says why.
    mixed = b'{"create":{"_index":"x"}}\n{"log":"ok"}\n{"create":{}}\n{broken\n{"delete":{"_id":"1"}}\n'
    response = requests.post(server.url("/x/_bulk"), data=mixed, headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert response.json()["errors"] is True
    assert [next(iter(item.values()))["status"] for item in items] == [201, 400, 400]
    assert "delete" in items[2]
    # A malformed action line is the whole request's error, in ES's envelope.
    response = requests.post(server.url("/_bulk"), data=b"[1]\n{}\n", headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["type"], response.text
    root = requests.get(server.url("/elasticsearch/"), timeout=10).json()
    assert root["version"]["number"].startswith("8.")


def test_loki_push_json_and_protobuf(server):
    t0 = time.time_ns() - 30 * SECOND_NS
    trace_id = os.urandom(16).hex()
    json_body = {
        "streams": [
            {
                "stream": {"service_name": "checkout", "env": "prod", "level": "warn"},
                "values": [
                    [str(t0), f'{{"msg":"slow charge","trace_id":"{trace_id}","duration_ms":950}}'],
                    [str(t0 + 2_000_000), "plain text line", {"trace_id": trace_id}],
                ],
            }
        ]
    }
    response = requests.post(server.url("/loki/api/v1/push"), json=json_body, timeout=10)
    assert response.status_code == 204, response.text

    protobuf = loki_push_protobuf(
        [('{job="payments", host="pay-1"}', [(t0 + 1_000_000, f"charge ok trace_id={trace_id}")])]
    )
    response = requests.post(
        server.url("/loki/api/v1/push"), data=protobuf, headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert response.status_code == 204, response.text

    # The protobuf line carries the trace id only in its text: found by full text.
    lines = lines_of(server, trace_id, 2)
    assert [line["line"] for line in lines] == [json_body["streams"][0]["values"][0][1], "plain text line"]
    assert [line["service"] for line in lines] == ["checkout", "checkout"]
    assert [line["level"] for line in lines] == ["warn", "warn"]
    found = wait_for(
        lambda: requests.get(server.url("/api/v1/logs/search"), params={"query": "service:payments AND host:pay-1"}, timeout=10)
        .json()["data"]["lines"],
        20,
        "the protobuf line",
    )
    assert found[0]["line"] == f"charge ok trace_id={trace_id}"
    assert found[0]["timestamp_ns"] == str(t0 + 1_000_000)
    env = requests.get(server.url("/api/v1/logs/search"), params={"query": "env:prod AND duration_ms:>900"}, timeout=10)
    assert env.json()["data"]["total"] == 1

    bad = requests.post(server.url("/loki/api/v1/push"), data=b"\x00garbage", headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert bad.status_code == 400 and bad.text, bad.text
    wrong = requests.post(server.url("/loki/api/v1/push"), data=b"{}", headers={"Content-Type": "text/xml"}, timeout=10)
    assert wrong.status_code == 415, wrong.text


def otel_logger(exporter, service: str):
    provider = LoggerProvider(resource=Resource.create({"service.name": service, "host.name": f"{service}-host"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"otel.{service}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, provider


def test_opentelemetry_sdk_logs_over_grpc_and_http_follow_one_trace(server):
    grpc_logger, grpc_provider = otel_logger(
        GrpcLogExporter(endpoint=f"127.0.0.1:{server.ports['otlp_grpc.listen']}", insecure=True), "frontend"
    )
    http_logger, http_provider = otel_logger(
        HttpLogExporter(endpoint=f"http://127.0.0.1:{server.ports['otlp_http.listen']}/v1/logs"), "inventory"
    )
    main_port_logger, main_provider = otel_logger(HttpLogExporter(endpoint=server.url("/v1/logs")), "billing")
    tracer = TracerProvider().get_tracer("e2e")
    with tracer.start_as_current_span("checkout") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        span_id = format(span.get_span_context().span_id, "016x")
        grpc_logger.info("checkout started", extra={"cart.items": 3})
        time.sleep(0.002)
        http_logger.warning("stock low for sku-42", extra={"sku": "sku-42"})
        time.sleep(0.002)
        main_port_logger.error("invoice failed")
        time.sleep(0.002)
        grpc_logger.info("checkout finished")
    for provider in (grpc_provider, http_provider, main_provider):
        provider.shutdown()

    lines = lines_of(server, trace_id, 4)
    assert [line["line"] for line in lines] == [
        "checkout started",
        "stock low for sku-42",
        "invoice failed",
        "checkout finished",
    ]
    assert [line["service"] for line in lines] == ["frontend", "inventory", "billing", "frontend"]
    assert [line["level"] for line in lines] == ["info", "warn", "error", "info"]
    assert {line["span_id"] for line in lines} == {span_id}
    assert lines[0]["host"] == "frontend-host"
    items = requests.get(server.url("/api/v1/logs/search"), params={"query": "cart.items:3"}, timeout=10).json()["data"]
    assert items["total"] == 1

    # A body that is not protobuf: 400 with a google.rpc.Status, no crash.
    response = requests.post(
        f"http://127.0.0.1:{server.ports['otlp_http.listen']}/v1/logs",
        data=b"\xff\xff\xff",
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 400
    response = requests.post(
        f"http://127.0.0.1:{server.ports['otlp_http.listen']}/v1/logs",
        data=b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"bad id"},"traceId":"abc"}]}]}]}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["partialSuccess"]["rejectedLogRecords"] in (1, "1")


def test_one_request_across_every_protocol_in_time_order(server):
    t0 = time.time_ns() - 10 * SECOND_NS
    trace_id = os.urandom(16).hex()
    ndjson = json.dumps({"timestamp": t0, "message": "from ndjson", "service": "a", "trace_id": trace_id})
    assert requests.post(server.url("/api/v1/logs"), data=ndjson, headers={"Content-Type": "application/x-ndjson"}, timeout=10).status_code == 200
    bulk = fluent_bit_bulk([{"@timestamp": iso_ms(t0 + 3_000_000), "log": "from bulk", "service": "b", "trace_id": trace_id}])
    assert requests.post(server.url("/_bulk"), data=bulk, headers={"Content-Type": "application/x-ndjson"}, timeout=10).status_code == 200
    loki = {"streams": [{"stream": {"service_name": "c"}, "values": [[str(t0 + 1_000_000), "from loki", {"trace_id": trace_id}]]}]}
    assert requests.post(server.url("/loki/api/v1/push"), json=loki, timeout=10).status_code == 204
    otlp = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "d"}}]},
                "scopeLogs": [
                    {"logRecords": [{"timeUnixNano": str(t0 + 2_000_000), "body": {"stringValue": "from otlp"}, "traceId": trace_id}]}
                ],
            }
        ]
    }
    assert requests.post(server.url("/v1/logs"), json=otlp, timeout=10).status_code == 200
    lines = lines_of(server, trace_id, 4)
    assert [line["line"] for line in lines] == [ndjson, "from loki", "from otlp", json.loads(bulk.split(b"\n")[1])["log"] and bulk.split(b"\n")[1].decode()]
    assert [line["service"] for line in lines] == ["a", "c", "d", "b"]
