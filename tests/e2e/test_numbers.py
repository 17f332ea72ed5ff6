"""IncomingPhoneNumbers through the official SDK, and inbound calls to them: the number's voice
URL answers (or rejects) the call, its recordings pause by `Twilio.CURRENT` like any other, and
its status callback hears how the call ended."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from callrec.service.numbers import formatted
from tests.conftest import AccountKeys, Raw, eventually, make_account
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess


def _new_number() -> str:
    """A number no other test has: numbers are unique in a deployment, and the server is shared."""
    return f"+1628{secrets.randbelow(10**7):07d}"


def _call_in(raw: Raw, account: AccountKeys, to: str, from_: str = "+14155550111") -> Any:
    path = f"/_callrec/Accounts/{account.sid}/IncomingCalls.json"
    return raw.request("POST", path, data={"From": from_, "To": to})


def test_a_number_is_created_fetched_listed_updated_and_deleted(client: Any) -> None:
    number = _new_number()
    created = client.incoming_phone_numbers.create(
        phone_number=number, voice_url="https://app.test/voice", voice_method="GET"
    )
    assert created.sid.startswith("PN")
    assert (created.phone_number, created.friendly_name) == (number, formatted(number))
    assert (created.voice_url, created.voice_method) == ("https://app.test/voice", "GET")
    assert created.voice_fallback_url is None
    assert created.capabilities["voice"] is True
    assert client.incoming_phone_numbers(created.sid).fetch().voice_url == created.voice_url
    client.incoming_phone_numbers.create(area_code="415", friendly_name="support")
    listed = client.incoming_phone_numbers.list()
    assert [n.friendly_name for n in listed] == ["support", formatted(number)]
    assert listed[0].phone_number.startswith("+1415555")
    (found,) = client.incoming_phone_numbers.list(phone_number=number)
    assert found.sid == created.sid
    updated = client.incoming_phone_numbers(created.sid).update(
        voice_url="https://app.test/other", status_callback="https://app.test/status"
    )
    assert (updated.voice_url, updated.voice_method) == ("https://app.test/other", "GET")
    assert updated.status_callback == "https://app.test/status"
    assert client.incoming_phone_numbers(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.incoming_phone_numbers(created.sid).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)


def test_numbers_are_refused_as_twilio_would(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    number = _new_number()
    mine = client.incoming_phone_numbers.create(phone_number=number)
    for create in ({"phone_number": number}, {"phone_number": "5550101"},
                   {"area_code": "41"}, {"friendly_name": "no number"}):  # fmt: skip
        with pytest.raises(TwilioRestException) as refused:
            client.incoming_phone_numbers.create(**create)
        assert (refused.value.status, refused.value.code) == (400, 400), create
    with pytest.raises(TwilioRestException) as refused:
        client.incoming_phone_numbers(mine.sid).update(voice_method="PUT")
    assert "VoiceMethod" in refused.value.msg
    other = make_account(server.deployment)
    stranger = sdk_client(server.base_url, other.sid, other.token)
    with pytest.raises(TwilioRestException) as hidden:
        stranger.api.v2010.accounts(account.sid).incoming_phone_numbers(mine.sid).fetch()
    assert hidden.value.status == 401
    with pytest.raises(TwilioRestException) as hidden:
        stranger.incoming_phone_numbers(mine.sid).fetch()
    assert hidden.value.status == 404


def test_an_inbound_call_runs_the_numbers_voice_url(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    number = _new_number()
    client.incoming_phone_numbers.create(
        phone_number=number, voice_url=f"{app.base}/inbound", status_callback=f"{app.base}/ended"
    )
    app.pages["/inbound"] = "<Response><Start><Recording/></Start><Pause length='30'/></Response>"
    placed = _call_in(raw, account, number)
    assert placed.status_code == 201
    call = placed.json()
    assert (call["direction"], call["status"], call["to"]) == ("inbound", "ringing", number)
    assert eventually(lambda: app.to("/inbound"))
    (request,) = app.to("/inbound")
    assert request.signed_with(account.token)
    params = request.params
    assert (params["Direction"], params["CallStatus"]) == ("inbound", "ringing")
    assert (params["To"], params["From"]) == (number, "+14155550111")
    assert params["CallSid"] == call["sid"]
    recording = eventually(lambda: client.calls(call["sid"]).recordings.list())[0]
    assert client.calls(call["sid"]).fetch().status == "in-progress"
    current = client.calls(call["sid"]).recordings("Twilio.CURRENT")
    assert current.update(status="paused", pause_behavior="skip").sid == recording.sid
    client.calls(call["sid"]).update(status="completed")
    assert eventually(lambda: app.to("/ended"))
    ended = app.to("/ended")[0].params
    assert (ended["CallStatus"], ended["Direction"]) == ("completed", "inbound")


@pytest.mark.parametrize(("reason", "ending"), [("busy", "busy"), ("rejected", "no-answer")])
def test_an_inbound_call_rejected_is_never_answered(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw, reason: str, ending: str
) -> None:
    number = _new_number()
    client.incoming_phone_numbers.create(
        phone_number=number, voice_url=f"{app.base}/inbound", status_callback=f"{app.base}/ended"
    )
    app.pages["/inbound"] = f"<Response><Reject reason='{reason}'/></Response>"
    sid = _call_in(raw, account, number).json()["sid"]
    ended = eventually(lambda: (c := client.calls(sid).fetch()).status == ending and c)
    assert ended.start_time is None
    assert eventually(lambda: app.to("/ended"))
    assert app.to("/ended")[0].params["CallStatus"] == ending


def test_inbound_calls_need_a_number_of_the_account(
    client: Any, account: AccountKeys, raw: Raw
) -> None:
    number = _new_number()
    assert _call_in(raw, account, "+15005550999").status_code == 404
    client.incoming_phone_numbers.create(phone_number=number)
    path = f"/_callrec/Accounts/{account.sid}/IncomingCalls.json"
    missing = raw.request("POST", path, data={"To": number})
    assert (missing.status_code, missing.json()["code"]) == (400, 400)
    silent = _call_in(raw, account, number)  # a number without a voice URL hangs up at once
    assert eventually(lambda: client.calls(silent.json()["sid"]).fetch().status == "completed")


def test_the_command_line_places_a_call_and_plays_its_far_end(
    client: Any, account: AccountKeys, app: Receiver, server: ServerProcess
) -> None:
    number = _new_number()
    client.incoming_phone_numbers.create(phone_number=number, voice_url=f"{app.base}/menu")
    app.pages["/menu"] = "<Response><Gather numDigits='2' action='/got'/></Response>"
    app.pages["/got"] = "<Response><Pause length='30'/></Response>"

    def callrec(*args: str) -> subprocess.CompletedProcess[str]:
        where = ("--server", server.base_url, "--account", account.sid, "--token", account.token)
        command = [sys.executable, "-m", "callrec", "calls", *args, *where]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    placed = callrec("incoming", "--from", "+14155550111", "--to", number)
    assert placed.returncode == 0, placed.stderr
    sid = json.loads(placed.stdout)["sid"]
    assert callrec("press", "--call", sid, "--digits", "42").returncode == 0
    assert eventually(lambda: app.to("/got"))
    assert app.to("/got")[0].params["Digits"] == "42"
    assert callrec("hang-up", "--call", sid).returncode == 0
    assert client.calls(sid).fetch().status == "completed"
    late = callrec("silence", "--call", sid, "--seconds", "3")
    assert late.returncode == 1
    assert "HTTP 400" in late.stderr


def test_an_inbound_call_whose_twiml_cannot_be_had_fails(
    client: Any, account: AccountKeys, raw: Raw
) -> None:
    gone = Receiver()
    gone.stop()  # its port is free again: connections to it are refused
    number = _new_number()
    client.incoming_phone_numbers.create(phone_number=number, voice_url=f"{gone.base}/voice")
    sid = _call_in(raw, account, number).json()["sid"]
    ended = eventually(lambda: (c := client.calls(sid).fetch()).status == "failed" and c)
    assert ended.start_time is None
