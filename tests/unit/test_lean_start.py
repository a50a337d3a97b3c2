"""Issue 14 (P7): a serving worker starts without the libraries it may never need, and the
supervisor of `bookkeeper serve` is a lean process (ADR 0039, "P7: memory")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bookkeeper.adapters.extraction.lazy import LazyOfflineExtractor
from bookkeeper.adapters.extraction.offline import OfflineExtractor
from bookkeeper.application.ports import DocumentExtractor
from bookkeeper.entrypoints.http import server
from tests import documents


def test_the_lazy_reader_says_whether_ocr_is_there_without_loading_it() -> None:
    reader = LazyOfflineExtractor(use_ocr=False)
    port: DocumentExtractor = reader
    assert port.name == "offline"
    ready, sentence = reader.describe()
    assert ready is False and "without OCR" in sentence
    assert not reader.loaded


async def test_the_lazy_reader_reads_as_the_offline_reader_once_a_document_comes() -> None:
    content, content_type, expected = documents.grocery_receipt()
    lazy = LazyOfflineExtractor(use_ocr=False)
    assert not lazy.loaded

    result = await lazy.extract(content, content_type, "kvittering.pdf")

    assert lazy.loaded
    assert isinstance(lazy.reader(), OfflineExtractor)
    assert lazy.reader() is lazy.reader()  # built once
    direct = await OfflineExtractor(use_ocr=False).extract(content, content_type, None)
    assert result == direct
    assert result.gross == expected["gross"]


def test_the_lean_server_command_runs_this_python_with_the_settings() -> None:
    argv = server.command(
        server.Launch(
            server="granian",
            host="0.0.0.0",
            port=8123,
            workers=3,
            log_level="DEBUG",
            access_log=True,
        )
    )
    assert argv[:3] == [sys.executable, "-m", "bookkeeper.entrypoints.http.server"]
    parsed = argv[3:]
    assert parsed == [
        *("--server", "granian", "--host", "0.0.0.0", "--port", "8123"),
        *("--workers", "3", "--log-level", "DEBUG", "--access-log"),
    ]
    assert "--access-log" not in server.command(server.Launch(host="h", port=1))
    timed = server.command(server.Launch(host="h", port=1, workers=2, health_timeout=7))
    assert timed[-2:] == ["--health-timeout", "7"]
    graced = server.command(server.Launch(host="h", port=1, shutdown_grace=4))
    assert graced[-2:] == ["--shutdown-grace", "4"]
    # uvicorn cuts the requests still running that many seconds after a SIGTERM.
    assert server.uvicorn_options("h", 1, "INFO", False, 4)["timeout_graceful_shutdown"] == 4


def test_the_supervisor_gets_the_workers_health_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from bookkeeper.entrypoints.http import supervisor

    given: list[float] = []

    def supervise(*_args: object, health_timeout: float) -> int:
        given.append(health_timeout)
        return 0

    monkeypatch.setattr(supervisor, "supervise", supervise)
    options = ["--host", "h", "--port", "0", "--workers", "2"]
    assert server.main([*options, "--health-timeout", "7"]) == 0
    assert server.main(options) == 0
    assert given == [7.0, supervisor.HEALTH_TIMEOUT]


def test_the_lean_server_module_imports_nothing_of_the_application() -> None:
    code = (
        "import sys, bookkeeper.entrypoints.http.server as s; "
        "print(sorted(m for m in sys.modules if m.startswith('bookkeeper')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == str(
        [
            "bookkeeper",
            "bookkeeper.entrypoints",
            "bookkeeper.entrypoints.http",
            "bookkeeper.entrypoints.http.server",
        ]
    )


@pytest.mark.parametrize("server_kind", ["uvicorn", "granian"])
def test_the_lean_server_refuses_an_unknown_option(server_kind: str) -> None:
    with pytest.raises(SystemExit):
        server.main(["--server", server_kind, "--host", "h", "--port", "x"])
