"""Capture gates around a unit of work: decided inside it, settled once it has committed or
failed (see media.hub)."""

from __future__ import annotations

from functools import partial

from callrec.domain.model import RecordingStatus
from callrec.service.deps import Deps
from callrec.storage.base import Tx


class GateDecisions:
    """The gate decisions one unit of work takes."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._taken: list[tuple[str, int, bool]] = []

    def decide(self, recording_sid: str, status: RecordingStatus) -> None:
        """Inside the unit: the recording is to be in `status`. A pause or stop closes its gate
        at once, before any later frame is looked at; a resume opens it only once committed."""
        open_ = status is RecordingStatus.IN_PROGRESS
        decision = self._deps.media.gate_decided(recording_sid, open_)
        self._taken.append((recording_sid, decision, open_))

    def committed(self) -> None:
        for recording_sid, decision, open_ in self._taken:
            self._deps.media.gate_committed(recording_sid, decision, open_)

    async def failed(self) -> None:
        """The unit was undone: each gate goes back to what is committed."""
        for recording_sid, decision, _ in self._taken:
            live = await self._deps.store.read(partial(_is_live, recording_sid=recording_sid))
            self._deps.media.gate_committed(recording_sid, decision, live)


def _is_live(tx: Tx, recording_sid: str) -> bool:
    """Whether the recording is capturing, as committed."""
    current = tx.recording(recording_sid)
    return current is not None and current.status is RecordingStatus.IN_PROGRESS
