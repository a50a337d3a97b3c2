"""An exclusive lock on a file, taken without waiting: which worker of a serve runs its
shared scheduled jobs (issue 14, P7; entrypoints/serve.py).

`flock(2)` on a file every worker opens itself: one holds it at a time, and the kernel
releases it when the holder closes it or dies (kill -9 included), so another worker that
asks again takes it over. No stale lock is left behind by a crash.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockError(RuntimeError):
    """The lock file cannot be opened or locked (not merely held by another process)."""


class FileLock:
    """`try_acquire()` takes the lock if nobody holds it; `release()` gives it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """True if this process now holds the lock (or already did); False if another does."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise LockError(f"cannot open the lock file {self.path}: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as error:
            os.close(fd)
            raise LockError(f"cannot lock {self.path}: {error.strerror}") from error
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock back (closing the file releases it); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
