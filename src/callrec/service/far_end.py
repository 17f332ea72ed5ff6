"""The scripted far end of a live call, for an app's tests (docs/COMPATIBILITY.md, "The far
end"): keys it presses and spans it stays silent, as the call flow hears them. Held in memory by
the process that runs the call's flow; the REST extension that scripts it is carried out there.

Keys are typed ahead: one pressed before a <Gather> or <Record> listens waits for it (our
decision: a test script need not know when the prompt is playing)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class FarEnd:
    keys: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    #: Monotonic times between which the far end says nothing (by default it talks throughout).
    silent_from: float = 0.0
    silent_until: float = 0.0

    def press(self, digits: str) -> None:
        for key in digits:
            self.keys.put_nowait(key)

    def fall_silent(self, seconds: float) -> None:
        now = time.monotonic()
        self.silent_from, self.silent_until = now, now + seconds

    def silent_since(self, since: float) -> float | None:
        """When the far end's current silence began (not before `since`), if it is silent now."""
        now = time.monotonic()
        if self.silent_from <= now < self.silent_until:
            return max(self.silent_from, since)
        return None

    async def next_key(self, seconds: float) -> str | None:
        """The next key pressed within `seconds` (one pressed earlier and not yet heard first)."""
        try:
            return await asyncio.wait_for(self.keys.get(), max(0.0, seconds))
        except TimeoutError:
            return None
