"""Several server processes on one PostgreSQL database: any of them answers any request, a pause
answered by one reaches the stream that another holds, and one's death loses nothing.

Three real processes share one data directory and one database; requests go to all of them; a
real media stream is connected to one. The audio is analysed as in the single-process stream
test: the skip span cut, the silence span silent, and not one byte of what was said while paused
anywhere under the data directory."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import HOLD, eventually
from tests.support.audio import (
    INBOUND_HZ,
    Caller,
    Timeline,
    basic_auth,
    dominant_hz,
    longest_silence,
    secret_kept,
    wav,
    ws_url,
)
from tests.support.client import sdk_client
from tests.support.postgres import PostgresServer
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess
from tests.support.streamer import TwilioStreamer

FRAME = 160  # samples of one 20 ms frame at 8 kHz


class Fleet:
    """Server processes of one deployment, started together, with one account given to all."""

    def __init__(self, deployment: Deployment, size: int, *extra_args: str) -> None:
        self.sid, self.token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
        env = {"TWILIO_ACCOUNT_SID": self.sid, "TWILIO_AUTH_TOKEN": self.token}
        self.servers = [
            ServerProcess(deployment, env=env, extra_args=extra_args) for _ in range(size)
        ]
        failures: list[BaseException] = []

        def start(server: ServerProcess) -> None:
            try:
                server.start()
            except BaseException as error:  # reported below, in the test's thread
                failures.append(error)

        threads = [threading.Thread(target=start, args=(s,)) for s in self.servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            self.kill()
            raise failures[0]

    def client(self, index: int) -> Any:
        return sdk_client(self.servers[index].base_url, self.sid, self.token)

    def events(self, index: int, recording_sid: str) -> list[dict[str, Any]]:
        server = self.servers[index]
        url = f"{server.base_url}/_callrec/Accounts/{self.sid}/Recordings/{recording_sid}"
        response = httpx.get(f"{url}/Events.json", auth=(self.sid, self.token))
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def kill(self) -> None:
        for server in self.servers:
            server.kill()


@pytest.fixture
def shared(postgres: PostgresServer, tmp_path: Path) -> Deployment:
    return Deployment(tmp_path / "data", postgres.create_database())


@pytest.fixture
def fleet(shared: Deployment) -> Iterator[Fleet]:
    started = Fleet(shared, 3, "--stream-grace", "1")
    yield started
    started.kill()


def test_processes_started_together_share_one_schema_and_one_account(fleet: Fleet) -> None:
    # All three migrated one database and were given the same new account at once.
    for index in range(3):
        server = fleet.servers[index]
        assert (server.account_sid, server.auth_token) == (fleet.sid, fleet.token)
        assert fleet.client(index).calls.list() == []


def test_a_pause_through_another_process_reaches_the_stream(fleet: Fleet) -> None:
    a, b, c = 0, 1, 2
    call_sid = "CA" + secrets.token_hex(16)
    caller = Caller()
    streamer = TwilioStreamer(
        ws_url(fleet.servers[a]), fleet.sid, call_sid, basic_auth(fleet.sid, fleet.token), caller
    ).start()
    try:
        streamer.wait_for_frame(10)
        skip = fleet.client(b).calls(call_sid).recordings.create(recording_channels="dual")
        silence = fleet.client(c).calls(call_sid).recordings.create(recording_channels="dual")
        streamer.wait_for_frame(streamer.sent + 50)  # 1 s recorded
        fleet.client(b).calls(call_sid).recordings(skip.sid).update(
            status="paused", pause_behavior="skip"
        )
        fleet.client(c).calls(call_sid).recordings(silence.sid).update(status="paused")
        caller.secret = True  # both pauses answered, by processes other than the stream's
        streamer.wait_for_frame(streamer.sent + 75)  # 1.5 s of card number
        caller.secret = False
        fleet.client(c).calls(call_sid).recordings(skip.sid).update(status="in-progress")
        fleet.client(b).calls(call_sid).recordings(silence.sid).update(status="in-progress")
        streamer.wait_for_frame(streamer.sent + 50)
        # By Twilio.CURRENT, through the third process: stop one, then pause the other.
        fleet.client(b).calls(call_sid).recordings(silence.sid).update(status="stopped")
        current = fleet.client(c).calls(call_sid).recordings("Twilio.CURRENT")
        assert current.update(status="paused", pause_behavior="skip").sid == skip.sid
        caller.secret = True
        streamer.wait_for_frame(streamer.sent + 25)
        caller.secret = False
        current.update(status="in-progress")
        streamer.wait_for_frame(streamer.sent + 25)
    finally:
        streamer.finish()  # `stop`: the call ends, its recordings stop

    client = fleet.client(c)
    for sid in (skip.sid, silence.sid):
        assert eventually(lambda s=sid: client.recordings(s).fetch().status == "completed")
    skipped = wav(fleet.servers[b], fleet.sid, fleet.token, skip.sid)
    kept = wav(fleet.servers[c], fleet.sid, fleet.token, silence.sid)
    secret = caller.secret_frames
    # The audio agrees with each timeline to a frame, whichever process answered what: the
    # skip spans cut, the silence span silent for as long as it lasted.
    skip_timeline = Timeline.of(fleet.events(a, skip.sid))
    silence_timeline = Timeline.of(fleet.events(b, silence.sid))
    assert abs(len(skipped) - skip_timeline.samples) <= FRAME
    assert abs(len(kept) - silence_timeline.samples) <= FRAME
    assert longest_silence(skipped[:, 0]) < 3 * FRAME
    ((begin, end, _),) = silence_timeline.pauses
    assert abs(longest_silence(kept[:, 0]) - (end - begin)) <= 2 * FRAME
    assert len(secret) * FRAME <= sum(end - begin for begin, end, _ in skip_timeline.pauses)
    assert abs(dominant_hz(kept[:, 0]) - INBOUND_HZ) < 3
    assert secret_kept(fleet.servers[a].data_dir, streamer.payloads, secret) == []
    # Each timeline says who did what, in order, whichever process answered.
    kinds = [event["kind"] for event in fleet.events(a, skip.sid)]
    assert kinds[:6] == ["started", "paused", "resumed", "paused", "resumed", "stopped"]


def test_sigkill_of_the_streams_process_ends_its_calls_complete(fleet: Fleet) -> None:
    a, b = 0, 1
    receiver = Receiver().start()
    call_sid = "CA" + secrets.token_hex(16)
    streamer = TwilioStreamer(
        ws_url(fleet.servers[a]), fleet.sid, call_sid, basic_auth(fleet.sid, fleet.token),
        Caller(),
    )  # fmt: skip
    streamer.send_stop = False
    try:
        streamer.start()
        streamer.wait_for_frame(10)
        recording = (
            fleet.client(b)
            .calls(call_sid)
            .recordings.create(
                recording_track="inbound",  # one tone, the caller's: the one to hear
                recording_status_callback=f"{receiver.base}/cb",
                recording_status_callback_event=["in-progress", "completed"],
            )
        )
        streamer.wait_for_frame(streamer.sent + 100)  # 2 s captured, on a
        fleet.servers[a].kill()
        streamer.finish()

        # Another process takes the call over, waits the grace time for the stream to come
        # back, then ends it; the recording is rendered from what a had captured.
        client = fleet.client(b)
        done = eventually(
            lambda: (r := client.recordings(recording.sid).fetch()).status == "completed" and r,
            timeout=20,
        )
        assert done
        assert int(done.duration) >= 1
        assert client.calls(call_sid).fetch().status == "completed"
        assert abs(dominant_hz(wav(fleet.servers[b], fleet.sid, fleet.token, recording.sid)[:, 0])
                   - INBOUND_HZ) < 3  # fmt: skip
        # The timeline says the audio stopped because a process died, not because of a pause.
        events = fleet.events(b, recording.sid)
        (gap,) = [event for event in events if event["kind"] == "interrupted"]
        assert "process" in gap["detail"]
        assert [e["kind"] for e in events if e["kind"] in ("paused", "resumed")] == []
        # Both callbacks arrive once, in order: the completed one sent by a live process.
        assert eventually(lambda: len(receiver.requests) == 2, timeout=10)
        time.sleep(0.5)
        assert [r.params["RecordingStatus"] for r in receiver.requests] == [
            "in-progress",
            "completed",
        ]
    finally:
        receiver.stop()


def test_a_stream_may_come_back_to_another_process(fleet: Fleet) -> None:
    a, b, c = 0, 1, 2
    call_sid = "CA" + secrets.token_hex(16)
    auth = basic_auth(fleet.sid, fleet.token)

    def stream_to(index: int, frames: int, caller: Caller) -> TwilioStreamer:
        streamer = TwilioStreamer(ws_url(fleet.servers[index]), fleet.sid, call_sid, auth, caller)
        streamer.send_stop = False  # the socket just goes away
        streamer.start().wait_for_frame(frames)
        return streamer

    first = stream_to(a, 10, Caller())
    recording = fleet.client(c).calls(call_sid).recordings.create()
    first.wait_for_frame(first.sent + 25)
    first.finish()  # dropped: a gives it the grace time
    caller = Caller()
    second = stream_to(b, 25, caller)  # back within it, on b: a hands the call over
    fleet.client(c).calls(call_sid).recordings(recording.sid).update(status="paused")
    caller.secret = True
    second.wait_for_frame(second.sent + 25)
    caller.secret = False
    fleet.client(a).calls(call_sid).recordings(recording.sid).update(status="in-progress")
    second.wait_for_frame(second.sent + 25)
    fleet.client(a).calls(call_sid).update(status="completed")
    second.finish()

    client = fleet.client(c)
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    kinds = [event["kind"] for event in fleet.events(c, recording.sid)]
    assert kinds[:5] == ["started", "interrupted", "restored", "paused", "resumed"]
    assert secret_kept(fleet.servers[a].data_dir, second.payloads, caller.secret_frames) == []


def test_a_process_cut_off_too_long_lets_go_and_joins_again(
    fleet: Fleet, shared: Deployment
) -> None:
    """A process frozen while the others take it over writes nothing once it wakes: it fenced
    itself, closes its streams and joins again as a new process; its call ends complete."""
    a, b = 0, 1
    call_sid = "CA" + secrets.token_hex(16)
    caller = Caller()
    streamer = TwilioStreamer(
        ws_url(fleet.servers[a]), fleet.sid, call_sid, basic_auth(fleet.sid, fleet.token), caller
    )
    streamer.send_stop = False
    streamer.start()
    try:
        streamer.wait_for_frame(10)
        recording = fleet.client(b).calls(call_sid).recordings.create()
        streamer.wait_for_frame(streamer.sent + 50)
        first_id = _process_id(fleet.servers[a])
        fleet.servers[a].freeze()
        assert shared.database is not None
        _end_session_of(shared.database, first_id)  # a's presence is gone; a cannot tell
        client = fleet.client(b)
        # b takes a over, gives the call the grace time, then ends it.
        assert eventually(lambda: client.calls(call_sid).fetch().status == "completed", 20)
        caller.secret = True  # whatever reaches a from now on must never be written
        fleet.servers[a].thaw()
        assert eventually(lambda: streamer.closed_by_server, timeout=10)  # 1012: let go
        assert eventually(lambda: _process_id(fleet.servers[a]) != first_id, timeout=10)
    finally:
        streamer.finish()
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    assert secret_kept(fleet.servers[a].data_dir, streamer.payloads, caller.secret_frames) == []
    # a serves again, as a new process: a call made through it rings and is answered there.
    call = fleet.client(a).calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
    assert eventually(lambda: fleet.client(a).calls(call.sid).fetch().status == "in-progress")


def _process_id(server: ServerProcess) -> int:
    stats = httpx.get(f"{server.base_url}/_callrec/stats.json", timeout=5).json()
    process_id: int = stats["process_id"]
    return process_id


def _end_session_of(database: str, process_id: int) -> None:
    """End the database session that holds a process's presence, as a network cut would."""

    async def terminate() -> None:
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objsubid = 2 AND objid = $1 AND granted",
                process_id,
            )
        finally:
            await conn.close()

    asyncio.run(terminate())


