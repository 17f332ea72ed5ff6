"""Recordings in object storage (`--media-store s3://…`), against an S3-compatible server the
tests start (moto's server mode, tests/support/s3.py): the files go up once rendered, media
requests are redirected to a signed URL as Twilio does (or proxied, Range and all), other forms
are made from the stored WAV and stored too, and deleting a recording deletes its objects."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import answered_call, eventually
from tests.support import s3
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess


@pytest.fixture(scope="module")
def s3_server() -> Iterator[s3.S3Server]:
    running = s3.start()
    yield running
    running.stop()


def _serve(deployment: Deployment, s3_server: s3.S3Server, *args: str) -> tuple[ServerProcess, str]:
    bucket = s3_server.bucket("callrec-" + secrets.token_hex(4))
    server = ServerProcess(
        deployment,
        env=s3_server.env,
        extra_args=("--media-store", f"s3://{bucket}/recordings", *args),
    )
    return server.start(), bucket


def _completed(server: ServerProcess) -> tuple[Any, Any]:
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    time.sleep(0.6)
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    return client, recording


def test_media_is_redirected_to_the_bucket_and_deleted_with_the_recording(
    deployment: Deployment, s3_server: s3.S3Server
) -> None:
    server, bucket = _serve(deployment, s3_server)
    try:
        client, recording = _completed(server)
        sid = recording.sid
        assert s3_server.keys(bucket) == [
            f"recordings/{sid}.peaks.json", f"recordings/{sid}.wav"
        ]  # fmt: skip
        assert list((server.data_dir / "media").glob(f"{sid}*")) == []  # nothing kept locally
        stored = s3_server.client().get_object(Bucket=bucket, Key=f"recordings/{sid}.wav")
        wav = stored["Body"].read()

        auth = (server.account_sid, server.auth_token)
        media = f"{server.base_url}/2010-04-01/Accounts/{server.account_sid}/Recordings/{sid}"
        moved = httpx.get(media, auth=auth)
        assert moved.status_code == 302
        assert moved.headers["location"].startswith(f"{s3_server.endpoint}/{bucket}/")
        followed = httpx.get(f"{media}.wav", auth=auth, follow_redirects=True)
        assert followed.content == wav
        assert followed.headers["content-type"] == "audio/x-wav"

        mp3 = httpx.get(f"{media}.mp3", auth=auth, follow_redirects=True)
        assert mp3.status_code == 200
        assert mp3.headers["content-type"] == "audio/mpeg"
        assert f"recordings/{sid}.mp3" in s3_server.keys(bucket)  # made once, kept there

        client.recordings(sid).delete()
        assert s3_server.keys(bucket) == []
        assert httpx.get(media, auth=auth).status_code == 404
    finally:
        server.stop()


def test_media_may_be_proxied_with_ranges(deployment: Deployment, s3_server: s3.S3Server) -> None:
    server, bucket = _serve(deployment, s3_server, "--media-urls", "proxy")
    try:
        _, recording = _completed(server)
        stored = (
            s3_server.client()
            .get_object(Bucket=bucket, Key=f"recordings/{recording.sid}.wav")["Body"]
            .read()
        )
        auth = (server.account_sid, server.auth_token)
        base = f"{server.base_url}/2010-04-01/Accounts/{server.account_sid}/Recordings"
        whole = httpx.get(f"{base}/{recording.sid}.wav", auth=auth)
        assert whole.status_code == 200
        assert whole.content == stored
        part = httpx.get(f"{base}/{recording.sid}.wav", auth=auth, headers={"Range": "bytes=4-43"})
        assert part.status_code == 206
        assert part.content == stored[4:44]
        assert part.headers["content-range"] == f"bytes 4-43/{len(stored)}"
        mono = httpx.get(f"{base}/{recording.sid}.wav?RequestedChannels=1", auth=auth)
        assert mono.status_code == 200  # as recorded: mono already
    finally:
        server.stop()
