"""Wakes whoever waits on a call (a <Dial> on its child calls) when this process changes it.

In-process only: a change made by another process is not announced, so waiters also look again
every so often (`wait`'s timeout). Where a call's changes are made (its owner, which requests
about it are forwarded to), waiters wake at once instead of polling the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


class CallChanges:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def changed(self, call_sid: str) -> None:
        for event in self._waiters.get(call_sid, ()):
            event.set()

    async def wait(self, call_sids: Iterable[str], seconds: float) -> None:
        """Until one of the calls changes here, or `seconds` pass."""
        event = asyncio.Event()
        sids = list(call_sids)
        for sid in sids:
            self._waiters.setdefault(sid, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            for sid in sids:
                waiting = self._waiters.get(sid)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[sid]
