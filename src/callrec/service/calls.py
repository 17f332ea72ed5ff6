"""Use cases of the Calls resource."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from callrec.domain import call as calls
from callrec.domain import recording as recordings
from callrec.domain.call import DEFAULT_TIMEOUT
from callrec.domain.errors import NotFound, TransitionNotAllowed
from callrec.domain.model import (
    Call,
    CallbackEvent,
    CallCallbacks,
    CallDirection,
    CallEvent,
    CallFlow,
    CallStatus,
    Micros,
    PhoneNumber,
    RecordingOptions,
)
from callrec.service.custody import Elsewhere, ensure_here
from callrec.service.deps import Deps, locked_call, owned_call
from callrec.service.gates import GateDecisions
from callrec.service.lifecycle import Lifecycle
from callrec.service.outbox import enqueue, enqueue_call
from callrec.storage.base import CallFilter, Custody, PageRequest, Position, Tx


@dataclass(frozen=True, slots=True)
class NewCall:
    to: str
    from_: str
    record: bool
    recording_options: RecordingOptions
    flow: CallFlow | None = None
    #: How long it may ring before it is no-answer.
    timeout: Micros = DEFAULT_TIMEOUT
    status_callback: CallCallbacks | None = None


#: What a number without a voice URL answers with: nothing, so the call ends at once.
NOTHING_TO_RUN = "<Response/>"


class CallService:
    def __init__(self, deps: Deps, lifecycle: Lifecycle) -> None:
        self._deps = deps
        self._lifecycle = lifecycle

    async def create(self, account_sid: str, request: NewCall) -> Call:
        call = calls.create(
            self._deps.new_sid("CA"),
            account_sid,
            request.to,
            request.from_,
            self._deps.clock(),
            self._deps.settings.answer_delay,
            request.record,
            request.recording_options,
            request.flow,
            request.timeout,
            request.status_callback,
        )

        async def insert(tx: Tx) -> bool:
            await tx.insert_call(call, Custody(self._deps.me.id))
            return await enqueue_call(tx, self._deps, call, CallEvent.INITIATED)

        if await self._deps.store.write(insert):
            self._deps.wake_callbacks([call.sid])
        self._lifecycle.call_created(call.sid, call.created_at, call.answer_at)
        return call

    async def receive(self, number: PhoneNumber, from_: str) -> Call:
        """An inbound call to `number`: it rings, and runs the number's voice URL at once."""
        settings = number.settings
        flow = CallFlow(
            url=settings.voice_url,
            method=settings.voice_method,
            fallback_url=settings.voice_fallback_url,
            fallback_method=settings.voice_fallback_method,
            twiml=None if settings.voice_url else NOTHING_TO_RUN,
        )
        reports = None
        if settings.status_callback is not None:
            reports = CallCallbacks(settings.status_callback, settings.status_callback_method)
        now = self._deps.clock()
        call = calls.arrive(self._deps.new_sid("CA"), number, from_, now, flow, reports)

        async def insert(tx: Tx) -> None:
            await tx.insert_call(call, Custody(self._deps.me.id))

        await self._deps.store.write(insert)
        self._lifecycle.flows.arrived(call)
        return call

    async def dial(
        self,
        parent: Call,
        to: str,
        from_: str,
        rings_for: Micros,
        status_callback: CallCallbacks | None = None,
    ) -> Call:
        """A <Dial>'s child call: it rings at once (never queued, as at Twilio) and answers as
        its callee does (domain/callee.py), or gives up after `rings_for` (<Dial timeout>)."""
        placed = calls.create(
            self._deps.new_sid("CA"), parent.account_sid, to, from_, self._deps.clock(),
            self._deps.settings.answer_delay, False, RecordingOptions(), timeout=rings_for,
        )  # fmt: skip
        child = replace(
            placed,
            status=CallStatus.RINGING,
            direction=CallDirection.OUTBOUND_DIAL,
            parent_call_sid=parent.sid,
            status_callback=status_callback,
        )

        async def insert(tx: Tx) -> bool:
            await tx.insert_call(child, Custody(self._deps.me.id))
            initiated = await enqueue_call(tx, self._deps, child, CallEvent.INITIATED)
            ringing = await enqueue_call(tx, self._deps, child, CallEvent.RINGING)
            return initiated or ringing

        if await self._deps.store.write(insert):
            self._deps.wake_callbacks([child.sid])
        self._lifecycle.call_created(child.sid, child.created_at, child.answer_at)
        return child

    async def children(self, parent_sid: str, account_sid: str) -> list[Call]:
        """The calls a <Dial> of the parent made, oldest first."""
        where = CallFilter(account_sid=account_sid, parent_call_sid=parent_sid)
        rows = await self._deps.store.read(lambda tx: tx.list_calls(where, PageRequest(100)))
        return [call for _, call in reversed(rows)]

    async def refuse(self, call: Call, target: CallStatus) -> None:
        """End an inbound call its TwiML never answered: `busy` or `no-answer` (<Reject> came
        first), `failed` (its TwiML could not be had)."""

        async def refuse(tx: Tx) -> bool:
            found = await tx.lock_call(call.sid)
            if found is None:
                return False
            refused = calls.refuse(found[0], target, self._deps.clock())
            if refused is found[0]:
                return False
            await tx.update_call(refused)
            return await enqueue_call(tx, self._deps, refused, CallEvent.COMPLETED)

        if await self._deps.store.write(refuse):
            self._deps.wake_callbacks([call.sid])
        self._deps.call_changes.changed(call.sid)
        self._lifecycle.call_ended(call.sid, [])

    async def fetch(self, account_sid: str, sid: str) -> Call:
        return await self._deps.store.read(lambda tx: owned_call(tx, account_sid, sid))

    async def find(self, where: CallFilter, page: PageRequest) -> list[tuple[Position, Call]]:
        return await self._deps.store.read(lambda tx: tx.list_calls(where, page))

    async def account_of(self, sid: str) -> str:
        """The account a call belongs to (NotFound: no such call). Whether the asker may see it
        is theirs to check (AccountService.may_act_on)."""
        call = await self._deps.store.read(lambda tx: tx.call(sid))
        if call is None:
            raise NotFound()
        return call.account_sid

    async def recording_counts(self, call_sids: list[str]) -> dict[str, int]:
        """How many recordings each call has (deleted ones not counted)."""
        return await self._deps.store.read(lambda tx: tx.count_recordings(call_sids))

    async def update(
        self, account_sid: str, sid: str, status: CallStatus | None, redirect: CallFlow | None
    ) -> Call:
        """End the call (`status`), or make it run other TwiML (`redirect`, on the process that
        runs its flow). `Status` wins when both are given."""

        gates = GateDecisions(self._deps)
        owed: list[str] = []

        async def update(tx: Tx) -> tuple[Call, list[str]]:
            owed.clear()  # a unit may run again (PostgreSQL retries a deadlock)
            call, custody = await locked_call(tx, account_sid, sid)
            ensure_here(call.status, custody.owner, self._deps.me)
            if status is None:
                assert redirect is not None
                redirected = calls.redirect(call, redirect, self._deps.clock())
                await tx.update_call(redirected)
                return redirected, []
            now = self._deps.clock()
            ended = calls.end(call, status, now)
            if ended is call:
                return call, []
            await tx.update_call(ended)
            if await enqueue_call(tx, self._deps, ended, CallEvent.COMPLETED):
                owed.append(sid)
            stopped = []
            media_at = self._deps.media.position(sid, call.start_time, now)
            for recording in await tx.lock_live_recordings_of_call(sid):
                changed, events = recordings.stop_with_call(recording, now, media_at)
                if events:
                    gates.decide(changed, sid)
                    await tx.update_recording(changed)
                    await tx.append_events(events)
                    await tx.set_finalizer(changed.sid, self._deps.me.id)
                    if await enqueue(tx, self._deps, changed, CallbackEvent.STOPPED):
                        owed.append(changed.sid)
                    stopped.append(changed.sid)
            return ended, stopped

        call, stopped = await gates.write(update)
        self._deps.call_changes.changed(sid)
        if status is None and call.status is CallStatus.IN_PROGRESS:
            self._lifecycle.flows.answered(call)  # runs the new flow in place of the old
        if owed:
            self._deps.wake_callbacks(owed)
        for recording_sid in stopped:
            self._deps.media.finish(recording_sid)
        if call.status.is_ended:
            self._lifecycle.call_ended(sid, stopped)
        return call

    async def hang_up(self, sid: str) -> None:
        """End the call on callrec's own account (its stream stopped or never came back), if
        this process still runs it (another one that took it over decides for itself)."""
        call = await self._deps.store.read(lambda tx: tx.call(sid))
        if call is not None and call.status is CallStatus.IN_PROGRESS:
            with contextlib.suppress(Elsewhere):
                await self.update(call.account_sid, sid, CallStatus.COMPLETED, redirect=None)

    async def delete(self, account_sid: str, sid: str) -> None:
        """Delete the call's record; its recordings stay, at account level (our decision)."""

        async def delete(tx: Tx) -> None:
            call, _ = await locked_call(tx, account_sid, sid)
            if not call.status.is_ended:
                raise TransitionNotAllowed(f"The call is {call.status}; end it before deleting it")
            await tx.delete_call(sid)

        await self._deps.store.write(delete)
