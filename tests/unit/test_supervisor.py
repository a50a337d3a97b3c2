"""Issue 14 (P7): the lean supervisor of `bookkeeper serve --workers N` keeps its workers as
uvicorn's does: it starts N, replaces one that dies, stops the serve when one cannot
start (uvicorn's STARTUP_FAILURE), stops them all on SIGTERM, adds and removes one on
SIGTTIN/SIGTTOU, and a worker whose supervisor was killed stops by itself. The workers
here are small stand-ins that answer the health checks; the real ones (uvicorn serving
the app): tests/integration/test_shared_jobs.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.entrypoints.http.supervisor import HEALTH_TIMEOUT, STARTUP_FAILURE, Worker, bind
from tests.polling import polls

WITHIN = 30.0

#: A worker: records its pid in the directory, answers health checks until told to stop.
_WORKER = """
import signal, sys, time
from pathlib import Path
from bookkeeper.entrypoints.http.supervisor import start_answering

folder = Path(sys.argv[1])
args = sys.argv[2:]
health = int(args[args.index("--health-fd") + 1])
(folder / str(__import__("os").getpid())).write_text("up")
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
start_answering(health, lambda: True)
while not stop:
    time.sleep(0.05)
(folder / str(__import__("os").getpid())).write_text("stopped")
"""

_SUPERVISOR = """
import sys
from bookkeeper.entrypoints.http.supervisor import supervise
workers = int(sys.argv[1])
sys.exit(supervise(sys.argv[2:], "127.0.0.1", 0, workers, "INFO"))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _pids(folder: Path, state: str = "up") -> set[int]:
    return {int(p.name) for p in folder.iterdir() if p.read_text() == state}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(folder: Path, workers: int, worker: str = _WORKER) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", worker, str(folder)]
    return subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR, str(workers), *argv],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_it_keeps_n_workers_replaces_a_dead_one_and_stops_them_all(tmp_path: Path) -> None:
    supervisor = _start(tmp_path, 2)
    try:
        _until(lambda: len(_pids(tmp_path)) == 2, "two workers did not start")
        first, second = sorted(_pids(tmp_path))
        os.kill(first, signal.SIGKILL)
        _until(lambda: len(_pids(tmp_path) - {first}) == 2, "the dead worker was not replaced")
        replacement = (_pids(tmp_path) - {first, second}).pop()

        supervisor.send_signal(signal.SIGTTIN)
        _until(lambda: len(_pids(tmp_path) - {first}) == 3, "SIGTTIN added no worker")
        supervisor.send_signal(signal.SIGTTOU)
        _until(lambda: len(_pids(tmp_path, "stopped")) == 1, "SIGTTOU stopped no worker")

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=WITHIN) == 0
        assert {second, replacement} <= _pids(tmp_path, "stopped")  # stopped gracefully
        assert not any(_alive(pid) for pid in _pids(tmp_path, "stopped"))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)
    output = supervisor.stdout.read() if supervisor.stdout else ""
    assert f"Child process [{first}] died" in output


def _assert_the_serve_stops(tmp_path: Path, worker: str) -> None:
    """Two workers running `worker` make the supervisor exit with STARTUP_FAILURE, saying
    a worker failed to start (not restarting it)."""
    supervisor = _start(tmp_path, 2, worker=worker)
    try:
        assert supervisor.wait(timeout=WITHIN) == STARTUP_FAILURE
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)
    assert "failed to start" in (supervisor.stdout.read() if supervisor.stdout else "")


def test_a_worker_that_cannot_start_stops_the_serve(tmp_path: Path) -> None:
    cannot_start = f"import sys; sys.exit({STARTUP_FAILURE})"
    _assert_the_serve_stops(tmp_path, cannot_start)


def lifespan_fails() -> Any:
    """An app factory whose lifespan cannot start (as the real app's when its startup
    raises)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "cannot start"})

    return app


@pytest.mark.long
def test_a_real_worker_whose_app_cannot_start_stops_the_serve(tmp_path: Path) -> None:
    """The uvicorn worker itself (server.run_worker), not a stand-in exiting with 3: its
    app's lifespan fails, and the serve stops with STARTUP_FAILURE, not restarting it."""
    real_worker = (
        "import sys\n"
        "from bookkeeper.entrypoints.http import server\n"
        "server.APP_FACTORY = 'tests.unit.test_supervisor:lifespan_fails'\n"
        "sys.exit(server.main(['--worker', '--host', '127.0.0.1', '--port', '0',"
        " *sys.argv[2:]]))\n"
    )
    _assert_the_serve_stops(tmp_path, real_worker)


def test_workers_of_a_killed_supervisor_stop_by_themselves(tmp_path: Path) -> None:
    supervisor = _start(tmp_path, 2)
    try:
        _until(lambda: len(_pids(tmp_path)) == 2, "two workers did not start")
        workers = _pids(tmp_path)
        supervisor.kill()
        supervisor.wait(timeout=10)
        _until(lambda: _pids(tmp_path, "stopped") == workers, "orphaned workers kept running")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)


@pytest.mark.long
def test_a_worker_slow_to_start_is_not_taken_for_a_hung_one(tmp_path: Path) -> None:
    """Its interpreter and imports come before its first answer; on a loaded machine that
    can take longer than the health check's timeout."""
    slow = _WORKER.replace(
        "start_answering(health,", f"time.sleep({HEALTH_TIMEOUT + 2}); start_answering(health,"
    )
    supervisor = _start(tmp_path, 1, worker=slow)
    try:
        _until(lambda: len(_pids(tmp_path)) == 1, "the worker did not start")
        (worker,) = _pids(tmp_path)
        time.sleep(HEALTH_TIMEOUT + 4)  # past its first answer
        assert _pids(tmp_path) == {worker} and _alive(worker)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=WITHIN) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)
    assert "died" not in (supervisor.stdout.read() if supervisor.stdout else "")


#: A worker that answers nothing until told to (a `go` file), then answers every question
#: it was asked so far at once, says how many in `answered`, and hangs.
_ANSWERS_LATE_THEN_HANGS = """
import os, socket, sys, time
from pathlib import Path

folder = Path(sys.argv[1])
args = sys.argv[2:]
health = socket.socket(fileno=int(args[args.index("--health-fd") + 1]))
while not (folder / "go").exists():
    time.sleep(0.01)
questions = health.recv(1024)
health.sendall(b"1" * len(questions))
(folder / "answering").write_text(str(len(questions)))
os.replace(folder / "answering", folder / "answered")
time.sleep(600)
"""


def test_answers_queued_while_a_worker_started_do_not_keep_it_alive_once_it_hangs(
    tmp_path: Path,
) -> None:
    """One health question in flight per worker: the checks made while it starts do not
    pile up questions whose answers would then pass, one per check, for a hung worker."""
    argv = [sys.executable, "-c", _ANSWERS_LATE_THEN_HANGS, str(tmp_path)]
    with bind("127.0.0.1", 0) as listener:
        worker = Worker(argv, listener, health_timeout=0.5)
        try:
            for _ in range(5):  # the supervisor's checks while it starts (each waits 0.1 s)
                assert worker.alive()
            (tmp_path / "go").write_text("")
            answered = tmp_path / "answered"
            for _ in polls():
                if answered.exists():
                    break
                time.sleep(0.02)
            assert answered.read_text() == "1"  # asked once, not once per check
            assert worker.alive()  # it answered the question in flight: it started
            assert not worker.alive()  # and now it hangs: the next check goes unanswered
            assert worker.overdue  # a miss, and no other question is asked behind it
        finally:
            worker.kill()
            worker.join()
