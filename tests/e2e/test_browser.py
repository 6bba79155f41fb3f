"""The UI in headless Chromium: navigate to Status and see the server's version."""

from __future__ import annotations

import subprocess

import requests

from harness import REPO

BROWSER_DIR = REPO / "tests" / "browser"


def test_status_page_shows_the_server_version(server, artifacts_dir):
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), (
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (tests/setup does)"
    )
    version = requests.get(server.url("/api/v1/status/buildinfo"), timeout=5).json()["data"]["version"]
    screenshot = artifacts_dir / "status-page.png"
    result = subprocess.run(
        ["node", "status.mjs", server.base_url + "/", version, str(screenshot)],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"browser check failed:\n{result.stdout}\n{result.stderr}"
    assert screenshot.stat().st_size > 0
