"""Every P row in one command (`make bench`): each bench script in turn, then their tables.

    .venv/bin/python bench/all.py                       # every row, full sizes (~1 hour)
    .venv/bin/python bench/all.py --small               # every row, small sizes (~10 min)
    .venv/bin/python bench/all.py --rows p3,p6,p7 --events 200000
    .venv/bin/python bench/all.py --list                # the rows and what runs them

Each script stays runnable alone and measures its own reference in the same run (see
bench/README.md); this only runs them one after the other (never at once: they would
measure each other) with the sizes asked for, streams their progress, and at the end prints
each script's report (its table of rows beside their references, PASS/MISS or met?, CPU
split, per-operation costs, notes) again, together, with how long each took and its exit
status. Exit status 1 when any script failed. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent


@dataclass(frozen=True)
class Script:
    """One bench script, the rows it measures, and its arguments at each size."""

    name: str
    rows: tuple[str, ...]
    what: str
    small: tuple[str, ...] = ()
    #: How --events reaches it (the option's name), when it has such a size.
    events_option: str | None = None
    #: How the rows picked reach it (accounting.py measures several rows in one run).
    rows_option: str | None = None
    #: Arguments at every size (before --small's).
    always: tuple[str, ...] = ()


SCRIPTS: tuple[Script, ...] = (
    Script(
        "run.py",
        ("p1",),
        "P1 proposals through the full HTTP stack (wrk) vs the eventsourcing library",
        small=("--duration", "10", "--warmup", "2"),
    ),
    Script(
        "scale.py",
        ("p1s",),
        "P1 at scale: the propose path on an empty store vs 1 M events (bounded reads)",
        small=("--patterns", "10000", "--lookalikes", "2000", "--duration", "5", "--repeat", "1"),
        events_option="--events",
    ),
    Script(
        "accounting.py",
        ("p2", "p3", "p4", "p6", "p7"),
        "P2 executor, P3 replay (+ concurrent writer), P4 ledger, P6 read p95, P7 server RSS",
        small=(
            "--proposals",
            "500",
            "--lines",
            "200000",
            "--repeats",
            "10",
            "--hledger-runs",
            "1",
            "--p6-samples",
            "200",
            "--p7-seconds",
            "10",
        ),
        events_option="--events",
        rows_option="--only",
    ),
    Script(
        "import_events.py",
        ("p5",),
        "P5 bulk import of events (JSONL) vs a raw COPY",
        events_option="--events",
    ),
    Script(
        "import_fiken.py",
        ("p5f",),
        "P5 `import fiken` against the loopback Fiken fake vs Fiken's 4 requests/s ceiling",
        small=("--records", "1000"),
        always=("--postgres",),
    ),
    Script(
        "fiken_gate.py",
        ("gate",),
        "Fiken's gate across replicas (PostgreSQL) per request vs the in-process gate",
        small=("--requests", "200"),
    ),
    Script(
        "bus.py",
        ("p9", "p10"),
        "P9 bus intake throughput and P10 publishing lag (NATS JetStream) vs raw nats-py",
        small=("--messages", "2000"),
    ),
    Script(
        "reading.py",
        ("reading",),
        "offline document reading: per-field accuracy and documents/s",
        small=("--docs", "80", "--photos", "10"),
    ),
)
#: --small's log size where a script has one (a busy 2-core machine: minutes, not an hour).
SMALL_EVENTS = 200_000


@dataclass
class Outcome:
    script: Script
    command: list[str]
    rows: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: int = 0
    report: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[all {time.strftime('%H:%M:%S')}] {message}", flush=True)


def command_for(script: Script, rows: list[str], args: argparse.Namespace) -> list[str]:
    command = [sys.executable, str(BENCH_DIR / script.name)]
    command += list(script.always)
    if args.small:
        command += list(script.small)
    events = args.events if args.events is not None else (SMALL_EVENTS if args.small else None)
    if events is not None and script.events_option is not None:
        command += [script.events_option, str(events)]
    if script.rows_option is not None:
        command += [script.rows_option, ",".join(r for r in script.rows if r in rows)]
    return command


def run(script: Script, command: list[str]) -> Outcome:
    """Run one script, streaming its output; keep what is not a progress line (its report,
    banners and warnings) for the summary."""
    outcome = Outcome(script, command)
    log(f"--- {script.name}: {' '.join(command[1:])}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_DIR / "src"), str(PROJECT_DIR), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
    )
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        if not line.startswith("[bench "):
            outcome.report.append(line.rstrip("\n"))
    outcome.status = process.wait()
    outcome.seconds = time.perf_counter() - started
    while outcome.report and not outcome.report[0].strip():
        outcome.report.pop(0)
    return outcome


def main(argv: list[str] | None = None) -> int:
    known = [r for s in SCRIPTS for r in s.rows]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rows", default=",".join(known), help=f"rows to measure, of {','.join(known)}"
    )
    parser.add_argument(
        "--small", action="store_true", help=f"small sizes ({SMALL_EVENTS:,} events, short runs)"
    )
    parser.add_argument("--events", type=int, default=None, help="log size for P1s, P3/P6/P7, P5")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)
    if args.list:
        for script in SCRIPTS:
            print(f"{','.join(script.rows):<18} {script.name:<17} {script.what}")
        return 0
    rows = [r.strip().lower() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(known))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {known}")

    load_before = os.getloadavg()
    outcomes: list[Outcome] = []
    try:
        for script in SCRIPTS:
            if any(r in rows for r in script.rows):
                outcome = run(script, command_for(script, rows, args))
                outcome.rows = [r for r in script.rows if r in rows]
                outcomes.append(outcome)
    except KeyboardInterrupt:
        log("interrupted (each script cleans up after itself)")

    print("\n" + "=" * 100)
    print(
        f"bench/all.py: {len(outcomes)} scripts, {os.cpu_count()} CPUs, load average before "
        f"{load_before[0]:.2f} / after {os.getloadavg()[0]:.2f} (compare ratios, not figures, "
        "on a busy machine)"
    )
    for outcome in outcomes:
        state = "ok" if outcome.status == 0 else f"EXIT {outcome.status}"
        print("\n" + "-" * 100)
        print(
            f"{outcome.script.name} [{','.join(outcome.rows)}] {state}, "
            f"{outcome.seconds:,.0f} s: {' '.join(outcome.command[2:])}"
        )
        print("-" * 100)
        print("\n".join(outcome.report))
    failed = [o.script.name for o in outcomes if o.status != 0]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
