"""Retention: a completed recording's audio is deleted once its account's period (or the
server's default) has run out; the timeline says who and why, and the resource then behaves as a
deleted recording does."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import AccountKeys, answered_call, eventually, make_account
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess

SWEEP = ("--retention-sweep", "0.2")


def _completed(client: Any) -> Any:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    time.sleep(0.6)
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    return recording


def _gone(client: Any, sid: str) -> bool:
    try:
        client.recordings(sid).fetch()
    except TwilioRestException as error:
        return bool(error.status == 404)
    return False


@pytest.fixture
def expiring(deployment: Deployment) -> Iterator[ServerProcess]:
    """A server that keeps completed recordings' audio for 2 s unless told otherwise."""
    server = ServerProcess(deployment, extra_args=("--retention", "2", *SWEEP)).start()
    yield server
    server.stop()


def test_a_recording_past_its_retention_is_deleted_and_the_timeline_says_why(
    expiring: ServerProcess,
) -> None:
    server = expiring
    keys = AccountKeys(server.account_sid, server.auth_token, server.deployment)
    client = sdk_client(server.base_url, keys.sid, keys.token)
    recording = _completed(client)
    assert list((server.data_dir / "media").glob(f"{recording.sid}*"))
    assert not _gone(client, recording.sid)  # kept while its period runs

    assert eventually(lambda: _gone(client, recording.sid), timeout=10)
    media = f"{server.base_url}/2010-04-01/Accounts/{keys.sid}/Recordings/{recording.sid}.wav"
    assert httpx.get(media, auth=(keys.sid, keys.token)).status_code == 404
    assert list((server.data_dir / "media").glob(f"{recording.sid}*")) == []
    shown = client.recordings(recording.sid).fetch(include_soft_deleted=True)
    assert shown.status == "deleted"
    events = httpx.get(
        f"{server.base_url}/_callrec/Accounts/{keys.sid}/Recordings/{recording.sid}/Events.json",
        auth=(keys.sid, keys.token),
    ).json()["events"]
    deleted = events[-1]
    assert (deleted["kind"], deleted["actor"], deleted["detail"]) == ("deleted", None, "retention")


def test_an_accounts_own_retention_wins_over_the_servers(deployment: Deployment) -> None:
    server = ServerProcess(deployment, extra_args=SWEEP).start()  # the default: keep for ever
    try:
        short, kept = make_account(deployment), make_account(deployment)
        updated = subprocess.run(
            [sys.executable, "-m", "callrec", "accounts", "update", *deployment.args,
             "--account", short.sid, "--retention", "1"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "retention 1 s" in updated.stdout
        short_client = sdk_client(server.base_url, short.sid, short.token)
        kept_client = sdk_client(server.base_url, kept.sid, kept.token)
        expired, lasting = _completed(short_client), _completed(kept_client)
        assert eventually(lambda: _gone(short_client, expired.sid), timeout=10)
        time.sleep(1.5)  # past the short period, several sweeps
        assert kept_client.recordings(lasting.sid).fetch().status == "completed"
    finally:
        server.stop()


def test_an_unknown_account_or_period_is_refused(deployment: Deployment) -> None:
    def update(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callrec", "accounts", "update", *deployment.args, *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    keys = make_account(deployment)
    assert update("--account", "AC" + "0" * 32, "--retention", "5").returncode == 2
    assert update("--account", keys.sid, "--retention", "-1").returncode == 2
    assert update("--account", keys.sid, "--retention", "default").returncode == 0
