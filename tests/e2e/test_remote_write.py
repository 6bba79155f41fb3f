"""Remote-write into the real server: exact values back, clear refusals, and every
acknowledged sample still there after a restart or a kill -9."""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import requests

from remote_write import HEADERS, Series, encode_request, export, same_value, send

T0 = 1_795_283_910_000


def series(name: str, samples: list[tuple[int, float]], **labels: str) -> Series:
    return Series({"__name__": name, **labels}, samples)


def test_samples_come_back_exactly(server):
    values = [0.1, -0.0, 1e300, 5e-324, 42.0, float("inf"), float("-inf"), math.nan, 162.158, 2**53 + 2]
    sent = [(T0 + i * 15_000, v) for i, v in enumerate(values)]
    response = send(server.base_url, [series("sightline_e2e_values", sent, job="api")])
    assert response.status_code == 204, response.text
    stored = export(server.base_url, "sightline_e2e_values")
    assert list(stored) == [(("__name__", "sightline_e2e_values"), ("job", "api"))]
    points = stored[(("__name__", "sightline_e2e_values"), ("job", "api"))]
    assert [t for t, _ in points] == [t for t, _ in sent]
    for (_, expected), (_, shown) in zip(sent, points):
        assert same_value(expected, shown), (expected, shown)


def test_retries_are_idempotent_and_old_or_conflicting_samples_are_400_naming_the_series(server):
    first = [series("sightline_e2e_retry", [(T0, 1.0), (T0 + 3_600_000, 2.0)], job="api")]
    assert send(server.base_url, first).status_code == 204
    assert send(server.base_url, first).status_code == 204, "an exact retry is accepted"
    too_old = [series("sightline_e2e_retry", [(T0 + 1000, 9.0)], job="api"), series("sightline_e2e_other", [(T0, 1.0)])]
    response = send(server.base_url, too_old)
    assert response.status_code == 400
    first_line = response.text.splitlines()[0]
    assert first_line.startswith('1 of 2 samples were not written; series sightline_e2e_retry{job="api"}: sample at'), first_line
    assert "out-of-order window" in first_line
    assert export(server.base_url, "sightline_e2e_other"), "the valid series of the request was written"
    conflict = send(server.base_url, [series("sightline_e2e_retry", [(T0 + 3_600_000, 3.0)], job="api")])
    assert conflict.status_code == 400
    assert "a different value is already stored at timestamp" in conflict.text


def test_bad_requests_get_clear_answers(start_server):
    server = start_server(extra_args=["--set", "remote_write.max_decompressed_size=1KiB"])
    url = server.base_url + "/api/v1/write"
    wrong_type = requests.post(url, data=b"x", headers={**HEADERS, "Content-Type": "application/json"}, timeout=5)
    assert wrong_type.status_code == 415 and "unsupported Content-Type" in wrong_type.text
    big = encode_request([series("sightline_e2e_big", [(T0 + i, float(i)) for i in range(200)])])
    too_big = requests.post(url, data=big, headers=HEADERS, timeout=5)
    assert too_big.status_code == 413, too_big.text
    assert "over the limit of 1024 bytes (remote_write.max_decompressed_size)" in too_big.text
    garbage = requests.post(url, data=b"\x05hello", headers=HEADERS, timeout=5)
    assert garbage.status_code == 400 and "snappy" in garbage.text
    no_name = send(server.base_url, [Series({"job": "x"}, [(T0, 1.0)])])
    assert no_name.status_code == 400 and '{job="x"}: it has no __name__ label' in no_name.text
    metrics = requests.get(server.url("/metrics"), timeout=5).text
    assert 'sightline_ingest_rejected_total{protocol="remote_write",reason="missing_metric_name"} 1' in metrics
    assert 'sightline_ingest_rejected_total{protocol="remote_write",reason="unsupported_media_type"} 1' in metrics


def test_samples_survive_a_graceful_restart_and_a_flush(start_server, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir)
    sent = [(T0 + i * 15_000, float(i)) for i in range(2000)]
    assert send(server.base_url, [series("sightline_e2e_restart", sent)]).status_code == 204
    flushed = requests.post(server.url("/api/v1/admin/tsdb/flush"), timeout=60).json()
    assert flushed["status"] == "success" and flushed["data"]["samplesWritten"] == 2000
    later = [(T0 + 2000 * 15_000, 5.0)]
    assert send(server.base_url, [series("sightline_e2e_restart", later)]).status_code == 204
    assert server.stop() == 0
    again = start_server(data_dir=data_dir)
    stored = export(again.base_url, "sightline_e2e_restart")
    points = next(iter(stored.values()))
    assert len(points) == 2001
    assert all(same_value(v, shown) and t == ts for (t, v), (ts, shown) in zip(sent + later, points))


def test_every_acknowledged_sample_survives_kill_9(start_server, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir, extra_args=["--set", "tsdb.wal_fsync=never"])
    acknowledged: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        session = requests.Session()
        step = 0
        while not stop.is_set():
            batch = [
                series("sightline_e2e_crash", [(T0 + step * 1000, step + shard / 10)], worker=str(worker), shard=str(shard))
                for shard in range(50)
            ]
            try:
                response = send(server.base_url, batch, session=session, timeout=5)
            except requests.RequestException:
                return  # the server died mid-request: this batch was never acknowledged
            if response.status_code != 204:
                return
            acknowledged.extend((f"{worker}/{s.labels['shard']}", s.samples[0][0], s.samples[0][1]) for s in batch)
            step += 1

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 15_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acknowledged) >= 15_000, f"only {len(acknowledged)} samples were acknowledged before the kill"

    restarted = start_server(data_dir=data_dir)
    stored = export(restarted.base_url, "sightline_e2e_crash")
    by_series = {f"{dict(key)['worker']}/{dict(key)['shard']}": dict(points) for key, points in stored.items()}
    missing = []
    for name, timestamp, value in acknowledged:
        shown = by_series.get(name, {}).get(timestamp)
        if shown is None or not same_value(value, shown):
            missing.append((name, timestamp, value, shown))
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged samples lost, e.g. {missing[:5]}"


def test_limits_refuse_with_the_metric_named_and_are_counted(start_server):
    server = start_server(
        extra_args=["--set", "tsdb.max_series_per_metric=2", "--set", "limits.max_labels_per_series=3"]
    )
    batch = [series("sightline_e2e_limited", [(T0, 1.0)], instance=str(i)) for i in range(3)]
    limited = send(server.base_url, batch)
    assert limited.status_code == 400, limited.text
    assert 'the limit of 2 active series for metric "sightline_e2e_limited" is reached' in limited.text
    assert len(export(server.base_url, "sightline_e2e_limited")) == 2, "the series under the limit were written"
    too_many_labels = send(server.base_url, [series("sightline_e2e_wide", [(T0, 1.0)], a="1", b="2", c="3")])
    assert too_many_labels.status_code == 400
    assert "sightline_e2e_wide" in too_many_labels.text and "more than the limit of 3" in too_many_labels.text
    metrics = requests.get(server.url("/metrics"), timeout=5).text
    assert 'sightline_tsdb_samples_rejected_total{reason="max_series_per_metric"} 1' in metrics
    assert 'sightline_ingest_rejected_total{protocol="remote_write",reason="max_labels_per_series"} 1' in metrics
    cardinality = requests.get(server.url("/api/v1/status/tsdb"), params={"limit": 1}, timeout=5).json()["data"]
    assert cardinality["seriesCountByMetricName"] == [{"name": "sightline_e2e_limited", "value": 2}]
