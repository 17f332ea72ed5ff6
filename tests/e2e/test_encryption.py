"""Voice Recording Encryption, as Twilio documents it (CONTRACT.md §12): public keys through the
official SDK's Accounts API, an account switched on from the command line, and recordings that
only the private key's holder can listen to — decrypted here as a customer would."""

from __future__ import annotations

import base64
import io
import json
import secrets
import subprocess
import sys
import time
import wave
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from twilio.base.exceptions import TwilioRestException

from callrec.media.codec import ulaw_decode
from tests.conftest import AccountKeys, answered_call, eventually
from tests.support.audio import Caller, basic_auth, secret_kept, ws_url
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess
from tests.support.streamer import TwilioStreamer

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _pem(key: Any) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return str(public.decode())


def _client(server: ServerProcess, account: AccountKeys) -> Any:
    """The SDK, its Accounts domain pointed at callrec too (README)."""
    client = sdk_client(server.base_url, account.sid, account.token)
    client.accounts.base_url = server.base_url
    return client


def _update(account: AccountKeys, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callrec", "accounts", "update", *account.deployment.args,
         "--account", account.sid, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _recorded(client: Any, **options: Any) -> Any:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(**options)
    time.sleep(0.4)
    client.calls(call.sid).recordings(recording.sid).update(status="paused", pause_behavior="skip")
    time.sleep(0.3)
    client.calls(call.sid).recordings(recording.sid).update(status="in-progress")
    time.sleep(0.6)
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    final = ("completed", "absent")
    return eventually(lambda: (r := client.recordings(recording.sid).fetch()).status in final and r)


def _decrypt(private_key: rsa.RSAPrivateKey, details: dict[str, str], sealed: bytes) -> bytes:
    """What a customer does with Twilio's samples' steps: unwrap the content key, then AES-GCM."""
    cek = private_key.decrypt(base64.b64decode(details["encrypted_cek"]), OAEP)
    return AESGCM(cek).decrypt(base64.b64decode(details["iv"]), sealed, None)


def test_public_keys_through_the_sdk(server: ServerProcess, account: AccountKeys) -> None:
    client = _client(server, account)
    keys = client.accounts.v1.credentials.public_key
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    created = keys.create(public_key=pem, friendly_name="recordings")
    assert created.sid.startswith("CR")
    assert created.account_sid == account.sid
    assert created.url == f"{server.base_url}/v1/Credentials/PublicKeys/{created.sid}"
    one_line = "".join(pem.splitlines())  # Twilio's own example: armor, no line breaks
    second = keys.create(public_key=one_line)
    assert [key.sid for key in keys.list()] == [second.sid, created.sid]
    assert [key.sid for key in keys.list(page_size=1)] == [second.sid, created.sid]  # two pages
    assert client.accounts.v1.credentials.public_key(created.sid).fetch().friendly_name == (
        "recordings"
    )
    renamed = client.accounts.v1.credentials.public_key(created.sid).update(friendly_name="r2")
    assert renamed.friendly_name == "r2"
    assert client.accounts.v1.credentials.public_key(second.sid).delete() is True
    with pytest.raises(TwilioRestException) as missing:
        client.accounts.v1.credentials.public_key(second.sid).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (ec.generate_private_key(ec.SECP256R1()), 70101),
        (rsa.generate_private_key(public_exponent=65537, key_size=1024), 70102),
        (rsa.generate_private_key(public_exponent=3, key_size=2048), 70103),
        (None, 70104),
    ],
)
def test_a_key_that_cannot_encrypt_is_refused_with_twilios_code(
    server: ServerProcess, account: AccountKeys, key: Any, code: int
) -> None:
    text = _pem(key) if key is not None else "-----BEGIN PUBLIC KEY-----not a key-----END"
    with pytest.raises(TwilioRestException) as refused:
        _client(server, account).accounts.v1.credentials.public_key.create(public_key=text)
    assert (refused.value.status, refused.value.code) == (400, code)


