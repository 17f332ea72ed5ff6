"""UpdateCallRecording, the heart: pause (skip, silence), resume, stop, by sid and by
`Twilio.CURRENT`, through the official SDK, with the state table of CONTRACT.md §4."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import AccountKeys, answered_call, eventually
from tests.support.server import ServerProcess


def _events(server: ServerProcess, account: AccountKeys, sid: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/_callrec/Accounts/{account.sid}/Recordings/{sid}/Events.json",
        auth=(account.sid, account.token),
    )
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_pause_resume_stop_by_sid(client: Any) -> None:
    call = answered_call(client)
    started = client.calls(call.sid).recordings.create()
    assert (started.status, started.source, started.duration) == (
        "in-progress",
        "StartCallRecordingAPI",
        None,
    )

    paused = client.calls(call.sid).recordings(started.sid).update(status="paused")
    assert paused.status == "paused"
    assert paused.sid == started.sid
    resumed = client.calls(call.sid).recordings(started.sid).update(status="in-progress")
    assert resumed.status == "in-progress"
    time.sleep(0.6)
    stopped = client.calls(call.sid).recordings(started.sid).update(status="stopped")
    assert (stopped.status, stopped.duration) == ("stopped", None)

    completed = eventually(
        lambda: (
            (r := client.calls(call.sid).recordings(started.sid).fetch()).status == "completed"
            and r
        )
    )
    assert completed.duration is not None


def test_current_names_the_one_live_recording(client: Any) -> None:
    call = answered_call(client)
    started = client.calls(call.sid).recordings.create()
    paused = (
        client.calls(call.sid)
        .recordings("Twilio.CURRENT")
        .update(status="paused", pause_behavior="skip")
    )
    assert (paused.sid, paused.status) == (started.sid, "paused")
    stopped = client.calls(call.sid).recordings("Twilio.CURRENT").update(status="stopped")
    assert (stopped.sid, stopped.status) == (started.sid, "stopped")


def test_current_without_live_recording_is_404(client: Any) -> None:
    call = answered_call(client)
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings("Twilio.CURRENT").update(status="paused")
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_current_with_two_live_recordings_is_16108(client: Any) -> None:
    call = answered_call(client)
    client.calls(call.sid).recordings.create()
    client.calls(call.sid).recordings.create()
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings("Twilio.CURRENT").update(status="paused")
    assert (raised.value.status, raised.value.code) == (400, 16108)


def test_pause_twice_keeps_first_behaviour(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    first = (
        client.calls(call.sid)
        .recordings(recording.sid)
        .update(status="paused", pause_behavior="skip")
    )
    again = (
        client.calls(call.sid)
        .recordings(recording.sid)
        .update(status="paused", pause_behavior="silence")
    )
    assert again.status == "paused"
    assert again.date_updated == first.date_updated
    kinds = [(e["kind"], e["pause_behavior"]) for e in _events(server, account, recording.sid)]
    assert kinds == [("started", None), ("paused", "skip")]


def test_resume_running_recording_changes_nothing(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    same = client.calls(call.sid).recordings(recording.sid).update(status="in-progress")
    assert same.status == "in-progress"
    assert same.date_updated == recording.date_updated


@pytest.mark.parametrize("target", ["in-progress", "paused", "stopped"])
def test_stopped_recording_refuses_every_update(client: Any, target: str) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings(recording.sid).update(status=target)
    assert (raised.value.status, raised.value.code) == (400, 400)


@pytest.mark.parametrize("target", ["processing", "completed", "absent"])
def test_callrec_only_statuses_are_refused(client: Any, target: str) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings(recording.sid).update(status=target)
    assert (raised.value.status, raised.value.code) == (400, 400)
    assert client.calls(call.sid).recordings(recording.sid).fetch().status == "in-progress"


def test_update_after_call_ended_is_refused(client: Any) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    client.calls(call.sid).update(status="completed")
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings(recording.sid).update(status="paused")
    assert raised.value.status == 400
    assert raised.value.code == 400  # the call's end stopped the recording first


def test_skip_pause_is_left_out_of_duration_and_silence_kept(client: Any) -> None:
    call = answered_call(client)
    skip = client.calls(call.sid).recordings.create()
    silence = client.calls(call.sid).recordings.create()
    time.sleep(1.0)
    client.calls(call.sid).recordings(skip.sid).update(status="paused", pause_behavior="skip")
    client.calls(call.sid).recordings(silence.sid).update(status="paused", pause_behavior="silence")
    time.sleep(2.0)
    client.calls(call.sid).recordings(skip.sid).update(status="in-progress")
    client.calls(call.sid).recordings(silence.sid).update(status="in-progress")
    time.sleep(1.0)
    client.calls(call.sid).update(status="completed")

    def durations() -> tuple[int, int] | None:
        a = client.recordings(skip.sid).fetch()
        b = client.recordings(silence.sid).fetch()
        if a.status == b.status == "completed":
            return int(a.duration), int(b.duration)
        return None

    assert eventually(durations) == (2, 4)


def test_timeline_records_who_asked(
    client: Any, server: ServerProcess, account: AccountKeys
) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    time.sleep(0.6)
    client.calls(call.sid).recordings(recording.sid).update(status="paused", pause_behavior="skip")
    client.calls(call.sid).recordings(recording.sid).update(status="in-progress")
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    events = _events(server, account, recording.sid)
    assert [e["kind"] for e in events] == [
        "started",
        "paused",
        "resumed",
        "stopped",
        "processing",
        "completed",
    ]
    assert [e["actor"] for e in events[:4]] == [account.sid] * 4
    assert events[1]["pause_behavior"] == "skip"
    media = [e["media_at_ms"] for e in events[:4]]
    assert media == sorted(media)
    assert media[1] - media[0] >= 600  # paused after 0.6 s of the call's audio
