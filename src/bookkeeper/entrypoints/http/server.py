"""The process that runs the HTTP server's workers, started lean (issue 14, P7; ADR 0039).

`bookkeeper serve` prepares what must happen once (the signing key, the embedded SQLite's
migration) in a process that has imported the whole application; it then replaces itself
(`os.execv`, the same pid, signals and output) with this module, which imports only the
server (uvicorn or granian). The workers import the app themselves (the app factory),
so the supervisor no longer carries ~120 MB of application it never runs: with 2 workers
it is ~27 MB instead of ~150 MB. With one worker uvicorn runs the app in this process,
as before, but without the preparation's leftovers. With several uvicorn workers this
process is the lean supervisor (supervisor.py: the standard library only, ~14 MB, and no
multiprocessing resource tracker), each worker `... server --worker` on the listening
socket it inherits; the serve's lock file (BOOKKEEPER_JOBS_LOCK) picks the worker that
runs the shared scheduled jobs (entrypoints/serve.py).

    python -m bookkeeper.entrypoints.http.server --server uvicorn --host H --port P
           --workers N --log-level INFO [--access-log]

This module imports nothing of bookkeeper's at import time: keep it that way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: The workers build the app without the optional imports they never use (worker.py).
APP_FACTORY: Final = "bookkeeper.entrypoints.http.worker:app_factory"
MODULE: Final = "bookkeeper.entrypoints.http.server"
SERVERS: Final = ("uvicorn", "granian")


@dataclass(frozen=True, kw_only=True)
class Launch:
    """How to run the server: what `bookkeeper serve` decided from its settings and
    arguments, handed through the exec to this module's command line unchanged."""

    server: str = "uvicorn"
    host: str
    port: int
    workers: int = 1
    log_level: str = "INFO"
    access_log: bool = False
    #: Seconds a worker has to answer a health check (None: the supervisor's default).
    health_timeout: float | None = None
    #: Seconds uvicorn lets the requests under way finish after a SIGTERM before it
    #: cancels them (BOOKKEEPER_SHUTDOWN_GRACE_SECONDS; None: it waits for ever).
    shutdown_grace: float | None = None


def command(launch: Launch) -> list[str]:
    """The argv that runs the server in a fresh interpreter (the same Python)."""
    argv = [
        sys.executable,
        "-m",
        MODULE,
        *("--server", launch.server, "--host", launch.host, "--port", str(launch.port)),
        *("--workers", str(launch.workers), "--log-level", launch.log_level),
    ]
    if launch.access_log:
        argv.append("--access-log")
    if launch.health_timeout is not None:
        argv += ["--health-timeout", f"{launch.health_timeout:g}"]
    if launch.shutdown_grace is not None:
        argv += ["--shutdown-grace", f"{launch.shutdown_grace:g}"]
    return argv


def exec_server(launch: Launch) -> None:
    """Replace this process with the lean server process. Returns only if that cannot be
    done (no known interpreter, or exec failed): the caller then serves in-process."""
    if not sys.executable or not os.access(sys.executable, os.X_OK):
        return
    argv = command(launch)
    for stream in (sys.stdout, sys.stderr):
        # A closed or broken stream: nothing to lose there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        # The same interpreter, our own module and arguments: nothing from outside.
        os.execv(sys.executable, argv)  # noqa: S606
    except OSError:
        return


#: The variable that names the shared jobs' lock (settings.py: jobs_lock).
JOBS_LOCK_VARIABLE: Final = "BOOKKEEPER_JOBS_LOCK"


@contextlib.contextmanager
def jobs_lock(workers: int) -> Iterator[None]:
    """With several workers, a lock file of this serve named in BOOKKEEPER_JOBS_LOCK,
    which the workers inherit: the one holding it runs the shared scheduled jobs
    (entrypoints/serve.py, P7). Removed when the server stops. Nothing with one worker
    (it runs them itself), nor when the variable is already set (several serves on one
    machine may share a lock file on purpose)."""
    if workers <= 1 or os.environ.get(JOBS_LOCK_VARIABLE, "").strip():
        yield
        return
    fd, path = tempfile.mkstemp(prefix="bookkeeper-jobs-", suffix=".lock")
    os.close(fd)
    os.environ[JOBS_LOCK_VARIABLE] = path
    try:
        yield
    finally:
        os.environ.pop(JOBS_LOCK_VARIABLE, None)
        with contextlib.suppress(OSError):
            os.unlink(path)


