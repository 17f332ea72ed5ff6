"""Calls run the app's TwiML: requested signed with Twilio's parameters, verbs performed in real
time, recordings started by <Start><Recording> and <Record> paused through the official SDK, the
far end scripted, failures handled as Twilio handles them."""

from __future__ import annotations

import io
import time
import wave
from typing import Any

import pytest

from tests.conftest import HOLD, AccountKeys, Raw, eventually
from tests.support import audio
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess
from tests.unit.test_decode import tone_wav

HANG_UP = "<Response><Hangup/></Response>"


def _call(client: Any, **create: Any) -> Any:
    return client.calls.create(to="+15005550006", from_="+15005550001", **create)


def _ended(client: Any, sid: str) -> Any:
    return eventually(lambda: (c := client.calls(sid).fetch()).status == "completed" and c)


def _far_end(raw: Raw, account: AccountKeys, call_sid: str, what: str, **form: str) -> Any:
    path = f"/_callrec/Accounts/{account.sid}/Calls/{call_sid}/{what}.json"
    return raw.request("POST", path, data=form)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_url_is_requested_signed_with_the_call_and_its_end_hangs_up(
    client: Any, account: AccountKeys, app: Receiver, method: str
) -> None:
    app.pages["/voice"] = "<Response><Say>Thank you for calling us today</Say></Response>"
    call = _call(client, url=f"{app.base}/voice?step=1", method=method)
    assert eventually(lambda: app.to("/voice"))
    (request,) = app.to("/voice")
    assert request.method == method
    assert request.signed_with(account.token)
    assert request.user_agent.startswith("TwilioProxy/1.1")
    assert request.params["step"] if method == "GET" else True
    expected = {
        "AccountSid": account.sid, "CallSid": call.sid, "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01", "Direction": "outbound-api", "From": "+15005550001",
        "To": "+15005550006", "Caller": "+15005550001", "Called": "+15005550006", "ToCity": "",
    }  # fmt: skip
    assert {name: request.params.get(name) for name in expected} == expected
    ended = _ended(client, call.sid)
    assert int(ended.duration) >= 1  # <Say> took the time it is heard
    assert len(app.to("/voice")) == 1


