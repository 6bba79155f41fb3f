#!/usr/bin/env python3
"""PromQL range queries, side by side: Sightline, Prometheus 2.42 and VictoriaMetrics 1.79
(Debian packages) holding the same remote-written data, on loopback.

    python3 benches/query_peers.py --payload /tmp/bench/data/rw_10000_1440 --work /tmp/sightline-qbench

Each server gets a fresh data directory and the whole payload through the shared
harness's sender (`../shared/bench/rw_bench.py send`), then all three settle. Then, one
query class at a time, each server answers the query once to warm up and `--runs` more
times in turn (interleaved, so the machine's noise falls on all alike). Per run it
records the wall latency seen by the client and the server's CPU time: the sum over the
server's threads of `/proc/PID/task/*/schedstat` (nanoseconds), checked against the
process's utime+stime (`/proc/PID/stat`, which also counts threads that exited) over all
runs. Prints one JSON line per (query, server) with medians, and a markdown table.

VictoriaMetrics runs with `nocache=1` (its rollup result cache off), as in the
harness's RESULTS.md; Prometheus and Sightline have no result cache."""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("BENCH", REPO.parent / "shared" / "bench"))

QUERIES = {
    "raw_selector": "node_memory_MemAvailable_bytes",
    "rate_sum_by_job": "sum by (job) (rate(http_requests_total[5m]))",
    "rate_cpu_by_job_mode": "sum by (job, mode) (rate(node_cpu_seconds_total[5m]))",
    "hist_p99_by_job": "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "topk": "topk(5, rate(http_requests_total[5m]))",
    "join_group_left": "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])) / on(instance) group_left(env, region) node_load1",
    "subquery": "max_over_time(rate(http_requests_total[5m])[30m:1m])",
}

PORTS = {"sightline": 17413, "prometheus": 19090, "victoriametrics": 18428}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU of every live thread of `pid`."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def stat_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def wait_ready(url: str, what: str, log: Path) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} not ready at {url}\n{log.read_text(errors='replace')[-2000:]}")


def start(peer: str, work: Path, sightline: Path) -> tuple[subprocess.Popen, str]:
    data = work / f"data_{peer}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = PORTS[peer]
    log = work / f"{peer}.log"
    if peer == "sightline":
        cmd = [str(sightline), "--data-dir", str(data), "--http-listen", f"127.0.0.1:{port}",
               "--set", "statsd.enabled=false", "--set", "otlp_grpc.enabled=false", "--set", "otlp_http.enabled=false"]
        ready = f"http://127.0.0.1:{port}/-/ready"
    elif peer == "prometheus":
        config = work / "prom_empty.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        cmd = ["prometheus", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
               f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
               "--web.enable-remote-write-receiver", "--web.enable-admin-api"]
        ready = f"http://127.0.0.1:{port}/-/ready"
    else:
        cmd = ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}", "-retentionPeriod=100y"]
        ready = f"http://127.0.0.1:{port}/health"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(ready, peer, log)
    return process, f"http://127.0.0.1:{port}"


def load(url: str, payload: Path, python: str) -> None:
    result = subprocess.run(
        [python, str(BENCH / "rw_bench.py"), "send", "--payload", str(payload), "--url", url + "/api/v1/write",
         "--concurrency", "4", "--max-seconds", "900"],
        check=True, capture_output=True, text=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps({"load": url, "samples_ok": report.get("samples_ok"), "status": report.get("status")}), flush=True)


def run_once(conn: http.client.HTTPConnection, body: str, pid: int) -> tuple[float, float, int, bytes]:
    cpu0 = cpu_ns(pid)
    t0 = time.perf_counter()
    conn.request("POST", "/api/v1/query_range", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    data = response.read()
    wall = time.perf_counter() - t0
    return wall, (cpu_ns(pid) - cpu0) / 1e9, response.status, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payload", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sightline-qbench"))
    parser.add_argument("--sightline", type=Path, default=REPO / "target" / "release" / "sightline")
    parser.add_argument("--python", default=sys.executable, help="Python with cramjam and numpy, for rw_bench.py")
    parser.add_argument("--peers", default="sightline,prometheus,victoriametrics")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--step", default="60")
    parser.add_argument("--settle", type=float, default=90, help="seconds between the last load and the first query")
    parser.add_argument("--only", nargs="*", help="query names")
    parser.add_argument("--json-out", type=Path)
    a = parser.parse_args()
    manifest = json.loads((a.payload / "manifest.json").read_text())
    start_s, end_s = manifest["start_ms"] / 1000, manifest["end_ms"] / 1000
    a.work.mkdir(parents=True, exist_ok=True)
    peers = a.peers.split(",")
    servers = {}
    try:
        for peer in peers:
            process, url = start(peer, a.work, a.sightline)
            servers[peer] = (process, url)
            load(url, a.payload, a.python)
        time.sleep(a.settle)
        rows = []
        for name in a.only or list(QUERIES):
            query = QUERIES[name]
            conns, bodies, samples = {}, {}, {}
            for peer in peers:
                process, url = servers[peer]
                split = urllib.parse.urlsplit(url)
                conns[peer] = http.client.HTTPConnection(split.hostname, split.port, timeout=300)
                params = {"query": query, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}", "step": a.step}
                if peer == "victoriametrics":
                    params["nocache"] = "1"
                bodies[peer] = urllib.parse.urlencode(params)
                samples[peer] = {"wall": [], "cpu": [], "stat0": 0.0, "answer": None}
                wall, cpu, status, data = run_once(conns[peer], bodies[peer], process.pid)  # warm-up
                answer = json.loads(data)
                result = answer.get("data", {}).get("result", [])
                samples[peer]["answer"] = (status, len(result), sum(len(s.get("values", [])) for s in result))
            for peer in peers:
                samples[peer]["stat0"] = stat_cpu_s(servers[peer][0].pid)
            for _ in range(a.runs):
                for peer in peers:
                    wall, cpu, status, _ = run_once(conns[peer], bodies[peer], servers[peer][0].pid)
                    samples[peer]["wall"].append(wall)
                    samples[peer]["cpu"].append(cpu)
            for peer in peers:
                s = samples[peer]
                status, series, points = s["answer"]
                row = {
                    "query": name,
                    "peer": peer,
                    "http_status": status,
                    "series": series,
                    "points": points,
                    "runs": a.runs,
                    "wall_ms_median": round(1000 * statistics.median(s["wall"]), 2),
                    "cpu_ms_median": round(1000 * statistics.median(s["cpu"]), 2),
                    "cpu_ms_mean_proc_stat": round(1000 * (stat_cpu_s(servers[peer][0].pid) - s["stat0"]) / a.runs, 1),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if a.json_out:
                    with a.json_out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                conns[peer].close()
        print()
        print("| query | " + " | ".join(f"{p} wall ms | {p} CPU ms" for p in peers) + " |")
        print("|---|" + "---:|---:|" * len(peers))
        for name in a.only or list(QUERIES):
            cells = []
            for peer in peers:
                row = next(r for r in rows if r["query"] == name and r["peer"] == peer)
                cells += [f"{row['wall_ms_median']:.1f}", f"{row['cpu_ms_median']:.1f}"]
            print(f"| {name} | " + " | ".join(cells) + " |")
    finally:
        for process, _ in servers.values():
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
