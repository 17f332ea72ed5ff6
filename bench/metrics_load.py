"""Benchmark: what Prometheus scraping `/metrics` costs a server under UpdateCallRecording load.

update_recording.py's workload (wrk, 1 thread, 50 connections, 64 recordings each paused then
resumed in turn, every 200 a durable write) against `callrec serve --metrics-port P`, pinned to
CPU 0; wrk and this script (the scraper) on CPU 1. One fresh server a round, in three modes
measured in rotating order (the machine drifts): nobody scraping, a scraper GETting
`http://127.0.0.1:P/metrics` once a second (Prometheus' default interval is 15 s), and ten times a
second (a stress figure). Each scrape's time (request sent to whole body read, on a keep-alive
connection) and size are kept, and the server's CPU from /proc. After the load, the server's CPU
for one scrape at rest (scrapes back to back). Figures go to docs/BENCHMARKS.md.

    python bench/metrics_load.py [--duration 10] [--rounds 2] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import cpu_seconds, machine_seconds, wait_for_quiet
from streams import _machine
from update_recording import (
    bench_callrec_command,
    found,
    free_port,
    prepare_callrec,
    replace_section,
    run_wrk,
    serving,
    wrk_script,
)

HEADING = "## /metrics scraped under load"
#: Scraping modes: name, seconds between scrapes (None: nobody scrapes).
MODES: tuple[tuple[str, float | None], ...] = (
    ("no scraper", None),
    ("1 scrape/s", 1.0),
    ("10 scrapes/s", 0.1),
)
#: What Prometheus asks for (the server answers its text format whatever it is asked).
ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
AT_REST_SCRAPES = 100


@dataclass
class Scrapes:
    """Each scrape's time (ms) and size (bytes); failures counted."""

    ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    failures: int = 0


@dataclass
class Round:
    mode: str
    number: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_s: float  # over wrk's run
    wall_s: float
    others_cores: float  # what processes not the benchmark's used meanwhile
    scrapes: Scrapes
    rest_cpu_ms: float  # the server's CPU for one scrape at rest
    rest_ms: float  # one scrape's time at rest, median

    @property
    def cpu_ms_per_update(self) -> float:
        return self.server_cpu_s / self.requests * 1000


