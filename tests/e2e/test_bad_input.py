"""Every kind of bad input gets a Twilio-shaped error with the right status and code: never a
500, and never a partial write (the recording is exactly as it was afterwards)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Raw, answered_call
from tests.support.schemas import check_error

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def live(client: Any) -> tuple[str, str, str]:
    """(account, call, recording) sids of a live recording."""
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    return call.account_sid, call.sid, recording.sid


def _snapshot(raw: Raw, account: str) -> Any:
    calls = raw.request("GET", f"/2010-04-01/Accounts/{account}/Calls.json").json()["calls"]
    recordings = raw.request("GET", f"/2010-04-01/Accounts/{account}/Recordings.json").json()
    return calls, recordings["recordings"]


UPDATE_CASES = [
    # (body, headers, status, code, words the message must contain)
    ("Status=bogus", FORM, 400, 400, "Status"),
    ("", FORM, 400, 400, "Status"),
    ("PauseBehavior=skip", FORM, 400, 400, "Status"),
    ("Status=paused&PauseBehavior=mute", FORM, 400, 400, "PauseBehavior"),
    ("Status=%zzpaused", FORM, 400, 400, "percent"),
    ("Status=paused%", FORM, 400, 400, "percent"),
    ("Status=%FFpaused", FORM, 400, 400, "UTF-8"),
    ('{"Status": "paused"}', {"Content-Type": "application/json"}, 415, 415, "form"),
    ("Status=paused", {"Content-Type": "text/plain"}, 415, 415, "form"),
    ("&".join(f"F{i}=x" for i in range(300)) + "&Status=paused", FORM, 400, 400, "fields"),
    ("Status=paused&Pad=" + "x" * 70_000, FORM, 413, 413, "larger"),
    ("Status=completed", FORM, 400, 400, "completed"),
]


@pytest.mark.parametrize(("body", "headers", "status", "code", "words"), UPDATE_CASES)
def test_update_recording_bad_input(
    raw: Raw, live: Any, body: str, headers: dict[str, str], status: int, code: int, words: str
) -> None:
    account, call, recording = live
    before = _snapshot(raw, account)
    path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{recording}.json"
    response = raw.request("POST", path, content=body.encode(), headers=headers)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert words in response.json()["message"]
    assert _snapshot(raw, account) == before


def test_non_ascii_body_is_refused(raw: Raw, live: Any) -> None:
    account, call, recording = live
    path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{recording}.json"
    response = raw.request("POST", path, content="Status=pausé".encode(), headers=FORM)
    assert (response.status_code, response.json()["code"]) == (400, 400)


CREATE_CASES = [
    ("RecordingChannels=stereo", "RecordingChannels"),
    ("RecordingTrack=left", "RecordingTrack"),
    ("Trim=sometimes", "Trim"),
    ("RecordingStatusCallback=ftp://x.test/a", "RecordingStatusCallback"),
    ("RecordingStatusCallback=not a url", "RecordingStatusCallback"),
    ("RecordingStatusCallback=http://[::1/cb", "RecordingStatusCallback"),
    ("RecordingStatusCallback=http://a.test:99999/cb", "RecordingStatusCallback"),
    ("RecordingStatusCallback=http://a%20b.test/cb", "RecordingStatusCallback"),
    ("RecordingStatusCallbackMethod=PUT", "RecordingStatusCallbackMethod"),
    ("RecordingStatusCallbackEvent=muted", "RecordingStatusCallbackEvent"),
    ("RecordingStatusCallbackEvent=completed%20bogus", "RecordingStatusCallbackEvent"),
]


@pytest.mark.parametrize(("body", "name"), CREATE_CASES)
def test_create_recording_bad_input(raw: Raw, live: Any, body: str, name: str) -> None:
    account, call, _ = live
    before = _snapshot(raw, account)
    path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json"
    response = raw.request("POST", path, content=body.encode(), headers=FORM)
    assert (response.status_code, response.json()["code"]) == (400, 400), response.text
    assert name in response.json()["message"]
    assert _snapshot(raw, account) == before


def test_space_separated_callback_events_are_accepted(raw: Raw, live: Any) -> None:
    account, call, _ = live
    path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json"
    body = b"RecordingStatusCallbackEvent=in-progress%20completed+absent&PlayBeep=true"
    assert raw.request("POST", path, content=body, headers=FORM).status_code == 201


CALL_CASES = [
    ("From=%2B1555&Url=http://a.test/x", "To"),
    ("To=%2B1555&Url=http://a.test/x", "From"),
    ("To=%2B1555&From=%2B1666", "Url"),
    ("To=%2B1555&From=%2B1666&Url=nope", "Url"),
    ("To=%2B1555&From=%2B1666&Url=http://a.test/x&Record=maybe", "Record"),
    ("To=%2B1555&From=%2B1666&Url=http://a.test/x&Timeout=0", "Timeout"),
    ("To=%2B1555&From=%2B1666&Url=http://a.test/x&Timeout=soon", "Timeout"),
    ("To=%2B1555&From=%2B1666&Url=http://a.test/x&Method=PUT", "Method"),
    ("To=%2B1555&From=%2B1666&Url=http://a.test/x&FallbackUrl=nope", "FallbackUrl"),
]


@pytest.mark.parametrize(("body", "name"), CALL_CASES)
def test_create_call_bad_input(raw: Raw, account: Any, body: str, name: str) -> None:
    path = f"/2010-04-01/Accounts/{account.sid}/Calls.json"
    response = raw.request("POST", path, content=body.encode(), headers=FORM)
    assert (response.status_code, response.json()["code"]) == (400, 400), response.text
    assert name in response.json()["message"]
    assert raw.request("GET", path).json()["calls"] == []


@pytest.mark.parametrize(
    ("method", "suffix", "status", "code"),
    [
        ("GET", "/Nope.json", 404, 20404),
        ("GET", "/Calls/CAnot-a-sid.json", 404, 20404),
        ("GET", "/Recordings/REnot-a-sid.json", 404, 20404),
        ("GET", "/Recordings/Twilio.CURRENT.json", 404, 20404),
        ("GET", "/Calls.json/", 404, 20404),  # no redirect to the path without the slash
        ("PUT", "/Calls.json", 405, 20004),
        ("DELETE", "/Recordings.json", 405, 20004),
        ("PATCH", "/Recordings/RE" + "0" * 32 + ".json", 405, 20004),
    ],
)
def test_unknown_paths_and_methods(
    raw: Raw, account: Any, method: str, suffix: str, status: int, code: int
) -> None:
    path = f"/2010-04-01/Accounts/{account.sid}{suffix}"
    response = raw.request(method, path)
    assert (response.status_code, response.json()["code"]) == (status, code)
    if status == 404:
        assert response.json()["message"] == f"The requested resource {path} was not found"


@pytest.mark.parametrize(
    "query",
    [
        {"DateCreated": "yesterday"},
        {"DateCreated<": "2024-13-01"},
        {"DateCreated>": "2024-01-01T25:00:00Z"},
        {"IncludeSoftDeleted": "maybe"},
        {"PageSize": "%zz"},
    ],
)
def test_bad_list_queries(raw: Raw, account: Any, query: dict[str, str]) -> None:
    response = raw.request(
        "GET", f"/2010-04-01/Accounts/{account.sid}/Recordings.json", params=query
    )
    assert (response.status_code, response.json()["code"]) == (400, 400)


def test_malformed_query_encoding(raw: Raw, account: Any) -> None:
    path = f"/2010-04-01/Accounts/{account.sid}/Recordings.json?PageSize=%zz"
    response = raw.http.get(path)
    assert (response.status_code, response.json()["code"]) == (400, 400)
    assert "percent" in response.json()["message"]


def test_unknown_fields_are_ignored(raw: Raw, live: Any) -> None:
    account, call, recording = live
    path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{recording}.json"
    body = b"Status=paused&RecordingConfigurationId=x&Whatever=1"
    response = raw.request("POST", path, content=body, headers=FORM)
    assert (response.status_code, response.json()["status"]) == (200, "paused")


# Random requests: any method on any of callrec's paths, any mix of known fields with valid,
# malformed and hostile values, in the query or the body, mostly with the form's content type.
# Whatever comes in, the answer is never a 500, and every error has Twilio's shape.
_FIELDS = [
    "Status", "PauseBehavior", "To", "From", "Url", "Twiml", "Record", "RecordingChannels",
    "RecordingTrack", "Trim", "RecordingStatusCallback", "RecordingStatusCallbackEvent",
    "RecordingStatusCallbackMethod", "PageSize", "Page", "PageToken", "DateCreated",
    "DateCreated<", "DateCreated>", "IncludeSoftDeleted", "CallSid", "RequestedChannels",
]  # fmt: skip
_VALUES = [
    "", "paused", "in-progress", "stopped", "completed", "canceled", "skip", "silence", "true",
    "dual", "inbound", "x" * 3000, "%zz", "%FF", "%C3%A9", "-1", "0", "1001", "9" * 30,
    "2024-13-45", "2024-01-01T00:00:00Z", "PA1_1", "PAabc", "http://a.test/cb#rc=3&rp=all",
    "ftp://x", "http://[::1/x", "GET", "Twilio.CURRENT", "in-progress completed", "%", "+",
    "&&", "é",
]  # fmt: skip
_PATHS = [
    "/Calls/{call}/Recordings/{recording}.json", "/Calls/{call}/Recordings/Twilio.CURRENT.json",
    "/Calls/{call}/Recordings.json", "/Recordings.json", "/Recordings/{recording}.json",
    "/Recordings/{recording}", "/Recordings/{recording}.mp3", "/Calls.json", "/Calls/{call}.json",
    "/Calls/{call}.json/", "/Recordings/{recording}.xml",
]  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "POST", "DELETE", "PUT"]),
    path=st.sampled_from(_PATHS),
    fields=st.lists(st.tuples(st.sampled_from(_FIELDS), st.sampled_from(_VALUES)), max_size=5),
    form=st.sampled_from([True, True, True, False]),
)
def test_random_requests_never_get_a_500(
    raw: Raw,
    live: tuple[str, str, str],
    method: str,
    path: str,
    fields: list[tuple[str, str]],
    form: bool,
) -> None:
    account, call, recording = live
    url = f"/2010-04-01/Accounts/{account}" + path.format(call=call, recording=recording)
    encoded = "&".join(f"{name}={value}" for name, value in fields)
    headers = FORM if form else {"Content-Type": "text/plain"}
    if method in ("GET", "DELETE"):  # the fields where these read them
        response = raw.http.request(method, f"{url}?{encoded}", headers=headers)
    else:
        response = raw.http.request(method, url, content=encoded.encode(), headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        check_error(response.json(), response.status_code)
