"""Validates callrec's JSON answers against Twilio's official OpenAPI schemas (vendored in
tests/twilio/), plus the rules the SDK depends on that the schemas do not state."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

SPEC_DIR = Path(__file__).parent.parent / "twilio"
SPEC_PATH = SPEC_DIR / "twilio_api_v2010_subset.json"
#: Accounts v1 (the public keys of Voice Recording Encryption): its paths and schemas join the
#: 2010 file's (no name is in both).
ACCOUNTS_SPEC_PATH = SPEC_DIR / "twilio_accounts_v1_subset.json"
RFC2822_UTC = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000"
)
ENVELOPE_KEYS = {
    "end",
    "first_page_uri",
    "next_page_uri",
    "page",
    "page_size",
    "previous_page_uri",
    "start",
    "uri",
}
ERROR_KEYS = {"code", "message", "more_info", "status"}

_formats = FormatChecker(formats=())
ISO8601_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@_formats.checks("date-time-rfc-2822")
def _is_rfc2822_utc(value: object) -> bool:
    return not isinstance(value, str) or RFC2822_UTC.fullmatch(value) is not None


@_formats.checks("date-time")
def _is_iso8601_utc(value: object) -> bool:
    """As the SDK parses the v1 APIs' dates (`%Y-%m-%dT%H:%M:%SZ`): anything else it keeps as
    a string, silently."""
    return not isinstance(value, str) or ISO8601_UTC.fullmatch(value) is not None


@_formats.checks("currency")
def _is_currency(value: object) -> bool:
    return not isinstance(value, str) or re.fullmatch(r"[A-Z]{3}", value) is not None


#: Values Twilio is seen to send that its spec does not list (CONTRACT.md §12.4; our decision,
#: docs/COMPATIBILITY.md): `<Start><Recording>` makes recordings of this source.
SEEN_NOT_LISTED = {
    "recording_enum_source": ["StartCallRecordingTwiML"],
    "call_recording_enum_source": ["StartCallRecordingTwiML"],
}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    accounts = json.loads(ACCOUNTS_SPEC_PATH.read_text())
    loaded["paths"].update(accounts["paths"])
    schemas = loaded["components"]["schemas"]
    assert not set(schemas) & set(accounts["components"]["schemas"])
    schemas.update(accounts["components"]["schemas"])
    for name, values in SEEN_NOT_LISTED.items():
        schemas[name]["enum"] = [*schemas[name]["enum"], *values]
    return loaded


@cache
def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    found = []
    for template, operations in spec()["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in operations.items():
            if method in ("get", "post", "delete"):
                found.append((pattern, method.upper(), operation))
    return found


def operation(method: str, path: str) -> dict[str, Any] | None:
    for pattern, op_method, op in _operations():
        if op_method == method and pattern.match(path):
            return op
    return None


def _validate(instance: Any, schema: dict[str, Any]) -> None:
    resolver_root = {"components": spec()["components"], **schema}
    OAS30Validator(resolver_root, format_checker=_formats).validate(instance)


def error_schema() -> dict[str, Any]:
    op = spec()["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings/{Sid}.json"]
    schema: dict[str, Any] = op["post"]["responses"]["408"]["content"]["application/json"]["schema"]
    return schema


def check_error(body: Any, status: int) -> None:
    """Twilio's error shape, exactly: four keys, the status repeated, more_info by code."""
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, body
    _validate(body, error_schema())
    assert body["status"] == status, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}", body
    assert isinstance(body["message"], str), body
    assert body["message"], body


def check_answer(method: str, url: str, status: int, text: str) -> None:
    """Check one HTTP answer of the Twilio API against the spec; raise AssertionError if off."""
    path = urlsplit(url).path
    if status == 204:
        assert text == "", text
        return
    body = json.loads(text)
    if status >= 400:
        check_error(body, status)
        return
    op = operation(method, path)
    assert op is not None, f"no operation in the spec for {method} {path}"
    responses = op["responses"]
    assert str(status) in responses, f"{method} {path}: {status} not among {list(responses)}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    _validate(body, schema)
    if "end" in body:
        _check_envelope(body)


def _check_envelope(body: dict[str, Any]) -> None:
    keys = set(body)
    items = keys - ENVELOPE_KEYS
    assert keys >= ENVELOPE_KEYS, f"list keys {sorted(keys)}"
    assert len(items) == 1, f"list keys {sorted(keys)}"
    for key in ("first_page_uri", "next_page_uri", "previous_page_uri", "uri"):
        value = body[key]
        assert value is None or value.startswith("/2010-04-01/"), (key, value)
    (item_key,) = items
    shown = len(body[item_key])
    assert body["start"] == body["page"] * body["page_size"]
    assert body["end"] == (body["start"] + shown - 1 if shown else 0)
