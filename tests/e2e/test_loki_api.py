"""The Loki read API as Grafana's Loki data source calls it: Save & test, the label
browser, Explore (lines with a line filter, newest first, limited) and its log-volume
query, over lines pushed with Loki's own push API."""

from __future__ import annotations

import time

import requests

SECOND_NS = 1_000_000_000


def push(server, streams):
    response = requests.post(server.url("/loki/api/v1/push"), json={"streams": streams}, timeout=10)
    assert response.status_code == 204, response.text


def loki(server, path: str, **params):
    response = requests.get(server.url(path), params=params, timeout=10)
    assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text}"
    body = response.json()
    assert body["status"] == "success"
    return body["data"]


def wait_for(condition, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_grafana_loki_data_source_calls(server):
    now = time.time_ns()
    t0 = (now - 600 * SECOND_NS) // (60 * SECOND_NS) * (60 * SECOND_NS)  # a minute boundary, 10+ min ago
    push(
        server,
        [
            {
                "stream": {"service_name": "checkout", "level": "info", "host": "web-1"},
                "values": [[str(t0 + i * SECOND_NS), f"GET /cart {i} ok"] for i in range(5)],
            },
            {
                "stream": {"service_name": "checkout", "level": "error", "host": "web-1"},
                "values": [[str(t0 + 70 * SECOND_NS + i * SECOND_NS), f"GET /pay {i} slow timeout"] for i in range(3)],
            },
            {
                "stream": {"service_name": "search", "level": "info", "host": "web-2"},
                "values": [[str(t0 + 2 * SECOND_NS), "query took 12ms"]],
            },
        ],
    )
    start, end = str(t0 - 60 * SECOND_NS), str(now)
    wait_for(
        lambda: len(loki(server, "/loki/api/v1/query_range", query='{service="checkout"}', start=start, end=end, limit=100)["result"]) == 2,
        20,
        "the pushed lines",
    )

    # Save & test: vector(1)+vector(1) at time=4000000000 (10 digits: seconds, as Loki reads it).
    health = loki(server, "/loki/api/v1/query", query="vector(1)+vector(1)", time="4000000000")
    assert health["resultType"] == "vector"
    assert [sample["value"][1] for sample in health["result"]] == ["2"]

    # Label browser.
    labels = loki(server, "/loki/api/v1/labels", start=start, end=end)
    assert {"service", "level", "host"} <= set(labels)
    assert loki(server, "/loki/api/v1/label/service/values", start=start, end=end) == ["checkout", "search"]
    assert loki(server, "/loki/api/v1/label/host/values", start=start, end=end, query='{service="search"}') == ["web-2"]
    series = loki(server, "/loki/api/v1/series", **{"match[]": '{service="checkout"}'}, start=start, end=end)
    assert sorted(s["level"] for s in series) == ["error", "info"]

    # Explore: a line filter, newest first, a limit across streams, Loki's entry shape.
    explore = loki(
        server,
        "/loki/api/v1/query_range",
        query='{service="checkout", host=~"web-.*"} |= "GET" != "/pay 2"',
        start=start,
        end=end,
        limit=4,
        direction="backward",
        step="2000ms",
    )
    assert explore["resultType"] == "streams"
    entries = sorted(((e[0], e[1]) for stream in explore["result"] for e in stream["values"]), reverse=True)
    assert entries == [
        (str(t0 + 71 * SECOND_NS), "GET /pay 1 slow timeout"),
        (str(t0 + 70 * SECOND_NS), "GET /pay 0 slow timeout"),
        (str(t0 + 4 * SECOND_NS), "GET /cart 4 ok"),
        (str(t0 + 3 * SECOND_NS), "GET /cart 3 ok"),
    ]
    for stream in explore["result"]:
        assert stream["stream"]["service"] == "checkout"
        assert all(isinstance(v[0], str) and isinstance(v[1], str) and len(v) == 2 for v in stream["values"])

    regex = loki(server, "/loki/api/v1/query_range", query='{service=~"check.*"} |~ "slow|took"', start=start, end=end)
    assert sum(len(s["values"]) for s in regex["result"]) == 3

    # The log-volume bar: Grafana's own query, one-minute buckets.
    volume = loki(
        server,
        "/loki/api/v1/query_range",
        query='sum by (level, detected_level) (count_over_time({service="checkout"} | drop __error__[1m]))',
        start=str(t0),
        end=str(t0 + 180 * SECOND_NS),
        step="60000ms",
    )
    assert volume["resultType"] == "matrix"
    by_level = {s["metric"].get("level"): {int(float(t)): v for t, v in s["values"]} for s in volume["result"]}
    t0_s = t0 // SECOND_NS
    # Windows are (t - 1m, t]: the info lines at t0..t0+4s fall in the window ending t0+60s.
    assert by_level["info"] == {t0_s + 60: "5"} or by_level["info"] == {t0_s: "1", t0_s + 60: "4"}
    assert by_level["error"] == {t0_s + 120: "3"}

    rate = loki(server, "/loki/api/v1/query", query='sum(rate({service="checkout", level="error"}[5m]))', time=str(t0 + 180 * SECOND_NS))
    assert rate["resultType"] == "vector"
    assert abs(float(rate["result"][0]["value"][1]) - 3 / 300) < 1e-9

    # Unsupported LogQL names the construct; Loki answers errors as plain text.
    response = requests.get(server.url("/loki/api/v1/query_range"), params={"query": '{service="checkout"} | json', "start": start, "end": end}, timeout=10)
    assert response.status_code == 400
    assert "json" in response.text
