"""The Prometheus query API over data sent by remote-write: answers shaped byte for byte
as Prometheus shapes them, errors with Prometheus's types and status codes, and the
query limits (samples, series, timeout, concurrency, a client that goes away)."""

from __future__ import annotations

import json
import threading
import time

import requests

from remote_write import Series, send

T0 = 1_795_283_910_000  # ms
STEP = 15_000
N = 240  # one hour at 15 s


def metrics_value(server, name: str, **labels: str) -> float:
    text = requests.get(server.url("/metrics"), timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def load(server) -> None:
    series = []
    for code, per_step in (("200", 10), ("500", 1)):
        series.append(
            Series(
                {"__name__": "sightline_e2e_requests_total", "job": "api", "instance": "a", "code": code},
                [(T0 + i * STEP, float(i * per_step)) for i in range(N)],
            )
        )
    buckets = (("0.1", 2), ("0.5", 5), ("+Inf", 6))
    for le, per_step in buckets:
        series.append(
            Series(
                {"__name__": "sightline_e2e_latency_seconds_bucket", "job": "api", "le": le},
                [(T0 + i * STEP, float(i * per_step)) for i in range(N)],
                exemplars=[({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, 0.42, T0 + 100 * STEP)] if le == "0.5" else [],
            )
        )
    series.append(Series({"__name__": "sightline_e2e_temperature", "room": "lab"}, [(T0 + i * STEP, 20.5) for i in range(N)]))
    response = send(server.base_url, series)
    assert response.status_code == 204, response.text


def get(server, path: str, **params) -> requests.Response:
    return requests.get(server.url(path), params=params, timeout=30)


def test_instant_query_answers_exactly_as_prometheus_writes_them(server):
    load(server)
    at = (T0 + 100 * STEP) / 1000
    response = get(server, "/api/v1/query", query='sightline_e2e_requests_total{code="500"}', time=str(at))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.text == (
        '{"status":"success","data":{"resultType":"vector","result":[{"metric":'
        '{"__name__":"sightline_e2e_requests_total","code":"500","instance":"a","job":"api"},'
        '"value":[1795285410,"100"]}]}}'
    )
    scalar = get(server, "/api/v1/query", query="1+1", time="4").json()
    assert scalar == {"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}}
    string = get(server, "/api/v1/query", query='"hello"', time="1.5").text
    assert string == '{"status":"success","data":{"resultType":"string","result":[1.500,"hello"]}}'
    rate = get(server, "/api/v1/query", query="sum by (code) (rate(sightline_e2e_requests_total[5m]))", time=str(at)).json()
    by_code = {r["metric"]["code"]: float(r["value"][1]) for r in rate["data"]["result"]}
    assert abs(by_code["200"] - 10 / 15) < 1e-9 and abs(by_code["500"] - 1 / 15) < 1e-9
    p99 = get(
        server,
        "/api/v1/query",
        query="histogram_quantile(0.9, sum by (le) (rate(sightline_e2e_latency_seconds_bucket[5m])))",
        time=str(at),
    ).json()["data"]["result"]
    assert len(p99) == 1 and abs(float(p99[0]["value"][1]) - 0.5) < 1e-9
    gauge_rate = get(server, "/api/v1/query", query="rate(sightline_e2e_temperature[5m])", time=str(at)).json()
    assert gauge_rate["infos"] == [
        'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "sightline_e2e_temperature"'
    ]


def test_range_queries_by_get_and_by_form_post(server):
    load(server)
    params = {
        "query": 'sightline_e2e_requests_total{code="500"} * 2',
        "start": str(T0 / 1000),
        "end": str((T0 + 2 * STEP) / 1000),
        "step": "15s",
    }
    by_get = get(server, "/api/v1/query_range", **params)
    by_post = requests.post(server.url("/api/v1/query_range"), data=params, timeout=30)
    assert by_get.status_code == 200 and by_post.status_code == 200
    assert by_get.text == by_post.text
    assert by_get.json()["data"] == {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"code": "500", "instance": "a", "job": "api"},
                "values": [[1795283910, "0"], [1795283925, "2"], [1795283940, "4"]],
            }
        ],
    }
    fractional = get(server, "/api/v1/query_range", query="vector(1)", start="0", end="1", step="0.5").json()
    assert fractional["data"]["result"][0]["values"] == [[0, "1"], [0.500, "1"], [1, "1"]] or fractional["data"]["result"][
        0
    ]["values"] == [[0, "1"], [0.5, "1"], [1, "1"]]


