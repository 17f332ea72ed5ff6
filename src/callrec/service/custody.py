"""Which process carries out what concerns a live call (docs/ARCHITECTURE.md, "Several
processes"): the call's owner, the one process that runs its timers, holds its media stream and
keeps the capture gates of its recordings. Anything that moves a gate is decided there."""

from __future__ import annotations

from typing import Protocol

from callrec.domain.model import CallStatus
from callrec.ids import ProcessIdentity


class Elsewhere(Exception):
    """The call's live side runs in process `owner`: the request must be carried out there."""

    def __init__(self, owner: int) -> None:
        super().__init__(f"the call is owned by process {owner}")
        self.owner = owner


class Peers(Protocol):
    """Asking the other processes of the deployment to do their part."""

    async def hand_over(self, owner: int, call_sid: str, to: int) -> None:
        """Ask process `owner` to give the call's live side to process `to` (raises
        Unreachable, or CallBusy if the owner still has the call's stream)."""
        ...


def ensure_here(status: CallStatus, owner: int | None, me: ProcessIdentity) -> None:
    """Inside a unit that holds the call: go on only if this process owns it, or if the call
    has ended (then no gate is left to move, and any process answers alike)."""
    if owner is not None and owner != me.id and not status.is_ended:
        raise Elsewhere(owner)
