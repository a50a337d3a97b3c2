"""Issue 14 (P7): a serving worker starts without the libraries it may never need
(ADR 0039, "P7: memory"). The lazy pieces themselves: tests/unit/test_lean_start.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Loaded on first use only: the Discord bot, the NATS client, the OCR and PDF stack,
#: Pillow, alembic (on PostgreSQL nothing migrates in a worker), uvicorn's websockets;
#: never in a worker (entrypoints/http/worker.py): httpx's command line (rich, pygments),
#: pydantic (dependency-injector's and Litestar's optional integrations), werkzeug.
NOT_AT_START = (
    "rich",
    "pygments",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "werkzeug",
    "hikari",
    "nats",
    "aiohttp",
    "numpy",
    "PIL",
    "pillow_heif",
    "pypdfium2",
    "tesserocr",
    "alembic",
    "websockets",
    "playwright",
    "hypothesis",
    "schemathesis",
)

_STARTED_WORKER = """
import asyncio, json, sys
from bookkeeper.entrypoints.http.server import APP_FACTORY

module, _, name = APP_FACTORY.partition(":")
__import__(module)
app = getattr(sys.modules[module], name)()

async def start() -> None:
    async with app.lifespan():
        pass

asyncio.run(start())
paths = sorted(app.openapi_schema.to_schema()["paths"])
print(json.dumps(paths))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_a_started_worker_has_not_loaded_what_it_may_never_need(
    tmp_path: Path, postgres_url: str
) -> None:
    """The app built by the factory the server hands its workers and started as a worker
    starts it (lifespan: services, scheduler, bus intake), in a fresh interpreter, on
    PostgreSQL (where a worker does not migrate); its OpenAPI document still renders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKKEEPER_")}
    env.update(
        BOOKKEEPER_DATA_DIR=str(tmp_path),
        BOOKKEEPER_DATABASE_URL=postgres_url,
        BOOKKEEPER_EXECUTOR="off",
        BOOKKEEPER_LOG_LEVEL="CRITICAL",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    done = subprocess.run(
        [sys.executable, "-c", _STARTED_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *_, paths, modules = done.stdout.strip().splitlines()
    assert "/api/book-keeper/v1/events" in json.loads(paths)
    loaded = set(json.loads(modules))
    assert "bookkeeper" in loaded and "litestar" in loaded  # it did start
    assert sorted(loaded.intersection(NOT_AT_START)) == []
