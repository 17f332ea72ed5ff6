"""Writing status callbacks into the outbox, inside the unit of work that causes them."""

from __future__ import annotations

from callrec.callbacks.outbox import entry
from callrec.callbacks.voice import status_callback
from callrec.domain.model import Call, CallbackEvent, CallEvent, Recording
from callrec.service.deps import Deps
from callrec.storage.base import Tx


async def enqueue(tx: Tx, deps: Deps, recording: Recording, event: CallbackEvent) -> bool:
    """Store the callback this change owes the app, if it asked for one: it commits (or not)
    together with the change, so a crash can lose neither without the other. Returns whether
    one was stored, so that the dispatcher is woken only when there is something to send."""
    owed = entry(recording, event, deps.settings.base_url, deps.clock(), deps.me.id)
    if owed is None:
        return False
    await tx.insert_callback(owed)
    return True


async def enqueue_call(tx: Tx, deps: Deps, call: Call, event: CallEvent) -> bool:
    """The same for a call's progress (`StatusCallback`), numbered in the call's sequence."""
    if call.status_callback is None or event not in call.status_callback.events:
        return False
    sequence = await tx.count_callbacks(call.sid)
    owed = status_callback(call, event, sequence, deps.clock(), deps.me.id)
    if owed is None:
        return False
    await tx.insert_callback(owed)
    return True
