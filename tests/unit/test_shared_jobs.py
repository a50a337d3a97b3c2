"""Issue 14 (P7): one worker of a serve runs the shared scheduled jobs, the one holding the
jobs lock; another takes over when it stops or dies. The lock, the takeover, the shared
jobs' own scheduler beside the executor's, and the worker's app factory leaving optional
imports out. With real `bookkeeper serve` processes: tests/integration/test_shared_jobs.py."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dependency_injector import providers

from bookkeeper.adapters.process_lock import FileLock, LockError
from bookkeeper.container import Container, shutdown
from bookkeeper.entrypoints import serve
from bookkeeper.entrypoints.http import server
from bookkeeper.entrypoints.http.worker import LEFT_OUT, left_out
from bookkeeper.entrypoints.scheduler import Scheduler
from bookkeeper.entrypoints.serve import SharedJobs
from bookkeeper.settings import Settings, load_settings
from tests.http_helpers import memory_container
from tests.polling import polls

#: A retry short enough for a test, long enough to see a worker wait.
RETRY = 0.05
#: A deadline for what must happen (seconds), however loaded the machine.
WITHIN = 30.0


def test_one_holder_at_a_time_and_the_next_after_a_release(tmp_path: Path) -> None:
    path = tmp_path / "jobs.lock"
    first, second = FileLock(path), FileLock(path)

    assert first.try_acquire() is True
    assert first.try_acquire() is True  # already held: still ours
    assert second.try_acquire() is False
    assert second.held is False

    first.release()
    assert first.held is False
    assert second.try_acquire() is True
    assert first.try_acquire() is False
    second.release()
    second.release()  # a no-op once released


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "jobs.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from bookkeeper.adapters.process_lock import FileLock\n"
            "assert FileLock(Path(sys.argv[1])).try_acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(path),
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert FileLock(path).try_acquire() is False
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert FileLock(path).try_acquire() is True
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_a_lock_file_that_cannot_be_opened_is_an_error_not_a_lost_race(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot open the lock file"):
        FileLock(tmp_path / "missing-dir" / "jobs.lock").try_acquire()


class Starts:
    """The shared jobs' start, counted; optionally failing the first n times."""

    def __init__(self, failures: int = 0) -> None:
        self.count = 0
        self.failures = failures
        self.started = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the morning check cannot be resolved")
        self.started.set()


async def test_without_a_lock_the_process_runs_them_itself() -> None:
    starts = Starts()
    jobs = SharedJobs(None, starts)
    await jobs.begin()
    assert jobs.running and starts.count == 1
    await jobs.stop()
    jobs.release()


