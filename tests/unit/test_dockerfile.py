"""The Dockerfile's health check, run as Docker runs it (the exec form's argv)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _health_check_argv() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert found is not None, "the Dockerfile has no exec-form HEALTHCHECK"
    argv: list[str] = json.loads(found.group(1))
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def ready_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_check_asks_the_port_serve_binds(ready_port: int) -> None:
    """`docker run -e BOOKKEEPER_PORT=…` moves serve; the check asked 8000 all the same, so
    the container was reported unhealthy for ever."""
    env = {"BOOKKEEPER_PORT": str(ready_port), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(_health_check_argv(), env=env, capture_output=True, timeout=20)
    assert result.returncode == 0, result.stderr.decode()


def test_the_health_check_fails_when_nothing_answers() -> None:
    env = {"BOOKKEEPER_PORT": "9", "PATH": "/usr/bin:/bin"}  # discard: nothing listens
    result = subprocess.run(_health_check_argv(), env=env, capture_output=True, timeout=20)
    assert result.returncode != 0
