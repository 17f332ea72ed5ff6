"""<Start><Stream> and <Connect><Stream>: callrec connects out to the app's WebSocket, signed, and
speaks the Media Streams protocol in real time; with <Connect>, the app's audio, marks and
clears are honoured and the call goes on when the app closes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from twilio.request_validator import RequestValidator
from websockets.sync.server import ServerConnection

from callrec.media.codec import ulaw_encode
from tests.conftest import AccountKeys, Raw, eventually
from tests.support import audio
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.ws_app import WsApp

SILENCE_200_MS = base64.b64encode(b"\xff" * 1600).decode()


@pytest.fixture
def ws_app() -> Iterator[WsApp]:
    running = WsApp()
    yield running
    running.stop()


def test_start_stream_sends_the_calls_audio_until_it_ends(
    client: Any, account: AccountKeys, app: Receiver, ws_app: WsApp
) -> None:
    app.pages["/voice"] = (
        f"<Response><Start><Stream url='{ws_app.url}' statusCallback='/streamed'>"
        "<Parameter name='lang' value='en'/></Stream></Start><Pause length='2'/><Hangup/>"
        "</Response>"
    )
    call = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: ws_app.events("stop"), timeout=15)
    kinds = [m["event"] for m in ws_app.messages]
    assert kinds[:2] == ["connected", "start"]
    assert kinds[-1] == "stop"
    (start,) = ws_app.events("start")
    assert start["start"]["callSid"] == call.sid
    assert start["start"]["accountSid"] == account.sid
    assert start["start"]["customParameters"] == {"lang": "en"}
    assert start["start"]["tracks"] == ["inbound"]
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1,
    }  # fmt: skip
    media = ws_app.events("media")
    assert len(media) >= 75  # two seconds at 50 a second, give or take the edges
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    assert [int(m["media"]["timestamp"]) for m in media[:3]] == [0, 20, 40]
    sequence = [int(m["sequenceNumber"]) for m in ws_app.messages[1:]]
    assert sequence == list(range(1, len(sequence) + 1))
    validator = RequestValidator(account.token)
    assert validator.validate(ws_app.url, {}, ws_app.headers["X-Twilio-Signature"])
    assert eventually(lambda: client.calls(call.sid).fetch().status == "completed")
    assert eventually(lambda: len(app.to("/streamed")) == 2)
    reported = [r.params for r in app.to("/streamed")]
    assert [p["StreamEvent"] for p in reported] == ["stream-started", "stream-stopped"]
    assert {p["StreamSid"] for p in reported} == {start["streamSid"]}
    assert all(p["CallSid"] == call.sid and "StreamError" not in p for p in reported)
    assert all(r.signed_with(account.token) for r in app.to("/streamed"))


def test_a_stream_that_cannot_connect_is_reported_and_the_call_goes_on(
    client: Any, app: Receiver
) -> None:
    gone = Receiver()
    gone.stop()  # nothing listens on its port
    app.pages["/voice"] = (
        f"<Response><Connect><Stream url='ws://127.0.0.1:{gone.port}/bot'"
        " statusCallback='/streamed'/></Connect><Redirect>/after</Redirect></Response>"
    )
    app.pages["/after"] = "<Response><Hangup/></Response>"
    client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: app.to("/after"))
    assert eventually(lambda: app.to("/streamed"))
    (error,) = app.to("/streamed")
    assert error.params["StreamEvent"] == "stream-error"
    assert error.params["StreamError"].startswith("cannot connect")


def test_connect_stream_plays_the_apps_audio_and_goes_on_when_it_closes(
    client: Any, account: AccountKeys, app: Receiver, ws_app: WsApp, raw: Raw
) -> None:
    marks: list[float] = []

    def bot(connection: ServerConnection, app_: WsApp) -> None:
        stream_sid = app_.events("start")[0]["streamSid"]
        media = {"event": "media", "streamSid": stream_sid, "media": {"payload": SILENCE_200_MS}}
        connection.send(json.dumps(media))
        connection.send(
            json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": "m1"}})
        )
        sent = time.monotonic()
        deadline = sent + 5
        while time.monotonic() < deadline and not app_.events("dtmf"):
            time.sleep(0.02)
            if app_.events("mark") and not marks:
                marks.append(time.monotonic() - sent)
        connection.close()

    ws_app.script = bot
    app.pages["/voice"] = (
        f"<Response><Connect><Stream url='{ws_app.url}'/></Connect><Redirect>/after</Redirect>"
        "</Response>"
    )
    app.pages["/after"] = "<Response><Hangup/></Response>"
    call = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: ws_app.events("mark"))
    (echo,) = ws_app.events("mark")
    assert echo["mark"]["name"] == "m1"
    assert eventually(lambda: marks)  # the bot's own thread notes when it saw the mark
    assert marks[0] >= 0.15  # returned once the 200 ms of audio had played
    path = f"/_callrec/Accounts/{account.sid}/Calls/{call.sid}/Digits.json"
    assert raw.request("POST", path, data={"Digits": "5"}).status_code == 200
    assert eventually(lambda: app.to("/after"))  # the app closed: the call went on
    (dtmf,) = ws_app.events("dtmf")
    assert dtmf["dtmf"]["digit"] == "5"
    assert not ws_app.events("stop")  # the app closed it, callrec did not stop it


def test_stop_stream_ends_it_and_the_call_goes_on(
    client: Any, app: Receiver, ws_app: WsApp
) -> None:
    app.pages["/voice"] = (
        f"<Response><Start><Stream name='s1' url='{ws_app.url}'/></Start><Pause length='1'/>"
        "<Stop><Stream name='s1'/></Stop><Pause length='1'/><Redirect>/after</Redirect></Response>"
    )
    app.pages["/after"] = "<Response><Hangup/></Response>"
    client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: app.to("/after"))
    stop = ws_app.events("stop")
    assert len(stop) == 1
    assert ws_app.messages.index(stop[0]) == len(ws_app.messages) - 1


def test_a_bots_audio_is_the_calls_outbound_audio_in_its_recording(
    client: Any, account: AccountKeys, app: Receiver, ws_app: WsApp, server: ServerProcess
) -> None:
    def bot(connection: ServerConnection, app_: WsApp) -> None:
        stream_sid = app_.events("start")[0]["streamSid"]
        payload = base64.b64encode(ulaw_encode(_tone_440(1.0))).decode()
        connection.send(json.dumps({"event": "media", "streamSid": stream_sid,
                                    "media": {"payload": payload}}))  # fmt: skip
        time.sleep(1.5)  # it has played; the bot hangs up its side
        connection.close()

    ws_app.script = bot
    app.pages["/voice"] = (
        "<Response><Start><Recording channels='dual' trim='do-not-trim'/></Start>"
        f"<Connect><Stream url='{ws_app.url}'/></Connect><Pause length='1'/></Response>"
    )
    call = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    recording = eventually(lambda: client.calls(call.sid).recordings.list())[0]
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed", 20)
    outbound = audio.wav(server, account.sid, account.token, recording.sid)[:, 1]
    assert abs(audio.dominant_hz(outbound[1_600:7_200]) - 440) < 5  # the bot spoke
    assert audio.longest_silence(outbound) >= 2_400  # then said nothing until it closed


def _tone_440(seconds: float) -> npt.NDArray[np.int16]:
    at = np.arange(int(seconds * 8_000)) / 8_000
    tone: npt.NDArray[np.int16] = (np.sin(2 * np.pi * 440 * at) * 8_000).astype(np.int16)
    return tone
