"""Benchmark: TwiML call flows a second that one server process runs, and the CPU each costs.

The flow (issue 9): an inbound call to a number → its voice URL answers
`<Dial record="record-from-answer" timeLimit="1" action="/done">` to a callee that answers → the
parent's recording runs for the bridged second → the child is hung up at the time limit → the
recording is rendered → `/done` answers `<Hangup/>`. Every webhook is served by a local aiohttp
app. The server is pinned to CPU 0; the app and the load (inbound calls placed at a fixed rate)
run on CPU 1. A flow counts once the app has been asked `/done` (its recording ready by then).

    python bench/flows.py [--seconds 20] [--rates 50,100,200,300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streams import _wait
from update_recording import found, free_port, replace_section

NUMBER = "+14155550100"
VOICE = (
    '<Response><Dial record="record-from-answer" timeLimit="1" action="/done">'
    "<Number>+15005550006</Number></Dial></Response>"
)
HANG_UP = "<Response><Hangup/></Response>"
TICKS = os.sysconf("SC_CLK_TCK")
#: About how long one flow lasts (answer 0.1 s, bridged 1 s, render and requests): the CPU
#: measured spans the flows' ends plus this.
FLOW_SECONDS = 1.3


@dataclass
class Measured:
    rate: int
    placed: int
    done: int
    seconds: float
    cpu_seconds: float
    late: int  # flows not done 10 s after the last call was placed

    @property
    def per_second(self) -> float:
        return (self.done - 1) / self.seconds if self.done > 1 else 0.0

    @property
    def cpu_ms_per_flow(self) -> float:
        return self.cpu_seconds / self.done * 1000 if self.done else 0.0


class App:
    """The app: TwiML for each flow, and the time each flow reached `/done`."""

    def __init__(self) -> None:
        self.done: list[float] = []
        self.expected = sys.maxsize
        self.all_done = asyncio.Event()

    async def voice(self, _: web.Request) -> web.Response:
        return web.Response(text=VOICE, content_type="text/xml")

    async def finished(self, _: web.Request) -> web.Response:
        self.done.append(time.monotonic())
        if len(self.done) >= self.expected:
            self.all_done.set()
        return web.Response(text=HANG_UP, content_type="text/xml")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _run(base: str, account: str, token: str, pid: int, rate: int, seconds: int) -> Measured:
    app = App()
    web_app = web.Application()
    web_app.add_routes([web.post("/voice", app.voice), web.post("/done", app.finished)])
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, auth=(account, token), limits=limits) as http:
        numbers = await http.get(f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json")
        for number in numbers.json()["incoming_phone_numbers"]:
            await http.delete(number["uri"])
        made = await http.post(
            f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            data={"PhoneNumber": NUMBER, "VoiceUrl": f"http://127.0.0.1:{port}/voice"},
        )
        assert made.status_code == 201, made.text
        path = f"/_callrec/Accounts/{account}/IncomingCalls.json"
        cpu_before = _cpu_seconds(pid)
        began = time.monotonic()
        placing: list[asyncio.Task[httpx.Response]] = []
        total = rate * seconds
        for n in range(total):
            placing.append(asyncio.create_task(http.post(path, data={"From": "+1", "To": NUMBER})))
            await asyncio.sleep(max(0.0, began + (n + 1) / rate - time.monotonic()))
        placed = sum(1 for answer in await asyncio.gather(*placing) if answer.status_code == 201)
        app.expected = placed
        if len(app.done) >= placed:
            app.all_done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app.all_done.wait(), 10)
        cpu = _cpu_seconds(pid) - cpu_before
        # the rate flows ended at: first to last /done (each flow lasts ~1.2 s after its call)
        span = app.done[-1] - app.done[0] if len(app.done) > 1 else float(seconds)
    await runner.cleanup()
    return Measured(rate, placed, len(app.done), span, cpu, placed - len(app.done))


def report(results: list[Measured], seconds: int) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = [
        f"| {m.rate} | {m.placed:,} | {m.done:,} | {m.per_second:,.0f} | {m.cpu_ms_per_flow:.2f} "
        f"| {m.cpu_seconds / (m.seconds + FLOW_SECONDS) * 100:.0f} % | {m.late} |"
        for m in results
    ]
    best = max(results, key=lambda m: m.per_second)
    core = 1000 / best.cpu_ms_per_flow if best.cpu_ms_per_flow else 0
    return "\n".join([
        f"## TwiML call flows — {when}",
        "",
        f"`python bench/flows.py --seconds {seconds}`: inbound call → `<Dial record>` (bridged "
        "1 s, the parent recorded and rendered) → `<Hangup/>`, every webhook served by a local "
        "aiohttp app; server pinned to CPU 0, app and load on CPU 1, SQLite. Goal: ≥ 200 flows a "
        "second on one core.",
        "",
        "| offered/s | placed | done | done/s | callrec CPU ms a flow | callrec CPU "
        "| not done 10 s after |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"At the CPU a flow costs, one core runs **{core:,.0f} flows a second**.",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rates", default="50,100,200,300")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        log = tmp / "server.log"
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port", str(port),
             "--data-dir", str(tmp / "data"), "--answer-delay", "0.1"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(base + "/_callrec/health")
            text = log.read_text()
            account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
            token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
            for rate in (int(r) for r in args.rates.split(",")):
                measured = asyncio.run(_run(base, account, token, server.pid, rate, args.seconds))
                print(measured, f"{measured.per_second:.0f}/s", flush=True)
                results.append(measured)
        finally:
            server.terminate()
            server.wait(timeout=30)
    section = report(results, args.seconds)
    print(section)
    if not args.no_write:
        replace_section(section, "## TwiML call flows")


if __name__ == "__main__":
    main()
