"""Clock and id adapters for production: UTC wall clock and time-ordered UUIDv7."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class UuidV7Ids:
    """RFC 9562 UUIDv7: millisecond timestamp first, so new ids append to the index's end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new_id(self) -> uuid.UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:
                    ms += 1
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= (counter & 0xFFF) << 64
        value |= 0b10 << 62
        value |= rand
        return uuid.UUID(int=value)
