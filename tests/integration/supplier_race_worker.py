"""One executor process of test_supplier_race.py: built by the composition root from the
BOOKKEEPER_* environment (so on PostgreSQL with its Fiken gate and its cross-process
supplier lock), it prints "ready", waits for a line on stdin, runs one pass claiming one
proposal, and prints the pass's report as JSON."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys

from bookkeeper.application.execution import ExecutionPolicy, Executor
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.entrypoints.serve import open_services


async def main() -> None:
    container = Container()
    # One claim per process, so the two processes execute one invoice each.
    container.executor.add_kwargs(
        policy=ExecutionPolicy(
            batch_size=1,
            lease=dt.timedelta(seconds=30),
            lease_margin=dt.timedelta(seconds=10),
        )
    )
    try:
        await open_services(container)
        executor: Executor = await resolve(container.executor)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        report = await executor.run_once()
        print(json.dumps({"claimed": report.claimed, "executed": report.executed}), flush=True)
    finally:
        await shutdown(container)


if __name__ == "__main__":
    asyncio.run(main())
