"""PostgreSQL killed under load: requests during the outage fail fast with Twilio's 503/20503,
every answered change is still there afterwards, and each process recovers by itself once the
database is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import HOLD
from tests.e2e.test_processes import Fleet
from tests.support.postgres import Cluster, database_url_from_env
from tests.support.server import Deployment

#: However the database fails, no request may take longer than this to be answered.
FAIL_FAST_SECONDS = 7.0
OUTAGE_SECONDS = 3.0
RECORDINGS_PER_PROCESS = 4


@dataclass
class Load:
    """Pause/resume requests on a few recordings, one at a time on each: what was answered."""

    answered: dict[str, list[str]] = field(default_factory=dict)
    unavailable: list[float] = field(default_factory=list)  # seconds each 503 took
    other: list[int] = field(default_factory=list)
    slowest: float = 0.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if database_url_from_env():
        pytest.skip("needs a PostgreSQL server of its own to kill, not the one named")
    started = Cluster.start(tmp_path / "postgres")
    yield started
    started.stop()


async def _drive(fleet: Fleet, recordings: list[tuple[int, str, str]], until: float) -> Load:
    load = Load()

    async def one(index: int, call_sid: str, sid: str) -> None:
        server = fleet.servers[index]
        url = (
            f"{server.base_url}/2010-04-01/Accounts/{fleet.sid}/Calls/{call_sid}"
            f"/Recordings/{sid}.json"
        )
        async with httpx.AsyncClient(auth=(fleet.sid, fleet.token), timeout=30) as http:
            target = "paused"
            while time.monotonic() < until:
                began = time.monotonic()
                try:
                    response = await http.post(url, data={"Status": target})
                except httpx.TransportError:
                    load.other.append(0)
                    continue
                took = time.monotonic() - began
                load.slowest = max(load.slowest, took)
                if response.status_code == 200:
                    load.answered.setdefault(sid, []).append(target)
                    target = "in-progress" if target == "paused" else "paused"
                elif response.status_code == 503 and response.json()["code"] == 20503:
                    load.unavailable.append(took)
                    await asyncio.sleep(0.05)
                else:
                    load.other.append(response.status_code)

    await asyncio.gather(*(one(*recording) for recording in recordings))
    return load


def test_a_database_crash_fails_requests_fast_and_loses_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    fleet = Fleet(Deployment(tmp_path / "data", cluster.create_database()), 2)
    try:
        recordings = []
        for index in range(2):
            client = fleet.client(index)
            for _ in range(RECORDINGS_PER_PROCESS):
                call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD)
                until = time.monotonic() + 10
                while client.calls(call.sid).fetch().status != "in-progress":
                    assert time.monotonic() < until
                    time.sleep(0.05)
                recordings.append((index, call.sid, client.calls(call.sid).recordings.create().sid))

        def outage() -> None:
            time.sleep(1.5)
            cluster.kill()  # SIGKILL of the postmaster and every backend: a crash
            time.sleep(OUTAGE_SECONDS)
            cluster.start_again()  # crash recovery, then the processes reconnect by themselves

        async def scenario() -> Load:
            loop = asyncio.get_running_loop()
            crash = loop.run_in_executor(None, outage)
            load = await _drive(fleet, recordings, time.monotonic() + 1.5 + OUTAGE_SECONDS + 8)
            await crash
            return load

        load = asyncio.run(scenario())

        assert load.unavailable, "the outage was not seen"
        assert load.slowest < FAIL_FAST_SECONDS
        assert load.other == []
        # Recovered: every recording was changed again after the outage...
        for _, _, sid in recordings:
            assert len(load.answered[sid]) > 3
        # ...and every answered change is in its timeline, in order (at most one more, committed
        # but not answered when the connection broke).
        for index, _, sid in recordings:
            events = fleet.events(index, sid)
            kinds = [e["kind"] for e in events if e["kind"] in ("paused", "resumed")]
            answered = ["paused" if s == "paused" else "resumed" for s in load.answered[sid]]
            assert kinds[: len(answered)] == answered
            assert len(kinds) - len(answered) <= 1
    finally:
        fleet.kill()