def test_a_recording_started_by_twiml_is_paused_by_current_through_the_sdk(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    app.pages["/voice"] = (
        "<Response><Start><Recording recordingStatusCallback='recorded'"
        " recordingStatusCallbackEvent='in-progress completed'/></Start>"
        "<Pause length='60'/></Response>"
    )
    call = _call(client, url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    assert (recording.source, recording.status, recording.channels) == (
        "StartCallRecordingTwiML", "in-progress", 2,
    )  # fmt: skip
    current = client.calls(call.sid).recordings("Twilio.CURRENT")
    assert current.update(status="paused", pause_behavior="skip").status == "paused"
    assert current.update(status="in-progress").status == "in-progress"
    time.sleep(1.5)  # a recording under a second would be absent
    hung_up = _far_end(raw, account, call.sid, "Hangup")
    assert (hung_up.status_code, hung_up.json()["status"]) == (200, "completed")
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    assert eventually(lambda: len(app.to("/recorded")) == 2)
    callbacks = app.to("/recorded")  # the relative URL resolved against the document's
    assert [r.params["RecordingStatus"] for r in callbacks] == ["in-progress", "completed"]
    assert all(r.signed_with(account.token) for r in callbacks)
    assert callbacks[1].params["RecordingSource"] == "StartCallRecordingTwiML"


def test_gather_hears_the_keys_the_far_end_presses(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    app.pages["/menu"] = (
        "<Response><Gather numDigits='4' action='/card' timeout='10'>"
        "<Say>Please enter the last four digits of your card</Say></Gather>"
        "<Say>We did not hear you</Say></Response>"
    )
    app.pages["/card"] = HANG_UP
    call = _call(client, url=f"{app.base}/menu")
    eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
    assert _far_end(raw, account, call.sid, "Digits", Digits="12345").status_code == 200
    assert eventually(lambda: app.to("/card"))
    (card,) = app.to("/card")
    assert (card.params["Digits"], card.params["CallSid"]) == ("1234", call.sid)
    assert card.signed_with(account.token)
    _ended(client, call.sid)


def test_gather_without_input_goes_on_with_the_next_verb(client: Any, app: Receiver) -> None:
    app.pages["/menu"] = (
        "<Response><Gather timeout='1' action='/never'/><Redirect>/after</Redirect></Response>"
    )
    app.pages["/after"] = HANG_UP
    call = _call(client, url=f"{app.base}/menu")
    assert eventually(lambda: app.to("/after"))
    _ended(client, call.sid)
    assert app.to("/never") == []


def test_record_gives_its_action_the_recording(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw, server: ServerProcess
) -> None:
    app.pages["/voice"] = "<Response><Say>Leave a message</Say><Record action='/left'/></Response>"
    app.pages["/left"] = HANG_UP
    call = _call(client, url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    assert (recording.source, recording.channels, recording.track) == ("RecordVerb", 1, "inbound")
    time.sleep(1.5)  # the caller speaks, then presses the key
    assert _far_end(raw, account, call.sid, "Digits", Digits="#").status_code == 200
    assert eventually(lambda: app.to("/left"))
    (left,) = app.to("/left")
    done = client.recordings(recording.sid).fetch()
    assert done.status == "completed"
    assert left.params["RecordingSid"] == recording.sid
    assert left.params["Digits"] == "#"
    assert left.params["RecordingDuration"] == done.duration
    media = raw.http.get(left.params["RecordingUrl"].removeprefix(server.base_url))
    assert media.status_code == 200
    assert media.headers["content-type"] == "audio/x-wav"
    _ended(client, call.sid)


def test_record_ends_after_silence_or_its_max_length(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    app.pages["/voice"] = "<Response><Record timeout='1' maxLength='30' action='/left'/></Response>"
    app.pages["/left"] = HANG_UP
    call = _call(client, url=f"{app.base}/voice")
    assert eventually(lambda: client.calls(call.sid).recordings.list())
    assert _far_end(raw, account, call.sid, "Silence", Seconds="5").status_code == 200
    assert eventually(lambda: app.to("/left"))
    assert app.to("/left")[0].params["Digits"] == ""
    app.pages["/short"] = (
        "<Response><Record maxLength='1' playBeep='false' action='/left'/></Response>"
    )
    other = _call(client, url=f"{app.base}/short")
    assert eventually(lambda: len(app.to("/left")) == 2)
    assert app.to("/left")[1].params["CallSid"] == other.sid


def test_a_call_hung_up_while_recording_tells_the_action(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    app.pages["/voice"] = "<Response><Record action='/left' playBeep='false'/></Response>"
    call = _call(client, url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    client.calls(call.sid).update(status="completed")
    assert eventually(lambda: app.to("/left"))
    (left,) = app.to("/left")
    assert (left.params["Digits"], left.params["CallStatus"]) == ("hangup", "completed")
    assert left.params["RecordingSid"] == recording.sid


def test_update_call_with_twiml_redirects_the_live_call(client: Any, app: Receiver) -> None:
    app.pages["/next"] = "<Response><Pause length='1'/></Response>"
    call = _call(client, twiml=HOLD)
    eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
    redirect = f"<Response><Redirect method='GET'>{app.base}/next?from=update</Redirect></Response>"
    updated = client.calls(call.sid).update(twiml=redirect)
    assert updated.status == "in-progress"
    assert eventually(lambda: app.to("/next"))
    assert app.to("/next")[0].method == "GET"
    _ended(client, call.sid)


def test_a_failed_url_falls_back_with_the_error(
    client: Any, account: AccountKeys, app: Receiver
) -> None:
    app.pages["/fallback"] = "<Response><Say>Sorry</Say></Response>"
    gone = Receiver()
    gone.stop()  # its port is free again: connections to it are refused
    dead = f"http://127.0.0.1:{gone.port}/gone"
    call = _call(client, url=dead, fallback_url=f"{app.base}/fallback")
    assert eventually(lambda: app.to("/fallback"))
    (fallback,) = app.to("/fallback")
    assert (fallback.params["ErrorCode"], fallback.params["ErrorUrl"]) == ("11205", dead)
    assert fallback.signed_with(account.token)
    _ended(client, call.sid)


@pytest.mark.parametrize(
    "document",
    [
        "<Response><Say>Hi</Say>",  # not well-formed
        "<Reply><Say>Hi</Say></Reply>",  # not a <Response>
        "<Response><Speak>Hi</Speak></Response>",  # no such verb
        "<Response><Pause length='soon'/></Response>",  # a value Twilio refuses
        "<Response><Enqueue>support</Enqueue></Response>",  # a verb callrec does not run yet
    ],
)
def test_an_invalid_document_ends_the_call(client: Any, app: Receiver, document: str) -> None:
    app.pages["/voice"] = document
    call = _call(client, url=f"{app.base}/voice")
    ended = _ended(client, call.sid)
    assert ended.end_time is not None


def test_the_far_end_refuses_bad_input_in_twilios_shape(
    client: Any, account: AccountKeys, raw: Raw
) -> None:
    call = _call(client, twiml=HOLD)
    eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
    for what, form in [("Digits", {"Digits": "12a"}), ("Digits", {}),
                       ("Silence", {"Seconds": "-1"}), ("Silence", {"Seconds": "x"})]:  # fmt: skip
        answer = _far_end(raw, account, call.sid, what, **form)
        assert (answer.status_code, answer.json()["code"]) == (400, 400), (what, form)
    assert _far_end(raw, account, "CA" + "0" * 32, "Digits", Digits="1").status_code == 404
    client.calls(call.sid).update(status="completed")
    late = _far_end(raw, account, call.sid, "Digits", Digits="1")
    assert late.status_code == 400
    assert late.json()["code"] == 21220


def test_a_flow_goes_on_where_it_was_after_its_process_is_killed(
    deployment: Deployment, app: Receiver
) -> None:
    app.pages["/voice"] = (
        "<Response><Start><Recording/></Start><Pause length='3'/><Redirect>/after</Redirect>"
        "</Response>"
    )
    app.pages["/after"] = "<Response><Say>Thank you and goodbye</Say></Response>"
    first = ServerProcess(deployment).start()
    call = _call(_client_of(first), url=f"{app.base}/voice")
    assert eventually(lambda: _client_of(first).calls(call.sid).recordings.list())
    first.kill()  # during the <Pause>
    restarted = ServerProcess(deployment).start()
    try:
        client = _client_of(restarted)
        assert eventually(lambda: app.to("/after"), timeout=20)
        _ended(client, call.sid)
        (recording,) = client.calls(call.sid).recordings.list()  # started once, not again
        assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
        assert len(app.to("/voice")) == 1
    finally:
        restarted.stop()


def _client_of(server: ServerProcess) -> Any:
    return sdk_client(server.base_url, server.account_sid, server.auth_token)


def test_an_app_that_answers_500_falls_back_with_11200(
    client: Any, account: AccountKeys, app: Receiver
) -> None:
    broken = Receiver(status=500).start()
    try:
        app.pages["/fallback"] = "<Response><Hangup/></Response>"
        failing = f"{broken.base}/voice"
        call = _call(client, url=failing, fallback_url=f"{app.base}/fallback")
        assert eventually(lambda: app.to("/fallback"))
        (fallback,) = app.to("/fallback")
        assert (fallback.params["ErrorCode"], fallback.params["ErrorUrl"]) == ("11200", failing)
        assert len(broken.requests) == 1
        assert broken.requests[0].signed_with(account.token)
        _ended(client, call.sid)
    finally:
        broken.stop()


@pytest.mark.parametrize(
    ("document", "source", "channels"),
    [
        ("<Start><Recording/></Start><Pause length='2'/>", "StartCallRecordingTwiML", 2),
        (
            "<Start><Recording channels='mono'/></Start><Pause length='2'/>",
            "StartCallRecordingTwiML",
            1,
        ),
        ("<Record maxLength='2' playBeep='false' action='/end'/>", "RecordVerb", 1),
        ("<Dial record='record-from-answer-dual' timeLimit='2'>+15005550006</Dial>", "DialVerb", 2),
        ("<Dial record='record-from-answer' timeLimit='2'>+15005550006</Dial>", "DialVerb", 1),
    ],
)
def test_each_way_of_recording_gives_its_source_channels_and_duration(
    client: Any, app: Receiver, raw: Raw, server: ServerProcess, document: str, source: str,
    channels: int,
) -> None:  # fmt: skip
    app.pages["/voice"] = f"<Response>{document}<Hangup/></Response>"
    app.pages["/end"] = "<Response><Hangup/></Response>"
    call = _call(client, url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    done = eventually(
        lambda: (r := client.recordings(recording.sid).fetch()).status == "completed" and r
    )
    assert (done.source, done.channels) == (source, channels)
    wav = raw.http.get(f"{done.uri.removesuffix('.json')}.wav")
    with wave.open(io.BytesIO(wav.content)) as audio:
        assert audio.getnchannels() == channels
        seconds = audio.getnframes() / audio.getframerate()
    assert round(seconds) == int(done.duration) == 2


def test_play_takes_as_long_as_its_file_and_a_missing_one_is_skipped(
    client: Any, account: AccountKeys, app: Receiver
) -> None:
    app.files["/tone.wav"] = (tone_wav(1.5), "audio/wav")
    app.pages["/voice"] = (
        "<Response><Play loop='2'>/tone.wav</Play><Play>/missing.mp3</Play></Response>"
    )
    call = _call(client, url=f"{app.base}/voice")
    ended = _ended(client, call.sid)
    assert 3 <= int(ended.duration) <= 4  # twice 1.5 s; the missing file took no time
    fetched = app.to("/tone.wav")
    assert len(fetched) == 1  # its length is remembered
    assert fetched[0].method == "GET"
    assert fetched[0].signed_with(account.token)
    assert len(app.to("/missing.mp3")) == 1


def test_what_the_call_plays_and_the_far_ends_silence_are_in_its_recording(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw, server: ServerProcess
) -> None:
    app.files["/a440.wav"] = (tone_wav(1.0), "audio/wav")
    app.pages["/voice"] = (
        "<Response><Start><Recording channels='dual' trim='do-not-trim'/></Start>"
        "<Play>/a440.wav</Play><Pause length='3'/><Hangup/></Response>"
    )
    call = _call(client, url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    time.sleep(1.5)  # during the <Pause>: the far end falls silent for a second
    path = f"/_callrec/Accounts/{account.sid}/Calls/{call.sid}/Silence.json"
    assert raw.request("POST", path, data={"Seconds": "1"}).status_code == 200
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    samples = audio.wav(server, account.sid, account.token, recording.sid)
    inbound, outbound = samples[:, 0], samples[:, 1]
    assert abs(audio.dominant_hz(outbound[800:7200]) - 440) < 5  # the <Play>, not the tone
    assert abs(audio.dominant_hz(outbound[12_000:20_000]) - 440) > 50  # after it: the tone
    assert 7_200 <= audio.longest_silence(inbound) <= 8_800  # about a second of 8 kHz