async def test_only_the_holder_runs_them_and_another_takes_over_when_it_stops(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.lock"
    first_starts, second_starts = Starts(), Starts()
    first = SharedJobs(FileLock(path), first_starts, retry_seconds=RETRY)
    second = SharedJobs(FileLock(path), second_starts, retry_seconds=RETRY)

    await first.begin()
    await second.begin()
    await asyncio.sleep(RETRY * 4)  # the second asks again a few times, in vain
    assert first.running and first_starts.count == 1
    assert not second.running and second_starts.count == 0

    await first.stop()
    first.release()  # the first worker shuts down (or dies: the kernel releases it)
    await asyncio.wait_for(second_starts.started.wait(), timeout=WITHIN)
    assert second.running and second_starts.count == 1
    assert not first.running

    await second.stop()
    second.release()


async def test_a_failed_start_at_startup_is_raised_and_gives_the_lock_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.lock"
    jobs = SharedJobs(FileLock(path), Starts(failures=1), retry_seconds=RETRY)
    with pytest.raises(RuntimeError, match="cannot be resolved"):
        await jobs.begin()
    assert not jobs.running
    assert FileLock(path).try_acquire() is True  # free for another worker


async def test_a_failed_takeover_gives_the_lock_back_and_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "jobs.lock"
    holder = FileLock(path)
    assert holder.try_acquire()
    starts = Starts(failures=2)
    jobs = SharedJobs(FileLock(path), starts, retry_seconds=RETRY)
    await jobs.begin()
    assert not jobs.running

    holder.release()
    await asyncio.wait_for(starts.started.wait(), timeout=WITHIN)
    assert jobs.running and starts.count == 3  # two failures, each time the lock went back
    await jobs.stop()
    jobs.release()


async def test_stopping_a_waiting_worker_ends_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "jobs.lock"
    holder = FileLock(path)
    assert holder.try_acquire()
    starts = Starts()
    jobs = SharedJobs(FileLock(path), starts, retry_seconds=RETRY)
    await jobs.begin()
    await jobs.stop()
    holder.release()
    await asyncio.sleep(RETRY * 4)
    assert starts.count == 0 and not jobs.running


async def test_a_worker_that_takes_them_over_runs_them_beside_its_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared jobs start on a scheduler of their own while the process (its executor)
    runs; a failed start leaves none of them behind; both stop with the process, and the
    lock goes back after that."""
    monkeypatch.setattr(serve, "TAKEOVER_SECONDS", RETRY)
    failures = [RuntimeError("the spending sources cannot be resolved")]
    register_spending = serve.register_spending

    async def fails_once(container: Container, scheduler: Scheduler) -> bool:
        if failures:
            raise failures.pop()
        return await register_spending(container, scheduler)

    monkeypatch.setattr(serve, "register_spending", fails_once)
    path = tmp_path / "jobs.lock"
    holder = FileLock(path)
    assert holder.try_acquire()
    container = memory_container(tmp_path, executor=True)
    settings = Settings.for_data_dir(tmp_path, executor_enabled=True, jobs_lock=path)
    container.settings.override(providers.Object(settings))
    process = await serve.start_process(container)
    try:
        assert process.jobs == [serve.EXECUTOR_JOB]  # another worker runs the shared ones
        holder.release()
        for _ in polls(WITHIN):
            shared = process.shared_scheduler
            if shared is not None and shared.runs(serve.SUBSCRIPTIONS_JOB) >= 1:
                break
            await asyncio.sleep(RETRY)
        assert not failures  # the first takeover failed, and gave the lock back ...
        assert process.shared_scheduler is not None  # ... the next one started them
        assert process.shared_scheduler.runs(serve.SUBSCRIPTIONS_JOB) >= 1  # at once
        assert process.jobs == [serve.EXECUTOR_JOB, *process.shared_scheduler.jobs]
        assert process.shared_scheduler.jobs.count(serve.SUBSCRIPTIONS_JOB) == 1
        assert FileLock(path).try_acquire() is False  # held while they run
    finally:
        await process.close()
        await shutdown(container)
    assert process.jobs == []
    assert FileLock(path).try_acquire() is True  # given back once they stopped


def test_an_import_left_out_fails_as_if_not_installed_and_only_within(tmp_path: Path) -> None:
    package = "bk_left_out_probe"
    (tmp_path / f"{package}.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with left_out(package), pytest.raises(ModuleNotFoundError, match="left out"):
            __import__(package)
        assert package not in sys.modules
        assert __import__(package).VALUE == 1
        with left_out(package):
            assert __import__(package).VALUE == 1  # already loaded: unaffected
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(package, None)
    assert "httpx._main" in LEFT_OUT and "pydantic" in LEFT_OUT


def test_a_package_loaded_before_imports_its_submodules_within(tmp_path: Path) -> None:
    """`serve` builds the app in-process when it cannot exec the lean server, with pydantic
    already loaded (an SDK's models): Litestar's pydantic plugin then imported a submodule
    through pydantic's lazy `__getattr__`, which was refused, and nothing was served."""
    package = "bk_left_out_loaded"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "networks.py").write_text("VALUE = 2\n")
    sys.path.insert(0, str(tmp_path))
    try:
        __import__(package)
        with left_out(package):
            assert importlib.import_module(f"{package}.networks").VALUE == 2
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(package, None)
        sys.modules.pop(f"{package}.networks", None)


def test_several_workers_get_a_lock_file_of_their_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(server.JOBS_LOCK_VARIABLE, raising=False)
    with server.jobs_lock(1):
        assert server.JOBS_LOCK_VARIABLE not in os.environ  # one worker runs them itself
    with server.jobs_lock(2):
        path = Path(os.environ[server.JOBS_LOCK_VARIABLE])
        assert path.exists()
    assert server.JOBS_LOCK_VARIABLE not in os.environ
    assert not path.exists()
    monkeypatch.setenv(server.JOBS_LOCK_VARIABLE, "/srv/shared.lock")
    with server.jobs_lock(4):
        assert os.environ[server.JOBS_LOCK_VARIABLE] == "/srv/shared.lock"  # kept as set


def test_the_lock_is_configured_by_its_variable(tmp_path: Path) -> None:
    lock = tmp_path / "jobs.lock"
    base = {"BOOKKEEPER_DATA_DIR": str(tmp_path)}
    assert load_settings(base).jobs_lock is None
    assert load_settings({**base, "BOOKKEEPER_JOBS_LOCK": str(lock)}).jobs_lock == lock
