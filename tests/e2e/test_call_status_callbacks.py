"""Call status callbacks: a call's progress, as subscribed with StatusCallbackEvent, signed,
numbered and in order, through the same durable outbox as recordings' callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import HOLD, AccountKeys, eventually
from tests.support.receiver import Receiver


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_every_step_of_a_call_is_reported_in_order(
    client: Any, account: AccountKeys, app: Receiver, method: str
) -> None:
    call = client.calls.create(
        to="+15005550006", from_="+15005550001", twiml=HOLD,
        status_callback=f"{app.base}/progress?app=1", status_callback_method=method,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )  # fmt: skip
    eventually(lambda: client.calls(call.sid).fetch().status == "in-progress")
    client.calls(call.sid).update(status="completed")
    assert eventually(lambda: len(app.to("/progress")) == 4)
    reports = app.to("/progress")
    assert [r.params["CallStatus"] for r in reports] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert [r.params["SequenceNumber"] for r in reports] == ["0", "1", "2", "3"]
    assert all(r.method == method and r.signed_with(account.token) for r in reports)
    for report in reports:
        assert report.params["CallSid"] == call.sid
        assert report.params["AccountSid"] == account.sid
        assert report.params["CallbackSource"] == "call-progress-events"
        assert report.params["Direction"] == "outbound-api"
        assert report.params["Timestamp"].endswith("+0000")
    ended = client.calls(call.sid).fetch()
    completed = reports[-1].params
    assert completed["CallDuration"] == ended.duration
    assert completed["SipResponseCode"] == "200"
    assert "CallDuration" not in reports[2].params


def test_by_default_only_the_end_is_reported(client: Any, app: Receiver) -> None:
    busy = client.calls.create(
        to="+15005550201", from_="+15005550001", twiml=HOLD, status_callback=f"{app.base}/end"
    )
    assert eventually(lambda: app.to("/end"))
    (report,) = app.to("/end")
    params = report.params
    assert (params["CallSid"], params["CallStatus"]) == (busy.sid, "busy")
    assert (params["SipResponseCode"], params["CallDuration"], params["Duration"]) == (
        "486", "0", "0",
    )  # fmt: skip


def test_a_call_that_ends_its_twiml_reports_completed(client: Any, app: Receiver) -> None:
    call = client.calls.create(
        to="+15005550006", from_="+15005550001", twiml="<Response><Pause length='1'/></Response>",
        status_callback=f"{app.base}/end", status_callback_event="answered completed",
    )  # fmt: skip
    assert eventually(lambda: len(app.to("/end")) == 2)
    statuses = [r.params["CallStatus"] for r in app.to("/end")]
    assert statuses == ["in-progress", "completed"]
    assert app.to("/end")[1].params["CallSid"] == call.sid


def test_unknown_events_are_refused(client: Any) -> None:
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(
            to="+15005550006", from_="+15005550001", twiml=HOLD,
            status_callback="http://127.0.0.1:9/x", status_callback_event=["hung-up"],
        )  # fmt: skip
    assert (refused.value.status, refused.value.code) == (400, 400)
    assert "StatusCallbackEvent" in refused.value.msg