def test_any_process_answers_as_one_process_would(fleet: Fleet) -> None:
    """Paging tokens, errors and Twilio.CURRENT's rules are the same whichever process answers;
    concurrent conflicting updates of one recording through all three make a valid timeline and
    lose nothing; its callbacks arrive once each, in order."""
    receiver = Receiver().start()
    try:
        calls = []
        for index in range(5):
            client = fleet.client(index % 3)
            call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
            calls.append(call.sid)
        assert eventually(
            lambda: all(fleet.client(1).calls(sid).fetch().status == "in-progress" for sid in calls)
        )
        # A list followed page by page, each page from another process.
        seen: list[str] = []
        index = 0
        path = f"/2010-04-01/Accounts/{fleet.sid}/Calls.json?PageSize=2"
        while path:
            server = fleet.servers[index % 3]
            body = httpx.get(server.base_url + path, auth=(fleet.sid, fleet.token)).json()
            seen += [call["sid"] for call in body["calls"]]
            path, index = body["next_page_uri"], index + 1
        assert sorted(seen) == sorted(calls)
        # Errors: the same from every process, whoever owns the call.
        owned_by_a = calls[0]
        fleet.client(1).calls(owned_by_a).recordings.create()
        fleet.client(2).calls(owned_by_a).recordings.create()
        for index in range(3):
            current = fleet.client(index).calls(owned_by_a).recordings("Twilio.CURRENT")
            with pytest.raises(TwilioRestException) as several:
                current.update(status="paused")
            assert (several.value.status, several.value.code) == (400, 16108)
            with pytest.raises(TwilioRestException) as missing:
                fleet.client(index).calls(owned_by_a).recordings("RE" + "0" * 32).fetch()
            assert (missing.value.status, missing.value.code) == (404, 20404)

        # Conflicting updates of one recording, all at once, through all three processes.
        call_sid = calls[1]
        recording = (
            fleet.client(2)
            .calls(call_sid)
            .recordings.create(
                recording_status_callback=f"{receiver.base}/cb",
                recording_status_callback_event=["paused", "resumed"],
            )
        )
        bodies = ["Status=paused&PauseBehavior=skip", "Status=in-progress"] * 30

        async def hammer() -> list[httpx.Response]:
            async with httpx.AsyncClient(auth=(fleet.sid, fleet.token), timeout=30) as http:
                return await asyncio.gather(
                    *(
                        http.post(
                            f"{fleet.servers[n % 3].base_url}/2010-04-01/Accounts/{fleet.sid}"
                            f"/Calls/{call_sid}/Recordings/{recording.sid}.json",
                            content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        )
                        for n, body in enumerate(bodies)
                    )
                )

        responses = asyncio.run(hammer())
        assert {r.status_code for r in responses} == {200}
        kinds = [e["kind"] for e in fleet.events(0, recording.sid)]
        assert kinds[0] == "started"
        for before, after in itertools.pairwise(kinds):
            assert (before, after) in {("started", "paused"), ("paused", "resumed"),
                                       ("resumed", "paused")}  # fmt: skip
        changes = kinds[1:]
        # One callback per change, in the timeline's order, none twice.
        assert eventually(lambda: len(receiver.requests) >= len(changes), timeout=15)
        time.sleep(0.5)
        sent = [r.params["CallrecEvent"] for r in receiver.requests]
        assert sent == changes
    finally:
        receiver.stop()


