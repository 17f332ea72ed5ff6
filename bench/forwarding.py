"""bench/postgres.py's forward section: what a pause costs when it is sent to another process
than the one that holds the call's media stream (and so owns the call), with live streams.

Processes A and B share one database and one data directory. A child process (pinned to CPU 1)
connects `calls` Twilio media streams to A with bench/streams.py's generator, starts a recording
on each call through A, and streams 50 frames a second on each. This process (CPU 1 too) sends a
paced series: one request every 20 ms, pause then resume of one recording (a pair), pairs going
round the calls and alternately to A and to B, which forwards them to A. A recording's resume
waits for its pause's answer: never two requests in flight on one recording. A, B and postgres
run on CPU 0. The latency of each request is from sending it to reading its whole answer (one
aiohttp session, connections kept alive). A round with the streams alone, on a deployment of its
own, gives the frame lag (A's /_callrec/stats.json) to compare with.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

import aiohttp
import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import (
    ACCOUNT,
    TOKEN,
    Postgres,
    Server,
    Usage,
    cpu_seconds,
    metered,
    serving,
    start_callrec,
)
from streams import _drive

DEPLOYMENT_CPUS, CLIENT_CPUS = {0}, {1}
PACE_SECONDS = 0.020
WARM_UP_PAIRS = 5
#: The streams go on this long after the paced series (which starts as they do).
STREAM_MARGIN_SECONDS = 3.0
SETUP_TIMEOUT_SECONDS = 120.0
EXTRA_P99_GOAL_MS = 10.0
ROUTES = {"A": "A directly (it holds the stream)", "B": "B, forwarded to A"}


@dataclass
class Streams:
    sent: int
    received: int
    captured: int
    paused: int  # frames not captured because their recording was paused
    lag_p50_ms: int | None
    lag_p99_ms: int | None
    lag_max_ms: float
    late_ms: float  # how far the generator fell behind real time, at worst


@dataclass
class Round:
    latencies: dict[str, list[float]]  # ms, by route; empty with the streams alone
    failures: int
    streams: Streams
    usage: Usage

    @property
    def others(self) -> float:
        """Cores used by processes not the benchmark's during the series."""
        return max(0.0, self.usage.busy - sum(self.usage.groups.values())) / self.usage.wall


def _stream_load(base: str, calls: int, seconds: float, out: Queue[object]) -> None:
    """In a child process: the streams, each call recording; puts the (call, recording) sids,
    then (frames sent, generator lateness in ms) on `out`."""
    os.sched_setaffinity(0, CLIENT_CPUS)
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "X-Account": ACCOUNT}

    async def record(call_sids: list[str]) -> None:
        targets = []
        async with httpx.AsyncClient(base_url=base, auth=(ACCOUNT, TOKEN)) as http:
            for sid in call_sids:
                path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}/Recordings.json"
                response = await http.post(path)
                assert response.status_code == 201, response.text
                targets.append((sid, response.json()["sid"]))
        out.put(targets)

    ws = base.replace("http://", "ws://") + "/streams"
    out.put(uvloop.run(_drive(ws, calls, seconds, headers, record)))


async def _paced(
    bases: dict[str, str], targets: list[tuple[str, str]], seconds: float
) -> tuple[dict[str, list[float]], int]:
    """The paced series; the latency of each answered request by route, and the failures."""
    latencies: dict[str, list[float]] = {route: [] for route in bases}
    failures = 0
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {auth}"}) as http:

        async def send(route: str, call: str, sid: str, pause: bool) -> float | None:
            path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call}/Recordings/{sid}.json"
            form = (
                {"Status": "paused", "PauseBehavior": "skip"}
                if pause
                else {"Status": "in-progress"}
            )
            began = time.perf_counter()
            async with http.post(bases[route] + path, data=form) as response:
                await response.read()
            return (time.perf_counter() - began) * 1000 if response.status == 200 else None

        for _ in range(WARM_UP_PAIRS):  # connections, credentials' cache, B's session to A
            for route in bases:
                await send(route, *targets[0], pause=True)
                await send(route, *targets[0], pause=False)

        async def timed(route: str, call: str, sid: str, pause: bool) -> None:
            nonlocal failures
            took = await send(route, call, sid, pause)
            if took is None:
                failures += 1
            else:
                latencies[route].append(took)

        routes = list(bases)
        in_flight: dict[str, asyncio.Task[None]] = {}
        began = time.monotonic()
        for k in range(round(seconds / PACE_SECONDS)):
            await asyncio.sleep(max(0.0, began + k * PACE_SECONDS - time.monotonic()))
            pair = k // 2
            call, sid = targets[1 + pair % (len(targets) - 1)]  # the first one warmed up
            if (previous := in_flight.get(sid)) is not None:
                await previous
            task = asyncio.create_task(timed(routes[pair % 2], call, sid, pause=k % 2 == 0))
            in_flight[sid] = task
        await asyncio.gather(*in_flight.values())
    return latencies, failures


