"""Benchmark: status callbacks delivered per second by one server process, and the delay from a
state change to its callback's arrival.

The server runs pinned to CPU 0; a fast local receiver (callback_receiver.py) and the load run
on CPU 1. 64 recordings are subscribed to the `paused` and `resumed` extension events, so every
answered pause or resume owes one signed callback.

- Throughput: wrk drives pause/resume on all 64 recordings (50 connections, as in
  update_recording.py) for `--seconds`; the receiver counts what arrives and when.
- Delay: a paced client sends one update every 10 ms; each callback's arrival minus the time its
  update was *sent* bounds the state-change-to-delivery delay from above.

Figures go to docs/BENCHMARKS.md.

    python bench/callbacks.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streams import _wait, _wait_port
from update_recording import HOLD_TWIML, found, free_port, replace_section, run_wrk, wrk_script

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = 64
PACED_UPDATES = 500
PACE_SECONDS = 0.010


def _prepare(base: str, account: str, token: str, receiver: str) -> list[tuple[str, str]]:
    with httpx.Client(base_url=base, auth=(account, token)) as http:
        calls = [
            http.post(
                f"/2010-04-01/Accounts/{account}/Calls.json",
                data={"To": "+1", "From": "+2", "Twiml": HOLD_TWIML},
            ).json()["sid"]
            for _ in range(RECORDINGS)
        ]
        time.sleep(0.5)
        options = {
            "RecordingStatusCallback": f"{receiver}/cb",
            "RecordingStatusCallbackEvent": "paused resumed",
        }
        return [
            (call, http.post(f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json",
                             data=options).json()["sid"])
            for call in calls
        ]  # fmt: skip


async def _paced(
    base: str, account: str, token: str, targets: list[tuple[str, str]]
) -> dict[str, list[float]]:
    """One update every PACE_SECONDS, round the recordings; the send time of each, by sid."""
    sent: dict[str, list[float]] = {sid: [] for _, sid in targets}
    paused = dict.fromkeys(sent, True)  # wrk left each recording paused or not: fetch to know
    async with httpx.AsyncClient(base_url=base, auth=(account, token)) as http:
        for call, sid in targets:
            path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{sid}.json"
            paused[sid] = (await http.get(path)).json()["status"] == "paused"
        began = time.monotonic()
        for n in range(PACED_UPDATES):
            call, sid = targets[n % len(targets)]
            path = f"/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{sid}.json"
            status = "in-progress" if paused[sid] else "paused"
            sent[sid].append(time.monotonic())
            response = await http.post(path, data={"Status": status})
            assert response.status_code == 200, response.text
            paused[sid] = not paused[sid]
            await asyncio.sleep(max(0.0, began + (n + 1) * PACE_SECONDS - time.monotonic()))
    return sent


def _arrivals(receiver: str, at_least: int) -> list[tuple[str, str, float]]:
    deadline = time.monotonic() + 60
    while True:
        found: list[tuple[str, str, float]] = httpx.get(receiver + "/results").json()
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port, receiver_port = free_port(), free_port()
        log = tmp / "server.log"
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port", str(port),
             "--data-dir", str(tmp / "data"), "--answer-delay", "0.1"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        receiver = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, str(ROOT / "bench" / "callback_receiver.py"),
             "--port", str(receiver_port)],
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(base + "/_callrec/health")
            _wait_port(receiver_port)
            text = log.read_text()
            account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
            token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
            receiver_url = f"http://127.0.0.1:{receiver_port}"
            targets = _prepare(base, account, token, receiver_url)
            script = tmp / "load.lua"
            wrk_script(script, account, token, targets)
            load = run_wrk("callrec", base, script, args.seconds)
            flood = _arrivals(receiver_url, load.requests)
            sent = uvloop.run(_paced(base, account, token, targets))
            everything = _arrivals(receiver_url, len(flood) + PACED_UPDATES)
        finally:
            server.terminate()
            receiver.terminate()
            server.wait(timeout=30)
            receiver.wait(timeout=30)
    times = sorted(at for _, _, at in flood)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    paced: dict[str, list[float]] = {}
    for sid, _, at in everything[len(flood) :]:
        paced.setdefault(sid, []).append(at)
    delays = sorted(
        (got - went) * 1000
        for sid, went_times in sent.items()
        for went, got in zip(went_times, sorted(paced.get(sid, [])), strict=False)
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join(
        [
            f"## Status callbacks — {when}",
            "",
            f"`python bench/callbacks.py --seconds {args.seconds}`: server pinned to one core; "
            f"{RECORDINGS} recordings subscribed to `paused` and `resumed`; a fast local "
            "receiver. The server answers the updates and delivers their callbacks on the "
            "same core.",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| updates answered under wrk load (50 connections, {args.seconds} s) | "
            f"{load.requests:,} ({load.requests_per_second:,.0f}/s) |",
            f"| callbacks delivered for them | {len(flood):,} |",
            f"| callbacks delivered per second (first to last arrival) | "
            f"{len(flood) / span if span else 0:,.0f} |",
            f"| paced updates (one every {PACE_SECONDS * 1000:.0f} ms) | {len(delays):,} |",
            f"| delay from sending the update to the callback's arrival, p50 | "
            f"{statistics.median(delays):.1f} ms |",
            f"| same, p99 | {delays[int(len(delays) * 0.99)]:.1f} ms |",
            "",
        ]
    )
    print(section)
    replace_section(section, "## Status callbacks")


if __name__ == "__main__":
    main()
