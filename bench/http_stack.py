"""P1: what the HTTP stack costs per proposal, without a database or a server (ADR 0042).

    PYTHONPATH=src:. .venv/bin/python bench/http_stack.py [--chunks 60] [--chunk 200]
    PYTHONPATH=src:. .venv/bin/python bench/http_stack.py --compare-route   # ADR 0045

Builds the real app (`create_app` on the real container, JSON access log at INFO written to
/dev/null, the rate limiter on with a limit it cannot reach, as bench/run.py sets it) on
in-memory storage, then alternates chunks of proposals (the order rotated every round):

- `asgi`: POST /api/book-keeper/v1/events driven straight into the app's ASGI callable
  (what uvicorn calls: the observe wrapper, the lean path of ADR 0045 — authentication, the
  rate limit, the body decode, the handler, the response encode —, the access line, the
  metrics);
- `handler`: the same proposals through `Handlers.dispatch` alone (what the route calls);
- `route` (with `--compare-route`): the same through an app built without the lean path,
  i.e. Litestar's route and middleware as before ADR 0045: the reference in the same run.

and prints the process CPU (`time.process_time`) per proposal of each, and their difference:
the HTTP stack's own CPU per request outside the database and the server (uvicorn's HTTP
parsing and socket writes are not in it; bench/run.py measures those with everything else).
The in-memory store is emptied before every chunk (outside the timing) so that its
linear duplicate scan stays small and the same in every round.

Run it with another tree's sources first on PYTHONPATH to compare (A/B in one session).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import msgspec
from dependency_injector import providers
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bookkeeper.adapters.memory import MemoryDatabase as MemoryState
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.ports import AfterCommit, UnitOfWorkFactory
from bookkeeper.container import Container
from bookkeeper.domain.events import decode_payload, event_type
from bookkeeper.entrypoints.http.app import create_app
from bookkeeper.entrypoints.logs import configure_logging
from bookkeeper.settings import Settings

PATH = "/api/book-keeper/v1/events"


class MemoryDatabase:
    """The container's database on in-memory units of work (as tests/http_helpers.py)."""

    dialect = "memory"

    def __init__(self) -> None:
        self.memory = MemoryState()
        self.factory = MemoryUnitOfWorkFactory(self.memory)

    def uow_factory(self, after_commit: AfterCommit | None = None) -> UnitOfWorkFactory:
        self.factory = MemoryUnitOfWorkFactory(self.memory, after_commit=after_commit)
        return self.factory

    async def migrate(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def dispose(self) -> None:
        return None

    def empty(self) -> None:
        """Forget what was stored (the next chunk starts from an empty store)."""
        fresh = MemoryState()
        for name in ("log", "by_id", "streams", "proposals"):
            setattr(self.memory, name, getattr(fresh, name))


def body(nonce: str, n: int) -> bytes:
    """A new merchant per proposal, as bench/proposals.lua's default mix."""
    return json.dumps(
        {
            "type": "ReceiptAttachmentProposed",
            "data": {
                "merchantName": f"Merchant {nonce}-{n}",
                "amount": f"{100 + n % 900}.{n % 100:02d}",
                "date": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
                "vatRate": "25",
                "accountCode": "6540",
                "folioEventId": f"ev-{nonce}-{n}",
            },
        },
        separators=(",", ":"),
    ).encode()


def scope_for(token: str, length: int) -> dict[str, Any]:
    """The scope uvicorn (httptools) hands the app for POST /events."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
        ],
        "state": {},
    }


async def asgi_chunk(app: Litestar, token: str, bodies: list[bytes]) -> float:
    """CPU seconds to answer `bodies` as POST /events through the app's ASGI callable."""
    statuses: dict[int, int] = {}
    began = time.process_time()
    for payload in bodies:
        sent = False

        async def receive(payload: bytes = payload) -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope_for(token, len(payload)), receive, send)  # type: ignore[arg-type]
    spent = time.process_time() - began
    if set(statuses) != {201}:
        raise SystemExit(f"unexpected statuses {statuses}")
    return spent