def forward_round(tmp: Path, pg: Postgres, calls: int, series: float, pauses: bool) -> Round:
    tmp.mkdir(parents=True)
    database = pg.cluster.create_database()
    servers = [
        start_callrec(tmp / f"{name}.log", tmp / "data", database, DEPLOYMENT_CPUS)
        for name in ("a", "b")
    ]
    a, b = servers
    with serving(a, b):
        pg.settle()
        context = multiprocessing.get_context("fork")
        out: Queue[object] = context.Queue()
        child = context.Process(
            target=_stream_load, args=(a.base, calls, series + STREAM_MARGIN_SECONDS, out)
        )
        child.start()
        try:
            targets = out.get(timeout=SETUP_TIMEOUT_SECONDS)
            assert isinstance(targets, list)
            assert child.pid is not None
            groups = _groups(pg, a, b, child.pid)
            latencies: dict[str, list[float]] = {route: [] for route in ROUTES}
            failures = 0
            with metered(groups) as usage:
                if pauses:
                    bases = {"A": a.base, "B": b.base}
                    latencies, failures = uvloop.run(_paced(bases, targets, series))
                else:
                    time.sleep(series)
            generated = out.get(timeout=SETUP_TIMEOUT_SECONDS)
            assert isinstance(generated, tuple)
            sent, late = generated
        finally:
            child.join(timeout=SETUP_TIMEOUT_SECONDS)
        time.sleep(1.0)
        stats = httpx.get(a.base + "/_callrec/stats.json").json()
    lag = stats["frame_lag_ms"]
    streams = Streams(sent, stats["frames_received"], stats["frames_captured"],
                      stats["frames_dropped_while_paused"], lag["p50"], lag["p99"], lag["max"],
                      late)  # fmt: skip
    return Round(latencies, failures, streams, usage)


def _round_text(r: Round) -> str:
    latency = ", ".join(
        f"{route} p50 {percentile(ms, 0.5):.2f} p99 {percentile(ms, 0.99):.2f} ms"
        for route, ms in r.latencies.items()
        if ms
    )
    s = r.streams
    return (
        f"{latency or 'streams alone'}; frames {s.sent:,} sent, {s.captured:,} captured, lag "
        f"p50 {s.lag_p50_ms} p99 {s.lag_p99_ms} max {s.lag_max_ms} ms; others {r.others:.2f} cores"
    )


