"""Grafana's Prometheus data source against Sightline and against Debian's Prometheus.

`GrafanaClient` sends what Grafana's data source sends (its Go backend, `pkg/promlib`,
and the resource calls of its query editor): the health check, the build-info probe
with its POST-then-GET fallback, label names, label values, series and metadata for the
editor, instant and range queries as forms or URL parameters with `step` in seconds and
the configured `timeout`, and exemplar queries. Every call goes to both servers holding
the same data; Grafana cannot tell them apart if each call gets the same status codes,
the same JSON shape and the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from harness import prometheus_process
from remote_write import Series, send

T0 = 1_795_283_910_000  # ms, 2026-11-21T17:58:30Z
STEP = 15_000
N = 240  # one hour at 15 s
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# Paths Grafana never POSTs to (promlib/client `endpointsSupportOnlyGet`). They are
# compared with the request path as Grafana passes it, without a leading slash, so the
# build-info path, listed with one, is POSTed first and retried as GET.
GET_ONLY = (
    "api/v1/label/",
    "api/v1/metadata",
    "/api/v1/targets",
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v1/targets/metadata",
    "/api/v1/alertmanagers",
    "/api/v1/status/config",
    "/api/v1/status/flags",
    "/api/v1/status/runtimeinfo",
    "/api/v1/status/buildinfo",
    "/api/v1/status/tsdb",
    "/api/v1/status/walreplay",
    "/api/v1/notifications",
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def go_seconds(milliseconds: int) -> str:
    """A time as Grafana formats it: seconds, shortest decimal form (Go 'f', -1)."""
    text = repr(milliseconds / 1000)
    return text[:-2] if text.endswith(".0") else text


class GrafanaClient:
    """One Grafana Prometheus data source: its HTTP method and query timeout."""

    def __init__(self, base_url: str, method: str, query_timeout: str | None) -> None:
        self.base_url = base_url
        self.method = method
        self.query_timeout = query_timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "Grafana/12.2.0"
        self.trail: list[tuple[str, str, int]] = []

    def _send(self, method: str, path: str, params: dict | list | None = None, body: str | dict | None = None) -> requests.Response:
        headers = FORM if method == "POST" else {}
        response = self.session.request(method, f"{self.base_url}/{path}", params=params, data=body, headers=headers, timeout=30)
        self.trail.append((method, path, response.status_code))
        return response

    def _query(self, path: str, values: dict[str, str]) -> requests.Response:
        if self.query_timeout:
            values = dict(values, timeout=self.query_timeout)
        if self.method == "POST":
            return self._send("POST", path, body=values)
        return self._send("GET", path, params=values)

    def query_instant(self, expr: str, at_ms: int) -> requests.Response:
        return self._query("api/v1/query", {"query": expr, "time": go_seconds(at_ms)})

    def query_range(self, expr: str, start_ms: int, end_ms: int, step_s: float) -> requests.Response:
        # Grafana aligns the range to the step before it asks.
        step_ms = int(step_s * 1000)
        start_ms -= start_ms % step_ms
        end_ms -= end_ms % step_ms
        return self._query(
            "api/v1/query_range",
            {"query": expr, "start": go_seconds(start_ms), "end": go_seconds(end_ms), "step": repr(step_s).removesuffix(".0")},
        )

    def query_exemplars(self, expr: str, start_ms: int, end_ms: int) -> requests.Response:
        values = {"query": expr, "start": go_seconds(start_ms), "end": go_seconds(end_ms)}
        if self.method == "POST":
            return self._send("POST", "api/v1/query_exemplars", body=values)
        return self._send("GET", "api/v1/query_exemplars", params=values)

    def resource(self, path: str, params: list[tuple[str, str]]) -> requests.Response:
        """A call of the query editor through Grafana's resource proxy (`QueryResource`)."""
        body = urlencode(params)
        if self.method == "GET" or path.startswith(GET_ONLY):
            return self._send("GET", path, params=params)
        response = self._send("POST", path, body=body)
        if response.status_code in (400, 405):
            return self._send("GET", path, params=params)
        return response


def load(url: str) -> None:
    series = []
    for instance in ("a", "b"):
        for code, per_step in (("200", 10), ("500", 1)):
            series.append(
                Series(
                    {"__name__": "shop_requests_total", "code": code, "instance": instance, "job": "shop"},
                    [(T0 + i * STEP + 7_321, float(i * per_step)) for i in range(N)],
                )
            )
    for le, per_step in (("0.1", 2), ("0.5", 5), ("+Inf", 6)):
        series.append(
            Series(
                {"__name__": "shop_latency_seconds_bucket", "job": "shop", "le": le},
                [(T0 + i * STEP + 7_321, float(i * per_step)) for i in range(N)],
                exemplars=[({"trace_id": TRACE_ID}, 0.42, T0 + 100 * STEP + 7_321)] if le == "0.5" else [],
            )
        )
    series.append(Series({"__name__": "shop_queue_depth", "queue": "email"}, [(T0 + i * STEP + 7_321, 3.0) for i in range(N)]))
    response = send(url, series)
    assert response.status_code in (200, 204), f"{url}: {response.status_code} {response.text}"


