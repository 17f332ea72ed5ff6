"""How the far end of an emulated call answers, chosen by the number called (pure): a test picks
the outcome it needs by dialling it (docs/COMPATIBILITY.md, "Callees"). The numbers sit in the
`+1 500 555` range Twilio keeps for tests, beside (not on) Twilio's own magic numbers."""

from __future__ import annotations

from dataclasses import dataclass

from callrec.domain.model import MICROS_PER_SECOND, CallStatus, Micros

BUSY = "+15005550201"
NO_ANSWER = "+15005550202"  # rings until the call's Timeout
FAILED = "+15005550203"
#: Followed by two digits: answers after that many seconds (`+15005550307`: after 7 s).
ANSWERS_AFTER = "+150055503"
_ENDINGS = {BUSY: CallStatus.BUSY, NO_ANSWER: CallStatus.NO_ANSWER, FAILED: CallStatus.FAILED}


@dataclass(frozen=True, slots=True)
class Callee:
    #: What answering comes to: in-progress (picked up), busy, no-answer or failed.
    outcome: CallStatus
    #: How long it rings before it picks up (None: the server's answer delay).
    rings_for: Micros | None = None


def callee(number: str) -> Callee:
    if number in _ENDINGS:
        return Callee(_ENDINGS[number])
    seconds = number.removeprefix(ANSWERS_AFTER)
    if seconds != number and len(seconds) == 2 and seconds.isdigit():
        return Callee(CallStatus.IN_PROGRESS, int(seconds) * MICROS_PER_SECOND)
    return Callee(CallStatus.IN_PROGRESS)


def ringing_ends_at(number: str, now: Micros, answer_delay: Micros, timeout: Micros) -> Micros:
    """When a call to `number` placed at `now` stops ringing: it is answered, refused, or it
    gives up after `timeout` (CreateCall's `Timeout`)."""
    found = callee(number)
    if found.outcome is CallStatus.NO_ANSWER:
        return now + timeout
    rings = answer_delay if found.rings_for is None else found.rings_for
    return now + min(rings, timeout)