def _groups(pg: Postgres, a: Server, b: Server, generator: int) -> dict[str, Callable[[], float]]:
    return {
        "A": a.cpu_seconds,
        "B": b.cpu_seconds,
        "postgres": pg.cpu_seconds,
        "generator": lambda: cpu_seconds([generator]),
        "paced client": lambda: cpu_seconds([os.getpid()]),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def bench_forward(
    tmp: Path, pg: Postgres, series: float, calls: int, rounds: int
) -> tuple[str, list[str], list[str]]:
    """The section's introduction, table rows and notes."""
    pg.pin(DEPLOYMENT_CPUS)
    with_pauses: list[Round] = []
    alone: list[Round] = []
    for number in range(rounds):
        for pauses in (True, False) if number % 2 == 0 else (False, True):
            where = tmp / f"forward-{number}-{'pauses' if pauses else 'alone'}"
            measured = forward_round(where, pg, calls, series, pauses)
            (with_pauses if pauses else alone).append(measured)
            print(_round_text(measured), flush=True)
    return _intro(series, calls, rounds), _rows(with_pauses, alone), _notes(with_pauses, alone)


def _intro(series: float, calls: int, rounds: int) -> str:
    return (
        f"`python bench/postgres.py --only forward --series {series:g} --calls {calls} --rounds "
        f"{rounds}`: processes A and B on one PostgreSQL; {calls} real-time Twilio media streams "
        f"(50 frames/s each) connected to A, each call with a live recording started through "
        f"A; then for {series:g} s one update every {PACE_SECONDS * 1000:.0f} ms, pause then "
        f"resume of one recording (never two in flight on one), the pairs going round the calls "
        f"and alternately to A and to B, which forwards them to A; the requests of {rounds} "
        "round(s) pooled; a CHECKPOINT before each round. A, B and postgres on CPU 0; the stream "
        "generator and the paced client on CPU 1. Latency: from sending a request to reading its "
        "whole answer, keep-alive connections. Frame lag (A's /_callrec/stats.json): from a "
        "frame's place in real time to its capture; each round is compared with a round of the "
        "streams alone."
    )


def _rows(with_pauses: list[Round], alone: list[Round]) -> list[str]:
    pooled = {route: [ms for r in with_pauses for ms in r.latencies[route]] for route in ROUTES}
    figures = {
        route: (percentile(values, 0.5), percentile(values, 0.99), max(values))
        for route, values in pooled.items()
    }
    rows = [
        "| route of the update | requests | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for route, (p50, p99, worst) in figures.items():
        rows.append(
            f"| {ROUTES[route]} | {len(pooled[route]):,} | {p50:.2f} | {p99:.2f} | {worst:.1f} |"
        )
    extra = [figures["B"][i] - figures["A"][i] for i in range(3)]
    rows.append(f"| extra for the forwarded one | | {extra[0]:+.2f} | {extra[1]:+.2f} | "
                f"{extra[2]:+.1f} |")  # fmt: skip
    rows += [
        "",
        "| streams on A | frames sent | received | captured | not captured: paused "
        "| lag p50 ms | lag p99 ms | lag max ms | generator late ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, (paced, quiet) in enumerate(zip(with_pauses, alone, strict=True), start=1):
        for what, r in ((f"round {number}, with the paced updates", paced),
                        (f"round {number}, streams alone", quiet)):  # fmt: skip
            s = r.streams
            rows.append(
                f"| {what} | {s.sent:,} | {s.received:,} | {s.captured:,} | {s.paused:,} | "
                f"{s.lag_p50_ms} | "
                f"{s.lag_p99_ms} | {s.lag_max_ms:.0f} | {s.late_ms:.0f} |"
            )
    return rows


def _notes(with_pauses: list[Round], alone: list[Round]) -> list[str]:
    a = [ms for r in with_pauses for ms in r.latencies["A"]]
    b = [ms for r in with_pauses for ms in r.latencies["B"]]
    extra_p50 = percentile(b, 0.5) - percentile(a, 0.5)
    extra_p99 = percentile(b, 0.99) - percentile(a, 0.99)
    met = "met" if extra_p99 <= EXTRA_P99_GOAL_MS else "**missed**"
    each = "; ".join(
        f"round {n}: A {percentile(r.latencies['A'], 0.99):.1f}, "
        f"B {percentile(r.latencies['B'], 0.99):.1f}"
        for n, r in enumerate(with_pauses, start=1)
    )
    cpu = "; ".join(
        f"round {n}: "
        + ", ".join(f"{k} {v / r.usage.wall:.2f}" for k, v in r.usage.groups.items())
        + f", others {r.others:.2f}, interrupts {r.usage.interrupts / r.usage.wall:.2f}"
        for n, r in enumerate(with_pauses, start=1)
    )
    quiet_cpu = "; ".join(
        f"round {n}: A {r.usage.groups['A'] / r.usage.wall:.2f}, "
        f"generator {r.usage.groups['generator'] / r.usage.wall:.2f}, others {r.others:.2f}, "
        f"interrupts {r.usage.interrupts / r.usage.wall:.2f}"
        for n, r in enumerate(alone, start=1)
    )
    failures = sum(r.failures for r in with_pauses)
    return [
        f"- a forwarded update costs **{extra_p50:+.2f} ms** at p50 and **{extra_p99:+.2f} ms** "
        f"at p99 (goal: p99 <= {EXTRA_P99_GOAL_MS:.0f} ms extra: {met}); {failures} answers "
        "were not 200",
        f"- p99 ms of each round: {each}",
        f"- CPU in cores during the series (with the updates): {cpu}",
        f"- the same with the streams alone: {quiet_cpu}",
    ]