def shape(value: Any) -> Any:
    """The JSON structure without its values: what a parser depends on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = []
        for item in value:
            if shape(item) not in shapes:
                shapes.append(shape(item))
        return shapes
    return type(value).__name__


def canonical(value: Any) -> Any:
    """The JSON with every list sorted, for comparing answers whose order is unspecified."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((canonical(item) for item in value), key=repr)
    return value


END_MS = T0 + (N - 1) * STEP
EDITOR_START_MS = T0 - 3_600_000
BAD_QUERY = "sum(rate(shop_requests_total[5m])"


def grafana_session(client: GrafanaClient) -> dict[str, requests.Response]:
    """The calls Grafana makes when a data source is saved, a panel is edited and drawn."""
    start_s, end_s = str(EDITOR_START_MS // 1000), str(END_MS // 1000)
    calls = {}
    # "Save & test": the health check, then the build-info heuristics.
    calls["health"] = client.query_instant("1+1", 4_000)
    calls["buildinfo"] = client.resource("api/v1/status/buildinfo", [])
    # The query editor opens: metric names, label names, series, metadata.
    calls["metric_names"] = client.resource("api/v1/label/__name__/values", [("limit", "40000"), ("start", start_s), ("end", end_s)])
    calls["labels"] = client.resource("api/v1/labels", [("limit", "40000"), ("start", start_s), ("end", end_s)])
    calls["labels_match"] = client.resource(
        "api/v1/labels", [("limit", "40000"), ("start", start_s), ("end", end_s), ("match[]", "shop_requests_total")]
    )
    calls["label_values_match"] = client.resource(
        "api/v1/label/code/values",
        [("limit", "40000"), ("start", start_s), ("end", end_s), ("match[]", 'shop_requests_total{instance="a"}')],
    )
    calls["series"] = client.resource(
        "api/v1/series", [("start", start_s), ("end", end_s), ("match[]", '{__name__!=""}'), ("limit", "40000")]
    )
    calls["metadata"] = client.resource("api/v1/metadata", [("limit", "10000")])
    # The panel draws.
    calls["range_rate"] = client.query_range("sum by (code) (rate(shop_requests_total[5m]))", T0 + 600_000, END_MS, 15)
    calls["range_p90"] = client.query_range(
        "histogram_quantile(0.9, sum by (le) (rate(shop_latency_seconds_bucket[5m])))", T0 + 600_000, END_MS, 60
    )
    calls["range_fractional_step"] = client.query_range("shop_queue_depth", END_MS - 60_000, END_MS, 7.5)
    calls["instant_table"] = client.query_instant("shop_requests_total", END_MS)
    calls["exemplars"] = client.query_exemplars("shop_latency_seconds_bucket", T0, END_MS)
    calls["bad_query"] = client.query_range(BAD_QUERY, T0, END_MS, 15)
    calls["bad_step"] = client.query_range("shop_queue_depth", T0, END_MS, 0.001)
    return calls


@pytest.fixture
def prometheus(tmp_path: Path):
    config = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"
    flags = ["--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"]
    with prometheus_process(tmp_path, config, flags=flags) as prometheus:
        yield prometheus.url


@pytest.mark.parametrize("method,query_timeout", [("POST", "60s"), ("GET", None)])
def test_grafana_sees_the_same_answers(server, prometheus, method, query_timeout):
    load(prometheus)
    load(server.base_url)
    theirs_client = GrafanaClient(prometheus, method, query_timeout)
    ours_client = GrafanaClient(server.base_url, method, query_timeout)
    theirs = grafana_session(theirs_client)
    ours = grafana_session(ours_client)
    # The same requests got the same status codes: fallbacks happened alike.
    assert ours_client.trail == theirs_client.trail

    for name in theirs:
        expected, actual = theirs[name].json(), ours[name].json()
        assert ours[name].headers["Content-Type"].startswith("application/json"), name
        assert shape(canonical(actual)) == shape(canonical(expected)), f"{name}: {actual} != {expected}"
        if name == "buildinfo":
            continue
        if name.startswith("bad_"):
            assert actual["errorType"] == expected["errorType"] == "bad_data", name
            continue
        assert canonical(actual) == canonical(expected), f"{name}:\nSightline  {actual}\nPrometheus {expected}"

    # What Grafana reads from the answers.
    assert ours["health"].json()["data"] == {"resultType": "scalar", "result": [4, "2"]}
    build = ours["buildinfo"].json()
    assert build["status"] == "success" and build["data"]["version"]
    assert not build["data"].get("features"), "features would make Grafana treat Sightline as Mimir"
    if method == "POST":
        assert ("POST", "api/v1/status/buildinfo", 405) in ours_client.trail
    assert "shop_requests_total" in ours["metric_names"].json()["data"]
    assert ours["labels_match"].json()["data"] == ["__name__", "code", "instance", "job"]
    assert sorted(ours["label_values_match"].json()["data"]) == ["200", "500"]
    exemplars = ours["exemplars"].json()["data"]
    assert exemplars[0]["exemplars"][0]["labels"] == {"trace_id": TRACE_ID}
    assert len(ours["range_rate"].json()["data"]["result"]) == 2
    assert len(ours["range_fractional_step"].json()["data"]["result"][0]["values"]) == 9
