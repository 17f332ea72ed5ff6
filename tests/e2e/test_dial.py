"""<Dial>: child calls that ring and answer as their numbers say, bridged to the parent, whose
recording `Twilio.CURRENT` pauses; the action hears how the dial ended."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import AccountKeys, Raw, eventually
from tests.support.receiver import Receiver


def _children(client: Any, parent_sid: str) -> list[Any]:
    return list(client.calls.list(parent_call_sid=parent_sid))


def _bridged(client: Any, parent_sid: str) -> Any:
    """The parent's child call, once it has answered."""

    def answered() -> list[Any]:
        return [c for c in _children(client, parent_sid) if c.status == "in-progress"]

    return eventually(answered)[0]


def _hang_up(raw: Raw, account: AccountKeys, call_sid: str) -> None:
    path = f"/_callrec/Accounts/{account.sid}/Calls/{call_sid}/Hangup.json"
    assert raw.request("POST", path).status_code == 200


def test_dial_records_the_parent_and_current_pauses_it(
    client: Any, account: AccountKeys, app: Receiver, raw: Raw
) -> None:
    app.pages["/voice"] = (
        "<Response><Dial record='record-from-answer-dual' action='/dialed'"
        " recordingStatusCallback='/recorded'><Number>+15005550006</Number></Dial></Response>"
    )
    app.pages["/dialed"] = "<Response><Hangup/></Response>"
    parent = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    child = eventually(
        lambda: [c for c in _children(client, parent.sid) if c.status == "in-progress"]
    )[0]
    assert (child.direction, child.parent_call_sid) == ("outbound-dial", parent.sid)
    assert (child.to, child._from) == ("+15005550006", "+15005550001")
    recording = eventually(lambda: client.calls(parent.sid).recordings.list())[0]
    assert (recording.source, recording.channels) == ("DialVerb", 2)
    current = client.calls(parent.sid).recordings("Twilio.CURRENT")
    assert current.update(status="paused", pause_behavior="skip").sid == recording.sid
    current.update(status="in-progress")
    time.sleep(1.5)
    _hang_up(raw, account, child.sid)  # the callee hangs up
    assert eventually(lambda: app.to("/dialed"))
    dialed = app.to("/dialed")[0].params
    assert (dialed["DialCallStatus"], dialed["DialCallSid"], dialed["DialBridged"]) == (
        "completed", child.sid, "true",
    )  # fmt: skip
    assert int(dialed["DialCallDuration"]) >= 1
    assert dialed["RecordingSid"] == recording.sid
    assert client.recordings(recording.sid).fetch().status == "completed"
    assert dialed["RecordingDuration"] == client.recordings(recording.sid).fetch().duration
    assert eventually(lambda: app.to("/recorded"))
    assert eventually(lambda: client.calls(parent.sid).fetch().status == "completed")


def test_a_busy_callee_is_told_to_the_action(client: Any, app: Receiver) -> None:
    app.pages["/voice"] = "<Response><Dial action='/dialed'>+15005550201</Dial></Response>"
    app.pages["/dialed"] = "<Response><Hangup/></Response>"
    parent = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: app.to("/dialed"))
    dialed = app.to("/dialed")[0].params
    assert (dialed["DialCallStatus"], dialed["DialBridged"]) == ("busy", "false")
    (child,) = _children(client, parent.sid)
    assert (child.sid, child.status) == (dialed["DialCallSid"], "busy")
    assert "RecordingUrl" not in dialed


def test_a_dial_without_action_goes_on_with_the_next_verb(client: Any, app: Receiver) -> None:
    app.pages["/voice"] = (
        "<Response><Dial timeout='1'>+15005550202</Dial><Redirect>/after</Redirect></Response>"
    )
    app.pages["/after"] = "<Response><Hangup/></Response>"
    parent = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: app.to("/after"))
    assert [c.status for c in _children(client, parent.sid)] == ["no-answer"]


def test_the_parent_hanging_up_ends_the_child(client: Any, app: Receiver) -> None:
    app.pages["/voice"] = "<Response><Dial><Client>alice</Client></Dial></Response>"
    parent = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    child = eventually(
        lambda: [c for c in _children(client, parent.sid) if c.status == "in-progress"]
    )[0]
    assert child.to == "client:alice"
    client.calls(parent.sid).update(status="completed")
    assert eventually(lambda: client.calls(child.sid).fetch().status == "completed")


def test_a_dialed_leg_reports_its_progress(
    client: Any, account: AccountKeys, app: Receiver
) -> None:
    app.pages["/voice"] = (
        "<Response><Dial timeLimit='1'><Number statusCallback='/leg'"
        " statusCallbackEvent='initiated ringing answered completed'>+15005550006</Number>"
        "</Dial></Response>"
    )
    parent = client.calls.create(to="+15005550006", from_="+15005550001", url=f"{app.base}/voice")
    assert eventually(lambda: len(app.to("/leg")) == 4)
    reports = app.to("/leg")
    assert [r.params["CallStatus"] for r in reports] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert [r.params["SequenceNumber"] for r in reports] == ["0", "1", "2", "3"]
    (child,) = _children(client, parent.sid)
    for report in reports:
        assert (report.params["CallSid"], report.params["ParentCallSid"]) == (child.sid, parent.sid)
        assert report.params["Direction"] == "outbound-dial"
        assert report.signed_with(account.token)
