"""<Dial>: a child call to each number at once, the first to answer bridged to the parent until
one of them hangs up (or `timeLimit`), the parent recorded meanwhile if `record` says so
(CONTRACT.md §12.3). The recording belongs to the parent, so `Twilio.CURRENT` on the parent finds
it. Child calls are emulated calls: they ring and answer as their number says (domain/callee.py),
and their far end hangs up through the same extension as any call's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from callrec.background import BackgroundTasks
from callrec.domain.errors import DomainError
from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    CallStatus,
    PauseBehavior,
    RecordingSource,
    RecordingStatus,
)
from callrec.service.calls import CallService
from callrec.service.deps import Deps
from callrec.service.recordings import RecordingService
from callrec.twiml.verbs import Dial

#: How often a <Dial> looks at its child calls when no change of theirs is announced here
#: (service/call_changes.py: a change made by another process is not).
RECHECK_SECONDS = 1.0
Params = Sequence[tuple[str, str]]
RecordingParams = Callable[[Call, str], Awaitable[Params]]


class Dialer:
    def __init__(
        self,
        deps: Deps,
        calls: CallService,
        recordings: RecordingService,
        recorded: RecordingParams,
        tasks: BackgroundTasks,
    ) -> None:
        self._deps = deps
        self._calls = calls
        self._recordings = recordings
        self._recorded = recorded
        self._tasks = tasks

    async def dial(self, call: Call, verb: Dial, resumed: bool) -> Params:
        """Dial, bridge, wait for the end; the parameters of the action request. `resumed`: a
        flow taken over goes on with a child that is still bridged rather than dial again."""
        children: list[Call] = []
        bridged = await self._bridged_child(call) if resumed else None
        recording: str | None = None
        try:
            if bridged is None:
                from_ = verb.caller_id or call.from_
                timeout = verb.timeout * MICROS_PER_SECOND
                for number, reports in zip(verb.numbers, verb.reports, strict=True):
                    child = await self._calls.dial(call, number, from_, timeout, reports)
                    children.append(child)
                if verb.record.startswith("record-from-ringing"):
                    recording = await self._record(call, verb)
                bridged, ended = await self._first_to_answer(children)
                if bridged is None:
                    await self._stop(call, recording)
                    return _unanswered(ended)
            if verb.record != "do-not-record" and recording is None:
                recording = await self._record(call, verb)
            await self._until_ended(bridged, verb.time_limit)
        except asyncio.CancelledError:  # the parent ended (or was redirected): so do the children
            for child in [*children, *([bridged] if bridged else [])]:
                self._tasks.spawn(self._hang_up(child))
            raise
        await self._stop(call, recording)
        final = await self._current(bridged)
        params = [
            ("DialCallStatus", "completed"),
            ("DialCallSid", bridged.sid),
            ("DialCallDuration", str(final.duration_seconds or 0)),
            ("DialBridged", "true"),
        ]
        if recording is not None:
            about = await self._recorded(call, recording)
            params += [(name, value) for name, value in about if name != "Digits"]
        return params

    async def _bridged_child(self, call: Call) -> Call | None:
        children = await self._calls.children(call.sid, call.account_sid)
        return next((c for c in children if c.status is CallStatus.IN_PROGRESS), None)

    async def _first_to_answer(self, children: list[Call]) -> tuple[Call | None, list[Call]]:
        """The child that answered first (the others are hung up), or None and how each ended."""
        while True:
            now = [await self._current(child) for child in children]
            answered = next((c for c in now if c.status is CallStatus.IN_PROGRESS), None)
            if answered is not None:
                for other in now:
                    if other is not answered and not other.status.is_ended:
                        await self._hang_up(other)
                return answered, []
            if all(c.status.is_ended for c in now):
                return None, now
            await self._deps.call_changes.wait([c.sid for c in children], RECHECK_SECONDS)

    async def _current(self, call: Call) -> Call:
        return await self._deps.store.read(lambda tx: tx.call(call.sid)) or call

    async def _until_ended(self, child: Call, time_limit: int) -> None:
        deadline = time.monotonic() + time_limit
        while (left := deadline - time.monotonic()) > 0:
            if (await self._current(child)).status.is_ended:
                return
            await self._deps.call_changes.wait([child.sid], min(left, RECHECK_SECONDS))
        await self._hang_up(child)

    async def _record(self, call: Call, verb: Dial) -> str:
        recording = await self._recordings.start(
            call.account_sid, call.sid, verb.options, None, RecordingSource.DIAL_VERB
        )
        return recording.sid

    async def _stop(self, call: Call, recording: str | None) -> None:
        if recording is None:
            return
        with contextlib.suppress(DomainError):  # stopped already (by REST, say)
            await self._recordings.update(
                call.account_sid, call.sid, recording, RecordingStatus.STOPPED,
                PauseBehavior.SILENCE, None,
            )  # fmt: skip

    async def _hang_up(self, child: Call) -> None:
        with contextlib.suppress(DomainError):  # ended already
            await self._calls.update(child.account_sid, child.sid, CallStatus.COMPLETED, None)


def _unanswered(ended: list[Call]) -> Params:
    """No child answered: how the first one ended (`busy`, `no-answer`, `failed`, `canceled`)."""
    first = ended[0]
    return (
        ("DialCallStatus", first.status.value),
        ("DialCallSid", first.sid),
        ("DialCallDuration", "0"),
        ("DialBridged", "false"),
    )