def uvicorn_options(
    host: str, port: int, log_level: str, access_log: bool, shutdown_grace: float | None = None
) -> dict[str, Any]:
    """How uvicorn serves the app, whoever runs it (uvicorn.run or one supervised worker).

    `shutdown_grace` bounds how long a SIGTERM waits for the requests under way: without
    it uvicorn waits for every connection however long, and one request waiting on a
    hung Fiken (three 20 s timeouts) kept the process up a minute, its executor still
    claiming, before the lifespan's shutdown (the executor's hand-back) even began.
    A request still running then is cancelled (its transaction rolls back; the client
    sees the connection close without an answer, nothing was accepted)."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "log_level": log_level.lower(),
        "server_header": False,
        "access_log": access_log,
        # The API has no WebSocket routes (granian runs with websockets=False too); not
        # loading uvicorn's websockets protocol saves ~2.5 MB per worker (P7).
        "ws": "none",
        # httptools with a bound on a request's head (431 over 64 KiB; bounded_head.py),
        # a response's head and body sent in one write (coalesce.py).
        "http": _http_protocol(),
        "timeout_graceful_shutdown": shutdown_grace,
    }


def _http_protocol() -> Any:
    """uvicorn's httptools protocol bounded (bounded_head.py) and writing each response
    at once (coalesce.py), composed in served_protocol.py; without httptools, uvicorn's
    h11, which bounds a head itself (h11_max_incomplete_event_size)."""
    try:
        from bookkeeper.entrypoints.http.served_protocol import ServedHttpProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] installs httptools
        return "h11"
    return ServedHttpProtocol


def run_uvicorn(launch: Launch) -> None:
    import uvicorn

    options = uvicorn_options(
        launch.host, launch.port, launch.log_level, launch.access_log, launch.shutdown_grace
    )
    if launch.health_timeout is not None:  # uvicorn's own supervisor (several workers)
        options["timeout_worker_healthcheck"] = launch.health_timeout
    with jobs_lock(launch.workers):
        uvicorn.run(APP_FACTORY, workers=launch.workers, **options)


def supervise_uvicorn(launch: Launch) -> int:
    """Several uvicorn workers under the lean supervisor (supervisor.py: no uvicorn, no
    multiprocessing resource tracker in the supervising process, P7)."""
    from bookkeeper.entrypoints.http.supervisor import HEALTH_TIMEOUT, supervise

    host, port = launch.host, launch.port
    argv = [sys.executable, "-m", MODULE, "--worker", "--host", host, "--port", str(port)]
    argv += ["--log-level", launch.log_level]
    if launch.access_log:
        argv.append("--access-log")
    if launch.shutdown_grace is not None:
        argv += ["--shutdown-grace", f"{launch.shutdown_grace:g}"]
    timeout = HEALTH_TIMEOUT if launch.health_timeout is None else launch.health_timeout
    with jobs_lock(launch.workers):
        return supervise(argv, host, port, launch.workers, launch.log_level, health_timeout=timeout)


def run_worker(
    listen_fd: int,
    health_fd: int,
    host: str,
    port: int,
    log_level: str,
    access_log: bool,
    shutdown_grace: float | None = None,
) -> int:
    """One worker of `supervise_uvicorn`: uvicorn's Server (the options `run_uvicorn` gives
    uvicorn) on the listening socket it inherited, answering the supervisor's checks."""
    import socket

    from bookkeeper.entrypoints.http.supervisor import STARTUP_FAILURE, start_answering

    # Answering before uvicorn and the app load: the supervisor sees a starting worker.
    servers: list[Any] = []
    start_answering(health_fd, lambda: bool(servers) and bool(servers[0].started))

    import uvicorn

    options = uvicorn_options(host, port, log_level, access_log, shutdown_grace)
    config = uvicorn.Config(APP_FACTORY, **options)
    server = uvicorn.Server(config)
    servers.append(server)
    server.run(sockets=[socket.socket(fileno=listen_fd)])
    # An app whose lifespan cannot start: uvicorn's Server exits with STARTUP_FAILURE
    # itself (0.55, test_supervisor); a run that returns without having started is
    # reported the same, so that the supervisor stops the serve instead of restarting it.
    return 0 if server.started else STARTUP_FAILURE


def run_granian(launch: Launch) -> None:
    """The app in granian (BOOKKEEPER_SERVER=granian, ADR 0039); granian's own access log
    stays off (observability.py writes one line per request)."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    with jobs_lock(launch.workers):
        Server(
            APP_FACTORY,
            address=launch.host,
            port=launch.port,
            interface=Interfaces.ASGI,
            workers=launch.workers,
            loop=Loops.uvloop,
            websockets=False,
            log_level=LogLevels(launch.log_level.lower()),
            log_access=False,
            factory=True,
        ).serve()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bookkeeper-server")
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--access-log", action="store_true")
    # Seconds a worker has to answer a health check (BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS).
    parser.add_argument("--health-timeout", type=float, default=None)
    # Seconds the requests under way get after a SIGTERM (BOOKKEEPER_SHUTDOWN_GRACE_SECONDS).
    parser.add_argument("--shutdown-grace", type=float, default=None)
    # A worker of the lean supervisor (supervise_uvicorn): its inherited descriptors.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--health-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.listen_fd is None or args.health_fd is None:
            parser.error("--worker needs --listen-fd and --health-fd")
        return run_worker(
            args.listen_fd,
            args.health_fd,
            args.host,
            args.port,
            args.log_level,
            args.access_log,
            args.shutdown_grace,
        )
    launch = Launch(
        server=args.server,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        health_timeout=args.health_timeout,
        shutdown_grace=args.shutdown_grace,
    )
    if launch.server == "granian":
        run_granian(launch)
    elif launch.workers > 1:
        return supervise_uvicorn(launch)
    else:
        run_uvicorn(launch)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