def test_an_encrypted_recording_is_heard_only_with_the_private_key(
    server: ServerProcess, account: AccountKeys
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = _client(server, account)
    key = client.accounts.v1.credentials.public_key.create(public_key=_pem(private))
    switched = _update(account, "--encryption-key", key.sid)
    assert switched.returncode == 0, switched.stderr
    receiver = Receiver().start()
    try:
        recording = _recorded(
            client, recording_channels="dual", recording_status_callback=f"{receiver.base}/cb"
        )
        assert eventually(lambda: receiver.requests)
    finally:
        receiver.stop()
    assert recording.status == "completed"
    details = recording.encryption_details
    assert details["type"] == "rsa-aes"
    assert details["public_key_sid"] == key.sid
    assert len(base64.b64decode(details["iv"])) == 12
    (callback,) = receiver.requests
    assert json.loads(callback.params["EncryptionDetails"]) == details
    assert callback.signed_with(account.token)

    media = f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}"
    sealed = httpx.get(f"{media}.wav", auth=(account.sid, account.token))
    assert sealed.status_code == 200
    assert not sealed.content.startswith(b"RIFF")  # nothing to hear without the key
    with wave.open(io.BytesIO(_decrypt(private, details, sealed.content))) as heard:
        assert heard.getnchannels() == 2
        seconds = heard.getnframes() / heard.getframerate()
        samples = heard.readframes(heard.getnframes())
    assert int(seconds) == int(recording.duration)
    assert any(samples)
    # No plaintext of it rests on disk: its one file is the sealed WAV.
    files = list((server.data_dir / "media").glob(f"{recording.sid}*"))
    assert [f.name for f in files] == [f"{recording.sid}.wav"]
    assert files[0].read_bytes() == sealed.content

    mp3 = httpx.get(f"{media}.mp3", auth=(account.sid, account.token))
    assert (mp3.status_code, mp3.json()["code"]) == (400, 16109)
    mono = httpx.get(f"{media}.wav?RequestedChannels=1", auth=(account.sid, account.token))
    assert mono.status_code == 400

    # Switched off: the next recording is plain again, the first stays as it was.
    assert _update(account, "--encryption-key", "none").returncode == 0
    plain = _recorded(client)
    assert plain.encryption_details is None
    again = httpx.get(f"{media}.wav", auth=(account.sid, account.token))
    assert again.content == sealed.content


def test_without_a_usable_key_a_recording_is_not_kept(
    server: ServerProcess, account: AccountKeys
) -> None:
    client = _client(server, account)
    keys = client.accounts.v1.credentials.public_key
    first = keys.create(public_key=_pem(rsa.generate_private_key(65537, 2048)))
    newest = keys.create(public_key=_pem(rsa.generate_private_key(65537, 2048)))
    assert _update(account, "--encryption-key", first.sid).returncode == 0
    client.accounts.v1.credentials.public_key(first.sid).delete()
    fallen_back = _recorded(client)  # the chosen key is gone: the newest is used (16107)
    assert fallen_back.encryption_details["public_key_sid"] == newest.sid

    client.accounts.v1.credentials.public_key(newest.sid).delete()
    receiver = Receiver().start()
    try:
        lost = _recorded(
            client,
            recording_status_callback=f"{receiver.base}/cb",
            recording_status_callback_event=["absent"],
        )
        assert eventually(lambda: receiver.requests)
    finally:
        receiver.stop()
    assert (lost.status, lost.error_code) == ("absent", 16105)
    assert lost.encryption_details is None
    assert receiver.requests[0].params["ErrorCode"] == "16105"
    assert list((server.data_dir / "media").glob(f"{lost.sid}*")) == []


def test_an_account_can_only_encrypt_with_its_own_key(
    server: ServerProcess, account: AccountKeys
) -> None:
    assert _update(account, "--encryption-key", "CR" + "0" * 32).returncode == 2


