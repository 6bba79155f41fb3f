"""Logs end to end: Python's logging with python-json-logger shipping NDJSON, every line of
one request found across services in order, bad input refused line by line, live tail,
and every acknowledged line still there after kill -9."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import signal
import threading
import time
import uuid

import requests
from pythonjsonlogger.json import JsonFormatter

NDJSON = {"Content-Type": "application/x-ndjson"}


class HttpNdjsonHandler(logging.Handler):
    """Buffers formatted records and ships them as one NDJSON body per flush, as a log
    shipper would; remembers what the server acknowledged."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def flush(self) -> None:
        if not self.lines:
            return
        body = ("\n".join(self.lines) + "\n").encode()
        response = requests.post(self.url, data=body, headers=NDJSON, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": len(self.lines), "rejected": 0}
        self.lines = []


def logstash_formatter() -> JsonFormatter:
    """The logstash V1 shape the book's services log: @timestamp, @version, message,
    levelname, name (the service), funcName, lineno, source_host, plus extras."""
    return JsonFormatter(
        "{message}{levelname}{name}{funcName}{lineno}",
        style="{",
        timestamp="@timestamp",
        static_fields={"@version": "1", "source_host": "e2e-host"},
    )


def wait_for(condition, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def trace_lines(server, request_id: str, expected: int) -> list[dict]:
    def found():
        response = requests.get(server.url(f"/api/v1/logs/trace/{request_id}"), timeout=10)
        assert response.status_code == 200, response.text
        lines = response.json()["data"]["lines"]
        return lines if len(lines) >= expected else None

    return wait_for(found, 15, f"{expected} lines of {request_id}")


def search(server, query: str, **params) -> dict:
    response = requests.get(server.url("/api/v1/logs/search"), params={"query": query, **params}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_python_json_logger_lines_of_a_request_come_back_across_services_in_order(server):
    handler = HttpNdjsonHandler(server.url("/api/v1/logs"))
    handler.setFormatter(logstash_formatter())
    services = ["orders", "payments", "shipping"]
    loggers = {}
    for name in services:
        logger = logging.getLogger(f"{name}")
        logger.handlers = [handler]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        loggers[name] = logger

    # Three requests interleaved across three services; each line carries the request's
    # uuid (the correlation id) and trace id.
    requests_sent = []
    for r in range(3):
        requests_sent.append({"uuid": str(uuid.uuid4()), "trace_id": os.urandom(16).hex(), "lines": []})
    steps = [
        ("orders", logging.INFO, "order received"),
        ("payments", logging.INFO, "charging card"),
        ("payments", logging.WARNING, "card declined, retrying"),
        ("payments", logging.INFO, "charge ok"),
        ("shipping", logging.INFO, "shipment booked"),
        ("orders", logging.ERROR, "order confirmation email failed"),
    ]
    for step, (service, level, message) in enumerate(steps):
        for r, sent in enumerate(requests_sent):
            extra = {"uuid": sent["uuid"], "trace_id": sent["trace_id"], "amount": 10 * r + step, "attempt": {"n": step}}
            loggers[service].log(level, f"{message} (request {r})", extra=extra)
            sent["lines"].append(handler.lines[-1])
            time.sleep(0.002)  # distinct timestamps, so "in order" is well defined
        if step % 2 == 1:
            handler.flush()
    handler.flush()

    for sent in requests_sent:
        by_trace = trace_lines(server, sent["trace_id"], len(steps))
        assert [line["line"] for line in by_trace] == sent["lines"], "exact lines, oldest first"
        assert [line["service"] for line in by_trace] == [service for service, _, _ in steps]
        assert [line["level"] for line in by_trace] == ["info", "info", "warn", "info", "info", "error"]
        assert {line["trace_id"] for line in by_trace} == {sent["trace_id"]}
        assert {line["correlation_id"] for line in by_trace} == {sent["uuid"]}
        assert all(line["host"] == "e2e-host" for line in by_trace)
        by_uuid = trace_lines(server, sent["uuid"], len(steps))
        assert [line["line"] for line in by_uuid] == sent["lines"]

    # Fields are searchable: numbers by range, nested objects by dotted path, phrases.
    assert search(server, "amount:[20 TO 22]")["total"] == 3
    assert search(server, "attempt.n:2 AND service:payments")["total"] == 3
    assert search(server, '"card declined"')["total"] == 3
    assert search(server, "level:error OR level:warn")["total"] == 6
    assert search(server, "service:pay*")["total"] == 9
    assert search(server, "NOT service:orders AND lineno:>0")["total"] == 12

    # Newest first by default, pages follow the cursor without gaps or repeats.
    seen = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = search(server, "*", **params)
        assert page["total"] == 18
        seen.extend(line["line"] for line in page["lines"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = [line for sent in requests_sent for line in sent["lines"]]
    assert sorted(seen) == sorted(everything) and len(seen) == 18
    stamps = [json.loads(line)["@timestamp"] for line in seen]
    assert stamps == sorted(stamps, reverse=True)

    top = requests.get(server.url("/api/v1/logs/top"), params={"field": "service"}, timeout=10).json()["data"]
    assert top["values"] == [
        {"value": "payments", "count": 9},
        {"value": "orders", "count": 6},
        {"value": "shipping", "count": 3},
    ]
    histogram = requests.get(server.url("/api/v1/logs/histogram"), params={"query": "service:orders"}, timeout=10)
    assert sum(bucket["count"] for bucket in histogram.json()["data"]["buckets"]) == 6


def post(server, body: bytes, headers=None):
    return requests.post(server.url("/api/v1/logs"), data=body, headers={**NDJSON, **(headers or {})}, timeout=30)


def test_bad_lines_are_refused_with_their_reason_and_neighbours_kept(server):
    marker = uuid.uuid4().hex
    good = lambda n: json.dumps({"message": f"good {n}", "batch": marker, "service": "bad-input"}).encode()  # noqa: E731
    cases = {
        "invalid_json": b'{"message": "no closing brace"',
        "invalid_utf8": b'{"message": "caf\xe9"}',
        "line_too_long": json.dumps({"message": "x" * (10 << 20)}).encode(),
        "too_deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    }
    for n, (reason, bad) in enumerate(cases.items()):
        response = post(server, b"\n".join([good(2 * n), bad, good(2 * n + 1)]) + b"\n")
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["accepted"] == 2 and body["rejected"] == 1, body
        assert body["errors"][0]["line"] == 2 and body["errors"][0]["reason"] == reason, body
        assert body["errors"][0]["error"], "the reason is explained"

    # A gzip bomb: 1 GiB of zeros in about 1 MB; refused before it is inflated past the limit.
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as bomb_stream:
        zeros = bytes(1 << 20)
        for _ in range(1024):
            bomb_stream.write(zeros)
    bomb = buffer.getvalue()
    assert len(bomb) < 2 << 20
    response = post(server, bomb, {"Content-Encoding": "gzip"})
    assert response.status_code == 413, response.text
    assert "decompress" in response.json()["error"] or "limit" in response.json()["error"]

    assert post(server, b"{}", {"Content-Type": "application/xml"}).status_code == 415
    assert post(server, b"not gzip", {"Content-Encoding": "gzip"}).status_code == 400
    assert post(server, b"{}", {"Content-Encoding": "br"}).status_code == 415

    assert requests.get(server.url("/-/healthy"), timeout=5).status_code == 200
    found = wait_for(lambda: (d := search(server, f"batch:{marker}"))["total"] == 8 and d, 15, "the good neighbours")
    assert sorted(json.loads(line["line"])["message"] for line in found["lines"]) == sorted(
        f"good {i}" for i in range(8)
    )

    # Query errors name the problem.
    response = requests.get(server.url("/api/v1/logs/search"), params={"query": "service:(a"}, timeout=5)
    assert response.status_code == 400 and response.json()["errorType"] == "bad_data", response.text
    response = requests.get(server.url("/api/v1/logs/search"), params={"limit": "0"}, timeout=5)
    assert response.status_code == 400 and "limit" in response.json()["error"]


def test_live_tail_streams_new_matching_lines(server):
    stream = requests.get(
        server.url("/api/v1/logs/tail"), params={"query": "service:tailed AND level:error"}, stream=True, timeout=30
    )
    assert stream.status_code == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    events = stream.iter_lines(decode_unicode=True)
    assert next(events) == "event: open"
    lines = [
        {"message": "ignored: other service", "service": "elsewhere", "level": "error"},
        {"message": "ignored: info", "service": "tailed", "level": "info"},
        {"message": "first failure", "service": "tailed", "level": "error"},
        {"message": "second failure", "service": "tailed", "level": "ERROR"},
    ]
    assert post(server, "\n".join(json.dumps(line) for line in lines).encode()).status_code == 200
    received = []
    deadline = time.monotonic() + 15
    for event in events:
        if event.startswith("data: ") and event != "data: {}":
            received.append(json.loads(event[len("data: ") :]))
        if len(received) == 2 or time.monotonic() > deadline:
            break
    stream.close()
    assert [json.loads(hit["line"])["message"] for hit in received] == ["first failure", "second failure"]


def test_every_acknowledged_line_survives_kill_9(start_server, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir, extra_args=["--set", "logs.wal_fsync=never"])
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        session = requests.Session()
        batch_no = 0
        while not stop.is_set():
            ids = [f"w{worker}-b{batch_no}-l{i}" for i in range(100)]
            body = "\n".join(
                json.dumps({"message": f"steady ingest {i}", "crash_id": i, "service": f"svc{worker}", "crash": "yes"})
                for i in ids
            )
            try:
                response = session.post(server.url("/api/v1/logs"), data=body, headers=NDJSON, timeout=5)
            except requests.RequestException:
                return  # the server died mid-request: this batch was never acknowledged
            if response.status_code != 200:
                return
            acknowledged.extend(ids)
            batch_no += 1

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acknowledged) >= 20_000, f"only {len(acknowledged)} lines were acknowledged before the kill"

    restarted = start_server(data_dir=data_dir)
    window = {"start": "0", "end": str(time.time_ns() + 10**9)}
    wait_for(lambda: search(restarted, "crash:yes", limit=1, **window)["total"] >= len(acknowledged), 60, "replay")
    stored = set()
    cursor = None
    while True:
        params = {"limit": 10_000, "direction": "forward", **window, **({"cursor": cursor} if cursor else {})}
        page = search(restarted, "crash:yes", **params)
        stored.update(json.loads(line["line"])["crash_id"] for line in page["lines"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    missing = [line for line in acknowledged if line not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged lines lost, e.g. {missing[:5]}"
    # Replay indexed every line once: no duplicates of acknowledged lines.
    assert search(restarted, "crash:yes", limit=1, **window)["total"] == len(stored)


def test_fields_are_searchable_with_or_without_index_terms(start_server):
    """By default only named fields get index terms; the others are matched on the lines
    a query selects, up to logs.max_filtered_lines; an indexed field answers alike."""
    services = ["cart", "payments", "cart", "search", "payments", "cart"]
    body = "".join(
        json.dumps({"service": service, "message": f"request {i}", "http": {"status": 500 if i % 2 else 200}, "user": f"u{i}"})
        + "\n"
        for i, service in enumerate(services)
    ).encode()
    answers = []
    for extra in (
        [],
        ["--set", 'logs.indexed_fields=["http.*"]'],
        ["--set", "logs.max_filtered_lines=4"],
    ):
        server = start_server(extra_args=extra)
        assert post(server, body).status_code == 200
        wait_for(lambda: search(server, "*")["total"] == 6, 15, "six lines searchable")
        if "logs.max_filtered_lines=4" in extra:
            # Six candidate lines for the field alone: over the bound, a clear 400.
            response = requests.get(server.url("/api/v1/logs/search"), params={"query": "http.status:500"}, timeout=10)
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert "logs.max_filtered_lines" in error and '"http.status"' in error, error
            # A service narrows the candidates to three lines: answered.
            narrowed = search(server, "service:cart AND http.status:500")
            assert [json.loads(line["line"])["user"] for line in narrowed["lines"]] == ["u5"]
            continue
        answers.append(
            {
                query: sorted(json.loads(line["line"])["user"] for line in search(server, query)["lines"])
                for query in ["http.status:500", "http.status:[200 TO 499]", "service:cart AND NOT http.status:500", "user:u3"]
            }
        )
    assert answers[0] == answers[1]
    assert answers[0]["http.status:500"] == ["u1", "u3", "u5"]
    assert answers[0]["service:cart AND NOT http.status:500"] == ["u0", "u2"]
    assert answers[0]["user:u3"] == ["u3"]
