"""Typed request parameters: enums, booleans, sids, recording options and date filters.

Each parser raises a 400 naming the parameter; nothing malformed reaches the service.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import TypeVar
from urllib.parse import urlsplit

from callrec.api.errors import ApiError, invalid
from callrec.api.forms import Form
from callrec.domain.model import (
    MICROS_PER_SECOND,
    CallbackEvent,
    CallbackMethod,
    CallCallbacks,
    CallEvent,
    Micros,
    RecordingChannels,
    RecordingOptions,
    RecordingTrack,
    Trim,
)
from callrec.storage.base import TimeRange

E = TypeVar("E", bound=StrEnum)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
MAX_URL_LENGTH = 4096


def choice(form: Form, name: str, kind: type[E], default: E) -> E:
    value = optional_choice(form, name, kind)
    return default if value is None else value


def optional_choice(form: Form, name: str, kind: type[E]) -> E | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    member: E | None = _members(kind).get(value)
    if member is None:
        allowed = ", ".join(f"'{member.value}'" for member in kind)
        raise invalid(name, f"{name} must be one of {allowed}, not '{value}'")
    return member


@cache
def _members(kind: type[E]) -> dict[str, E]:
    """An enum's members by value: a dict lookup costs a third of calling the enum class."""
    return {member.value: member for member in kind}


def boolean(form: Form, name: str, default: bool = False) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise invalid(name, f"{name} must be 'true' or 'false', not '{value}'")


def required(form: Form, name: str) -> str:
    value = form.get(name)
    if value is None or value.strip() == "":
        raise invalid(name, f"Required parameter {name} missing")
    return value


def url(form: Form, name: str) -> str | None:
    """An absolute http(s) URL. Its fragment is kept: it carries Twilio's connection overrides."""
    value = form.get(name)
    if value is None or value == "":
        return None
    problem = invalid(name, f"{name} must be an absolute http or https URL, not '{value}'")
    if len(value) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in value):
        raise problem
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port out of range
    except ValueError:  # a broken IPv6 host, a bad port
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem
    return value


def recording_options(form: Form, trim_default: Trim) -> RecordingOptions:
    """The recording fields shared by CreateCallRecording and CreateCall (CONTRACT.md §2)."""
    return RecordingOptions(
        channels=choice(form, "RecordingChannels", RecordingChannels, RecordingChannels.MONO),
        track=choice(form, "RecordingTrack", RecordingTrack, RecordingTrack.BOTH),
        trim=choice(form, "Trim", Trim, trim_default),
        callback_url=url(form, "RecordingStatusCallback"),
        callback_method=http_method(form, "RecordingStatusCallbackMethod"),
        callback_events=events(
            form, "RecordingStatusCallbackEvent", CallbackEvent, CallbackEvent.COMPLETED
        ),
    )


def integer(form: Form, name: str, default: int, lowest: int, highest: int) -> int:
    """A whole number within [lowest, highest]; `default` when absent or empty."""
    value = form.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not lowest <= int(value) <= highest:
        raise invalid(name, f"{name} must be a whole number from {lowest} to {highest}")
    return int(value)


def http_method(form: Form, name: str) -> CallbackMethod:
    """`Method`, `FallbackMethod`, `RecordingStatusCallbackMethod`…: GET or POST (the default),
    in any case."""
    value = form.get(name)
    if value is None or value == "":
        return CallbackMethod.POST
    try:
        return CallbackMethod(value.upper())
    except ValueError:
        raise invalid(name, f"{name} must be 'GET' or 'POST', not '{value}'") from None


def events(form: Form, name: str, kind: type[E], default: E) -> tuple[E, ...]:
    """Repeated fields (the SDKs) or one space-separated value (curl users): both accepted."""
    names = [each for value in form.get_all(name) for each in value.split()]
    if not names:
        return (default,)
    found: list[E] = []
    for each in names:
        try:
            event = kind(each)
        except ValueError:
            allowed = ", ".join(f"'{e.value}'" for e in kind)
            raise invalid(name, f"{name} must be among {allowed}, not '{each}'") from None
        if event not in found:
            found.append(event)
    return tuple(found)


def call_callbacks(form: Form) -> CallCallbacks | None:
    """CreateCall's `StatusCallback`, `StatusCallbackMethod`, `StatusCallbackEvent`."""
    where = url(form, "StatusCallback")
    method = http_method(form, "StatusCallbackMethod")
    asked = events(form, "StatusCallbackEvent", CallEvent, CallEvent.COMPLETED)
    return None if where is None else CallCallbacks(where, method, asked)


def date_filter(form: Form, name: str) -> tuple[TimeRange, list[tuple[str, str]]]:
    """`Name`, `Name<` (on or before) and `Name>` (on or after), each a day (`YYYY-MM-DD`) or an
    instant (`YYYY-MM-DDTHH:MM:SSZ`). Returns the range and the filters to echo in page URIs."""
    start: Micros | None = None
    end: Micros | None = None
    echo: list[tuple[str, str]] = []
    for key, side in ((name, "="), (f"{name}<", "<"), (f"{name}>", ">")):
        value = form.get(key)
        if value is None or value == "":
            continue
        first, after_last = _span(key, value)
        echo.append((key, value))
        if side in ("=", ">"):
            start = first if start is None else max(start, first)
        if side in ("=", "<"):
            end = after_last if end is None else min(end, after_last)
    return TimeRange(start, end), echo


def _span(key: str, value: str) -> tuple[Micros, Micros]:
    """The instants a day or a second covers, as [first, after_last)."""
    try:
        if _DAY.fullmatch(value):
            day = date.fromisoformat(value)
            first = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return _micros(first), _micros(first + timedelta(days=1))
        if _INSTANT.fullmatch(value):
            instant = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return _micros(instant), _micros(instant) + MICROS_PER_SECOND
    except ValueError:
        pass
    raise ApiError(
        400, 400, f"{key} must be a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '{value}'"
    )


def _micros(moment: datetime) -> Micros:
    return int(moment.timestamp()) * MICROS_PER_SECOND
