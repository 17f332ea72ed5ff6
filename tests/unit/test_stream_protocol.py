"""Twilio Media Streams messages: well-formed ones parse to what they say; anything else, however
odd its JSON, is a ProtocolError (the stream is then refused), never another exception."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrec.domain.model import RecordingTrack
from callrec.media.stream_protocol import (
    Media,
    Other,
    ProtocolError,
    Start,
    Stop,
    parse,
    parse_fully,
)

ACCOUNT, CALL = "AC" + "1" * 32, "CA" + "2" * 32
KEYS = ["event", "media", "start", "stop", "track", "payload", "timestamp", "callSid",
        "accountSid", "streamSid", "mediaFormat", "encoding", "sampleRate", "tracks"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "media", "start", "stop", "inbound", "outbound", "AAAA", "!", ACCOUNT,
                       CALL, "audio/x-mulaw"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=12,
)  # fmt: skip


bodies = st.dictionaries(st.sampled_from(KEYS), json_values) | json_values
messages = st.fixed_dictionaries(
    {"event": st.sampled_from(["media", "start", "stop", "mark"]) | json_values},
    optional={"media": bodies, "start": bodies, "streamSid": json_values},
)


@settings(max_examples=500)
@given(message=messages)
def test_any_json_parses_or_is_a_protocol_error(message: dict[str, Any]) -> None:
    with contextlib.suppress(ProtocolError):
        parse(json.dumps(message))


@pytest.mark.parametrize("text", ["", "{", "[]", '"media"', '{"event": 5}', '{"event": "media"}'])
def test_malformed_messages_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse(text)


def test_well_formed_messages() -> None:
    payload = base64.b64encode(bytes(160)).decode()
    media = {
        "event": "media",
        "media": {"track": "outbound", "timestamp": "40", "payload": payload},
    }
    assert parse(json.dumps(media)) == Media(RecordingTrack.OUTBOUND, 40_000, bytes(160))
    start = {
        "event": "start",
        "start": {"accountSid": ACCOUNT, "callSid": CALL, "streamSid": "MZ1",
                  "tracks": ["inbound", "outbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}},
    }  # fmt: skip
    tracks = (RecordingTrack.INBOUND, RecordingTrack.OUTBOUND)
    assert parse(json.dumps(start)) == Start(ACCOUNT, CALL, "MZ1", tracks, 8000)
    assert parse('{"event": "stop"}') == Stop()
    assert parse('{"event": "mark"}') == Other("mark")


#: Payloads near base64's edges: padding, whitespace, URL-safe and stray characters.
payloads = st.text(alphabet="AB/+=_- \n\\u" + "Qw8", max_size=10) | st.builds(
    lambda data: base64.b64encode(data).decode(), st.binary(max_size=24)
)
media_messages = st.fixed_dictionaries(
    {
        "event": st.just("media"),
        "media": st.fixed_dictionaries(
            {"payload": payloads | json_values},
            optional={
                "timestamp": st.integers(-5, 10**12)
                | st.sampled_from(["40", "007", "", " 1", "+1", "1_0", "-1", "²", "٣", "1.5"])
                | json_values,
                "track": st.sampled_from(["inbound", "outbound", "both", "Inbound"]) | json_values,
                "chunk": json_values,
            },
        ),
    },
    optional={"sequenceNumber": json_values, "streamSid": json_values},
)


@settings(max_examples=1000)
@given(message=media_messages)
def test_the_quick_way_and_the_general_way_give_one_answer(message: dict[str, Any]) -> None:
    """A media message is decoded by msgspec, and by orjson when msgspec will not: either way,
    one answer — the same Media, or a ProtocolError from both."""
    text = json.dumps(message)
    try:
        expected: Media | Start | Stop | Other | None = parse_fully(text)
    except ProtocolError:
        expected = None
    try:
        got: Media | Start | Stop | Other | None = parse(text)
    except ProtocolError:
        got = None
    assert got == expected
