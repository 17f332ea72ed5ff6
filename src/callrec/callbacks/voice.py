"""What Twilio's voice webhooks say about a call (CONTRACT.md §12.1, §12.5; pure): the
parameters of every TwiML request, and the call status callbacks decided when the call moves."""

from __future__ import annotations

from callrec.dates import rfc2822
from callrec.domain.model import Call, CallEvent, CallStatus, Micros
from callrec.storage.base import OutboxEntry

_PLACES = ("City", "Country", "State", "Zip")
#: `CallStatus` of each event's callback; `completed` says how the call ended.
_SENT_AS = {
    CallEvent.INITIATED: "initiated",
    CallEvent.RINGING: "ringing",
    CallEvent.ANSWERED: "in-progress",
}
#: The SIP answer Twilio reports for a call that ended so (`SipResponseCode`).
_SIP_RESPONSE = {
    CallStatus.COMPLETED: "200",
    CallStatus.BUSY: "486",
    CallStatus.NO_ANSWER: "487",
    CallStatus.CANCELED: "487",
    CallStatus.FAILED: "404",
}


def call_parameters(call: Call, status: CallStatus | str) -> list[tuple[str, str]]:
    """What every voice request of Twilio's carries about the call; the geography of a phone
    number is sent empty, as Twilio sends what it does not know."""
    params = [
        ("AccountSid", call.account_sid),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call.sid),
        ("CallStatus", str(status)),
        ("Called", call.to),
        ("Caller", call.from_),
        ("Direction", call.direction.value),
        ("From", call.from_),
        ("To", call.to),
    ]
    if call.parent_call_sid is not None:  # a <Dial>'s child call
        params.append(("ParentCallSid", call.parent_call_sid))
    for party, number in (("Called", call.to), ("Caller", call.from_), ("From", call.from_),
                          ("To", call.to)):  # fmt: skip
        if number.startswith("+"):
            params.extend((f"{party}{place}", "") for place in _PLACES)
    return params


def status_callback(
    call: Call, event: CallEvent, sequence: int, now: Micros, sender: int | None
) -> OutboxEntry | None:
    """The call status callback `event` owes the app, if it asked for it; `sequence`: how many
    the call has had before (its `SequenceNumber`)."""
    asked = call.status_callback
    if asked is None or event not in asked.events:
        return None
    params = call_parameters(call, _SENT_AS.get(event, call.status.value))
    params += [
        ("Timestamp", rfc2822(now) or ""),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", str(sequence)),
    ]
    if event is CallEvent.COMPLETED:
        seconds = call.duration_seconds or 0
        params += [
            ("CallDuration", str(seconds)),
            ("Duration", str(-(-seconds // 60))),  # billed minutes, rounded up
            ("SipResponseCode", _SIP_RESPONSE.get(call.status, "200")),
        ]
    return OutboxEntry.due(
        call.account_sid, call.sid, event.value, asked.method, asked.url, tuple(params), now,
        sender,
    )  # fmt: skip
