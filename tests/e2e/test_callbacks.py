"""Status callbacks: what Twilio sends, signed so the official RequestValidator accepts them,
durable through a receiver that is down and a server that is killed, and dead letters replayed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import AccountKeys, answered_call, eventually
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess


@pytest.fixture
def receiver(app: Receiver) -> Receiver:
    return app


def _record_and_stop(client: Any, seconds: float = 0.7, **options: Any) -> tuple[Any, Any]:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(**options)
    time.sleep(seconds)
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    final = ("completed", "absent")
    done = eventually(lambda: (r := client.recordings(recording.sid).fetch()).status in final and r)
    return call, done


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_signed_callbacks_match_the_resource(
    client: Any, account: AccountKeys, receiver: Receiver, method: str
) -> None:
    url = f"{receiver.base}/status?app=1"
    call, recording = _record_and_stop(
        client,
        recording_status_callback=url,
        recording_status_callback_event=["in-progress", "completed"],
        recording_status_callback_method=method,
    )
    assert eventually(lambda: len(receiver.requests) >= 2)
    started, completed = receiver.requests
    assert [r.params["RecordingStatus"] for r in receiver.requests] == ["in-progress", "completed"]
    for request in receiver.requests:
        assert request.method == method
        assert request.signed_with(account.token), request
        assert request.params["RecordingSid"] == recording.sid
        assert request.params["CallSid"] == call.sid
        assert request.params["AccountSid"] == account.sid
        assert request.params["RecordingUrl"] == recording.media_url
        assert request.params["RecordingChannels"] == str(recording.channels)
        assert request.params["RecordingSource"] == recording.source
        assert request.params["RecordingTrack"] == "both"
        assert "CallrecEvent" not in request.params
    assert completed.params["RecordingDuration"] == recording.duration
    assert "RecordingDuration" not in started.params
    if method == "GET":
        assert completed.url.startswith(url + "&")
    # `completed` is sent only once the media can be downloaded.
    media = httpx.get(recording.media_url, auth=(account.sid, account.token))
    assert media.status_code == 200


def test_default_is_completed_only_and_fragment_is_not_signed(
    client: Any, account: AccountKeys, receiver: Receiver
) -> None:
    url = f"{receiver.base}/cb#rc=2&rp=all&ct=2000&rt=3000"
    _record_and_stop(client, recording_status_callback=url)
    assert eventually(lambda: receiver.requests)
    time.sleep(0.5)
    (only,) = receiver.requests
    assert only.params["RecordingStatus"] == "completed"
    assert only.url == f"{receiver.base}/cb"
    assert only.signed_with(account.token)


def test_absent_carries_its_error_code(
    client: Any, account: AccountKeys, receiver: Receiver
) -> None:
    _, recording = _record_and_stop(
        client, 0.0, recording_status_callback=f"{receiver.base}/cb",
        recording_status_callback_event="completed absent",
    )  # fmt: skip
    assert recording.status == "absent"
    assert eventually(lambda: receiver.requests)
    (only,) = receiver.requests
    assert (only.params["RecordingStatus"], only.params["ErrorCode"]) == ("absent", "16101")


def test_pause_events_beyond_twilio_are_opt_in(
    client: Any, account: AccountKeys, receiver: Receiver
) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(
        recording_status_callback=f"{receiver.base}/audit",
        recording_status_callback_event=["paused", "resumed", "stopped"],
    )
    for status in ("paused", "in-progress", "stopped"):
        client.calls(call.sid).recordings(recording.sid).update(status=status)
    assert eventually(lambda: len(receiver.requests) == 3)
    events = [(r.params["CallrecEvent"], r.params["RecordingStatus"]) for r in receiver.requests]
    assert events == [("paused", "paused"), ("resumed", "in-progress"), ("stopped", "stopped")]
    assert all(r.signed_with(account.token) for r in receiver.requests)


@pytest.fixture
def fast_retries(deployment: Deployment) -> Iterator[ServerProcess]:
    server = ServerProcess(deployment, extra_args=("--callback-retry-delays", "1,1,1"))
    yield server.start()
    server.kill()


def test_a_receiver_that_was_down_gets_everything_in_order(deployment: Deployment) -> None:
    # Retries every second, many of them: the receiver comes up long before they run out.
    delays = ("--callback-retry-delays", ",".join(["1"] * 20))
    server = ServerProcess(deployment, extra_args=delays).start()
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    receiver = Receiver()  # not started: connections are refused
    call = answered_call(client)
    sids = []
    for _ in range(3):
        recording = client.calls(call.sid).recordings.create(
            recording_status_callback=f"{receiver.base}/cb",
            recording_status_callback_event=["in-progress", "completed"],
        )
        sids.append(recording.sid)
    time.sleep(0.6)
    client.calls(call.sid).update(status="completed")
    time.sleep(1.5)
    receiver.start()
    try:
        assert eventually(lambda: len(receiver.requests) == 6, timeout=15)
        for sid in sids:
            mine = [
                r.params["RecordingStatus"]
                for r in receiver.requests
                if r.params["RecordingSid"] == sid
            ]
            assert mine == ["in-progress", "completed"]
    finally:
        receiver.stop()
        server.kill()


def test_callbacks_pending_at_sigkill_are_sent_after_restart(deployment: Deployment) -> None:
    retry = ("--callback-retry-delays", "2")
    server = ServerProcess(deployment, extra_args=retry).start()
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    receiver = Receiver()  # down: every attempt before the crash is refused
    _, recording = _record_and_stop(
        client, recording_status_callback=f"{receiver.base}/cb",
        recording_status_callback_event=["in-progress", "completed"],
    )  # fmt: skip
    server.kill()
    receiver.start()
    restarted = ServerProcess(deployment, extra_args=retry).start()
    try:
        assert eventually(lambda: len(receiver.requests) == 2, timeout=15)
        statuses = [r.params["RecordingStatus"] for r in receiver.requests]
        assert statuses == ["in-progress", "completed"]
        assert {r.params["RecordingSid"] for r in receiver.requests} == {recording.sid}
    finally:
        restarted.stop()
        receiver.stop()


def test_a_receiver_that_always_fails_gets_a_dead_letter_that_replays(
    fast_retries: ServerProcess,
) -> None:
    server = fast_retries
    keys = AccountKeys(server.account_sid, server.auth_token, server.deployment)
    client = sdk_client(server.base_url, keys.sid, keys.token)
    receiver = Receiver(status=500).start()
    try:
        _, recording = _record_and_stop(client, recording_status_callback=f"{receiver.base}/cb")
        dead_url = f"{server.base_url}/_callrec/Accounts/{keys.sid}/Callbacks/DeadLetters.json"
        auth = (keys.sid, keys.token)
        dead = eventually(lambda: httpx.get(dead_url, auth=auth).json()["dead_letters"], 15)
        assert len(receiver.requests) == 4  # the first attempt and three retries
        (letter,) = dead
        assert (letter["recording_sid"], letter["attempts"]) == (recording.sid, 4)
        assert letter["last_error"] == "HTTP 500"
        listed = subprocess.run(
            [sys.executable, "-m", "callrec", "callbacks", "dead", *server.deployment.args,
             "--account", keys.sid, "--json"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert [item["id"] for item in json.loads(listed)] == [letter["id"]]

        receiver.status = 200
        replay = (
            f"{server.base_url}/_callrec/Accounts/{keys.sid}/Callbacks/{letter['id']}/Replay.json"
        )
        assert httpx.post(replay, auth=auth).status_code == 200
        assert eventually(lambda: receiver.requests[-1:] and len(receiver.requests) == 5)
        assert receiver.requests[-1].signed_with(keys.token)
        assert httpx.get(dead_url, auth=auth).json()["dead_letters"] == []
        missing = httpx.post(replay, auth=auth)
        assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    finally:
        receiver.stop()


def test_a_4xx_is_final(fast_retries: ServerProcess) -> None:
    server = fast_retries
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    receiver = Receiver(status=404).start()
    try:
        _record_and_stop(client, recording_status_callback=f"{receiver.base}/cb")
        dead_url = (
            f"{server.base_url}/_callrec/Accounts/{server.account_sid}/Callbacks/DeadLetters.json"
        )
        auth = (server.account_sid, server.auth_token)
        assert eventually(lambda: httpx.get(dead_url, auth=auth).json()["dead_letters"], 10)
        time.sleep(1.5)
        assert len(receiver.requests) == 1
    finally:
        receiver.stop()


def test_a_slow_receiver_holds_up_only_its_own_recordings(client: Any) -> None:
    slow, fast = Receiver(delay=4.0).start(), Receiver().start()
    try:
        call = answered_call(client)
        events = ["in-progress", "completed"]
        for _ in range(3):
            client.calls(call.sid).recordings.create(
                recording_status_callback=f"{slow.base}/cb", recording_status_callback_event=events
            )
        began = time.monotonic()
        quick = client.calls(call.sid).recordings.create(
            recording_status_callback=f"{fast.base}/cb", recording_status_callback_event=events
        )
        assert eventually(lambda: fast.requests, timeout=3)
        assert fast.requests[0].at - began < 2.0  # not behind the slow receiver's 4 s answers
        assert fast.requests[0].params["RecordingSid"] == quick.sid
    finally:
        slow.stop()
        fast.stop()


def test_concurrent_updates_of_one_recording_call_back_once_each_in_order(
    client: Any, account: AccountKeys, receiver: Receiver, server: ServerProcess
) -> None:
    """Changes committed together wake one drain of their recording, never two: each callback
    is delivered once, in the order of the timeline."""
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(
        recording_status_callback=f"{receiver.base}/audit",
        recording_status_callback_event=["paused", "resumed"],
    )
    path = f"/2010-04-01/Accounts/{account.sid}/Calls/{call.sid}/Recordings/{recording.sid}.json"
    bodies = [{"Status": "paused"}, {"Status": "in-progress"}] * 40

    async def hammer() -> list[httpx.Response]:
        auth = (account.sid, account.token)
        async with httpx.AsyncClient(base_url=server.base_url, auth=auth) as http:
            return await asyncio.gather(*(http.post(path, data=body) for body in bodies))

    responses = asyncio.run(hammer())
    assert all(r.status_code == 200 for r in responses)
    events = httpx.get(
        f"{server.base_url}/_callrec/Accounts/{account.sid}/Recordings/{recording.sid}/Events.json",
        auth=(account.sid, account.token),
    ).json()["events"]
    changes = [e["kind"] for e in events[1:]]  # after `started`
    assert eventually(lambda: len(receiver.requests) >= len(changes))
    time.sleep(0.5)  # a duplicate would arrive by now
    sent = [r.params["CallrecEvent"] for r in receiver.requests]
    assert sent == changes
