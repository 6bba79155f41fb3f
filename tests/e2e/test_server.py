"""The server process: health, readiness, self-metrics, limits, data directory, signals."""

from __future__ import annotations

import json
import signal

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness import run_binary


def test_health_and_readiness(server):
    healthy = requests.get(server.url("/-/healthy"), timeout=5)
    assert (healthy.status_code, healthy.text) == (200, "Sightline is Healthy.\n")
    ready = requests.get(server.url("/-/ready"), timeout=5)
    assert (ready.status_code, ready.text) == (200, "Sightline is Ready.\n")
    assert requests.head(server.url("/-/ready"), timeout=5).status_code == 200


def test_metrics_parse_with_the_prometheus_text_parser(server):
    requests.get(server.url("/-/healthy"), timeout=5)
    response = requests.get(server.url("/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}

    latency = families["sightline_http_request_duration_seconds"]
    assert latency.type == "histogram"
    healthy_counts = [
        sample.value
        for sample in latency.samples
        if sample.name.endswith("_count") and sample.labels.get("route") == "/-/healthy"
    ]
    assert healthy_counts == [1.0], latency.samples

    items = families["sightline_ingest_items"]  # the parser drops the _total suffix
    assert items.type == "counter"
    protocols = {sample.labels["protocol"] for sample in items.samples if sample.name.endswith("_total")}
    assert {"remote_write", "statsd", "otlp_traces", "loki_push"} <= protocols
    assert families["sightline_ingest_bytes"].type == "counter"

    stores = families["sightline_store_size_bytes"]
    assert stores.type == "gauge"
    assert {sample.labels["store"] for sample in stores.samples} == {"tsdb", "logs", "traces", "alerting"}
    assert families["sightline_build_info"].samples[0].labels["version"]
    assert families["process_resident_memory_bytes"].samples[0].value > 0


def test_buildinfo_matches_version_flag(server, binary):
    body = requests.get(server.url("/api/v1/status/buildinfo"), timeout=5).json()
    assert body["status"] == "success"
    assert set(body["data"]) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    version_output = run_binary(binary, ["--version"])
    assert version_output.returncode == 0
    assert version_output.stdout.splitlines()[0] == f"sightline {body['data']['version']}"
    assert f"revision: {body['data']['revision']}" in version_output.stdout


def test_body_limit_answers_413_naming_the_limit(start_server):
    server = start_server(extra_args=["--set", "http.max_request_body=1KiB"])
    response = requests.post(server.url("/api/v1/status/buildinfo"), data=b"x" * 2048, timeout=5)
    assert response.status_code == 413
    assert response.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": "request body of 2048 bytes is over the limit of 1024 bytes",
    }


def test_unknown_api_path_is_a_json_404(server):
    response = requests.get(server.url("/api/v1/nope"), timeout=5)
    assert response.status_code == 404
    assert response.json()["error"] == "no endpoint GET /api/v1/nope"


def test_ui_is_served_at_the_root(server):
    response = requests.get(server.url("/"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<div id="app"></div>' in response.text, "the binary was built without ui/dist"


def test_sigterm_exits_zero_and_releases_the_data_directory(start_server, tmp_path):
    data_dir = tmp_path / "shared"
    server = start_server(data_dir=data_dir)
    assert server.stop(deadline_s=10) == 0
    assert "shutdown complete" in server.log()
    # The lock went with the process: a new server takes the same directory.
    again = start_server(data_dir=data_dir)
    again.process.send_signal(signal.SIGINT)
    assert again.wait_exit(10) == 0


def test_second_server_on_the_same_data_directory_refuses_to_start(start_server, tmp_path):
    data_dir = tmp_path / "shared"
    first = start_server(data_dir=data_dir)
    second = start_server(data_dir=data_dir, ready=False)
    assert second.wait_exit(15) == 1
    assert (
        f"data directory {data_dir} is in use by another sightline process (pid {first.process.pid})"
        in second.log()
    )
    assert requests.get(first.url("/-/ready"), timeout=5).status_code == 200


def test_newer_data_format_is_refused(start_server, tmp_path):
    data_dir = tmp_path / "future"
    data_dir.mkdir()
    (data_dir / "FORMAT").write_text("99\n")
    server = start_server(data_dir=data_dir, ready=False)
    assert server.wait_exit(15) == 1
    assert "has format version 99, newer than this sightline understands (2)" in server.log()


def test_json_logs_are_one_object_per_line(start_server):
    server = start_server(extra_args=["--log-format", "json"])
    assert server.stop() == 0
    lines = [line for line in server.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert any(record.get("message") == "shutdown complete" for record in records), records
    assert all("level" in record and "timestamp" in record for record in records)


def test_non_loopback_listen_address_is_logged_as_exposed(start_server):
    server = start_server(http_host="0.0.0.0")
    assert "reachable from the network" in server.log()
    assert "127.0.0.1" not in server.log().split("http listener open")[1].splitlines()[0]


def test_ui_can_be_served_from_a_configured_directory(start_server, tmp_path):
    ui_dir = tmp_path / "ui"
    (ui_dir / "assets").mkdir(parents=True)
    (ui_dir / "index.html").write_text("<p>custom build</p>")
    (ui_dir / "assets" / "app-1234.js").write_text("console.log('hi')")
    server = start_server(extra_args=["--set", f"http.ui_dir={ui_dir}"])
    index = requests.get(server.url("/"), timeout=5)
    assert (index.status_code, index.text) == (200, "<p>custom build</p>")
    assert index.headers["Cache-Control"] == "no-cache"
    script = requests.get(server.url("/assets/app-1234.js"), timeout=5)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert requests.get(server.url("/assets/missing.js"), timeout=5).status_code == 404
