"""Once answered, a change is on disk: restarts and SIGKILL lose nothing; concurrent updates of
one recording serialize into a valid timeline."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import HOLD, answered_call, eventually
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess


@pytest.fixture
def own_server(deployment: Deployment) -> Iterator[ServerProcess]:
    process = ServerProcess(deployment).start()
    yield process
    process.kill()


def _client(server: ServerProcess) -> Any:
    return sdk_client(server.base_url, server.account_sid, server.auth_token)


def _timeline(server: ServerProcess, recording_sid: str) -> list[str]:
    """The kinds of the recording's timeline events, oldest first (callrec's Events.json)."""
    events = httpx.get(
        f"{server.base_url}/_callrec/Accounts/{server.account_sid}/Recordings/{recording_sid}"
        "/Events.json",
        auth=(server.account_sid, server.auth_token),
    ).json()["events"]
    return [event["kind"] for event in events]


def test_sigkill_after_answer_loses_nothing(own_server: ServerProcess) -> None:
    client = _client(own_server)
    call = answered_call(client)
    paused = client.calls(call.sid).recordings.create()
    client.calls(call.sid).recordings(paused.sid).update(status="paused", pause_behavior="skip")
    stopped = client.calls(call.sid).recordings.create()
    client.calls(call.sid).recordings(stopped.sid).update(status="stopped")
    own_server.kill()

    restarted = ServerProcess(own_server.deployment).start()
    try:
        assert restarted.account_sid == own_server.account_sid
        assert restarted.auth_token == own_server.auth_token
        client = _client(restarted)
        assert client.calls(call.sid).fetch().status == "in-progress"
        assert client.calls(call.sid).recordings(paused.sid).fetch().status == "paused"
        # The stopped recording is finalized by the new process.
        final = ("completed", "absent")
        done = eventually(lambda: client.recordings(stopped.sid).fetch().status in final)
        assert done
    finally:
        restarted.stop()


def test_queued_call_is_answered_after_restart(deployment: Deployment) -> None:
    server = ServerProcess(deployment, answer_delay=3.0).start()
    call = _client(server).calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    server.kill()
    restarted = ServerProcess(server.deployment, answer_delay=3.0).start()
    try:
        answered = eventually(
            lambda: _client(restarted).calls(call.sid).fetch().status == "in-progress"
        )
        assert answered
    finally:
        restarted.stop()


async def _hammer(server: ServerProcess, path: str, bodies: list[str]) -> list[httpx.Response]:
    auth = (server.account_sid, server.auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=server.base_url, auth=auth, limits=limits) as http:
        return await asyncio.gather(
            *(http.post(path, content=body, headers=headers) for body in bodies)
        )


def test_concurrent_updates_serialize(own_server: ServerProcess) -> None:
    client = _client(own_server)
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    path = (
        f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}/Recordings/{recording.sid}.json"
    )
    bodies = ["Status=paused&PauseBehavior=skip", "Status=in-progress"] * 100 + ["Status=stopped"]
    responses = asyncio.run(_hammer(own_server, path, bodies))

    assert all(r.status_code in (200, 400) for r in responses)
    answered_statuses = [r.json()["status"] for r in responses if r.status_code == 200]
    assert "stopped" in answered_statuses
    # Every refusal is the one a stopped recording gives: nothing else went wrong.
    assert all(r.json()["code"] == 400 for r in responses if r.status_code == 400)

    kinds = _timeline(own_server, recording.sid)
    assert kinds[0] == "started"
    live = kinds[: kinds.index("stopped")]
    # A valid timeline alternates pause and resume after the start; no update was lost or doubled.
    for before, after in itertools.pairwise(live):
        assert (before, after) in {
            ("started", "paused"),
            ("paused", "resumed"),
            ("resumed", "paused"),
        }
    changes = sum(1 for r in responses if r.status_code == 200)
    assert changes >= len(live)


def test_sigkill_under_load_keeps_every_answered_change(own_server: ServerProcess) -> None:
    """Six clients pause and resume their own recordings as fast as they can; the server is
    killed mid-flight. After the restart each timeline holds every answered change, in order,
    plus at most the one that was committed but not yet answered."""
    client = _client(own_server)
    targets = []
    for _ in range(6):
        call = answered_call(client)
        targets.append((call.sid, client.calls(call.sid).recordings.create().sid))
    answered = {sid: 0 for _, sid in targets}
    stop = threading.Event()

    def hammer(call_sid: str, sid: str) -> None:
        path = (
            f"/2010-04-01/Accounts/{own_server.account_sid}/Calls/{call_sid}/Recordings/{sid}.json"
        )
        auth = (own_server.account_sid, own_server.auth_token)
        with httpx.Client(base_url=own_server.base_url, auth=auth, timeout=5) as http:
            paused = False
            while not stop.is_set():
                try:
                    response = http.post(
                        path, data={"Status": "in-progress" if paused else "paused"}
                    )
                except httpx.TransportError:
                    return  # killed
                assert response.status_code == 200, response.text
                answered[sid] += 1
                paused = not paused

    threads = [threading.Thread(target=hammer, args=target) for target in targets]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    own_server.kill()
    stop.set()
    for thread in threads:
        thread.join()

    restarted = ServerProcess(own_server.deployment).start()
    try:
        for _, sid in targets:
            kinds = _timeline(restarted, sid)
            assert kinds[0] == "started"
            changes = kinds[1:]
            assert answered[sid] > 0
            assert answered[sid] <= len(changes) <= answered[sid] + 1
            assert changes == ["paused", "resumed"] * (len(changes) // 2) + ["paused"] * (
                len(changes) % 2
            )
            status = _client(restarted).recordings(sid).fetch().status
            assert status == ("paused" if len(changes) % 2 else "in-progress")
    finally:
        restarted.stop()
