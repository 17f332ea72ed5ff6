"""The Calls resource through the SDK: an emulated call rings, answers itself, records on
request, and hangs up, stopping its recordings."""

from __future__ import annotations

import time
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import HOLD, answered_call, eventually


def test_create_is_queued_then_answered(client: Any, account: Any) -> None:
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    assert call.status == "queued"
    assert call.account_sid == account.sid
    assert (call.to, call._from, call.direction) == ("+15005550006", "+15005550001", "outbound-api")
    assert call.start_time is None
    answered = eventually(
        lambda: (c := client.calls(call.sid).fetch()).status == "in-progress" and c
    )
    assert answered.start_time is not None


def test_create_with_twiml_is_accepted(client: Any) -> None:
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml="<Response/>")
    assert call.status == "queued"


def test_record_true_starts_outbound_api_recording_on_answer(client: Any) -> None:
    call = answered_call(client, record=True, recording_channels="dual")
    recordings = client.calls(call.sid).recordings.list()
    assert [(r.source, r.status, r.channels, r.track) for r in recordings] == [
        ("OutboundAPI", "in-progress", 2, "both")
    ]


def test_hang_up_stops_every_live_recording(client: Any) -> None:
    call = answered_call(client)
    first = client.calls(call.sid).recordings.create()
    second = client.calls(call.sid).recordings.create()
    client.calls(call.sid).recordings(second.sid).update(status="paused")
    time.sleep(1.0)
    ended = client.calls(call.sid).update(status="completed")
    assert ended.status == "completed"
    assert ended.end_time is not None
    assert ended.duration is not None
    final = ("completed", "absent")
    for sid in (first.sid, second.sid):
        done = eventually(lambda s=sid: (r := client.recordings(s).fetch()).status in final and r)
        assert (done.status, done.duration) == ("completed", "1")


def test_cancel_before_answer(client: Any) -> None:
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    canceled = client.calls(call.sid).update(status="canceled")
    assert canceled.status == "canceled"
    assert client.calls(call.sid).fetch().status == "canceled"


def test_canceled_leaves_an_answered_call_alone(client: Any) -> None:
    call = answered_call(client)
    assert client.calls(call.sid).update(status="canceled").status == "in-progress"


def test_ended_call_refuses_updates_and_recordings(client: Any) -> None:
    call = answered_call(client)
    client.calls(call.sid).update(status="completed")
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).update(status="completed")
    assert (raised.value.status, raised.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings.create()
    assert (raised.value.status, raised.value.code) == (400, 21220)


def test_recording_a_queued_call_is_refused(client: Any) -> None:
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).recordings.create()
    assert (raised.value.status, raised.value.code) == (400, 21220)


def test_delete_ended_call_only(client: Any) -> None:
    call = answered_call(client)
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).delete()
    assert (raised.value.status, raised.value.code) == (400, 400)
    recording = client.calls(call.sid).recordings.create()
    client.calls(call.sid).update(status="completed")
    assert client.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    assert client.recordings(recording.sid).fetch().call_sid == call.sid


def test_list_filters_by_status_and_to(client: Any) -> None:
    queued = client.calls.create(to="+15005550111", from_="+15005550001", twiml=HOLD)
    client.calls(queued.sid).update(status="canceled")
    other = client.calls.create(to="+15005550222", from_="+15005550001", twiml=HOLD)
    assert [c.sid for c in client.calls.list(status="canceled")] == [queued.sid]
    assert [c.sid for c in client.calls.list(to="+15005550222")] == [other.sid]
    assert {c.sid for c in client.calls.list()} == {queued.sid, other.sid}


def test_unknown_call_is_404(client: Any) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.calls("CA" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


@pytest.mark.parametrize(
    ("to", "timeout", "ending"),
    [
        ("+15005550201", None, "busy"),
        ("+15005550202", 1, "no-answer"),
        ("+15005550203", None, "failed"),
        ("+15005550305", 1, "no-answer"),  # would answer after 5 s: the Timeout comes first
    ],
)
def test_the_callees_number_says_how_the_call_ends(
    client: Any, to: str, timeout: int | None, ending: str
) -> None:
    options = {"timeout": timeout} if timeout else {}
    call = client.calls.create(to=to, from_="+15005550001", twiml=HOLD, **options)
    ended = eventually(lambda: (c := client.calls(call.sid).fetch()).status == ending and c)
    assert ended.start_time is None
    assert ended.end_time is not None
    assert client.calls(call.sid).recordings.list() == []


def test_a_callee_can_answer_late(client: Any) -> None:
    call = client.calls.create(to="+15005550302", from_="+15005550001", twiml=HOLD)
    time.sleep(1.0)
    assert client.calls(call.sid).fetch().status in ("queued", "ringing")
    assert eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
