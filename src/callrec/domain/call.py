"""Call lifecycle of an emulated call: queued → ringing → in-progress → completed (or canceled),
or queued → ringing → busy | no-answer | failed, as its callee answers.

Calls created through the REST API have no far end; they ring and answer by themselves after a
configurable delay, so that an app's recording flow can run against callrec unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from callrec.domain.callee import callee, ringing_ends_at
from callrec.domain.errors import CallNotInProgress, InvalidParameter
from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    CallCallbacks,
    CallDirection,
    CallFlow,
    CallStatus,
    Micros,
    PhoneNumber,
    RecordingOptions,
)

#: How long a call rings before it is `no-answer`, unless CreateCall's `Timeout` says (60 s).
DEFAULT_TIMEOUT = 60 * MICROS_PER_SECOND


def create(
    sid: str,
    account_sid: str,
    to: str,
    from_: str,
    now: Micros,
    answer_delay: Micros,
    record: bool,
    recording_options: RecordingOptions,
    flow: CallFlow | None = None,
    timeout: Micros = DEFAULT_TIMEOUT,
    status_callback: CallCallbacks | None = None,
) -> Call:
    """A call placed now; it rings until the callee its number names answers, refuses, or
    `timeout` (CreateCall's `Timeout`) passes (domain/callee.py)."""
    return Call(
        sid=sid,
        account_sid=account_sid,
        to=to,
        from_=from_,
        status=CallStatus.QUEUED,
        created_at=now,
        updated_at=now,
        answer_at=ringing_ends_at(to, now, answer_delay, timeout),
        record=record,
        recording_options=recording_options,
        flow=flow,
        status_callback=status_callback,
    )


def arrive(
    sid: str,
    number: PhoneNumber,
    from_: str,
    now: Micros,
    flow: CallFlow,
    status_callback: CallCallbacks | None,
) -> Call:
    """An inbound call to one of the account's numbers: ringing until its TwiML answers it (or
    rejects it)."""
    return Call(
        sid=sid,
        account_sid=number.account_sid,
        to=number.phone_number,
        from_=from_,
        status=CallStatus.RINGING,
        created_at=now,
        updated_at=now,
        answer_at=now,
        flow=flow,
        status_callback=status_callback,
        direction=CallDirection.INBOUND,
    )


def refuse(call: Call, target: CallStatus, now: Micros) -> Call:
    """<Reject> before the call is answered: it ends `busy` or `no-answer`."""
    if call.status not in (CallStatus.QUEUED, CallStatus.RINGING):
        return call
    return replace(call, status=target, end_time=now, updated_at=now)


def ring(call: Call, now: Micros) -> Call:
    if call.status is not CallStatus.QUEUED:
        return call
    return replace(call, status=CallStatus.RINGING, updated_at=now)


def answer(call: Call, now: Micros) -> Call:
    """The ringing ends: the callee picks up, or the call ends busy, failed or unanswered; a
    call that was canceled meanwhile stays canceled."""
    if call.status not in (CallStatus.QUEUED, CallStatus.RINGING):
        return call
    found = callee(call.to)
    outcome = found.outcome
    if found.rings_for is not None and call.answer_at - call.created_at < found.rings_for:
        outcome = CallStatus.NO_ANSWER  # the call's Timeout came first
    if outcome is not CallStatus.IN_PROGRESS:
        return replace(call, status=outcome, end_time=now, updated_at=now)
    return replace(call, status=CallStatus.IN_PROGRESS, start_time=now, updated_at=now)


def end(call: Call, target: CallStatus, now: Micros) -> Call:
    """UpdateCall with `Status`: `completed` hangs up (a call not yet answered is canceled);
    `canceled` cancels a call not yet answered and leaves an answered one alone."""
    if target not in (CallStatus.COMPLETED, CallStatus.CANCELED):
        raise InvalidParameter(
            "Status", f"Status must be 'completed' or 'canceled', not '{target}'"
        )
    if call.status.is_ended:
        raise CallNotInProgress()
    if call.status is CallStatus.IN_PROGRESS:
        if target is CallStatus.CANCELED:
            return call
        return replace(call, status=CallStatus.COMPLETED, end_time=now, updated_at=now)
    return replace(call, status=CallStatus.CANCELED, end_time=now, updated_at=now)


def redirect(call: Call, flow: CallFlow, now: Micros) -> Call:
    """UpdateCall with `Url` or `Twiml`: the call runs `flow` from now on (once answered, if it
    is not yet). A call that has ended is refused, as at Twilio (21220)."""
    if call.status.is_ended:
        raise CallNotInProgress()
    return replace(call, flow=flow, updated_at=now)
