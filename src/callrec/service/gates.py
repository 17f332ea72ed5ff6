"""Capture gates around a unit of work: decided inside it, settled once it has committed or
failed (see media.hub)."""

from __future__ import annotations

from functools import partial
from typing import TypeVar

from callrec.domain.model import Recording, RecordingStatus
from callrec.service.deps import Deps
from callrec.storage.base import Tx, Work

T = TypeVar("T")


class GateDecisions:
    """The gate decisions one unit of work takes."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._taken: list[tuple[str, int, bool]] = []

    def decide(self, recording: Recording, call_sid: str) -> None:
        """Inside the unit, once it holds the recording: the recording is to be as given. A
        pause or stop closes its gate at once, before any later frame is looked at; a start or
        resume opens it only once committed. A sealed recording's capture file is encrypted."""
        open_ = recording.status is RecordingStatus.IN_PROGRESS
        sealed = recording.options.sealed
        decision = self._deps.media.gate_decided(recording.sid, call_sid, open_, sealed)
        self._taken.append((recording.sid, decision, open_))

    async def write(self, work: Work[T]) -> T:
        """Run the unit that takes the decisions, then settle them: as decided once it has
        committed; back to what is committed if it failed."""
        try:
            result = await self._deps.store.write(work)
        except Exception:
            await self._restore()
            raise
        for recording_sid, decision, open_ in self._taken:
            self._deps.media.gate_committed(recording_sid, decision, open_)
        return result

    async def _restore(self) -> None:
        for recording_sid, decision, _ in self._taken:
            status = await self._deps.store.read(partial(_status, recording_sid=recording_sid))
            if status is None or not status.is_live:
                self._deps.media.finish(recording_sid)  # never started, or no longer captured
            else:
                live = status is RecordingStatus.IN_PROGRESS
                self._deps.media.gate_committed(recording_sid, decision, live)


async def _status(tx: Tx, recording_sid: str) -> RecordingStatus | None:
    """The recording's status, as committed."""
    current = await tx.recording(recording_sid)
    return None if current is None else current.status
