"""Create, fetch, list and delete recordings at call and account level through the SDK."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import answered_call, eventually
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess


def _finished(client: Any, call_sid: str, sid: str) -> Any:
    """Stop the recording and wait until it is completed or absent."""
    client.calls(call_sid).recordings(sid).update(status="stopped")
    final = ("completed", "absent")
    return eventually(lambda: (r := client.recordings(sid).fetch()).status in final and r)


def test_create_echoes_options(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(
        recording_channels="dual",
        recording_track="both",
        trim="trim-silence",
        recording_status_callback="https://hooks.test/status",
        recording_status_callback_event=["in-progress", "completed"],
        recording_status_callback_method="GET",
    )
    assert (recording.channels, recording.track, recording.call_sid) == (2, "both", call.sid)
    assert recording.uri == (
        f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}/Recordings/{recording.sid}.json"
    )
    assert recording.price is None
    assert recording.error_code is None
    assert recording.start_time is not None


def test_single_track_is_mono(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(
        recording_channels="dual", recording_track="inbound"
    )
    assert (recording.channels, recording.track) == (1, "inbound")


def test_account_level_fetch_has_media_url(client: Any, server: ServerProcess) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    fetched = client.recordings(recording.sid).fetch()
    path = f"/2010-04-01/Accounts/{call.account_sid}/Recordings/{recording.sid}"
    assert fetched.media_url == f"{server.base_url}{path}"
    assert fetched.uri == f"{path}.json"
    assert fetched.subresource_uris["transcriptions"] == f"{path}/Transcriptions.json"


def test_recording_of_other_call_is_404(client: Any) -> None:
    one, two = answered_call(client), answered_call(client)
    recording = client.calls(one.sid).recordings.create()
    with pytest.raises(TwilioRestException) as raised:
        client.calls(two.sid).recordings(recording.sid).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_list_at_call_and_account_level(client: Any) -> None:
    one, two = answered_call(client), answered_call(client)
    a = client.calls(one.sid).recordings.create()
    b = client.calls(two.sid).recordings.create()
    assert [r.sid for r in client.calls(one.sid).recordings.list()] == [a.sid]
    assert [r.sid for r in client.recordings.list()] == [b.sid, a.sid]
    assert [r.sid for r in client.recordings.list(call_sid=two.sid)] == [b.sid]


def test_soft_delete(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    _finished(client, call.sid, recording.sid)
    assert client.calls(call.sid).recordings(recording.sid).delete() is True

    for context in (client, client.calls(call.sid)):
        with pytest.raises(TwilioRestException) as raised:
            context.recordings(recording.sid).fetch()
        assert (raised.value.status, raised.value.code) == (404, 20404)
    assert client.recordings.list() == []
    assert client.calls(call.sid).recordings.list() == []

    hidden = client.recordings(recording.sid).fetch(include_soft_deleted=True)
    assert hidden.status == "deleted"
    assert [r.status for r in client.recordings.list(include_soft_deleted=True)] == ["deleted"]
    with pytest.raises(TwilioRestException) as raised:
        client.recordings(recording.sid).delete()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_soft_deleted_recordings_are_shown_for_the_retention_only(deployment: Deployment) -> None:
    """Twilio shows a deleted recording with IncludeSoftDeleted for 40 days; here 1 s."""
    server = ServerProcess(deployment, extra_args=("--soft-delete-retention", "1")).start()
    try:
        client = sdk_client(server.base_url, server.account_sid, server.auth_token)
        call = answered_call(client)
        recording = client.calls(call.sid).recordings.create()
        _finished(client, call.sid, recording.sid)
        client.recordings(recording.sid).delete()
        assert client.recordings(recording.sid).fetch(include_soft_deleted=True).status == "deleted"
        assert len(client.recordings.list(include_soft_deleted=True)) == 1

        time.sleep(1.2)
        with pytest.raises(TwilioRestException) as raised:
            client.recordings(recording.sid).fetch(include_soft_deleted=True)
        assert (raised.value.status, raised.value.code) == (404, 20404)
        assert client.recordings.list(include_soft_deleted=True) == []
        # The timeline stays: it is the evidence of what happened (our extension).
        events = httpx.get(
            f"{server.base_url}/_callrec/Accounts/{call.account_sid}/Recordings/{recording.sid}"
            "/Events.json",
            auth=(server.account_sid, server.auth_token),
        ).json()["events"]
        assert events[-1]["kind"] == "deleted"
    finally:
        server.stop()


def test_live_recording_cannot_be_deleted(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    with pytest.raises(TwilioRestException) as raised:
        client.recordings(recording.sid).delete()
    assert (raised.value.status, raised.value.code) == (400, 400)
    assert client.recordings(recording.sid).fetch().status == "in-progress"


def test_fetch_by_current_is_404(client: Any) -> None:
    call = answered_call(client)
    client.calls(call.sid).recordings.create()
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings("Twilio.CURRENT").fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)
