"""StatsD from real clients (pystatsd, and datadog's DogStatsd for tags) into the store:
aggregated series with exactly the expected values."""

from __future__ import annotations

import socket
import time

import requests
import statsd
from datadog.dogstatsd.base import DogStatsd

from harness import wait_until
from remote_write import export

MAPPING = """
[[statsd.mappings]]
match = "simplebank-demo.*.request_reservation"
name = "request_reservation_seconds"
labels = { app = "$1" }
buckets = [0.05, 0.1, 0.5]
"""


def latest(url: str, selector: str) -> dict[tuple, float]:
    """The newest value of every series matching `selector`, by sorted label items."""
    return {key: float(points[-1][1]) for key, points in export(url, selector).items()}


def key(**labels: str) -> tuple:
    return tuple(sorted(labels.items()))


def test_clients_metrics_aggregate_into_exact_series(start_server, tmp_path):
    config = tmp_path / "sightline.toml"
    config.write_text(MAPPING)
    server = start_server(extra_args=["--config", str(config), "--set", "statsd.flush_interval=500ms"])
    port = server.ports["statsd.listen"]

    plain = statsd.StatsClient("127.0.0.1", port)
    for _ in range(10):
        plain.incr("e2e.requests")
    plain.incr("e2e.requests", 5)
    plain.gauge("e2e.temperature", 20)
    plain.gauge("e2e.temperature", 5, delta=True)
    plain.gauge("e2e.temperature", -2, delta=True)
    for milliseconds in (72.8, 30.0, 450.0, 1200.0):
        plain.timing("simplebank-demo.market.request_reservation", milliseconds)
    for member in ("alice", "bob", "alice"):
        plain.set("e2e.users", member)

    tagged = DogStatsd(host="127.0.0.1", port=port, disable_telemetry=True, origin_detection_enabled=False)
    for _ in range(3):
        tagged.increment("e2e.tagged", tags=["env:prod", "region:eu"])
    tagged.increment("e2e.tagged", tags=["env:dev", "region:eu"])
    tagged.timing("e2e.checkout", 250, tags=["service:checkout"])

    over_tcp = statsd.TCPStatsClient("127.0.0.1", server.ports["statsd.tcp_listen"])
    for _ in range(4):
        over_tcp.incr("e2e.tcp")
    over_tcp.close()

    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.sendto(b"e2e.good:1|c\nthis is not statsd\ne2e.also_good:2|c\ne2e.sampled:1|c|@0.1", ("127.0.0.1", port))
    raw.sendto(b"e2e.tiny:1|ms|@1e-9", ("127.0.0.1", port))

    expected = {
        ("e2e_requests_total", key()): 15.0,
        ("e2e_temperature", key()): 23.0,
        ("e2e_tagged_total", key(env="prod", region="eu")): 3.0,
        ("e2e_tagged_total", key(env="dev", region="eu")): 1.0,
        ("e2e_tcp_total", key()): 4.0,
        ("e2e_good_total", key()): 1.0,
        ("e2e_also_good_total", key()): 2.0,
        ("e2e_sampled_total", key()): 10.0,
        ("request_reservation_seconds_bucket", key(app="market", le="0.05")): 1.0,
        ("request_reservation_seconds_bucket", key(app="market", le="0.1")): 2.0,
        ("request_reservation_seconds_bucket", key(app="market", le="0.5")): 3.0,
        ("request_reservation_seconds_bucket", key(app="market", le="+Inf")): 4.0,
        ("request_reservation_seconds_count", key(app="market")): 4.0,
        ("e2e_checkout_seconds_count", key(service="checkout")): 1.0,
        ("e2e_tiny_seconds_count", key()): 1e9,
    }

    def observed() -> dict:
        values = {}
        for name in {name for name, _ in expected}:
            for labels, value in latest(server.base_url, name).items():
                values[(name, tuple(item for item in labels if item[0] != "__name__"))] = value
        return values

    wait_until(lambda: all(observed().get(k) == v for k, v in expected.items()), 20, "StatsD series to be flushed", server.log)
    values = observed()
    sums = latest(server.base_url, "request_reservation_seconds_sum")
    assert abs(next(iter(sums.values())) - (0.0728 + 0.030 + 0.450 + 1.200)) < 1e-12
    users = export(server.base_url, "e2e_users")
    user_values = [float(v) for points in users.values() for _, v in points]
    assert max(user_values) == 2.0, "a set counts distinct members per flush"
    assert values[("e2e_tiny_seconds_count", key())] == 1e9, "a tiny sample rate weighs one observation"

    metrics = requests.get(server.url("/metrics"), timeout=5).text
    assert 'sightline_ingest_rejected_total{protocol="statsd",reason="malformed_line"} 1' in metrics
    assert 'sightline_statsd_packets_total{transport="tcp"}' in metrics
    assert "sightline_statsd_udp_kernel_drops_total 0" in metrics


def test_shutdown_flushes_what_was_aggregated(start_server, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir, extra_args=["--set", "statsd.flush_interval=1h"])
    client = statsd.StatsClient("127.0.0.1", server.ports["statsd.listen"])
    for _ in range(7):
        client.incr("e2e.before_shutdown")

    def received() -> bool:
        metrics = requests.get(server.url("/metrics"), timeout=5).text
        return 'sightline_ingest_items_total{protocol="statsd"} 7' in metrics

    wait_until(received, 10, "the 7 lines to be received", server.log)
    assert server.stop() == 0
    again = start_server(data_dir=data_dir)
    assert latest(again.base_url, "e2e_before_shutdown_total") == {key(__name__="e2e_before_shutdown_total"): 7.0}