def test_a_rolling_restart_loses_no_answered_change_and_no_callback(fleet: Fleet) -> None:
    """SIGTERM to the process that holds a call's stream, while updates go to every process:
    it exits 0, the stream is told to connect again (it does, to another process), and every
    update answered 200 is in the timeline, every callback delivered once, in order."""
    a, b = 0, 1
    receiver = Receiver().start()
    call_sid = "CA" + secrets.token_hex(16)
    auth = basic_auth(fleet.sid, fleet.token)
    first = TwilioStreamer(ws_url(fleet.servers[a]), fleet.sid, call_sid, auth, Caller())
    first.send_stop = False
    first.start().wait_for_frame(10)
    recording = (
        fleet.client(b)
        .calls(call_sid)
        .recordings.create(
            recording_status_callback=f"{receiver.base}/cb",
            recording_status_callback_event=["in-progress", "paused", "resumed", "completed"],
        )
    )
    answered: list[str] = []
    stop_updating = threading.Event()

    def update_all_along() -> None:
        while not stop_updating.is_set():
            target = "in-progress" if answered[-1:] == ["paused"] else "paused"
            for index in (a, b, 2):
                try:
                    handle = fleet.client(index).calls(call_sid).recordings(recording.sid)
                    handle.update(status=target)
                    answered.append(target)
                    break
                except (TwilioRestException, httpx.HTTPError, OSError):
                    continue  # refused or cut off: not answered, so nothing is promised
            time.sleep(0.05)

    updater = threading.Thread(target=update_all_along)
    updater.start()
    try:
        first.wait_for_frame(first.sent + 25)
        fleet.servers[a].stop()  # SIGTERM: exit 0, "stopped cleanly" (checked by stop)
        assert eventually(lambda: first.closed_by_server)
        first.finish()
        second = TwilioStreamer(ws_url(fleet.servers[b]), fleet.sid, call_sid, auth, Caller())
        second.send_stop = False
        second.start().wait_for_frame(50)
    finally:
        stop_updating.set()
        updater.join()
    if answered[-1] == "paused":
        fleet.client(b).calls(call_sid).recordings(recording.sid).update(status="in-progress")
        answered.append("in-progress")
    fleet.client(b).calls(call_sid).update(status="completed")
    second.finish()

    client = fleet.client(b)
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    events = fleet.events(b, recording.sid)
    changes = [e["kind"] for e in events if e["kind"] in ("paused", "resumed")]
    assert changes == ["paused" if t == "paused" else "resumed" for t in answered]
    assert len(answered) > 4
    statuses = eventually(
        lambda: (
            len(receiver.requests) == len(answered) + 2
            and [r.params["RecordingStatus"] for r in receiver.requests]
        ),
        timeout=15,
    )
    receiver.stop()
    assert statuses == ["in-progress", *answered, "completed"]