def test_series_labels_values_metadata_and_exemplars(server):
    load(server)
    start, end = str(T0 / 1000), str((T0 + N * STEP) / 1000)
    series = get(server, "/api/v1/series", **{"match[]": "sightline_e2e_requests_total", "start": start, "end": end}).json()
    assert series == {
        "status": "success",
        "data": [
            {"__name__": "sightline_e2e_requests_total", "code": "200", "instance": "a", "job": "api"},
            {"__name__": "sightline_e2e_requests_total", "code": "500", "instance": "a", "job": "api"},
        ],
    }
    posted = requests.post(server.url("/api/v1/series"), data={"match[]": "sightline_e2e_requests_total"}, timeout=10)
    assert posted.json() == series
    names = get(server, "/api/v1/labels", start=start, end=end).json()["data"]
    assert names == ["__name__", "code", "instance", "job", "le", "room"]
    values = get(server, "/api/v1/label/__name__/values").json()["data"]
    assert values == ["sightline_e2e_latency_seconds_bucket", "sightline_e2e_requests_total", "sightline_e2e_temperature"]
    limited = get(server, "/api/v1/label/code/values", limit="1").json()
    assert limited["data"] == ["200"] and limited["warnings"] == ["results truncated due to limit of 1"]
    matched = get(server, "/api/v1/label/job/values", **{"match[]": "sightline_e2e_temperature"}).json()["data"]
    assert matched == []
    assert get(server, "/api/v1/series").status_code == 400
    metadata = get(server, "/api/v1/metadata").json()
    assert metadata["status"] == "success" and isinstance(metadata["data"], dict)
    exemplars = get(
        server,
        "/api/v1/query_exemplars",
        query="histogram_quantile(0.9, rate(sightline_e2e_latency_seconds_bucket[5m]))",
        start=start,
        end=end,
    ).json()
    assert exemplars == {
        "status": "success",
        "data": [
            {
                "seriesLabels": {"__name__": "sightline_e2e_latency_seconds_bucket", "job": "api", "le": "0.5"},
                "exemplars": [
                    {"labels": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, "value": "0.42", "timestamp": 1795285410}
                ],
            }
        ],
    }


def test_format_and_parse_query(server):
    formatted = get(server, "/api/v1/format_query", query="sum(rate(x[5m]))by(job)").json()
    assert formatted == {"status": "success", "data": "sum by (job) (rate(x[5m]))"}
    tree = get(server, "/api/v1/parse_query", query="up").json()["data"]
    assert tree["type"] == "vectorSelector" and tree["name"] == "up"


def test_errors_carry_prometheus_types_and_status_codes(server):
    load(server)
    bad = get(server, "/api/v1/query", query="sum(", time="1")
    assert bad.status_code == 400
    body = bad.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert body["error"].startswith('invalid parameter "query": ')
    empty = get(server, "/api/v1/query")
    assert (empty.status_code, empty.json()["errorType"]) == (400, "bad_data")
    backwards = get(server, "/api/v1/query_range", query="1", start="10", end="5", step="1")
    assert backwards.status_code == 400 and "end timestamp must not be before start time" in backwards.text
    fine = get(server, "/api/v1/query_range", query="1", start="0", end="100000", step="1")
    assert fine.status_code == 400 and "exceeded maximum resolution of 11000 points" in fine.text
    range_vector = get(server, "/api/v1/query_range", query="up[5m]", start="0", end="10", step="1")
    assert range_vector.status_code == 400
    assert 'invalid expression type "range vector" for range query' in range_vector.json()["error"]
    ambiguous = get(server, "/api/v1/query", query="sightline_e2e_requests_total + on(job) sightline_e2e_requests_total", time=str(T0 / 1000 + 60))
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errorType"] == "execution"
    assert "many-to-many matching not allowed" in ambiguous.json()["error"]


