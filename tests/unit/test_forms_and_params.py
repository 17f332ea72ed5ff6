"""Strict form parsing and typed parameters."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec.api import forms, params
from callrec.api.errors import ApiError
from callrec.domain.model import CallbackEvent, Trim

field_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)


@given(st.lists(st.tuples(field_names, st.text(st.characters(codec="utf-8")))))
def test_round_trips_what_urlencode_makes(pairs: list[tuple[str, str]]) -> None:
    form = forms.parse(urlencode(pairs).encode())
    for name, _ in pairs:
        assert form.get_all(name) == [value for key, value in pairs if key == name]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"a=%zz", "percent"),
        (b"a=%4", "percent"),
        (b"a=%", "percent"),
        (b"a=%ff", "UTF-8"),
        ("a=é".encode(), "ASCII"),
        (b"&".join(b"f=1" for _ in range(forms.MAX_FIELDS + 1)), "fields"),
    ],
)
def test_malformed_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(ApiError) as raised:
        forms.parse(data)
    assert (raised.value.status, raised.value.code) == (400, 400)
    assert words in raised.value.message


def test_repeated_fields_and_plus_as_space() -> None:
    form = forms.parse(b"E=in-progress&E=completed&S=a+b&Empty=&&Bare")
    assert form.get_all("E") == ["in-progress", "completed"]
    assert form.get("S") == "a b"
    assert form.get("Empty") == ""
    assert form.get("Bare") == ""


def test_callback_events_repeated_or_space_separated() -> None:
    repeated = forms.parse(
        b"RecordingStatusCallbackEvent=absent&RecordingStatusCallbackEvent=completed"
    )
    spaced = forms.parse(b"RecordingStatusCallbackEvent=absent+completed+absent")
    for form in (repeated, spaced):
        options = params.recording_options(form, Trim.DO_NOT_TRIM)
        assert options.callback_events == (CallbackEvent.ABSENT, CallbackEvent.COMPLETED)
    assert params.recording_options(forms.parse(b""), Trim.TRIM_SILENCE).callback_events == (
        CallbackEvent.COMPLETED,
    )


def test_trim_default_depends_on_the_endpoint() -> None:
    empty = forms.parse(b"")
    assert params.recording_options(empty, Trim.TRIM_SILENCE).trim is Trim.TRIM_SILENCE
    assert params.recording_options(empty, Trim.DO_NOT_TRIM).trim is Trim.DO_NOT_TRIM


DAY = 86_400_000_000
JAN_2 = 1704153600_000_000  # 2024-01-02T00:00:00Z


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        (b"DateCreated=2024-01-02", JAN_2, JAN_2 + DAY),
        (b"DateCreated%3C=2024-01-02", None, JAN_2 + DAY),
        (b"DateCreated%3E=2024-01-02", JAN_2, None),
        (b"DateCreated%3E=2024-01-02T00%3A00%3A05Z", JAN_2 + 5_000_000, None),
        (b"DateCreated%3C=2024-01-02T00:00:05Z", None, JAN_2 + 6_000_000),
        (b"DateCreated%3E=2024-01-01&DateCreated%3C=2024-01-02", JAN_2 - DAY, JAN_2 + DAY),
        (b"", None, None),
    ],
)
def test_date_filters(query: bytes, start: int | None, end: int | None) -> None:
    span, echo = params.date_filter(forms.parse(query), "DateCreated")
    assert (span.start, span.end) == (start, end)
    assert len(echo) == query.count(b"DateCreated")
