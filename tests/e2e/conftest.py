"""Fixtures: the binary under test, and servers that are always stopped after a test."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness import REPO, Server, sightline_binary


@pytest.fixture(scope="session")
def binary() -> Path:
    return sightline_binary()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at (screenshots); kept after the run."""
    directory = REPO / "tests" / "artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def start_server(binary: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Factory: `start_server(extra_args=..., env=..., data_dir=..., ready=True, http_host=...)`."""
    servers: list[Server] = []

    def start(
        extra_args=(), env=None, data_dir: Path | None = None, ready: bool = True, http_host: str = "127.0.0.1"
    ) -> Server:
        index = len(servers)
        server = Server(
            binary,
            data_dir or tmp_path / f"data{index}",
            tmp_path / f"server{index}.log",
            extra_args=extra_args,
            env=env,
            http_host=http_host,
        )
        servers.append(server)
        server.start()
        if ready:
            server.wait_ready()
        return server

    yield start
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for server in servers:
        server.kill()
        if failed:
            print(f"\n--- log of {' '.join(server.args)} ---\n{server.log()}")


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    """A ready server with default settings and free ports."""
    return start_server()
