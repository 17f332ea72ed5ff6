"""Sids and the clock: the two sources of non-determinism, passed in so tests can replace them;
and this process's own id in its deployment."""

from __future__ import annotations

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


def new_request_id() -> str:
    """An id for one HTTP request, shaped as Twilio's (`RQ…`)."""
    return "RQ" + secrets.token_hex(16)


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 lower-case hex digits (128 random bits)."""
    return prefix + secrets.token_hex(16)


def is_sid(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.fullmatch(text) is not None


@dataclass(slots=True)
class ProcessIdentity:
    """This server process's id in its deployment, assigned when it joins (0: not a server)."""

    id: int = 0
