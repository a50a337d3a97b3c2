"""How long the NATS consumer holds the event loop (ADR 0030 addendum "the loop"): a batch
of 96 ordinary messages (wall time of `handle_batch`), and the longest stall of the loop
while a pathological 1 MB message is handled (a 1 ms ticker's largest gap), on the ledger
consumer (tenant subjects and BOOKKEEPER_BUS_TENANTS on, as a locked-down deployment runs)
and on the Accounts Master's. Memory store: the loop's own work, not the database's.

    PYTHONPATH=src:. python bench/bus_loop_stall.py [nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from typing import Any

import nats
from nats.js.errors import NotFoundError

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.accounts_master import AccountsMaster
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import BusIntake
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.translation import Ingest, Translators, bus_principal, discover

TENANT = "acme"
SIZE = 1_000_000


def invoice(n: int) -> bytes:
    return json.dumps(
        {
            "type": "InvoiceIssued",
            "source": "invoicing",
            "tenant": TENANT,
            "id": f"inv-{uuid.uuid4()}",
            "data": {
                "invoice_id": f"INV-{n}-{uuid.uuid4().hex[:8]}",
                "issue_date": "2026-03-01",
                "net_amount": "1000.00",
                "vat_amount": "250.00",
            },
        }
    ).encode()


def pathological(kind: str, unit: bytes) -> bytes:
    head = json.dumps({"type": kind, "source": "s", "tenant": TENANT}).encode()[:-1]
    head += b', "data": {"x": ['
    tail = b"0]}}"
    return head + unit * ((SIZE - 64 - len(head) - len(tail)) // len(unit)) + tail


BODIES = {
    "repeated names": b'{"a":1,"a":1},',
    "empty objects": b'{"a":{}},',
    "escaped colons": b'{"\\u003a":1},',
    "nested arrays": b"[" * 30 + b"1" + b"]" * 30 + b",",
}


def intake(factory: Any) -> BusIntake:
    clock = SystemClock()
    ledger = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    return BusIntake(
        Ingest(Translators(discover()), ledger),
        factory,
        clock,
        bus_principal(),
        RoleAuthorizer(),
        accounts=AccountsMaster(factory, clock),
        tenants=frozenset({TENANT}),
    )


async def stall(work: Any) -> tuple[float, float]:
    """(seconds `work` took, the longest gap of a 1 ms ticker meanwhile)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    gaps.clear()
    started = time.perf_counter()
    await work
    took = time.perf_counter() - started
    done.set()
    await ticker
    return took, max(gaps, default=0.0)


async def main(url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = NatsSettings(
        url=url,
        stream=f"BENCH_IN_{tag}",
        subject_prefix=f"bench.{tag}.in",
        durable=f"bench-{tag}",
        dead_letter_stream=f"BENCH_DLQ_{tag}",
        dead_letter_subject=f"bench.{tag}.dlq",
        out_stream=f"BENCH_OUT_{tag}",
        out_prefix=f"bench.{tag}.ledger",
        accounts_stream=f"BENCH_ACC_{tag}",
        accounts_prefix=f"bench.{tag}.accounts",
        accounts_durable=f"bench-acc-{tag}",
        batch=96,
        tenant_subjects=True,
    )
    factory = MemoryUnitOfWorkFactory()
    ledger = NatsConsumer(intake(factory), settings)
    accounts = NatsConsumer(intake(factory), settings.accounts())
    await ledger.connect()
    await accounts.connect()
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"{settings.subject_prefix}.{TENANT}.InvoiceIssued"
    try:
        idle = [(await stall(asyncio.sleep(0.5)))[1] for _ in range(3)]
        print(
            f"idle loop (the machine's noise): longest gap {max(idle) * 1000:.0f} ms in 3 × 0.5 s"
        )
        took = []
        for run in range(12):
            for n in range(96):
                await js.publish(subject, invoice(run * 100 + n), stream=settings.stream)
            messages = await ledger._fetch(wait=2)
            assert len(messages) == 96, len(messages)
            took.append((await stall(ledger.handle_batch(messages)))[0])
        took = sorted(took[2:])  # the first two warm up
        print(
            f"batch of 96 invoices: median {statistics.median(took) * 1000:.1f} ms, "
            f"best {took[0] * 1000:.1f} ms"
        )
        for name, unit in BODIES.items():
            for consumer, kind, where in (
                (ledger, "InvoiceIssued", subject),
                (accounts, "AccountUpdated", f"{settings.accounts_prefix}.{TENANT}.Updated"),
            ):
                body = pathological(kind, unit)
                stream = consumer.settings.stream
                await js.publish(where, body, stream=stream)
                [message] = await consumer._fetch(wait=2)
                took_one, gap = await stall(consumer.handle_batch([message]))
                print(
                    f"1 MB {name:15} to the {'ledger' if consumer is ledger else 'accounts'}"
                    f" consumer: {took_one * 1000:6.0f} ms, loop stalled {gap * 1000:5.0f} ms"
                )
    finally:
        await ledger.close()
        await accounts.close()
        for stream in (
            settings.stream,
            settings.dead_letter_stream,
            settings.accounts_stream,
            settings.out_stream,
        ):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
