"""Call lifecycle of an emulated call: queued → ringing → in-progress → completed (or canceled).

Calls created through the REST API have no far end; they ring and answer by themselves after a
configurable delay, so that an app's recording flow can run against callrec unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from callrec.domain.errors import CallNotInProgress, InvalidParameter
from callrec.domain.model import Call, CallStatus, Micros, RecordingOptions


def create(
    sid: str,
    account_sid: str,
    to: str,
    from_: str,
    now: Micros,
    answer_delay: Micros,
    record: bool,
    recording_options: RecordingOptions,
) -> Call:
    return Call(
        sid=sid,
        account_sid=account_sid,
        to=to,
        from_=from_,
        status=CallStatus.QUEUED,
        created_at=now,
        updated_at=now,
        answer_at=now + answer_delay,
        record=record,
        recording_options=recording_options,
    )


def ring(call: Call, now: Micros) -> Call:
    if call.status is not CallStatus.QUEUED:
        return call
    return replace(call, status=CallStatus.RINGING, updated_at=now)


def answer(call: Call, now: Micros) -> Call:
    """The far end picks up; a call that was canceled meanwhile stays canceled."""
    if call.status not in (CallStatus.QUEUED, CallStatus.RINGING):
        return call
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


def check_redirectable(call: Call) -> None:
    """`Url` or `Twiml` on a call that has ended is refused, as at Twilio (21220)."""
    if call.status.is_ended:
        raise CallNotInProgress()
