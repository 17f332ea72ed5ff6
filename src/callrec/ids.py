"""Sids and the clock: the two sources of non-determinism, passed in so tests can replace them;
and this process's own id in its deployment."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from callrec.domain.model import Micros

Clock = Callable[[], Micros]
SidFactory = Callable[[str], str]

ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
API_KEY_SID = re.compile(r"SK[0-9a-f]{32}")
PUBLIC_KEY_SID = re.compile(r"CR[0-9a-f]{32}")


def system_clock() -> Micros:
    return time.time_ns() // 1000


#: Request ids: unique, not secret. A random prefix for the process, then a counter: a system
#: call for random bytes on every request was measurable on UpdateCallRecording.
_REQUEST_PREFIX = "RQ" + secrets.token_hex(8)
_requests = itertools.count(secrets.randbelow(2**32))


def new_request_id() -> str:
    """An id for one HTTP request, shaped as Twilio's (`RQ` and 32 hex digits)."""
    return f"{_REQUEST_PREFIX}{next(_requests) % 2**64:016x}"


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 lower-case hex digits (128 random bits)."""
    return prefix + secrets.token_hex(16)


def is_sid(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.fullmatch(text) is not None


@dataclass(slots=True)
class ProcessIdentity:
    """This server process's id in its deployment, assigned when it joins (0: not a server)."""

    id: int = 0
