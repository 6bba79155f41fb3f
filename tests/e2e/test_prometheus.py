"""Debian's Prometheus scrapes itself and remote-writes to Sightline; every sample
Sightline stored matches Prometheus's own copy exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness import free_port, prometheus_process, wait_until
from remote_write import export, same_value

SELECTOR = '{__name__=~"up|scrape_samples_scraped|process_cpu_seconds_total|prometheus_http_requests_total|go_memstats_alloc_bytes|prometheus_tsdb_head_series"}'


@pytest.fixture
def prometheus(server, tmp_path: Path):
    port = free_port()
    config = f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {server.base_url}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 500
    metadata_config:
      send_interval: 1s
"""
    with prometheus_process(tmp_path, config, port) as prometheus:
        yield prometheus.url, prometheus.log


def prometheus_samples(url: str) -> dict[tuple, list[tuple[int, str]]]:
    response = requests.get(url + "/api/v1/query", params={"query": SELECTOR + "[10m]"}, timeout=10)
    response.raise_for_status()
    result = {}
    for series in response.json()["data"]["result"]:
        key = tuple(sorted(series["metric"].items()))
        result[key] = [(round(float(t) * 1000), v) for t, v in series["values"]]
    return result


def test_prometheus_remote_write_lands_with_identical_values(server, prometheus):
    url, prometheus_log = prometheus

    def enough_scrapes() -> bool:
        stored = export(server.base_url, 'up{job="prometheus"}')
        return any(len(points) >= 8 for points in stored.values())

    wait_until(enough_scrapes, 60, "8 scrapes of up to reach Sightline", prometheus_log)
    expected = prometheus_samples(url)
    stored = export(server.base_url, SELECTOR)
    assert len(expected) >= 6, expected.keys()
    compared = 0
    for key, points in expected.items():
        assert key in stored, f"Sightline lacks series {dict(key)}"
        sightline = dict(stored[key])
        newest = max(sightline)
        # Remote-write lags behind the scrapes; compare everything Sightline has caught up to.
        for timestamp, value in points:
            if timestamp > newest:
                continue
            assert timestamp in sightline, f"{dict(key)} lacks the sample at {timestamp}"
            assert same_value(float(value), sightline[timestamp]), (dict(key), timestamp, value, sightline[timestamp])
            compared += 1
        extra = set(sightline) - {t for t, _ in points}
        assert not {t for t in extra if t >= points[0][0]}, f"{dict(key)} has samples Prometheus does not"
    assert compared >= 4 * len(expected), f"only {compared} samples compared over {len(expected)} series"
    metrics = requests.get(server.url("/metrics"), timeout=5).text
    assert 'sightline_ingest_items_total{protocol="remote_write"}' in metrics
    status = requests.get(server.url("/api/v1/status/tsdb"), timeout=5).json()["data"]
    names = [entry["name"] for entry in status["seriesCountByMetricName"]]
    assert "prometheus_http_requests_total" in names or status["headStats"]["numSeries"] > 100
