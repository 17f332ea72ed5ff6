"""`callrec copy`: a SQLite deployment killed mid-flight moves to PostgreSQL, row for row; a
server on the copy shows the SDK exactly what the old one did (calls, recordings, timelines,
dead letters, credentials) and carries on: the dead server's live call and pending callbacks are
taken over, new rows get new ids. Copying into a database that holds data is refused."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from callrec.server import open_accounts
from callrec.storage.copy import PLAN
from tests.conftest import AccountKeys, answered_call, eventually, make_account
from tests.support.client import sdk_client
from tests.support.postgres import PostgresServer
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess

TABLES = [table for table, _ in PLAN]
# Retries every second, many of them: the receiver comes up long before they run out. One public
# URL for both servers, so that media_url reads the same on each.
OPTIONS = ("--callback-retry-delays", ",".join(["1"] * 20), "--public-url", "http://callrec.test")
Rows = dict[str, list[tuple[Any, ...]]]


def _callrec(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "callrec", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _refused(source: str, target: str) -> str:
    """What `callrec copy` says when it refuses (exit status 1)."""
    refused = _callrec("copy", "--from", source, "--to", target)
    assert refused.returncode == 1, refused
    return refused.stderr


def _sqlite_rows(data_dir: Path) -> Rows:
    uri = (data_dir / "callrec.db").as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def _postgres_rows(url: str) -> Rows:
    async def dump() -> Rows:
        conn = await asyncpg.connect(url)
        try:
            return {t: sorted(map(tuple, await conn.fetch(f"SELECT * FROM {t}")), key=repr)
                    for t in TABLES}  # fmt: skip
        finally:
            await conn.close()

    return asyncio.run(dump())


def _digest(data_dir: Path) -> list[str]:
    """The database and its log (the -shm file is an index that any reader rebuilds)."""
    files = [data_dir / "callrec.db", data_dir / "callrec.db-wal"]
    return [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]


def _fields(resource: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(resource).items() if not k.startswith("_")}


def _internal(server: ServerProcess, keys: AccountKeys, path: str) -> Any:
    url = f"{server.base_url}/_callrec/Accounts/{keys.sid}/{path}"
    response = httpx.get(url, auth=(keys.sid, keys.token))
    assert response.status_code == 200, response.text
    return response.json()


def _view(server: ServerProcess, accounts: list[AccountKeys]) -> dict[str, Any]:
    """What apps can read of each account: calls and recordings listed and fetched, every
    timeline, the dead letters."""
    seen = {}
    for keys in accounts:
        client = sdk_client(server.base_url, keys.sid, keys.token)
        calls = [_fields(call) for call in client.calls.list()]
        recordings = [_fields(recording) for recording in client.recordings.list()]
        seen[keys.sid] = {
            "calls": calls,
            "recordings": recordings,
            "fetched": [_fields(client.calls(c["sid"]).fetch()) for c in calls]
            + [_fields(client.recordings(r["sid"]).fetch()) for r in recordings],
            "timelines": [
                _internal(server, keys, f"Recordings/{r['sid']}/Events.json") for r in recordings
            ],
            "dead": _internal(server, keys, "Callbacks/DeadLetters.json"),
        }
    return seen


def _settled(client: Any, sid: str) -> Any:
    """The recording once finalized (a very short one is `absent`)."""
    final = ("completed", "absent")
    return eventually(lambda: (r := client.recordings(sid).fetch()).status in final and r)


@pytest.fixture
def down() -> Iterator[Receiver]:
    """A receiver not listening yet: connections are refused."""
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def refusing() -> Iterator[Receiver]:
    """A receiver that answers 404: a callback to it is dead at once."""
    receiver = Receiver(status=404).start()
    yield receiver
    receiver.stop()


def test_a_sqlite_deployment_killed_mid_flight_moves_to_postgresql(
    tmp_path: Path, postgres: PostgresServer, down: Receiver, refusing: Receiver
) -> None:
    data_dir = tmp_path / "data"
    old = ServerProcess(Deployment(data_dir), extra_args=OPTIONS).start()
    main = AccountKeys(old.account_sid, old.auth_token, old.deployment)
    sub = make_account(old.deployment, parent=main.sid)
    key_sid, key_secret = open_accounts(data_dir).create_api_key(main.sid, "app key")
    client = sdk_client(old.base_url, main.sid, main.token)
    try:
        call = answered_call(client)
        timed = client.calls(call.sid).recordings.create(
            recording_status_callback=f"{down.base}/cb",
            recording_status_callback_event=["in-progress", "completed"],
        )
        for update in ({"status": "paused", "pause_behavior": "skip"}, {"status": "in-progress"},
                       {"status": "paused", "pause_behavior": "silence"},
                       {"status": "in-progress"}, {"status": "stopped"}):  # fmt: skip
            time.sleep(0.2)
            client.calls(call.sid).recordings(timed.sid).update(**update)
        dead = client.calls(call.sid).recordings.create(  # refused at once: a dead letter
            recording_status_callback=refusing.base, recording_status_callback_event="in-progress"
        )
        client.calls(call.sid).update(status="completed")
        sub_client = sdk_client(old.base_url, sub.sid, sub.token)
        sub_call = answered_call(sub_client)
        sub_recording = sub_client.calls(sub_call.sid).recordings.create()
        sub_client.calls(sub_call.sid).update(status="completed")
        live = answered_call(client)
        live_recording = client.calls(live.sid).recordings.create()
        client.calls(live.sid).recordings(live_recording.sid).update(status="paused")
        client.calls(live.sid).recordings(live_recording.sid).update(status="in-progress")
        for owner, sid in (
            (client, timed.sid),
            (client, dead.sid),
            (sub_client, sub_recording.sid),
        ):
            _settled(owner, sid)  # before the snapshot: nothing left to finalize but the live one
        assert _settled(client, timed.sid).status == "completed"
        assert eventually(
            lambda: _internal(old, main, "Callbacks/DeadLetters.json")["dead_letters"]
        )
        before = _view(old, [main, sub])
        busy = _refused(str(data_dir), postgres.create_database())
        assert busy == "callrec: a callrec server is running on the source: stop it first\n"
    finally:
        old.kill()  # mid-flight: a live call, a live recording, callbacks owed

    source = _digest(data_dir)
    url = postgres.create_database()
    copied = _callrec("copy", "--from", str(data_dir), "--to", url)
    assert copied.returncode == 0, copied.stderr
    rows = _sqlite_rows(data_dir)
    assert _postgres_rows(url) == rows
    assert _digest(data_dir) == source  # the source was only read
    counts = dict(re.findall(r"^(\w+) +(\d+)$", copied.stdout, re.MULTILINE))
    assert counts == {table: str(len(rows[table])) for table in TABLES}
    assert (counts["accounts"], counts["calls"], counts["recordings"]) == ("2", "3", "4")

    new = ServerProcess(Deployment(data_dir, url), extra_args=OPTIONS).start()
    try:
        assert (new.account_sid, new.auth_token) == (main.sid, main.token)
        assert "running on the source" in _refused(url, str(tmp_path / "early"))
        assert not (tmp_path / "early").exists()  # refused before the target was made
        assert _view(new, [main, sub]) == before
        client = sdk_client(new.base_url, main.sid, main.token)
        by_key = sdk_client(new.base_url, key_sid, key_secret, main.sid)
        assert [c.sid for c in by_key.calls.list()] == [c["sid"] for c in before[main.sid]["calls"]]

        # The dead server's process is found gone and taken over, as after a crash.
        taken = re.compile(r"took over process \d+: 1 calls, 0 recordings")
        assert eventually(lambda: taken.search(new.log_path.read_text()), timeout=15)
        # A call without a stream is not hung up by a takeover: its recording goes on here.
        assert client.calls(live.sid).fetch().status == "in-progress"
        client.calls(live.sid).recordings(live_recording.sid).update(status="stopped")
        assert _settled(client, live_recording.sid).status == "completed"
        events = _internal(new, main, f"Recordings/{live_recording.sid}/Events.json")["events"]
        kinds = [event["kind"] for event in events]
        assert kinds[:3] == ["started", "paused", "resumed"]
        assert kinds[3:] == ["stopped", "processing", "completed"]

        # The callbacks owed are sent once the receiver is up, in order, signed.
        down.start()
        assert eventually(lambda: len(down.requests) >= 2, timeout=15)
        assert [r.params["RecordingStatus"] for r in down.requests] == ["in-progress", "completed"]
        validator = RequestValidator(main.token)
        assert all(validator.validate(r.url, r.params, r.signature) for r in down.requests)

        # New rows take ids past the copied ones.
        fresh = answered_call(client)
        recording = client.calls(fresh.sid).recordings.create()
        time.sleep(0.5)
        client.calls(fresh.sid).update(status="completed")
        assert _settled(client, recording.sid).status == "completed"
        assert len(client.calls.list()) == 3
        assert len(client.recordings.list()) == 4
    finally:
        new.stop()

    # And back: PostgreSQL to a new SQLite deployment, row for row.
    back = tmp_path / "back"
    assert _callrec("copy", "--from", url, "--to", str(back)).returncode == 0
    assert _sqlite_rows(back) == _postgres_rows(url)


def test_copying_into_a_deployment_that_holds_data_is_refused(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    data_dir, url = tmp_path / "data", postgres.create_database()
    make_account(Deployment(data_dir))
    make_account(Deployment(data_dir, url))
    rows, pg_rows = _sqlite_rows(data_dir), _postgres_rows(url)
    for source, target in ((str(data_dir), url), (url, str(data_dir))):
        assert _refused(source, target).startswith(
            "callrec: the target already holds 1 accounts, 1 credentials: copy only into"
        )
    assert (_sqlite_rows(data_dir), _postgres_rows(url)) == (rows, pg_rows)
