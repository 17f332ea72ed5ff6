"""Twilio Media Streams messages (CONTRACT.md §11), parsed into typed values (pure).

    connected → start → media* (mark | dtmf)* → stop

Anything malformed raises `ProtocolError`; the connection is then closed, nothing recorded.

`media` messages, fifty a second a call, are decoded by msgspec into the three fields a frame
needs, the payload's base64 decoded on the way: the other keys are skipped, not built into
dicts and strings (0.9 against 1.9 to 2.5 µs a message: docs/ARCHITECTURE.md), and what they do not
need is not looked at. Whatever that does not take as a well-formed media message — another
event, or anything odd — is parsed again the general way (orjson), which says what is wrong:
where both take a message, they give one answer (tests/unit/test_stream_protocol.py).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import orjson

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack
from callrec.ids import ACCOUNT_SID, CALL_SID, is_sid

MULAW_RATE = 8_000
MAX_PAYLOAD_BYTES = 16_000  # 2 s of μ-law: far beyond a 20 ms frame


class ProtocolError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Start:
    account_sid: str
    call_sid: str
    stream_sid: str
    tracks: tuple[RecordingTrack, ...]
    rate: int


class Media(NamedTuple):
    """A NamedTuple, not a dataclass: fifty of these a second per call, cheap to make."""

    track: RecordingTrack
    offset: Micros  # since the stream began
    payload: bytes  # μ-law


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Other:
    """connected, mark, dtmf, and whatever Twilio adds later: nothing to record."""

    event: str


Message = Start | Media | Stop | Other
_TRACKS = {"inbound": RecordingTrack.INBOUND, "outbound": RecordingTrack.OUTBOUND}
_MICROS_PER_MS = MICROS_PER_SECOND // 1000
_a2b_base64 = binascii.a2b_base64
_new_media = tuple.__new__  # a NamedTuple made without its generated __new__'s call


class _MediaBody(msgspec.Struct):
    payload: bytes  # base64 in the message, decoded (strictly: no whitespace, no junk)
    timestamp: str | int
    track: str = "inbound"


class _Event(msgspec.Struct):
    event: str
    media: _MediaBody | None = None


_decode_event = msgspec.json.Decoder(_Event).decode


def parse(text: str | bytes | memoryview) -> Message:
    try:
        quick = _decode_event(text)
    except msgspec.DecodeError:  # not a media message as Twilio sends it: the general way says
        return parse_fully(text)
    media = quick.media
    if quick.event == "media" and media is not None:
        track = _TRACKS.get(media.track)
        timestamp = media.timestamp
        # Twilio sends a string of decimal digits
        digits = timestamp.isdecimal() if isinstance(timestamp, str) else timestamp >= 0
        if track is not None and digits and len(media.payload) <= MAX_PAYLOAD_BYTES:
            offset = int(timestamp) * _MICROS_PER_MS
            return _new_media(Media, (track, offset, media.payload))
    return parse_fully(text)


def parse_fully(text: str | bytes | memoryview) -> Message:
    """Any message, the general way (orjson, then each field looked at)."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("not JSON") from None
    if type(message) is not dict:
        raise ProtocolError("not a JSON object")
    event = message.get("event")
    if event == "media":  # fifty a second per call: inline, one try, errors sorted out after
        media: Any = message.get("media")  # checked by what is done with it
        try:
            track = _TRACKS[media.get("track", "inbound")]
            offset = int(media["timestamp"]) * _MICROS_PER_MS
            payload = _a2b_base64(media["payload"], strict_mode=True)
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error):
            raise _media_error(media) from None
        if offset < 0 or len(payload) > MAX_PAYLOAD_BYTES:
            raise ProtocolError("bad media message")
        return _new_media(Media, (track, offset, payload))
    if event == "start":
        return _start(_object(message, "start"))
    if event == "stop":
        return Stop()
    if isinstance(event, str):
        return Other(event)
    raise ProtocolError("no event")


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' is missing")
    return value


def _media_error(media: object) -> ProtocolError:
    if not isinstance(media, dict):
        return ProtocolError("'media' is missing")
    name = media.get("track", "inbound")
    if not isinstance(name, str) or name not in _TRACKS:
        return ProtocolError("unknown track")
    return ProtocolError("bad media message")


def _start(start: dict[str, Any]) -> Start:
    account_sid, call_sid = start.get("accountSid"), start.get("callSid")
    if not isinstance(account_sid, str) or not is_sid(ACCOUNT_SID, account_sid):
        raise ProtocolError("bad accountSid")
    if not isinstance(call_sid, str) or not is_sid(CALL_SID, call_sid):
        raise ProtocolError("bad callSid")
    media_format = start.get("mediaFormat") or {}
    if not isinstance(media_format, dict):
        raise ProtocolError("bad mediaFormat")
    encoding = media_format.get("encoding", "audio/x-mulaw")
    rate = media_format.get("sampleRate", MULAW_RATE)
    if encoding != "audio/x-mulaw" or rate != MULAW_RATE:
        raise ProtocolError("only audio/x-mulaw at 8000 Hz is spoken on this protocol")
    names = start.get("tracks") or ["inbound"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n in _TRACKS for n in names):
        raise ProtocolError("bad tracks")
    return Start(
        account_sid,
        call_sid,
        str(start.get("streamSid", "")),
        tuple(_TRACKS[name] for name in names),
        MULAW_RATE,
    )