def test_a_live_recordings_capture_is_sealed_too(
    server: ServerProcess, account: AccountKeys
) -> None:
    """While the call is recorded, the audio captured so far rests on disk only encrypted; once
    completed, the customer's key opens what was said."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = _client(server, account)
    key = client.accounts.v1.credentials.public_key.create(public_key=_pem(private))
    assert _update(account, "--encryption-key", key.sid).returncode == 0
    call_sid = "CA" + secrets.token_hex(16)
    caller = Caller()
    caller.secret = True  # everything said is findable, byte for byte
    streamer = TwilioStreamer(
        ws_url(server), account.sid, call_sid, basic_auth(account.sid, account.token), caller
    ).start()
    try:
        streamer.wait_for_frame(5)
        recording = client.calls(call_sid).recordings.create(recording_track="inbound")
        recorded = streamer.sent + 10  # sent after the recording began, however slow its start
        streamer.wait_for_frame(streamer.sent + 50)
        time.sleep(0.6)  # flushed to the file at least twice a second
        capture = server.data_dir / "media" / f"{recording.sid}.cap"
        assert capture.read_bytes().startswith(b"CRCAPs1")
        assert secret_kept(server.data_dir, streamer.payloads, caller.secret_frames) == []
        client.calls(call_sid).recordings(recording.sid).update(status="stopped")
    finally:
        streamer.finish()
    done = eventually(
        lambda: (r := client.recordings(recording.sid).fetch()).status == "completed" and r
    )
    assert done
    media = f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}.wav"
    sealed = httpx.get(media, auth=(account.sid, account.token)).content
    heard = _decrypt(private, done.encryption_details, sealed)
    said = ulaw_decode(streamer.payloads[recorded]).astype("<i2").tobytes()
    assert said in heard
    assert secret_kept(server.data_dir, streamer.payloads, caller.secret_frames) == []


def test_at_rest_every_file_is_sealed_and_served_in_the_clear(deployment: Deployment) -> None:
    """`--encrypt-at-rest`: what was said is nowhere on disk in the clear, live or completed,
    and the API serves the audio as if nothing were sealed (Range included)."""
    server = ServerProcess(deployment, extra_args=("--encrypt-at-rest",)).start()
    try:
        account = AccountKeys(server.account_sid, server.auth_token, deployment)
        client = sdk_client(server.base_url, account.sid, account.token)
        call_sid = "CA" + secrets.token_hex(16)
        caller = Caller()
        caller.secret = True
        auth_headers = basic_auth(account.sid, account.token)
        streamer = TwilioStreamer(ws_url(server), account.sid, call_sid, auth_headers, caller)
        streamer.start()
        try:
            streamer.wait_for_frame(5)
            recording = client.calls(call_sid).recordings.create(recording_track="inbound")
            recorded = streamer.sent + 10  # sent after the recording began
            streamer.wait_for_frame(streamer.sent + 50)
            time.sleep(0.6)
            assert secret_kept(server.data_dir, streamer.payloads, caller.secret_frames) == []
        finally:
            streamer.finish()
        assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
        media = f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Recordings/{recording.sid}"
        auth = (account.sid, account.token)
        wav = httpx.get(f"{media}.wav", auth=auth)
        assert wav.content.startswith(b"RIFF")
        said = ulaw_decode(streamer.payloads[recorded]).astype("<i2").tobytes()
        assert said in wav.content
        part = httpx.get(f"{media}.wav", auth=auth, headers={"Range": "bytes=100-20000"})
        assert part.status_code == 206
        assert part.content == wav.content[100:20001]
        assert part.headers["content-range"] == f"bytes 100-20000/{len(wav.content)}"
        assert httpx.get(f"{media}.mp3", auth=auth).status_code == 200
        stored = server.data_dir / "media"
        assert (stored / f"{recording.sid}.wav").read_bytes().startswith(b"CRSEAL1")
        assert (stored / f"{recording.sid}.mp3").read_bytes().startswith(b"CRSEAL1")
        assert secret_kept(server.data_dir, streamer.payloads, caller.secret_frames) == []
    finally:
        server.stop()
