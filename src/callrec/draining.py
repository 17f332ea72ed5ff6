"""Whether the server has begun to shut down: what would otherwise hold it open waits on this
(the console's live streams), so that a restart need not wait out its grace for them."""

from __future__ import annotations

import asyncio
import contextlib


class Draining:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Note the server's event loop (at start-up, on it)."""
        self._loop = asyncio.get_running_loop()

    def begin(self) -> None:
        """Shutting down from now on. Safe from a signal handler or another thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    @property
    def started(self) -> bool:
        return self._event.is_set()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if shutting down begins meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
