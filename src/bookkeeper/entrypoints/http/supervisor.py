"""The supervisor of `bookkeeper serve --workers N` with uvicorn (issue 14, P7).

uvicorn's own supervisor costs ~40 MB of a 2-worker serve that does no serving: the
supervisor process imports uvicorn (asyncio, ssl, click: 27 MB), and it spawns its workers
through multiprocessing, which starts multiprocessing's resource tracker (another
interpreter: 12 MB) although the workers share no semaphores or shared memory. This one
does the same work with the standard library only (~12 MB, no tracker):

* binds the listening socket once and starts N workers (`python -m
  bookkeeper.entrypoints.http.server --worker ...`) that inherit it and serve on it with
  uvicorn's `Server` (the same Config as `uvicorn.run`);
* every HEALTH_INTERVAL s asks each worker over a socket pair whether it is alive and
  serving, one question in flight per worker (the next is asked once it is answered);
  a worker that died is replaced, one that does not answer within its health timeout
  (HEALTH_TIMEOUT s unless given: BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS) is
  killed and replaced (a new one has STARTUP_GRACE s for its first answer: its
  interpreter and imports come first), and one that exited with uvicorn's
  STARTUP_FAILURE (3: the app or its lifespan cannot start) stops the serve, as uvicorn
  does;
* SIGINT/SIGTERM: the workers are told to stop (SIGTERM: uvicorn's graceful shutdown),
  waited for, and the supervisor exits; SIGHUP: each worker is replaced by a new one,
  which serves before the old one stops; SIGTTIN/SIGTTOU: one worker more / fewer;
* a worker whose supervisor is gone (killed) stops by itself instead of holding the port.

This module imports nothing of bookkeeper's and nothing outside the standard library.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

log = logging.getLogger("uvicorn.error")

#: uvicorn's exit status of a worker that could not start (uvicorn.config.STARTUP_FAILURE).
STARTUP_FAILURE: Final = 3
#: Seconds between two health checks of the workers (uvicorn: 0.5).
HEALTH_INTERVAL: Final = 0.5
#: Seconds a worker has to answer a health check, unless given (uvicorn's
#: timeout_worker_healthcheck; settings.py: BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS).
HEALTH_TIMEOUT: Final = 5.0
#: Seconds a new worker has to start serving when the workers are replaced (SIGHUP).
READY_TIMEOUT: Final = 120.0
#: Seconds a new worker has to answer its first health check (its interpreter and imports
#: start first; on a loaded machine that takes longer than HEALTH_TIMEOUT).
STARTUP_GRACE: Final = 120.0
#: The questions and answers of a health check.
PING: Final = b"?"
SERVING: Final = b"1"
STARTING: Final = b"0"

_SIGNALS: Final = ("INT", "TERM", "HUP", "TTIN", "TTOU")


class Worker:
    """One worker process and the supervisor's end of its health socket."""

    def __init__(
        self, argv: Sequence[str], listener: socket.socket, health_timeout: float = HEALTH_TIMEOUT
    ) -> None:
        self.health, child = socket.socketpair()
        with child:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                [*argv, "--listen-fd", str(listener.fileno()), "--health-fd", str(child.fileno())],
                pass_fds=(listener.fileno(), child.fileno()),
            )
        self.started_at = time.monotonic()
        self.health_timeout = health_timeout
        #: Whether it has answered a health check yet (before that it is starting).
        self.answered = False
        #: When the health check in flight is due (monotonic); None: none is in flight.
        self._due: float | None = None
        log.info("Started worker process [%d]", self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def overdue(self) -> bool:
        """A health check in flight went unanswered past its due time: a miss."""
        return self._due is not None and time.monotonic() >= self._due

    def answer(self, within: float, wait: float | None = None) -> bytes | None:
        """The worker's answer (SERVING or STARTING) to the health check in flight, which
        is asked now, due within `within` s, if none is; waits for it at most `wait` s
        (None: until it is due). None: no answer yet, the check is overdue, or the worker
        is dead.

        One check in flight at a time: a check is asked again only once its answer came,
        so answers never queue up, and an answer is to the latest question. (Asking on
        every check let a worker that had been slow to answer, while it started, build
        a stock of answers that kept it looking alive, one per check, after it hung.)"""
        if self.process.poll() is not None:
            return None
        now = time.monotonic()
        try:
            if self._due is None:
                self.health.sendall(PING)
                self._due = now + within
            left = self._due - now
            if left <= 0:
                return None
            ready, _, _ = select.select(
                [self.health], [], [], left if wait is None else min(wait, left)
            )
            if not ready:
                return None
            answer = self.health.recv(1)
        except OSError:
            return None
        if not answer:
            return None
        self._due = None
        self.answered = True
        return answer

    def alive(self) -> bool:
        """Answers its check in time, or is still starting (alive, its first check not
        yet due: that one is due STARTUP_GRACE after its start, and waited for briefly so
        that a starting worker does not hold the loop)."""
        if self.answered:
            return self.answer(self.health_timeout) is not None
        first_due = self.started_at + STARTUP_GRACE - time.monotonic()
        if self.answer(first_due, wait=0.1) is not None:
            return True
        return not self.overdue and self.process.poll() is None

    def wait_until_serving(self, timeout: float, stopping: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stopping():
            answer = self.answer(deadline - time.monotonic(), wait=min(1.0, self.health_timeout))
            if answer == SERVING:
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            log.info("Terminated child process [%d]", self.pid)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def join(self) -> int:
        log.info("Waiting for child process [%d]", self.pid)
        code = self.process.wait()
        self.health.close()
        return code


class Supervisor:
    """N workers on one listening socket, kept alive (see the module docstring)."""

    def __init__(
        self,
        argv: Sequence[str],
        listener: socket.socket,
        workers: int,
        health_timeout: float = HEALTH_TIMEOUT,
    ) -> None:
        self._argv = list(argv)
        self._listener = listener
        self._wanted = max(1, workers)
        self._health_timeout = health_timeout
        self.workers: list[Worker] = []
        self._signals: list[int] = []
        self._stopping = False
        self.status = 0

    def _worker(self) -> Worker:
        return Worker(self._argv, self._listener, self._health_timeout)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals.append(signum)

    def run(self) -> int:
        for name in _SIGNALS:
            signal.signal(getattr(signal, f"SIG{name}"), self._on_signal)
        log.info("Started parent process [%d]", os.getpid())
        self.workers = [self._worker() for _ in range(self._wanted)]
        while not self._stopping:
            time.sleep(HEALTH_INTERVAL)
            self._handle_signals()
            self._keep_alive()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.join()
        log.info("Stopping parent process [%d]", os.getpid())
        return self.status

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in (signal.SIGINT, signal.SIGTERM):
                log.info("Received %s, exiting.", signal.Signals(signum).name)
                self._stopping = True
            elif signum == signal.SIGHUP:
                log.info("Received SIGHUP, restarting processes.")
                self._restart_all()
            elif signum == signal.SIGTTIN:
                log.info("Received SIGTTIN, increasing the number of processes.")
                self._wanted += 1
                self.workers.append(self._worker())
            elif signum == signal.SIGTTOU:
                log.info("Received SIGTTOU, decreasing number of processes.")
                if self._wanted <= 1:
                    log.info("Already reached one process, cannot decrease it any further.")
                    continue
                self._wanted -= 1
                worker = self.workers.pop()
                worker.terminate()
                worker.join()

    def _keep_alive(self) -> None:
        for index, worker in enumerate(self.workers):
            if self._stopping:
                return
            if worker.alive():
                continue
            worker.kill()  # dead, or hung: it does not answer
            code = worker.join()
            if code == STARTUP_FAILURE:
                log.error(
                    "Child process [%d] failed to start, stopping the parent process.", worker.pid
                )
                self._stopping = True
                self.status = STARTUP_FAILURE
                return
            log.info("Child process [%d] died", worker.pid)
            self.workers[index] = self._worker()

    def _told_to_stop(self) -> bool:
        """Stopping, or a SIGINT/SIGTERM is waiting to be handled (during a restart)."""
        return self._stopping or any(
            signum in (signal.SIGINT, signal.SIGTERM) for signum in self._signals
        )

    def _restart_all(self) -> None:
        """Each worker replaced by a new one that serves before the old one stops."""
        for index, old in enumerate(list(self.workers)):
            if self._stopping:
                return
            new = self._worker()
            if not new.wait_until_serving(READY_TIMEOUT, self._told_to_stop):
                new.kill()
                new.join()
                log.error(
                    "New child process [%d] was not ready in time; keeping worker [%d] and "
                    "aborting the restart.",
                    new.pid,
                    old.pid,
                )
                return
            old.terminate()
            old.join()
            self.workers[index] = new


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, as uvicorn binds it (SO_REUSEADDR, inheritable)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.set_inheritable(True)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    log.info(
        "Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
        shown,
        listener.getsockname()[1],
    )
    return listener


def supervise(
    argv: Sequence[str],
    host: str,
    port: int,
    workers: int,
    log_level: str,
    health_timeout: float = HEALTH_TIMEOUT,
) -> int:
    """Serve with `workers` worker processes started by `argv`, each given
    `health_timeout` s to answer a health check; the exit status."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    try:
        listener = bind(host, port)
    except OSError as error:
        log.error("%s", error)
        return STARTUP_FAILURE
    with listener:
        return Supervisor(argv, listener, workers, health_timeout).run()


def answer_health_checks(health: socket.socket, serving: Callable[[], bool]) -> None:
    """A worker's side (a daemon thread): answer each check with whether it serves; when
    the supervisor is gone (its end closed), stop this worker gracefully."""
    try:
        while health.recv(1):
            health.sendall(SERVING if serving() else STARTING)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def start_answering(health_fd: int, serving: Callable[[], bool]) -> None:
    health = socket.socket(fileno=health_fd)
    threading.Thread(
        target=answer_health_checks, args=(health, serving), name="health", daemon=True
    ).start()
