"""Downloading recordings of emulated calls: real audio, cut by the timeline, as WAV and MP3."""

from __future__ import annotations

import io
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from callrec.domain.model import RecordingTrack
from callrec.media.files import MediaFiles, write_mp3
from callrec.media.synth import tone_hz
from tests.conftest import AccountKeys, answered_call, eventually
from tests.support.client import sdk_client
from tests.support.inprocess import serving
from tests.support.schemas import check_error
from tests.support.server import Deployment, ServerProcess


def _completed(client: Any, sid: str) -> Any:
    return eventually(lambda: (r := client.recordings(sid).fetch()).status == "completed" and r)


def _download(
    server: ServerProcess, account: AccountKeys, sid: str, suffix: str = "", **query: str
) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{sid}{suffix}",
        params=query,
        auth=(account.sid, account.token),
    )


def _wav(body: bytes) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(io.BytesIO(body)) as source:
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        return data.reshape(-1, source.getnchannels()), source.getframerate()


def _dominant_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum[1:])) + 1])


def _record(client: Any, seconds: float, **options: Any) -> tuple[Any, Any]:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(**options)
    time.sleep(seconds)
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    return call, _completed(client, recording.sid)


def test_dual_channel_wav_has_each_track_on_its_channel(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    call, recording = _record(client, 1.2, recording_channels="dual")
    response = _download(server, account, recording.sid)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/x-wav"
    assert int(response.headers["content-length"]) == len(response.content)
    audio, rate = _wav(response.content)
    assert (audio.shape[1], rate) == (2, 8000)
    assert round(len(audio) / rate) == int(recording.duration) == 1
    for channel, track in enumerate((RecordingTrack.INBOUND, RecordingTrack.OUTBOUND)):
        assert abs(_dominant_hz(audio[:, channel], rate) - tone_hz(call.sid, track)) < 2


def test_requested_channels(client: Any, server: ServerProcess, account: AccountKeys) -> None:
    _, dual = _record(client, 0.8, recording_channels="dual")
    mono_of_dual, _ = _wav(_download(server, account, dual.sid, RequestedChannels="1").content)
    assert mono_of_dual.shape[1] == 1
    _, mono = _record(client, 0.8)
    refused = _download(server, account, mono.sid, RequestedChannels="2")
    assert (refused.status_code, refused.json()["code"]) == (400, 16113)
    check_error(refused.json(), 400)
    assert _download(server, account, mono.sid, RequestedChannels="3").status_code == 400


def test_skip_cuts_and_silence_keeps_the_pause(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    call = answered_call(client)
    skip = client.calls(call.sid).recordings.create()
    silence = client.calls(call.sid).recordings.create()
    time.sleep(1.0)
    client.calls(call.sid).recordings(skip.sid).update(status="paused", pause_behavior="skip")
    client.calls(call.sid).recordings(silence.sid).update(status="paused")  # silence: default
    time.sleep(1.5)
    client.calls(call.sid).recordings(skip.sid).update(status="in-progress")
    client.calls(call.sid).recordings(silence.sid).update(status="in-progress")
    time.sleep(1.0)
    client.calls(call.sid).update(status="completed")
    skipped, _ = _wav(_download(server, account, _completed(client, skip.sid).sid).content)
    kept, rate = _wav(_download(server, account, _completed(client, silence.sid).sid).content)
    assert abs(len(kept) - len(skipped) - 1.5 * rate) < 0.1 * rate
    loud = np.abs(kept[:, 0].astype(np.int32)) > 100
    quiet_run = _longest_run(~loud)
    assert abs(quiet_run - 1.5 * rate) < 0.1 * rate  # the paused span is digital silence
    assert _longest_run(~(np.abs(skipped[:, 0].astype(np.int32)) > 100)) < 0.1 * rate


def _longest_run(mask: npt.NDArray[np.bool_]) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def test_mp3_and_range(client: Any, server: ServerProcess, account: AccountKeys) -> None:
    _, recording = _record(client, 1.0)
    mp3 = _download(server, account, recording.sid, ".mp3")
    assert mp3.status_code == 200
    assert mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF
    assert _download(server, account, recording.sid, ".mp3").content == mp3.content
    wav = _download(server, account, recording.sid, ".wav").content
    part = httpx.get(
        f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}.wav",
        headers={"Range": "bytes=100-199"},
        auth=(account.sid, account.token),
    )
    assert part.status_code == 206
    assert part.content == wav[100:200]


def test_media_of_unfinished_or_deleted_recordings_is_404(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    call = answered_call(client)
    live = client.calls(call.sid).recordings.create()
    response = _download(server, account, live.sid)
    assert (response.status_code, response.json()["code"]) == (404, 20404)
    time.sleep(0.7)
    client.calls(call.sid).recordings(live.sid).update(status="stopped")
    _completed(client, live.sid)
    assert _download(server, account, live.sid, ".mp3").status_code == 200
    media_dir = Path(server.data_dir) / "media"
    assert list(media_dir.glob(f"{live.sid}*"))
    client.recordings(live.sid).delete()
    assert _download(server, account, live.sid).status_code == 404
    assert list(media_dir.glob(f"{live.sid}*")) == []  # deleting deletes the audio


def test_media_needs_credentials(client: Any, server: ServerProcess, account: AccountKeys) -> None:
    _, recording = _record(client, 0.6)
    url = f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}"
    response = httpx.get(url)
    assert (response.status_code, response.json()["code"]) == (401, 20003)
    assert httpx.get(url + ".json").status_code == 401


@pytest.mark.parametrize("name", ["RE123", "RE" + "0" * 32 + ".ogg", "Twilio.CURRENT"])
def test_unknown_media_names_are_404(
    server: ServerProcess, account: AccountKeys, name: str
) -> None:
    response = _download(server, account, name)
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_public_media_setting_serves_without_credentials(deployment: Deployment) -> None:
    server = ServerProcess(deployment, extra_args=("--public-media",)).start()
    try:
        client = sdk_client(server.base_url, server.account_sid, server.auth_token)
        _, recording = _record(client, 0.6)
        path = f"/2010-04-01/Accounts/{server.account_sid}/Recordings/{recording.sid}"
        assert httpx.get(server.base_url + path).status_code == 200
        assert httpx.get(server.base_url + path + ".json").status_code == 401  # only media
    finally:
        server.stop()


def test_a_recording_deleted_while_its_mp3_is_made_leaves_no_audio(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first MP3 request encodes; a DELETE that lands meanwhile must win: the download is a
    404 and no audio of the recording is left on disk. (The encoder is held back here, in a
    server run in this process, to make the race happen every time.)"""
    encoding, release = threading.Event(), threading.Event()

    def held_write_mp3(files: MediaFiles, wav: Path, mp3: Path) -> None:
        encoding.set()
        assert release.wait(10)
        write_mp3(files, wav, mp3)

    monkeypatch.setattr("callrec.service.recording_media.write_mp3", held_write_mp3)
    with serving(deployment) as server:
        client = sdk_client(server.base_url, server.account_sid, server.auth_token)
        call = answered_call(client)
        recording = client.calls(call.sid).recordings.create()
        time.sleep(0.7)
        client.calls(call.sid).recordings(recording.sid).update(status="stopped")
        assert _completed(client, recording.sid)
        url = f"{server.base_url}/2010-04-01/Accounts/{server.account_sid}/Recordings"
        with ThreadPoolExecutor(1) as pool:
            download = pool.submit(
                httpx.get,
                f"{url}/{recording.sid}.mp3",
                auth=(server.account_sid, server.auth_token),
                timeout=20,
            )
            assert encoding.wait(10)
            client.recordings(recording.sid).delete()
            release.set()
            response = download.result()
        assert response.status_code == 404
        check_error(response.json(), 404)
        assert list((server.data_dir / "media").glob(f"{recording.sid}*")) == []
