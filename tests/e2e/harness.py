"""Start and stop the real `sightline` binary for end-to-end tests.

Each server gets free loopback ports for every listener and its own data directory.
Every wait has a deadline; a server that exits early or never becomes ready fails the
test with its log attached.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import requests

REPO = Path(__file__).resolve().parents[2]


class ServerError(AssertionError):
    """The server did not do what the harness waited for."""


def cargo_target_dir() -> Path:
    """Where cargo puts binaries (honours CARGO_TARGET_DIR and .cargo/config)."""
    output = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(output)["target_directory"])


def sightline_binary() -> Path:
    """The binary under test: $SIGHTLINE_E2E_BIN, else the debug build."""
    explicit = os.environ.get("SIGHTLINE_E2E_BIN")
    binary = Path(explicit) if explicit else cargo_target_dir() / "debug" / "sightline"
    if not binary.is_file():
        raise ServerError(
            f"no sightline binary at {binary}: build it with `cargo build -p sightline` "
            "or set SIGHTLINE_E2E_BIN"
        )
    return binary


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports(*kinds: int) -> list[int]:
    """Free ports, one per socket kind, all different: a probe releases its port at once,
    so two probes in a row can be handed the same one."""
    ports: list[int] = []
    for kind in kinds:
        port = free_port(kind)
        while port in ports:
            port = free_port(kind)
        ports.append(port)
    return ports


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str, log: Callable[[], str]) -> None:
    """Polls `condition` until it holds or `deadline_s` passes."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if condition():
            return
        time.sleep(0.05)
    raise ServerError(f"timed out after {deadline_s}s waiting for {what}\n--- server log ---\n{log()}")


PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus:
    """A running Debian `prometheus`: its URL and its log."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@contextmanager
def prometheus_process(directory: Path, config: str, port: int | None = None, flags: Sequence[str] = ()) -> Iterator[Prometheus]:
    """Runs Debian's Prometheus with `config` (YAML) until the block ends; waits until it is ready."""
    if not Path(PROMETHEUS).is_file():
        raise ServerError("Debian's prometheus is not installed (tests/setup installs it)")
    port = port or free_port()
    config_path = directory / "prometheus.yml"
    config_path.write_text(config)
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={directory / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(lambda: _answers(prometheus.url + "/-/ready"), 60, "Prometheus to be ready", prometheus.log)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Server:
    """One sightline process. Use `start()`, then `stop()`; `kill()` is the fallback."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        log_path: Path,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        http_host: str = "127.0.0.1",
    ) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        tcp, udp = socket.SOCK_STREAM, socket.SOCK_DGRAM
        http, grpc, otlp_http, statsd, statsd_tcp = free_ports(tcp, tcp, tcp, udp, tcp)
        self.http_port = http
        # Every listener on its own free port, keyed by its configuration key.
        self.ports = {
            "otlp_grpc.listen": grpc,
            "otlp_http.listen": otlp_http,
            "statsd.listen": statsd,
            "statsd.tcp_listen": statsd_tcp,
        }
        self.args = [
            str(binary),
            "--data-dir",
            str(data_dir),
            "--http-listen",
            f"{http_host}:{self.http_port}",
            *(f"--set={key}=127.0.0.1:{port}" for key, port in self.ports.items()),
            *extra_args,
        ]
        self.env = {**_clean_env(), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> "Server":
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
        log_file.close()
        return self

    def wait_ready(self, deadline_s: float = 30.0) -> "Server":
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"sightline exited with {self.process.returncode} before it was ready\n"
                    f"--- server log ---\n{self.log()}"
                )
            try:
                return requests.get(self.url("/-/ready"), timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, deadline_s, "/-/ready to answer 200", self.log)
        return self

    def wait_exit(self, deadline_s: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"sightline still running {deadline_s}s later\n--- server log ---\n{self.log()}"
            ) from None

    def stop(self, deadline_s: float = 15.0) -> int:
        """SIGTERM, then wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(deadline_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _clean_env() -> dict[str, str]:
    """The test's environment without SIGHTLINE_* settings that would change the server."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SIGHTLINE_")}
    env.setdefault("RUST_BACKTRACE", "1")
    env.pop("RUST_LOG", None)
    return env


def run_binary(binary: Path, args: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 30.0):
    """Runs a short-lived sightline command (exits by itself) and returns the result."""
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**_clean_env(), **(env or {})},
    )
