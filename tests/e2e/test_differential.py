"""Sightline's PromQL against Debian's Prometheus on the same data.

The shared benchmark harness generates realistic node-exporter and application series
(counters with resets, gauges, classic histograms); both servers receive them by
remote-write. Sample timestamps sit 7.321 s off the minute, so no sample falls on a
window edge, where Prometheus 2 (closed windows) and Prometheus 3 (left-open windows,
which Sightline follows) differ by design. Every query runs as a range query on both;
the series sets must be identical and every point equal within a relative 1e-9."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness import prometheus_process

BENCH = Path(os.environ.get("SIGHTLINE_BENCH_DIR", Path(__file__).resolve().parents[3] / "shared" / "bench"))
# 2026-11-21T17:58:37.321Z: on no minute, second or 15 s boundary.
START_MS = 1_795_283_917_321
STEPS = 480  # two hours at 15 s
SERIES = 540  # about three hosts, with their histograms
REL_TOL = 1e-9

QUERIES = {
    "raw": "node_memory_MemAvailable_bytes",
    "rate": "rate(http_requests_total[5m])",
    "rate_sum_by_job": "sum by (job) (rate(http_requests_total[5m]))",
    "cpu_by_mode": "sum by (instance, mode) (rate(node_cpu_seconds_total[5m]))",
    "increase_with_resets": "increase(node_cpu_seconds_total[10m])",
    "irate": "irate(node_network_receive_bytes_total[3m])",
    "delta_gauge": "delta(node_load1[10m])",
    "deriv": "deriv(node_memory_MemAvailable_bytes[15m])",
    "predict_linear": "predict_linear(node_filesystem_avail_bytes[30m], 3600)",
    "resets_changes": "resets(node_cpu_seconds_total[1h]) + changes(node_cpu_seconds_total[1h])",
    "p99_by_job": "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "p50_per_series": "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[10m]))",
    "mean_latency": "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
    "avg_without": "avg without (cpu) (rate(node_cpu_seconds_total{mode=\"user\"}[5m]))",
    "min_max": "max by (region) (node_load5) - min by (region) (node_load5)",
    "count_group": "count by (env) (node_load1) + group by (env) (node_load15)",
    "stddev_stdvar": "stddev by (job) (process_resident_memory_bytes) + stdvar by (env) (go_goroutines) * 0",
    "quantile_agg": "quantile by (job) (0.75, rate(http_requests_total[5m]))",
    "topk": "topk(3, rate(http_requests_total[5m]))",
    "bottomk_by": "bottomk by (instance) (2, node_hwmon_temp_celsius)",
    "count_values": "count_values(\"procs\", node_procs_running)",
    "error_ratio": 'sum by (instance) (rate(http_requests_total{code="500"}[5m])) / ignoring(code) sum by (instance) (rate(http_requests_total[5m]))',
    "on_group_left": "node_memory_MemAvailable_bytes / on(instance) group_left(env) node_memory_MemFree_bytes",
    "group_right_share": "sum by (job) (rate(http_requests_total[5m])) / on(job) group_right sum by (job, instance) (rate(http_requests_total[5m]))",
    "comparison_bool": "node_load1 > bool 1",
    "comparison_filter": "rate(http_requests_total[5m]) > 1",
    "and_unless_or": "(node_load1 > 1 and node_load5 > 1) or (node_load15 unless node_load15 > 10)",
    "scalar_ops": "2 * node_load1 ^ 2 % 7 - 1",
    "subquery_max_rate": "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "subquery_avg_gauge": "avg_over_time(node_load1[10m:30s])",
    "offset_rate": "rate(http_requests_total[5m] offset 10m)",
    "offset_gauge": "node_load1 offset 7m",
    "sum_over_time": "sum_over_time(node_load1[10m])",
    "count_over_time": "count_over_time(node_load1[10m])",
    "avg_over_time": "avg_over_time(node_memory_Cached_bytes[10m])",
    "quantile_over_time": "quantile_over_time(0.9, node_load1[20m])",
    "stddev_over_time": "stddev_over_time(node_memory_Dirty_bytes[20m])",
    "last_min_max_over_time": "last_over_time(node_load1[5m]) + min_over_time(node_load1[5m]) + max_over_time(node_load1[5m])",
    "label_replace": 'label_replace(rate(http_requests_total[5m]), "status_class", "${1}xx", "code", "(.).*")',
    "label_join": 'label_join(node_load1, "where", "/", "region", "zone")',
    "math": "abs(ln(node_load1)) + sqrt(node_load5) + clamp_min(node_load15, 0.5) + round(node_load1, 0.1)",
    "absent": 'absent(nonexistent_metric{job="x"})',
    "timestamp": "timestamp(node_load1)",
    "time_functions": "vector(time()) - scalar(max(node_load1))",
}


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> Path:
    generator = BENCH / "rw_bench.py"
    assert generator.is_file(), f"the benchmark harness is not at {BENCH} (set SIGHTLINE_BENCH_DIR)"
    out = tmp_path_factory.mktemp("payload") / "rw"
    subprocess.run(
        [
            sys.executable,
            str(generator),
            "gen",
            "--out",
            str(out),
            "--series",
            str(SERIES),
            "--steps",
            str(STEPS),
            "--shards",
            "2",
            "--steps-per-batch",
            "60",
            "--start-ms",
            str(START_MS),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def send(payload: Path, url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "rw_bench.py"), "send", "--payload", str(payload), "--url", url, "--concurrency", "2"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["samples_ok"] == SERIES * STEPS, report


@pytest.fixture
def prometheus(tmp_path: Path):
    config = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"
    with prometheus_process(tmp_path, config, flags=["--web.enable-remote-write-receiver"]) as prometheus:
        yield prometheus.url


def range_query(url: str, query: str) -> dict:
    # Evaluation times sit 10 s past the minute: no raw sample (at 7.321 s past each 15 s)
    # and no subquery step (on whole minutes or half minutes) falls on a window edge.
    start_s = (START_MS // 60_000 + 11) * 60 + 10
    end_s = (START_MS + (STEPS - 1) * 15_000) // 60_000 * 60 - 50
    response = requests.post(
        url + "/api/v1/query_range",
        data={"query": query, "start": str(start_s), "end": str(end_s), "step": "60"},
        timeout=120,
    )
    assert response.status_code == 200, f"{url}: {query}: {response.text[:300]}"
    body = response.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
    return {
        tuple(sorted(s["metric"].items())): {t: float(v) for t, v in s.get("values", [])} for s in body["data"]["result"]
    }


def relative_difference(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def test_every_point_matches_prometheus(payload, prometheus, server):
    send(payload, prometheus + "/api/v1/write")
    send(payload, server.base_url + "/api/v1/write")
    problems = []
    points = 0
    for name, query in QUERIES.items():
        expected = range_query(prometheus, query)
        actual = range_query(server.base_url, query)
        if set(expected) != set(actual):
            missing = sorted(set(expected) - set(actual))[:3]
            extra = sorted(set(actual) - set(expected))[:3]
            problems.append(f"{name}: series differ; missing {missing}, extra {extra}")
            continue
        for labels, points_expected in expected.items():
            points_actual = actual[labels]
            if set(points_expected) != set(points_actual):
                only = sorted(set(points_expected) ^ set(points_actual))[:5]
                problems.append(f"{name} {dict(labels)}: timestamps differ at {only}")
                continue
            for t, value in points_expected.items():
                points += 1
                if relative_difference(value, points_actual[t]) > REL_TOL:
                    problems.append(f"{name} {dict(labels)} at {t}: Prometheus {value!r}, Sightline {points_actual[t]!r}")
                    break
    print(f"compared {points} points of {len(QUERIES)} queries")
    assert points > 50_000, f"only {points} points compared"
    by_query = {}
    for problem in problems:
        by_query.setdefault(problem.split(" ", 1)[0], []).append(problem)
    assert not problems, "\n".join(f"{name}: {len(p)} series differ, first: {p[0]}" for name, p in by_query.items())


ERRORS = {
    "many_to_many": "sum by (job, instance) (rate(http_requests_total[5m])) / on(job) sum by (job) (rate(http_requests_total[5m]))",
    "duplicate_output": 'label_replace(node_cpu_seconds_total{instance="host-0000:9100", mode="idle"}, "cpu", "any", "", "")',
    "range_of_instant": "rate(node_load1)",
    "string_parameter": 'topk("x", node_load1)',
    "unknown_function": "rated(node_load1[5m])",
    "zero_subquery_step": "node_load1[1m:0s]",
}


def test_errors_match_prometheus(payload, prometheus, server):
    send(payload, prometheus + "/api/v1/write")
    send(payload, server.base_url + "/api/v1/write")
    for name, query in ERRORS.items():
        answers = []
        for url in (prometheus, server.base_url):
            response = requests.post(url + "/api/v1/query", data={"query": query, "time": str(START_MS // 1000 + 600)}, timeout=60)
            answers.append((response.status_code, response.json().get("errorType")))
        assert answers[0] == answers[1], f"{name}: Prometheus {answers[0]}, Sightline {answers[1]}"
        assert answers[0][0] in (400, 422), f"{name}: {answers}"