class Scraper(threading.Thread):
    """GETs the metrics every `interval` seconds until stopped, as Prometheus does (one
    connection kept alive; a scrape due while the last is still running waits for it)."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.scrapes = Scrapes()
        self._done = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers={"Accept": ACCEPT}, timeout=10) as http:
            began, n = time.monotonic(), 0
            while not self._done.wait(max(0.0, began + n * self.interval - time.monotonic())):
                n += 1
                scrape(http, self.url, self.scrapes)

    def stop(self) -> Scrapes:
        self._done.set()
        self.join()
        return self.scrapes


def scrape(http: httpx.Client, url: str, into: Scrapes) -> None:
    started = time.perf_counter()
    try:
        response = http.get(url)
    except httpx.HTTPError:
        into.failures += 1
        return
    into.ms.append((time.perf_counter() - started) * 1000)
    if response.status_code != 200:
        into.failures += 1
    else:
        into.sizes.append(len(response.content))


def measure(tmp: Path, mode: str, interval: float | None, number: int, duration: int) -> Round:
    tmp.mkdir(parents=True, exist_ok=True)
    port, metrics_port, data = free_port(), free_port(), tmp / "callrec"
    command = [*bench_callrec_command(port, data), "--metrics-port", str(metrics_port)]
    log = tmp / "callrec.log"
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with serving(command, f"http://127.0.0.1:{port}/_callrec/health", log) as server:
        text = log.read_text()
        account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
        token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
        base = f"http://127.0.0.1:{port}"
        targets = prepare_callrec(base, account, token)
        script = tmp / "callrec.lua"
        wrk_script(script, account, token, targets)
        run_wrk("warm-up", base, script, 3)
        httpx.get(metrics).raise_for_status()  # the listener answers; its first scrape done
        waited = wait_for_quiet()
        if waited > 2:
            print(f"  waited {waited:.0f} s for the machine to be quiet", flush=True)
        scraper = Scraper(metrics, interval) if interval is not None else None
        cpu0, busy0, began = cpu_seconds([server.pid]), machine_seconds()[0], time.monotonic()
        own0 = _own_cpu_seconds()
        if scraper is not None:
            scraper.start()
        run = run_wrk("callrec", base, script, duration)
        scrapes = scraper.stop() if scraper is not None else Scrapes()
        cpu1, busy1, ended = cpu_seconds([server.pid]), machine_seconds()[0], time.monotonic()
        own1 = _own_cpu_seconds()
        time.sleep(1.0)  # the last commits land
        rest_cpu_ms, rest_ms = _at_rest(metrics, server.pid)
    others = (busy1 - busy0) - (cpu1 - cpu0) - (own1 - own0)
    return Round(mode, number, run.requests_per_second, run.p50_ms, run.p99_ms, run.requests,
                 run.errors, cpu1 - cpu0, ended - began, max(0.0, others) / (ended - began),
                 scrapes, rest_cpu_ms, rest_ms)  # fmt: skip


def _own_cpu_seconds() -> float:
    """This process's CPU (the scraper) and its reaped children's (the measured wrk run)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _at_rest(url: str, pid: int) -> tuple[float, float]:
    """The server's CPU ms for one scrape, and one scrape's time (median), nothing else running
    on it: scrapes back to back."""
    scrapes = Scrapes()
    with httpx.Client(headers={"Accept": ACCEPT}) as http:
        scrape(http, url, Scrapes())  # the connection opened
        before = cpu_seconds([pid])
        for _ in range(AT_REST_SCRAPES):
            scrape(http, url, scrapes)
        used = cpu_seconds([pid]) - before
    return used / AT_REST_SCRAPES * 1000, statistics.median(scrapes.ms)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(rounds: list[Round], duration: int, count: int) -> str:
    by_mode = {name: [r for r in rounds if r.mode == name] for name, _ in MODES}
    rows = [
        "| scraping | req/s | p50 ms | p99 ms | requests | non-2xx | callrec CPU ms / update"
        " | scrapes | scrape p50 ms | scrape p99 ms | scrape max ms | scrape bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    mean: dict[str, float] = {}
    for name, runs in by_mode.items():
        rate = statistics.fmean(r.requests_per_second for r in runs)
        mean[name] = rate
        scrapes = [ms for r in runs for ms in r.scrapes.ms]
        sizes = [size for r in runs for size in r.scrapes.sizes]
        scraped = (
            f"{len(scrapes):,} | {_percentile(scrapes, 0.5):.2f} | {_percentile(scrapes, 0.99):.2f}"
            f" | {max(scrapes):.2f} | {statistics.median(sizes):,.0f}"
            if scrapes
            else "0 | | | | "
        )
        rows.append(
            f"| {name} | {rate:,.0f} | {statistics.fmean(r.p50_ms for r in runs):.2f} | "
            f"{statistics.fmean(r.p99_ms for r in runs):.2f} | "
            f"{sum(r.requests for r in runs):,} | {sum(r.errors for r in runs)} | "
            f"{statistics.fmean(r.cpu_ms_per_update for r in runs):.4f} | {scraped} |"
        )
    base = mean["no scraper"]
    one, ten = mean["1 scrape/s"] / base - 1, mean["10 scrapes/s"] / base - 1
    p99 = {name: statistics.fmean(r.p99_ms for r in runs) for name, runs in by_mode.items()}
    all_scrapes = [ms for r in rounds for ms in r.scrapes.ms]
    sizes = [size for r in rounds for size in r.scrapes.sizes]
    rest = statistics.fmean(r.rest_cpu_ms for r in rounds)
    notes = [
        f"- one scrape costs the server **{rest:.2f} ms** of CPU: {rest / 10:.2f} % of its core "
        f"at 1 scrape/s, {rest:.1f} % at 10/s, {rest / 150:.3f} % at Prometheus' default 15 s "
        "(the issue sets no figure to meet)",
        f"- throughput against nobody scraping: 1 scrape/s **{one * 100:+.1f} %**, 10 scrapes/s "
        f"**{ten * 100:+.1f} %** (the machine drifts by about ±10 %); p99 "
        f"{p99['no scraper']:.2f} ms, {p99['1 scrape/s']:.2f} ms and {p99['10 scrapes/s']:.2f} ms",
        f"- one scrape under load: {_percentile(all_scrapes, 0.5):.2f} ms at p50, "
        f"{max(all_scrapes):.2f} ms at worst, {statistics.median(sizes):,.0f} bytes "
        f"({min(sizes):,} to {max(sizes):,}); failed scrapes: "
        f"{sum(r.scrapes.failures for r in rounds)}",
        f"- at rest after the load ({AT_REST_SCRAPES} scrapes back to back): the server's CPU "
        f"{rest:.2f} ms a scrape, "
        f"{statistics.fmean(r.rest_ms for r in rounds):.2f} ms a scrape from the scraper's side",
    ]
    every = "; ".join(
        f"{name} " + ", ".join(f"{r.requests_per_second:,.0f}" for r in runs)
        for name, runs in by_mode.items()
    )
    notes.append(f"- every round, req/s: {every}")
    cpu = "; ".join(
        f"{name} " + ", ".join(f"{r.cpu_ms_per_update:.4f}" for r in runs)
        for name, runs in by_mode.items()
    )
    notes.append(f"- every round, callrec CPU ms per update: {cpu}")
    others = ", ".join(f"{r.others_cores:.2f}" for r in rounds)
    notes.append(f"- others' CPU during each run (processes not the benchmark's), cores: {others}")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            f"{HEADING} — {when}",
            "",
            f"`python bench/metrics_load.py --duration {duration} --rounds {count}`: "
            "update_recording.py's workload (wrk, 1 thread, 50 connections, 64 recordings paused "
            f"and resumed in turn, {duration} s a round) against callrec started with "
            "`--metrics-port`, pinned to CPU 0; wrk and the scraper on CPU 1; one fresh server a "
            "round, the modes in rotating order, the mean of the rounds shown. A scrape: "
            "`GET /metrics` on a keep-alive connection, timed from the request sent to the whole "
            "body read. Callrec CPU from /proc over wrk's run. " + _machine(),
            "",
            *rows,
            "",
            *notes,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})  # the scraper, and wrk (taskset -c 1 anyway)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for number in range(args.rounds):
            for index in range(len(MODES)):
                name, interval = MODES[(index + number) % len(MODES)]
                tmp = Path(tmp_name) / f"round{number}-{index}"
                rounds.append(measure(tmp, name, interval, number, args.duration))
                r = rounds[-1]
                print(
                    f"{name} round {number + 1}: {r.requests_per_second:,.0f} req/s, p99 "
                    f"{r.p99_ms:.2f} ms, {r.cpu_ms_per_update:.4f} CPU ms/update, "
                    f"{len(r.scrapes.ms)} scrapes, others {r.others_cores:.2f} cores",
                    flush=True,
                )
    section = report(rounds, args.duration, args.rounds)
    print(section)
    if not args.no_write:
        replace_section(section, HEADING)


if __name__ == "__main__":
    main()
