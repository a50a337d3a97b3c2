"""A TCP proxy on loopback in front of a real server (Redis, in the replica tests), that a
test can make go silent: it keeps every connection and takes new ones, but forwards
nothing either way — what a client sees of a server behind a network partition, or
stopped (SIGSTOP) with its socket still open. `forward()` brings it back for new
connections (the silent ones stay silent until their client gives up on them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class SilenceableProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.silent = False
        #: Bytes clients sent while the proxy was silent (read, never forwarded).
        self.swallowed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def silence(self) -> None:
        self.silent = True

    def forward(self) -> None:
        self.silent = False

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                if self.silent:
                    self.swallowed += len(chunk)
                    await self._hold(reader)
                    return
                writer.write(chunk)
                await writer.drain()
        writer.close()

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Read and drop until the client goes: a silent connection never answers again."""
        while chunk := await reader.read(65536):
            self.swallowed += len(chunk)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            with contextlib.suppress(ConnectionError, OSError):
                await self._hold(reader)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        both = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(both)
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in both:
                task.cancel()
            self._tasks.difference_update(both)
            up_writer.close()
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        """Listen on a loopback port of the system's choosing (yielded) for the block."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
