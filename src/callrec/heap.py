"""Freed memory handed back to the system, every few seconds.

glibc's malloc keeps what the process frees inside its heap: it can only shrink the heap from
the top, so memory freed below blocks still in use stays in the process's RSS for good. A burst
leaves such holes: 2,000 binary streams opened at once (their attaches, the recordings started,
the frames that waited) left callrec at 253 MB, of which one `malloc_trim(0)` gave back 115
(138 MB after; the streams' own memory is ~16 KB each, the rest was free). `malloc_trim` hands
the free pages inside the heap back as well (madvise), and the holes are reused as before.

It walks the free chunks under the heap's lock, the loop's thread waiting: a few ms on a heap of
some hundred MB (docs/BENCHMARKS.md), so it runs every `INTERVAL_SECONDS`, not after each burst's
every free. glibc only (musl and others return memory on their own terms): a no-op elsewhere.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

from callrec.background import BackgroundTasks

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return None
    return trim


class HeapTrimmer:
    """Every `INTERVAL_SECONDS`, the heap's free pages back to the system (glibc)."""

    def __init__(self) -> None:
        self._trim = _malloc_trim()
        self._runs = BackgroundTasks("giving freed memory back to the system")
        self.longest_ms = 0.0  # the longest trim so far (the loop waited that long)

    def start(self) -> None:
        if self._trim is not None:
            self._runs.spawn(self._forever())

    async def close(self) -> None:
        await self._runs.close()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            self.trim()

    def trim(self) -> None:
        if self._trim is None:
            return
        began = time.perf_counter()
        self._trim(0)
        took_ms = (time.perf_counter() - began) * 1000
        if took_ms > self.longest_ms and took_ms >= 1:  # a new longest wait: a few lines a run
            log.info("freed memory given back to the system in %.1f ms", took_ms)
        self.longest_ms = max(self.longest_ms, took_ms)
