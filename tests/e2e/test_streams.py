"""Live audio through the real WebSocket, paused and resumed through the official SDK: the WAV
has the right length, channels, silent span and missing span, and no byte of what was said
while paused exists anywhere under the data directory."""

from __future__ import annotations

import base64
import io
import secrets
import time
import wave
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from callrec.domain.model import RecordingTrack
from callrec.media.codec import ulaw_decode
from callrec.media.synth import tone_hz
from tests.conftest import HOLD, AccountKeys, eventually
from tests.support.audio import (
    INBOUND_HZ,
    OUTBOUND_HZ,
    Caller,
    basic_auth,
    dominant_hz,
    longest_silence,
    secret_kept,
    wav,
    ws_url,
)
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess
from tests.support.streamer import RATE, TwilioStreamer, tone


def _basic(account: AccountKeys) -> dict[str, str]:
    return basic_auth(account.sid, account.token)


def _ws(server: ServerProcess, query: str = "") -> str:
    return ws_url(server, query)


def _wav(server: ServerProcess, account: AccountKeys, sid: str) -> npt.NDArray[np.int16]:
    return wav(server, account.sid, account.token, sid)


def test_pauses_cut_the_streamed_audio_and_nothing_paused_is_kept(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call_sid = "CA" + secrets.token_hex(16)
    caller = Caller()
    streamer = TwilioStreamer(_ws(server), account.sid, call_sid, _basic(account), caller).start()
    try:
        streamer.wait_for_frame(10)
        call = client.calls(call_sid).fetch()  # the stream created the call
        assert call.status == "in-progress"
        skip = client.calls(call_sid).recordings.create(recording_channels="dual")
        silence = client.calls(call_sid).recordings.create(recording_channels="dual")
        streamer.wait_for_frame(streamer.sent + 50)  # 1 s recorded
        client.calls(call_sid).recordings(skip.sid).update(status="paused", pause_behavior="skip")
        client.calls(call_sid).recordings(silence.sid).update(status="paused")
        caller.secret = True
        streamer.wait_for_frame(streamer.sent + 75)  # 1.5 s of card number
        caller.secret = False
        client.calls(call_sid).recordings(skip.sid).update(status="in-progress")
        client.calls(call_sid).recordings(silence.sid).update(status="in-progress")
        streamer.wait_for_frame(streamer.sent + 50)  # 1 s more
    finally:
        streamer.finish()  # `stop`: the call ends, its recordings stop

    done = ("completed", "absent")
    for sid in (skip.sid, silence.sid):
        assert eventually(lambda s=sid: client.recordings(s).fetch().status in done)
    assert client.calls(call_sid).fetch().status == "completed"
    skipped, kept = _wav(server, account, skip.sid), _wav(server, account, silence.sid)
    assert caller.secret_frames
    assert abs(len(kept) - len(skipped) - len(caller.secret_frames) * 160) <= 4 * 160
    assert abs(len(skipped) / RATE - 2.0) < 0.25
    assert abs(dominant_hz(kept[:, 0]) - INBOUND_HZ) < 3  # inbound on the first channel
    assert abs(dominant_hz(kept[:, 1]) - OUTBOUND_HZ) < 3
    assert abs(longest_silence(kept[:, 0]) - len(caller.secret_frames) * 160) <= 4 * 160
    assert longest_silence(skipped[:, 0]) < 160 * 3

    # The search can find what was kept: a frame from before the pause is in the inbound channel.
    heard = ulaw_decode(streamer.payloads[min(caller.secret_frames) - 10]).astype("<i2").tobytes()
    assert heard in kept[:, 0].astype("<i2").tobytes()
    assert secret_kept(server.data_dir, streamer.payloads, caller.secret_frames) == []


def test_signature_authenticates_the_stream(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call_sid = "CA" + secrets.token_hex(16)
    url = _ws(server)
    signature = RequestValidator(account.token).compute_signature(
        url.replace("ws://", "wss://"), {}
    )
    headers = {"X-Twilio-Signature": signature}
    streamer = TwilioStreamer(
        url, account.sid, call_sid, headers, lambda t, f: tone(500, f)
    ).start()
    streamer.wait_for_frame(5)
    streamer.finish()
    assert eventually(lambda: client.calls(call_sid).fetch().status == "completed")


def test_bad_signature_records_nothing(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call_sid = "CA" + secrets.token_hex(16)
    headers = {"X-Twilio-Signature": base64.b64encode(b"x" * 20).decode()}
    streamer = TwilioStreamer(_ws(server), account.sid, call_sid, headers, lambda t, f: tone(5, f))
    streamer.start()
    assert eventually(lambda: streamer.closed_by_server, timeout=5)
    streamer.finish()
    assert client.calls.list() == []


def test_no_credentials_is_refused_at_the_handshake(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused, connect(_ws(server)):
        pass
    assert refused.value.response.status_code == 403


def test_binary_pcm_keeps_its_sample_rate(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call_sid = "CA" + secrets.token_hex(16)
    rate = 16_000
    with connect(
        _ws(server, f"?sampleRate={rate}&channels=2&callSid={call_sid}"),
        additional_headers=_basic(account),
    ) as socket:
        started = time.monotonic()
        for frame in range(100):
            if frame == 10:
                recording = client.calls(call_sid).recordings.create(recording_channels="dual")
            pair = np.stack([tone(300, frame, rate, 320), tone(900, frame, rate, 320)], axis=1)
            socket.send(pair.astype("<i2").tobytes())
            time.sleep(max(0.0, started + (frame + 1) * 0.02 - time.monotonic()))
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    response = httpx.get(
        f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}.wav",
        auth=(account.sid, account.token),
    )
    with wave.open(io.BytesIO(response.content)) as source:
        assert (source.getframerate(), source.getnchannels()) == (rate, 2)
        assert abs(source.getnframes() / rate - 1.8) < 0.25


def test_sigkill_keeps_what_was_captured(deployment: Deployment) -> None:
    server = ServerProcess(deployment, extra_args=("--stream-grace", "1")).start()
    keys = AccountKeys(server.account_sid, server.auth_token, server.deployment)
    client = sdk_client(server.base_url, keys.sid, keys.token)
    call_sid = "CA" + secrets.token_hex(16)
    streamer = TwilioStreamer(
        _ws(server), keys.sid, call_sid, _basic(keys), lambda t, f: tone(440, f)
    )
    streamer.send_stop = False
    streamer.start()
    streamer.wait_for_frame(5)
    recording = client.calls(call_sid).recordings.create()
    streamer.wait_for_frame(streamer.sent + 100)  # 2 s captured
    server.kill()
    streamer.finish()

    restarted = ServerProcess(server.deployment, extra_args=("--stream-grace", "1")).start()
    try:
        client = sdk_client(restarted.base_url, keys.sid, keys.token)
        # The stream is gone: after the grace time the call ends and the recording is
        # finalized from what reached the disk (flushed at least twice a second).
        final = eventually(
            lambda: (r := client.recordings(recording.sid).fetch()).status == "completed" and r,
            timeout=15,
        )
        assert final
        assert int(final.duration) >= 1
        assert client.calls(call_sid).fetch().status == "completed"
    finally:
        restarted.stop()


def test_a_stream_replaces_the_synthetic_audio_of_a_rest_call(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    assert eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
    recording = client.calls(call.sid).recordings.create(recording_track="inbound")
    time.sleep(1.0)  # synthetic audio
    streamer = TwilioStreamer(
        _ws(server), account.sid, call.sid, _basic(account), lambda t, f: tone(INBOUND_HZ, f)
    ).start()
    streamer.wait_for_frame(60)
    streamer.finish()  # `stop` ends the call
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    audio = _wav(server, account, recording.sid)[:, 0]
    synthetic = tone_hz(call.sid, RecordingTrack.INBOUND)
    assert abs(dominant_hz(audio[: RATE // 2]) - synthetic) < 3
    assert abs(dominant_hz(audio[-RATE // 2 :]) - INBOUND_HZ) < 3


def test_a_dropped_stream_may_reconnect_within_the_grace_time(deployment: Deployment) -> None:
    server = ServerProcess(deployment, extra_args=("--stream-grace", "2")).start()
    try:
        keys = AccountKeys(server.account_sid, server.auth_token, server.deployment)
        client = sdk_client(server.base_url, keys.sid, keys.token)
        call_sid = "CA" + secrets.token_hex(16)

        def stream_for(frames: int) -> None:
            streamer = TwilioStreamer(
                _ws(server), keys.sid, call_sid, _basic(keys), lambda t, f: tone(440, f)
            )
            streamer.send_stop = False  # the socket just goes away
            streamer.start().wait_for_frame(frames)
            streamer.finish()

        stream_for(10)
        recording = client.calls(call_sid).recordings.create()
        time.sleep(1.0)  # dropped, within the grace time
        assert client.calls(call_sid).fetch().status == "in-progress"
        stream_for(25)  # back: the call goes on
        time.sleep(1.0)
        assert client.calls(call_sid).fetch().status == "in-progress"
        # Gone for good: after the grace time the call ends and the recording completes.
        assert eventually(lambda: client.calls(call_sid).fetch().status == "completed", 8)
        assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
        # Each gap in the audio is in the timeline, with why: never to be read as a pause.
        events = httpx.get(
            f"{server.base_url}/_callrec/Accounts/{keys.sid}/Recordings/{recording.sid}"
            "/Events.json",
            auth=(keys.sid, keys.token),
        ).json()["events"]
        gaps = [(e["kind"], e["detail"]) for e in events if e["kind"] != "processing"][1:-2]
        # Started while the stream was away: its timeline opens with a gap. The server notes a
        # drop in a unit of its own, so a recording started as the drop is being noted may be
        # told by either: "no media stream" (the drop committed first) or the drop itself.
        opening = {("interrupted", "no media stream was connected"),
                   ("interrupted", "the media stream dropped")}  # fmt: skip
        assert gaps[0] in opening
        assert gaps[1:] == [
            ("restored", "a media stream reconnected"),
            ("interrupted", "the media stream dropped"),
        ]
    finally:
        server.stop()


def test_a_text_message_on_a_binary_stream_closes_it_and_its_call_ends(
    deployment: Deployment,
) -> None:
    server = ServerProcess(deployment, extra_args=("--stream-grace", "1")).start()
    try:
        keys = AccountKeys(server.account_sid, server.auth_token, server.deployment)
        client = sdk_client(server.base_url, keys.sid, keys.token)
        call_sid = "CA" + secrets.token_hex(16)
        with connect(
            _ws(server, f"?sampleRate=8000&callSid={call_sid}"), additional_headers=_basic(keys)
        ) as socket:
            for frame in range(10):
                socket.send(tone(300, frame, 8000, 160).astype("<i2").tobytes())
            assert eventually(lambda: _call_status(client, call_sid) == "in-progress")
            socket.send("not audio")
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008  # policy violation
        # Refused like a dropped stream: after the grace time the call ends.
        assert eventually(lambda: _call_status(client, call_sid) == "completed", 8)
    finally:
        server.stop()


def _call_status(client: Any, call_sid: str) -> str | None:
    """The call's status; None while the stream that creates it has not yet attached."""
    try:
        status: str = client.calls(call_sid).fetch().status
    except TwilioRestException as error:
        if error.status != 404:
            raise
        return None
    return status
