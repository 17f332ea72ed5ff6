"""Twilio JSON for calls and recordings (CONTRACT.md §3, §5), and the HTTP responses carrying it.

Enum members go into the JSON as they are: they are `StrEnum`s, which orjson writes as their
value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from callrec.callbacks.outbox import encryption_details
from callrec.dates import iso8601, rfc2822
from callrec.domain.model import (
    Call,
    PhoneNumber,
    Recording,
    RecordingEvent,
)

API_VERSION = "2010-04-01"
ROOT = f"/{API_VERSION}/Accounts"


class JsonResponse:
    """A JSON answer as two ASGI messages. Starlette's Response does the same with general
    header machinery this hot path does not need."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.body = orjson.dumps(content)
        self.status_code = status_code
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]
        if self.headers:
            raw += [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
            ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(content, status, headers)


def call_uri(call: Call) -> str:
    return f"{ROOT}/{call.account_sid}/Calls/{call.sid}.json"


def call(call: Call) -> dict[str, Any]:
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "phone_number_sid": None,
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration_seconds is None else str(call.duration_seconds),
        "price": None,
        "price_unit": "USD",
        "direction": call.direction.value,
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": call_uri(call),
        "subresource_uris": {
            "recordings": f"{ROOT}/{call.account_sid}/Calls/{call.sid}/Recordings.json",
        },
    }


def phone_number(number: PhoneNumber) -> dict[str, Any]:
    """IncomingPhoneNumber (CONTRACT.md §13): what the app set, and what callrec's numbers are
    (local, in use, voice and messaging capable, no emergency registration)."""
    return {
        **asdict(number.settings),
        "sid": number.sid,
        "account_sid": number.account_sid,
        "phone_number": number.phone_number,
        "friendly_name": number.friendly_name,
        "date_created": rfc2822(number.created_at),
        "date_updated": rfc2822(number.updated_at),
        "address_requirements": "none",
        "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "origin": "twilio",
        "emergency_address_status": "unregistered",
        "status": "in-use",
        "type": "local",
        "uri": f"{ROOT}/{number.account_sid}/IncomingPhoneNumbers/{number.sid}.json",
    }


def _recording_common(recording: Recording) -> dict[str, Any]:
    return {
        "account_sid": recording.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(recording.created_at),
        "date_updated": rfc2822(recording.updated_at),
        "start_time": rfc2822(recording.start_time),
        "duration": None if recording.duration is None else str(recording.duration),
        "sid": recording.sid,
        "price": None,
        "price_unit": None,
        "status": recording.status,
        "channels": recording.options.channel_count,
        "source": recording.source,
        "error_code": recording.error_code,
        "encryption_details": encryption_details(recording.encryption),
    }


def call_recording(recording: Recording) -> dict[str, Any]:
    """A recording as the call-level endpoints show it."""
    body = _recording_common(recording)
    body["track"] = recording.options.track
    body["uri"] = (
        f"{ROOT}/{recording.account_sid}/Calls/{recording.call_sid}/Recordings/{recording.sid}.json"
    )
    return body


def account_recording(recording: Recording, base_url: str) -> dict[str, Any]:
    """A recording as the account-level endpoints show it: `media_url`, `subresource_uris`, and
    `deleted` as its status once soft-deleted."""
    body = _recording_common(recording)
    if recording.is_deleted:
        body["status"] = "deleted"
    path = f"{ROOT}/{recording.account_sid}/Recordings/{recording.sid}"
    body["uri"] = f"{path}.json"
    body["media_url"] = f"{base_url}{path}"
    body["subresource_uris"] = {
        "add_on_results": f"{path}/AddOnResults.json",
        "transcriptions": f"{path}/Transcriptions.json",
    }
    return body


def event(event: RecordingEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": iso8601(event.at),
        "date": rfc2822(event.at),
        "actor": event.actor,
        "pause_behavior": event.pause_behavior,
        # Where in the call's audio it took effect (ms since the call was answered).
        "media_at_ms": None if event.media_at is None else event.media_at // 1000,
        # Why, for what callrec records by itself: a gap in the audio (`interrupted`) and its
        # end (`restored`).
        "detail": event.detail,
    }