async def handler_chunk(
    dispatch: Callable[[SubmitEvent], Awaitable[Any]], principal: Any, bodies: list[bytes]
) -> float:
    """CPU seconds to submit the same proposals through `Handlers.dispatch` alone."""
    etype = event_type("ReceiptAttachmentProposed")
    began = time.process_time()
    for payload in bodies:
        raw = msgspec.json.decode(payload)
        data = decode_payload(raw["type"], msgspec.json.encode(raw["data"]), etype.schema_version)
        await dispatch(
            SubmitEvent(
                principal=principal,
                type=raw["type"],
                data=data,
                event_id=None,
                idempotency_key=None,
                correlation_id=None,
                proposer_confidence=None,
                bank_transaction_verified=False,
                source=None,
            )
        )
    return time.process_time() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--chunks", type=int, default=60, help="rounds of chunks measured")
    parser.add_argument("--chunk", type=int, default=200, help="proposals per chunk")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the asgi chunks into FILE")
    parser.add_argument(
        "--log-level", default="INFO", help="WARNING: no access lines (what they cost)"
    )
    parser.add_argument(
        "--rate-limit", default="1000000/second", help="`off`: no limiter (what it costs)"
    )
    parser.add_argument(
        "--compare-route",
        action="store_true",
        help="also a `route` chunk per round: the same app without the lean POST /events "
        "path (ADR 0045), i.e. Litestar's route, as the reference in the same process",
    )
    args = parser.parse_args(argv)
    with open(os.devnull, "w") as devnull:
        # The serving process's logging: JSON lines (here into /dev/null).
        sys_stderr, sys.stderr = sys.stderr, devnull
        try:
            configure_logging(args.log_level, "json")
        finally:
            sys.stderr = sys_stderr
        results = asyncio.run(measure(args))
    rows = dict(results)
    rows["HTTP stack"] = [a - h for a, h in zip(results["asgi"], results["handler"], strict=True)]
    if "route" in results:
        rows["route stack"] = [
            r - h for r, h in zip(results["route"], results["handler"], strict=True)
        ]
        rows["asgi - route"] = [
            a - r for a, r in zip(results["asgi"], results["route"], strict=True)
        ]
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.chunks} rounds of {args.chunk}; "
        f"log level {args.log_level}, rate limit {args.rate_limit}"
    )
    for name, values in rows.items():
        q = statistics.quantiles(values, n=4)
        print(
            f"  {name:12} CPU-µs/proposal: median {statistics.median(values):.0f} "
            f"(quartiles {q[0]:.0f}–{q[2]:.0f})"
        )
    logging.shutdown()
    return 0


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """CPU-µs per proposal of each kind of chunk, measured in turn (the order rotated)."""
    with tempfile.TemporaryDirectory(prefix="bench-http-stack-") as tmp:
        app, database, token, principal = _build(Path(tmp) / "lean", args, lean=True)
        route_app = route_database = None
        if args.compare_route:
            route_app, route_database, _, _ = _build(Path(tmp) / "route", args, lean=False)
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(AsyncTestClient(app))
            await _warm(client, token)
            if route_app is not None:
                route_client = await stack.enter_async_context(AsyncTestClient(route_app))
                # The same key file is not shared: this app's own token.
                await _warm(route_client, _token(route_app))
            dispatch = _handlers(app).dispatch
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
            kinds = ["asgi", "handler"] + (["route"] if route_app is not None else [])
            results: dict[str, list[float]] = {kind: [] for kind in kinds}
            # Chunks in turn, the order rotated every round: a neighbour's burst falls on all.
            for n in range(-2, args.chunks):  # two rounds of warm-up
                order = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]
                for kind in order:
                    bodies = [body(f"{kind[0]}{n}", i) for i in range(args.chunk)]
                    database.empty()
                    if route_database is not None:
                        route_database.empty()
                    gc.collect()
                    if kind == "asgi":
                        if profiler is not None and n >= 0:
                            profiler.enable()
                        spent = await asgi_chunk(app, token, bodies)
                        if profiler is not None:
                            profiler.disable()
                    elif kind == "route":
                        assert route_app is not None
                        spent = await asgi_chunk(route_app, _token(route_app), bodies)
                    else:
                        spent = await handler_chunk(dispatch, principal, bodies)
                    if n >= 0:
                        results[kind].append(spent * 1e6 / args.chunk)
            if profiler is not None:
                profiler.dump_stats(args.profile)
    return results


_TOKENS: dict[int, str] = {}


def _build(
    data_dir: Path, args: argparse.Namespace, *, lean: bool
) -> tuple[Litestar, MemoryDatabase, str, Any]:
    """The real app on in-memory storage (`lean`: with the lean POST /events path, ADR
    0045; without it, the Litestar route answers every request), a token and its principal."""
    data_dir.mkdir()
    container = Container()
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(
                data_dir,
                executor_enabled=False,
                rate_limit=args.rate_limit,
                rate_limit_writes="off",
            )
        )
    )
    database = MemoryDatabase()
    container.database.override(providers.Object(database))
    container.redacted_database_url.override(providers.Object("memory://"))
    try:
        app = create_app(container, lean_submit=lean)
    except TypeError:  # a tree from before ADR 0045 (A/B with this script)
        if not lean:
            raise
        app = create_app(container)
    token: str = container.token_issuer().mint("book-e", "bench", ("agent",), dt.timedelta(hours=1))
    _TOKENS[id(app)] = token
    return app, database, token, container.token_verifier().verify(token)


def _token(app: Litestar) -> str:
    return _TOKENS[id(app)]


async def _warm(client: AsyncTestClient[Litestar], token: str) -> None:
    warm = await client.post(
        PATH, content=body("warm", 0), headers={"Authorization": f"Bearer {token}"}
    )
    if warm.status_code != 201:
        raise SystemExit(f"warm-up answered {warm.status_code}: {warm.text}")


def _handlers(app: Litestar) -> Any:
    """The started Handlers (the lifespan filled the app's Runtime)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            provide = (handler.resolve_dependencies() or {}).get("handlers")
            if provide is not None:
                return provide.dependency()
    raise SystemExit("no route depends on handlers")


if __name__ == "__main__":
    sys.exit(main())
