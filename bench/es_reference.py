"""Reference load for P1: the `eventsourcing` library appending one new aggregate per save.

Run by `bench/run.py` in its own process (so its threads do not share a GIL with the runner)
against a fresh PostgreSQL database named by the standard `eventsourcing` environment
variables (PERSISTENCE_MODULE=eventsourcing.postgres, POSTGRES_DBNAME, ...). Many threads
share one `Application`, which is how the library is meant to be used concurrently: each
`save()` takes a pooled connection and writes one event in its own transaction (the
application recorder locks the table to keep notification ids gap-free).

Prints one JSON object on stdout: saves, duration, events/s, p50/p99 ms, errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate


class ReceiptProposal(Aggregate):
    """An aggregate shaped like bookkeeper's receipt-attachment proposal."""

    class Proposed(Aggregate.Created):
        merchant_name: str
        amount: str
        date: str
        vat_rate: str
        account_code: str
        folio_event_id: str

    def __init__(
        self,
        merchant_name: str,
        amount: str,
        date: str,
        vat_rate: str,
        account_code: str,
        folio_event_id: str,
    ) -> None:
        self.merchant_name = merchant_name
        self.amount = amount
        self.date = date
        self.vat_rate = vat_rate
        self.account_code = account_code
        self.folio_event_id = folio_event_id


class Proposals(Application[UUID]):
    """The library's service layer, with nothing added."""


@dataclass
class Window:
    """When measurement starts and ends (perf_counter seconds)."""

    start: float
    end: float


@dataclass
class ThreadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def _worker(app: Proposals, index: int, window: Window, result: ThreadResult) -> None:
    n = 0
    while True:
        now = time.perf_counter()
        if now >= window.end:
            return
        n += 1
        proposal = ReceiptProposal(
            merchant_name=f"Merchant {index}-{n}",
            amount=f"{100 + (n * 7 + index) % 9000}.{n % 100:02d}",
            date=f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            vat_rate="25",
            account_code="6540",
            folio_event_id=f"ev-{index}-{n}",
        )
        started = time.perf_counter()
        try:
            app.save(proposal)
        except Exception as error:  # counted and reported, never hidden
            if started >= window.start:
                result.errors += 1
                result.first_error = result.first_error or repr(error)
            continue
        finished = time.perf_counter()
        if started >= window.start and finished <= window.end:
            result.latencies.append(finished - started)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args(argv)

    app = Proposals()  # configured entirely from os.environ
    now = time.perf_counter()
    window = Window(start=now + args.warmup, end=now + args.warmup + args.duration)
    results = [ThreadResult() for _ in range(args.threads)]
    threads = [
        threading.Thread(target=_worker, args=(app, i, window, results[i]), daemon=True)
        for i in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app.close()

    latencies = sorted(x for r in results for x in r.latencies)
    errors = sum(r.errors for r in results)
    first_error = next((r.first_error for r in results if r.first_error), "")
    report = {
        "saves": len(latencies),
        "duration_s": args.duration,
        "throughput": len(latencies) / args.duration,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "first_error": first_error,
        "threads": args.threads,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
