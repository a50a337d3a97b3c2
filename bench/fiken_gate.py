"""What the Fiken gate costs per request (issue 14, ADR 0035): the same requests through
FikenClient against an instant in-process transport (httpx.MockTransport), with the gate
of one process (RequestGate, the reference) and with the PostgreSQL gate shared by
replicas (PostgresGate: advisory lock, read, record, unlock). Fiken's window is shrunk to
a microsecond (4 requests per µs) so that only the gate's own work is timed.

    .venv/bin/python bench/fiken_gate.py                    # 2,000 requests each
    .venv/bin/python bench/fiken_gate.py --requests 500 --callers 3

PostgreSQL as postgres@127.0.0.1:5432/test unless --database-url says otherwise; the gate's
table is created in a scratch schema and dropped at the end. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from typing import Any

import httpx
import psycopg

from bookkeeper.adapters.fiken import FikenClient, RequestGate, SlidingWindow
from bookkeeper.adapters.fiken.pg_gate import PostgresGate, libpq_url
from bookkeeper.adapters.fiken.ratelimit import FikenGate, token_key

TOKEN = "bench-token-" + "x" * 20
#: 4 requests per microsecond: the window never makes anyone wait.
LIFTED = 1e-6

_TABLE = """
CREATE TABLE fiken_gate (
    token_key text PRIMARY KEY,
    stamps jsonb NOT NULL DEFAULT '[]',
    not_before double precision NOT NULL DEFAULT 0
)
"""


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


async def _run(gate: FikenGate, requests: int, callers: int) -> list[float]:
    """Seconds per request, as each caller saw them (queueing behind the others included)."""
    client = FikenClient(
        "https://api.fiken.test/api/v2",
        TOKEN,
        transport=httpx.MockTransport(_answer),
        window=SlidingWindow(window=LIFTED),
        gate=gate,
    )
    took: list[float] = []

    async def caller(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            await client.request("GET", "/companies")
            took.append(time.perf_counter() - started)

    try:
        await caller(50)  # warm-up: connections, prepared statements
        took.clear()
        started = time.perf_counter()
        await asyncio.gather(*(caller(requests // callers) for _ in range(callers)))
        took.append(time.perf_counter() - started)  # the last entry: the wall time
    finally:
        await client.aclose()
    return took


def _row(name: str, took: list[float], requests: int) -> str:
    wall, each = took[-1], took[:-1]
    return (
        f"{name:<34} {requests / wall:>9.0f} req/s  "
        f"per request {statistics.mean(each) * 1e3:>7.3f} ms  "
        f"p99 {statistics.quantiles(each, n=100)[98] * 1e3:>7.3f} ms"
    )


async def main(arguments: argparse.Namespace) -> None:
    schema = f"bench_gate_{secrets.token_hex(4)}"
    conninfo = libpq_url(arguments.database_url)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.execute(f"SET search_path = {schema}")
        await admin.execute(_TABLE)
        try:
            scoped = f"{conninfo}{'&' if '?' in conninfo else '?'}options=-csearch_path%3D{schema}"
            rows: list[tuple[str, list[float]]] = []
            local: Any = RequestGate(SlidingWindow(window=LIFTED))
            rows.append(("in process (RequestGate)", await _run(local, arguments.requests, 1)))
            shared = PostgresGate(scoped, token_key(TOKEN), window=LIFTED)
            try:
                rows.append(
                    ("PostgreSQL (PostgresGate)", await _run(shared, arguments.requests, 1))
                )
            finally:
                await shared.aclose()
            if arguments.callers > 1:
                # Replicas of one token: each its own gate (connection), all on one row.
                gates = [
                    PostgresGate(scoped, token_key(TOKEN), window=LIFTED)
                    for _ in range(arguments.callers)
                ]
                try:
                    results = await asyncio.gather(
                        *(_run(g, arguments.requests // arguments.callers, 1) for g in gates)
                    )
                finally:
                    for gate in gates:
                        await gate.aclose()
                merged = [t for r in results for t in r[:-1]] + [max(r[-1] for r in results)]
                rows.append((f"PostgreSQL, {arguments.callers} gates one token", merged))
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    reference = rows[0][1]
    for name, took in rows:
        print(_row(name, took, arguments.requests))
    overhead = statistics.mean(rows[1][1][:-1]) - statistics.mean(reference[:-1])
    print(f"PostgreSQL gate overhead per request: {overhead * 1e3:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=3)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(main(parser.parse_args()))
