"""Dates as Twilio writes them: RFC 2822, always UTC, always `+0000` (the SDK drops offsets)."""

from __future__ import annotations

import time
from functools import lru_cache

from callrec.domain.model import MICROS_PER_SECOND, Micros

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(at: Micros | None) -> str | None:
    """`Fri, 14 Oct 2016 21:56:34 +0000`, or None for None."""
    if at is None:
        return None
    return _rfc2822_second(at // MICROS_PER_SECOND)


@lru_cache(maxsize=4096)  # answers in one burst share a handful of seconds
def _rfc2822_second(second: int) -> str:
    t = time.gmtime(second)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year}"
        f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def iso8601(at: Micros) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at // MICROS_PER_SECOND)) + (
        f".{at % MICROS_PER_SECOND:06d}Z"
    )


def iso8601_seconds(at: Micros) -> str:
    """ISO 8601 to the second, as Twilio's v1 APIs write dates (and the SDK parses them)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at // MICROS_PER_SECOND))