def test_samples_and_series_limits_answer_422_naming_the_limit(start_server):
    server = start_server(extra_args=["--set", "query.max_samples=100", "--set", "query.max_series=1"])
    load(server)
    too_many = get(server, "/api/v1/query_range", query="sightline_e2e_temperature", start=str(T0 / 1000), end=str(T0 / 1000 + 3600), step="15")
    assert too_many.status_code == 422, too_many.text
    assert "query.max_samples = 100" in too_many.json()["error"]
    wide = get(server, "/api/v1/query", query="sightline_e2e_requests_total", time=str(T0 / 1000 + 60))
    assert wide.status_code == 422 and "query.max_series" in wide.json()["error"]
    assert metrics_value(server, "sightline_query_limit_hits_total", limit="max_samples") == 1
    assert metrics_value(server, "sightline_query_limit_hits_total", limit="max_series") == 1


def load_dense(server) -> None:
    """One series with a sample every second for four hours: windows of thousands of
    samples make `quantile_over_time` slow enough (seconds) to stop on purpose."""
    start = T0 - 4 * 3_600_000
    samples = [(start + i * 1000, float(i % 97)) for i in range(4 * 3600)]
    assert send(server.base_url, [Series({"__name__": "sightline_e2e_dense"}, samples)]).status_code == 204


SLOW = "quantile_over_time(0.5, sightline_e2e_dense[4h])"


def slow_params(**extra):
    return {"query": SLOW, "start": str(T0 / 1000 - 3600), "end": str(T0 / 1000 + 3600), "step": "1", **extra}


def test_timeout_answers_503_and_is_counted(start_server):
    server = start_server()
    load_dense(server)
    response = get(server, "/api/v1/query_range", **slow_params(timeout="0.05"))
    assert response.status_code == 503, response.text
    assert response.json()["errorType"] == "timeout"
    assert "query.timeout" in response.json()["error"]
    assert metrics_value(server, "sightline_query_limit_hits_total", limit="timeout") == 1


def test_a_client_that_goes_away_cancels_its_query_and_concurrency_is_bounded(start_server):
    server = start_server(extra_args=["--set", "query.max_concurrency=1"])
    load_dense(server)
    outcome = {}

    def slow_query():
        try:
            requests.get(server.url("/api/v1/query_range"), params=slow_params(), timeout=1.5)
        except requests.exceptions.ReadTimeout:
            outcome["gave_up"] = True

    thread = threading.Thread(target=slow_query)
    thread.start()
    time.sleep(0.5)
    assert metrics_value(server, "sightline_queries_in_flight") == 1
    # The only slot is taken: a second query waits up to its timeout, then gets 503.
    blocked = get(server, "/api/v1/query", query="1", timeout="0.2")
    assert blocked.status_code == 503, blocked.text
    assert "query.max_concurrency" in blocked.json()["error"]
    thread.join()
    assert outcome.get("gave_up")
    deadline = time.monotonic() + 20
    while metrics_value(server, "sightline_query_limit_hits_total", limit="canceled") < 1:
        assert time.monotonic() < deadline, "the abandoned query was not canceled"
        time.sleep(0.1)
    # The evaluation notices within a few hundred steps and gives its thread back.
    while metrics_value(server, "sightline_queries_in_flight") > 0:
        assert time.monotonic() < deadline, "the canceled evaluation kept running"
        time.sleep(0.05)
    assert get(server, "/api/v1/query", query="1").status_code == 200, "the slot was given back"
    assert metrics_value(server, "sightline_query_limit_hits_total", limit="max_concurrency") == 1
