"""Benchmark: callrec on PostgreSQL, beside callrec on SQLite, in one run.

Three sections, each replacing its own part of docs/BENCHMARKS.md:

- update: update_recording.py's workload (wrk, 64 recordings paused and resumed in turn,
  50 connections, every request a durable change, counted in the timeline afterwards) against
  callrec on SQLite and callrec on PostgreSQL (one process, durable commits), in alternating
  rounds, the median round of each. On 2 cores: SQLite: callrec on CPU 0, wrk on 1; PostgreSQL
  (a): callrec on 0, postgres and wrk on 1; (b): callrec and postgres on 0, wrk on 1.
- forward: processes A and B on one database; `--calls` real-time Twilio media streams connected
  to A (bench/streams.py's generator), each call recording (started through A); then a paced
  series of pause/resume pairs (one request every 20 ms, never two in flight on one recording),
  pairs sent alternately to A and to B, which forwards them to A: the latency of each route. The
  deployment (A, B, postgres) runs on CPU 0, the clients on CPU 1. A round with the streams alone
  gives the frame lag to compare with.
- scale: updates/s of one process against two on one database, nothing pinned: each process's
  own wrk updates the calls created through it (nothing is forwarded); then half of each wrk's
  requests go to calls the other process owns (forwarded). The CPU each part used, from /proc.

One throwaway cluster (tests/support/postgres.py: fsync and synchronous_commit on) serves every
round, a fresh database each, and checkpoints before each run (so that no timed checkpoint, one
every 5 minutes, falls inside one). While wrk runs, pg_stat_activity is sampled ten times a second
(what PostgreSQL's connections were doing: running, waiting for callrec, for the WAL flush),
pg_stat_wal read (commits per WAL flush), and /proc/PID/task/*/schedstat (how long callrec's
and postgres's threads were runnable but waiting for a core). Others share this machine: before
each run the script waits for it to be quiet, runs again (twice at most) a run during which
processes not its own used more than 0.15 cores, and reports what they used.

    python bench/postgres.py [--only update,forward,scale] [--duration 10] [--rounds 3]
                             [--series 20] [--calls 200] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import (
    ACCOUNT,
    CORES,
    TOKEN,
    Paced,
    Postgres,
    Reader,
    Usage,
    Waits,
    WaitSampler,
    Wrk,
    metered,
    serving,
    start_callrec,
    timeline_events,
    wrk,
)
from forwarding import bench_forward
from update_recording import (
    CONNECTIONS,
    ROOT,
    Run,
    _events,
    prepare_callrec,
    raw_requests,
    replace_section,
    wrk_script,
)

WARM_UP_SECONDS = 3
#: A run during which processes not the benchmark's used more CPU than this (in cores) is run
#: again, NOISY_RETRIES times at most.
NOISY_CORES, NOISY_RETRIES = 0.15, 2
#: Where each process runs in the update section: (callrec, postgres, wrk) CPUs.
#: paced.py's connections: enough that the client never waits for one of its own (with 50, at
#: 4,644 requests a second, it queued its requests once their mean latency passed 10.8 ms:
#: Little's law), so that the latency is the server's.
PACED_CONNECTIONS = 200
PLACEMENTS: dict[str, tuple[set[int], set[int] | None, set[int]]] = {
    "SQLite": ({0}, None, {1}),
    "PostgreSQL (a)": ({0}, {1}, {1}),
    "PostgreSQL (b)": ({0}, {0}, {1}),
}
PLACEMENT_TEXT = {
    "SQLite": "callrec: CPU 0; wrk: 1",
    "PostgreSQL (a)": "callrec: CPU 0; postgres, wrk: 1",
    "PostgreSQL (b)": "callrec, postgres: CPU 0; wrk: 1",
}
UPDATE_GOAL_RATIO, UPDATE_GOAL_P99_MS = 0.5, 15.0
HEADINGS = {
    "update": "## UpdateCallRecording on PostgreSQL",
    "forward": "## A pause sent to another process than the stream's",
    "scale": "## Two processes on one PostgreSQL",
}


@dataclass
class Measured:
    """One wrk run (or several at once, summed) and what it cost."""

    name: str
    runs: list[Run]
    changes: int  # timeline events written meanwhile: each a durable change
    usage: Usage
    wrk_cpu: float
    waits: Waits | None  # PostgreSQL's connections and commits meanwhile
    #: A paced run's own figures (paced.py: the rate offered, p99.9, how late it sent).
    paced: dict[str, float] | None = None
    offered: float | None = None  # requests a second offered (a paced run)

    @property
    def rate(self) -> float:
        return sum(run.requests_per_second for run in self.runs)

    @property
    def requests(self) -> int:
        return sum(run.requests for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return max(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return max(run.p99_ms for run in self.runs)

    def per_update_ms(self, seconds: float) -> float:
        """CPU seconds per 1,000 updates answered (= ms per update)."""
        return seconds * 1000 / self.requests

    @property
    def others(self) -> float:
        """CPU used meanwhile by processes not this benchmark's, in cores."""
        ours = sum(self.usage.groups.values()) + self.wrk_cpu
        return max(0.0, self.usage.busy - ours) / self.usage.wall


@contextlib.contextmanager
def sampling(database: str | None) -> Iterator[WaitSampler | None]:
    """A WaitSampler on the database, if there is one."""
    if database is None:
        yield None
        return
    with WaitSampler(database) as sampler:
        yield sampler


def quietest(measure: Callable[[], Measured]) -> Measured:
    """`measure`, again while others used more than NOISY_CORES meanwhile (NOISY_RETRIES
    times at most): the attempt during which they used the least."""
    best = measure()
    for _ in range(NOISY_RETRIES):
        if best.others <= NOISY_CORES:
            break
        print(f"  measured again: others used {best.others:.2f} cores meanwhile", flush=True)
        again = measure()
        best = again if again.others < best.others else best
    return best


def median(rounds: list[Measured]) -> Measured:
    rates = [m.rate for m in rounds]
    return rounds[rates.index(statistics.median_low(rates))]


# update: one process, SQLite against PostgreSQL


def measure_updates(
    tmp: Path, name: str, pg: Postgres, seconds: int, rate: float | None = None
) -> Measured:
    """One round: wrk as fast as the server answers, or with `rate`, paced.py at that rate."""
    callrec_cpus, pg_cpus, wrk_cpus = PLACEMENTS[name]
    tmp.mkdir(parents=True)
    database = None
    groups: dict[str, Reader] = {}
    queued: dict[str, Reader] = {}
    if pg_cpus is not None:
        pg.pin(pg_cpus)
        database = pg.cluster.create_database()
        groups["postgres"], queued["postgres"] = pg.cpu_seconds, pg.queued_seconds
    data = tmp / "data"
    server = start_callrec(tmp / "callrec.log", data, database, callrec_cpus)
    groups["callrec"], queued["callrec"] = server.cpu_seconds, server.queued_seconds
    count = partial(timeline_events, database) if database else partial(_events, data)
    with serving(server):
        targets = prepare_callrec(server.base, ACCOUNT, TOKEN)
        script = tmp / "updates.lua"
        wrk_script(script, ACCOUNT, TOKEN, targets)
        raw = tmp / "updates.json"
        raw_requests(raw, server.base, ACCOUNT, TOKEN, targets)
        wrk("warm-up", server.base, script, WARM_UP_SECONDS, wrk_cpus)

        def once() -> Measured:
            pg.settle()
            before = count()
            figures = None
            with sampling(database) as sampler, metered(groups, queued) as usage:
                if rate is None:
                    run, wrk_cpu = Wrk.start(name, server.base, script, seconds, wrk_cpus).finish()
                else:
                    paced = Paced.start(
                        name, server.base, raw, seconds, rate, wrk_cpus, PACED_CONNECTIONS
                    )
                    run, wrk_cpu, figures = paced.finish()
            time.sleep(0.5)
            waits = sampler.waits if sampler else None
            changes = count() - before
            return Measured(name, [run], changes, usage, wrk_cpu, waits, figures, rate)

        return quietest(once)


def bench_update(
    tmp: Path, pg: Postgres, seconds: int, rounds: int, rate: float | None = None
) -> dict[str, list[Measured]]:
    """Rounds of each placement in alternating order: wrk, or paced at `rate`."""
    results: dict[str, list[Measured]] = {name: [] for name in PLACEMENTS}
    kind = "update" if rate is None else f"paced-{rate:.0f}"
    for number in range(rounds):
        order = list(PLACEMENTS) if number % 2 == 0 else list(reversed(PLACEMENTS))
        for index, name in enumerate(order):
            where = tmp / f"{kind}-{number}-{index}"
            measured = measure_updates(where, name, pg, seconds, rate)
            results[name].append(measured)
            print(_row_text(measured), flush=True)
    return results


def paced_rates(results: dict[str, list[Measured]], fractions: list[float]) -> list[float]:
    """Rates to offer: fractions of SQLite's (its median round)."""
    sqlite = median(results["SQLite"]).rate
    return [fraction * sqlite for fraction in fractions]


def _row_text(m: Measured) -> str:
    return (
        f"{m.name}: {m.rate:,.0f}/s p50 {m.p50_ms:.2f} p99 {m.p99_ms:.2f} ms, "
        f"{m.changes:,} changes for {m.requests:,}, CPU "
        + ", ".join(f"{k} {v:.1f} s" for k, v in m.usage.groups.items())
        + f", wrk {m.wrk_cpu:.1f} s, others {m.others:.2f} cores"
    )


def report_update(
    results: dict[str, list[Measured]],
    seconds: int,
    rounds: int,
    paced: PacedRounds | None = None,
    paced_options: str = "",
) -> str:
    medians = {name: median(runs) for name, runs in results.items()}
    rows = [
        "| server | placement (2 cores) | req/s | p50 ms | p99 ms | requests | non-2xx"
        " | callrec CPU s / 1k updates | postgres CPU s / 1k | wrk CPU s / 1k"
        " | others' CPU, cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in medians.items():
        groups = m.usage.groups
        postgres = f"{m.per_update_ms(groups['postgres']):.3f}" if "postgres" in groups else ""
        rows.append(
            f"| callrec on {name} | {PLACEMENT_TEXT[name]} | {m.rate:,.0f} | {m.p50_ms:.2f} | "
            f"{m.p99_ms:.2f} | {m.requests:,} | {m.errors} | "
            f"{m.per_update_ms(groups['callrec']):.3f} | {postgres} | "
            f"{m.per_update_ms(m.wrk_cpu):.3f} | {m.others:.2f} |"
        )
    sqlite = medians["SQLite"]
    notes = []
    for name in ("PostgreSQL (a)", "PostgreSQL (b)"):
        m = medians[name]
        ratio = m.rate / sqlite.rate
        notes.append(
            f"- {name} / SQLite: **{ratio:.2f}** (goal >= {UPDATE_GOAL_RATIO}: "
            f"{_met(ratio >= UPDATE_GOAL_RATIO)}); p99 **{m.p99_ms:.1f} ms** (goal <= "
            f"{UPDATE_GOAL_P99_MS:.0f} ms: {_met(m.p99_ms <= UPDATE_GOAL_P99_MS)})"
        )
    notes.append(
        "- the busiest core's ceiling (1,000 ms over the CPU ms per update of what runs on it): "
        + "; ".join(_core_ceiling(name, m) for name, m in medians.items())
    )
    notes.append(
        "- placement: (b) gives the server side one core, as SQLite's row has it (SQLite works "
        "inside callrec's process): the like-for-like comparison; (a) gives postgres a core of "
        "its own, shared with wrk only"
    )
    notes += _waits(medians)
    notes.append(_queued(medians))
    counted = "; ".join(
        f"{name} {sum(m.changes for m in runs):,} for {sum(m.requests for m in runs):,}"
        for name, runs in results.items()
    )
    notes.append(
        f"- durable changes counted in the timeline during the measured runs, for the requests "
        f"answered: {counted}{_unchanged(results)}"
    )
    every = "; ".join(
        f"{name} " + ", ".join(f"{m.rate:,.0f}" for m in runs) for name, runs in results.items()
    )
    notes.append(f"- every round, req/s: {every}")
    if paced is not None:
        rows += ["", *_paced_rows(paced)]
        notes += _paced_notes(paced, sqlite.rate)
    return _section(
        "update",
        f"`python bench/postgres.py --only update --duration {seconds} --rounds {rounds}"
        f"{paced_options}`: "
        f"update_recording.py's workload (wrk, 1 thread, {CONNECTIONS} connections, 64 "
        f"recordings paused and resumed in turn, {seconds} s a round), callrec on SQLite and on "
        "PostgreSQL (one process, pool of 20, synchronous_commit on, a CHECKPOINT before each "
        "run) in alternating rounds, the median round of each. CPU per 1,000 updates answered, "
        "from /proc; 'others' is what processes not the benchmark's used meanwhile (this "
        "machine is shared).",
        rows,
        notes,
    )


PacedRounds = dict[float, dict[str, list[Measured]]]  # rate offered -> placement -> rounds


def _paced_rows(paced: PacedRounds) -> list[str]:
    rows = [
        "At set rates (bench/paced.py, open loop: each answer timed from its request's scheduled"
        f" moment, over {PACED_CONNECTIONS} keep-alive connections; 'carried': no request left"
        " waiting for a connection when the sending ended), the median round by p99 (every"
        " round's p99 below):",
        "",
        "| server | offered req/s | carried | p50 ms | p99 ms | p99.9 ms | max ms"
        " | non-2xx | sender late ms | callrec, cores | postgres, cores | client, cores |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, placements in paced.items():
        for name, runs in placements.items():
            m = _median_p99(runs)
            assert m.paced is not None
            groups, wall = m.usage.groups, m.usage.wall
            postgres = f"{groups['postgres'] / wall:.2f}" if "postgres" in groups else ""
            rows.append(
                f"| callrec on {name} | {rate:,.0f} | {'yes' if _carried(m) else '**no**'} | "
                f"{m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.paced['p999_ms']:.2f} | "
                f"{m.paced['max_ms']:.1f} | {m.errors} | {m.paced['sender_late_ms']:.1f} | "
                f"{groups['callrec'] / wall:.2f} | {postgres} | {m.wrk_cpu / wall:.2f} |"
            )
    return rows


def _carried(m: Measured) -> bool:
    return m.paced is not None and m.paced["backlog"] == 0


def _paced_notes(paced: PacedRounds, sqlite_rate: float) -> list[str]:
    notes = []
    for rate, placements in paced.items():
        for name in ("PostgreSQL (a)", "PostgreSQL (b)"):
            m = _median_p99(placements[name])
            met = _carried(m) and m.p99_ms <= UPDATE_GOAL_P99_MS
            notes.append(
                f"- {name} at {rate:,.0f} updates/s ({rate / sqlite_rate:.2f} x SQLite's "
                f"rate): {'carried' if _carried(m) else '**not carried**'}, p99 "
                f"**{m.p99_ms:.1f} ms** (goal <= {UPDATE_GOAL_P99_MS:.0f} ms: {_met(met)})"
            )
        every = "; ".join(
            f"{name} " + ", ".join(f"{m.p99_ms:.1f}" for m in runs)
            for name, runs in placements.items()
        )
        notes.append(f"- every paced round at {rate:,.0f}/s, p99 ms: {every}")
    return notes


def _median_p99(runs: list[Measured]) -> Measured:
    """The median round by p99; of an even number, the worse of the middle two."""
    p99s = [m.p99_ms for m in runs]
    return runs[p99s.index(statistics.median_high(p99s))]


# scale: one process against two


SCALE_ROWS = ("1 process", "2 processes, each its own calls", "2 processes, half forwarded")


def measure_scale(tmp: Path, name: str, pg: Postgres, seconds: int) -> Measured:
    tmp.mkdir(parents=True)
    processes = 1 if name == SCALE_ROWS[0] else 2
    database = pg.cluster.create_database()
    servers = [
        start_callrec(tmp / f"callrec-{i}.log", tmp / "data", database) for i in range(processes)
    ]
    with serving(*servers):
        owned = [prepare_callrec(server.base, ACCOUNT, TOKEN) for server in servers]
        if name == SCALE_ROWS[2]:  # each recording in one script, half of each script elsewhere
            half = len(owned[0]) // 2
            owned = [owned[0][:half] + owned[1][half:], owned[1][:half] + owned[0][half:]]
        scripts = []
        for i, targets in enumerate(owned):
            scripts.append(tmp / f"updates-{i}.lua")
            wrk_script(scripts[-1], ACCOUNT, TOKEN, targets)
        pairs = list(zip(servers, scripts, strict=True))
        for each in [Wrk.start("warm-up", s.base, p, WARM_UP_SECONDS) for s, p in pairs]:
            each.finish()
        groups: dict[str, Reader] = {"postgres": pg.cpu_seconds}
        queued: dict[str, Reader] = {"postgres": pg.queued_seconds}
        for i, server in enumerate(servers):
            groups[f"callrec {i + 1}"] = server.cpu_seconds
            queued[f"callrec {i + 1}"] = server.queued_seconds

        def once() -> Measured:
            pg.settle()
            before = timeline_events(database)
            with WaitSampler(database) as sampler, metered(groups, queued) as usage:
                runs = [Wrk.start(name, s.base, p, seconds) for s, p in pairs]
                finished = [each.finish() for each in runs]
            time.sleep(0.5)
            changes = timeline_events(database) - before
            wrk_cpu = sum(cpu for _, cpu in finished)
            runs_done = [run for run, _ in finished]
            return Measured(name, runs_done, changes, usage, wrk_cpu, sampler.waits)

        return quietest(once)


def bench_scale(tmp: Path, pg: Postgres, seconds: int, rounds: int) -> dict[str, list[Measured]]:
    pg.pin(set(range(CORES)))
    results: dict[str, list[Measured]] = {name: [] for name in SCALE_ROWS}
    for number in range(rounds):
        order = SCALE_ROWS if number % 2 == 0 else tuple(reversed(SCALE_ROWS))
        for index, name in enumerate(order):
            measured = measure_scale(tmp / f"scale-{number}-{index}", name, pg, seconds)
            results[name].append(measured)
            print(_row_text(measured), flush=True)
    return results


def report_scale(results: dict[str, list[Measured]], seconds: int, rounds: int) -> str:
    medians = {name: median(runs) for name, runs in results.items()}
    rows = [
        "| processes | updates/s | p50 ms | p99 ms | requests | non-2xx | callrec, cores"
        " | postgres, cores | wrk, cores | others, cores | interrupts, cores | idle, cores"
        " | callrec CPU s / 1k | postgres CPU s / 1k |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in medians.items():
        wall, groups = m.usage.wall, m.usage.groups
        callrec = [value for key, value in groups.items() if key.startswith("callrec")]
        idle, interrupts = m.usage.idle / wall, m.usage.interrupts / wall
        rows.append(
            f"| {name} | {m.rate:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.requests:,} | "
            f"{m.errors} | {' + '.join(f'{c / wall:.2f}' for c in callrec)} | "
            f"{groups['postgres'] / wall:.2f} | {m.wrk_cpu / wall:.2f} | {m.others:.2f} | "
            f"{interrupts:.2f} | {idle:.2f} | {m.per_update_ms(sum(callrec)):.3f} | "
            f"{m.per_update_ms(groups['postgres']):.3f} |"
        )
    one, two, half = (medians[name] for name in SCALE_ROWS)
    notes = [
        f"- two processes / one: **{two.rate / one.rate:.2f}**; with half the requests "
        f"forwarded: **{half.rate / one.rate:.2f}**",
        "- " + "; ".join(_limit(name, m) for name, m in medians.items()),
        "- CPU per update, all parts (callrec, postgres, wrk, interrupts), and the ceiling "
        f"it sets on {CORES} cores: "
        + "; ".join(_machine_ceiling(name, m) for name, m in medians.items()),
        *_waits(medians),
        _queued(medians),
        "- durable changes counted in the timeline during the measured runs: "
        + "; ".join(
            f"{name} {sum(m.changes for m in runs):,} for {sum(m.requests for m in runs):,}"
            for name, runs in results.items()
        )
        + _unchanged(results),
        "- every round, updates/s: "
        + "; ".join(
            f"{name} " + ", ".join(f"{m.rate:,.0f}" for m in runs) for name, runs in results.items()
        ),
    ]
    return _section(
        "scale",
        f"`python bench/postgres.py --only scale --duration {seconds} --rounds {rounds}`: "
        f"UpdateCallRecording (update_recording.py's workload) on one PostgreSQL, {seconds} s a "
        f"round (a CHECKPOINT before each), the median round of each row; nothing pinned: the "
        f"callrec processes, postgres and wrk share the {CORES} cores. With two processes, two "
        f"wrk instances run at once ({CONNECTIONS} connections each), one per process, on 64 "
        "recordings each; their figures are summed (p50 and p99: the worse of the two). 'half "
        "forwarded': each wrk sends half its requests for calls the other process owns. CPU in "
        "cores (CPU seconds per second of the run), from /proc.",
        rows,
        notes,
    )


def _unchanged(results: dict[str, list[Measured]]) -> str:
    """Why fewer changes than answers were counted."""
    short = any(m.requests - m.changes > 2 * CONNECTIONS for runs in results.values() for m in runs)
    if not short:
        return " (the few extra were in flight when wrk stopped counting)"
    return (
        ". Where far fewer, the others found their recording already as they asked (a 200 "
        "that changes nothing): wrk sends a recording's next request 64 requests after its "
        "last, and an answer slower than that (the latency's tail, at this rate) leaves two "
        "requests on one recording in flight together"
    )


def _core_ceiling(name: str, m: Measured) -> str:
    callrec_cpus, pg_cpus, wrk_cpus = PLACEMENTS[name]
    parts = {"callrec": (callrec_cpus, m.usage.groups["callrec"]), "wrk": (wrk_cpus, m.wrk_cpu)}
    if pg_cpus is not None:
        parts["postgres"] = (pg_cpus, m.usage.groups["postgres"])
    per_core: dict[int, dict[str, float]] = {}
    for part, (cpus, seconds) in parts.items():
        for cpu in cpus:  # each part is pinned to one core here
            per_core.setdefault(cpu, {})[part] = m.per_update_ms(seconds)
    core, spent = max(per_core.items(), key=lambda item: sum(item[1].values()))
    used = " + ".join(f"{part} {ms:.3f}" for part, ms in spent.items())
    return f"{name} {1000 / sum(spent.values()):,.0f}/s (CPU {core}: {used} ms)"


def _queued(medians: dict[str, Measured]) -> str:
    """How long each row's processes were runnable but waiting for a core."""
    rows = "; ".join(
        f"{name}: "
        + ", ".join(f"{key} {value / m.usage.wall:.2f}" for key, value in m.usage.queued.items())
        for name, m in medians.items()
    )
    return (
        "- waiting for a core (runnable, on the run queue: /proc/PID/task/*/schedstat), in "
        f"seconds per second, summed over each part's threads: {rows}"
    )


def _waits(medians: dict[str, Measured]) -> list[str]:
    """Where PostgreSQL's connections waited, in each row's median round."""
    return [
        f"- {name}, PostgreSQL's {m.waits.text()}"
        for name, m in medians.items()
        if m.waits is not None
    ]


def _machine_ceiling(name: str, m: Measured) -> str:
    spent = sum(m.usage.groups.values()) + m.wrk_cpu + m.usage.interrupts
    ms = m.per_update_ms(spent)
    return f"{name} {ms:.2f} ms, {CORES * 1000 / ms:,.0f}/s"


def _limit(name: str, m: Measured) -> str:
    """Where one row's cores went."""
    wall = m.usage.wall
    parts = {key: value / wall for key, value in m.usage.groups.items()}
    parts["wrk"] = m.wrk_cpu / wall
    parts["others"] = m.others
    parts["interrupts"] = m.usage.interrupts / wall
    idle = m.usage.idle / wall
    spent = ", ".join(f"{key} {value:.2f}" for key, value in parts.items())
    return f"{name}: {spent}, idle {idle:.2f} of {CORES} cores"


# the document


def _met(yes: bool) -> str:
    return "met" if yes else "**missed**"


def _section(key: str, intro: str, rows: list[str], notes: list[str]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            f"{HEADINGS[key]} — {when}",
            "",
            f"{intro} {_machine()}",
            "",
            *rows,
            "",
            *notes,
            "",
        ]
    )


def _machine() -> str:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    version = f"callrec at {commit}" + (" with uncommitted changes" if dirty else "")
    return (
        f"{version}; {platform.machine()}, {CORES} cores, Python {platform.python_version()}, "
        f"PostgreSQL {_pg_version()}."
    )


def _pg_version() -> str:
    from tests.support.postgres import find_bindir

    out = subprocess.run(
        [str(find_bindir() / "postgres"), "--version"], capture_output=True, text=True
    ).stdout
    match = re.search(r"\d+\.\d+", out)
    return match.group(0) if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="update,forward,scale", help="sections, by name")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--series", type=float, default=20, help="seconds of paced pauses")
    parser.add_argument("--calls", type=int, default=200, help="live streams (forward)")
    parser.add_argument(
        "--paced",
        type=lambda text: [float(f) for f in text.split(",") if f],
        default=[0.25, UPDATE_GOAL_RATIO],
        help="update: rates to offer open loop, as fractions of SQLite's (default 0.25,0.5)",
    )
    parser.add_argument("--paced-rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    sections = args.only.split(",")
    if unknown := set(sections) - set(HEADINGS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    os.sched_setaffinity(0, {1})  # this script, and what it starts unless told otherwise
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg = Postgres(tmp / "postgres")
        written: list[tuple[str, str]] = []
        try:
            if "update" in sections:
                results = bench_update(tmp, pg, args.duration, args.rounds)
                paced: PacedRounds = {}
                for rate in paced_rates(results, args.paced):
                    print(f"paced, {rate:,.0f} requests a second:", flush=True)
                    paced[rate] = bench_update(tmp, pg, args.duration, args.paced_rounds, rate)
                options = f" --paced {','.join(f'{f:g}' for f in args.paced)}"
                options += f" --paced-rounds {args.paced_rounds}"
                section = report_update(results, args.duration, args.rounds, paced, options)
                written.append(("update", section))
            if "forward" in sections:
                intro, rows, notes = bench_forward(tmp, pg, args.series, args.calls, args.rounds)
                written.append(("forward", _section("forward", intro, rows, notes)))
            if "scale" in sections:
                results = bench_scale(tmp, pg, args.duration, args.rounds)
                written.append(("scale", report_scale(results, args.duration, args.rounds)))
        finally:
            pg.stop()
    for key, section in written:
        print(section)
        if not args.no_write:
            replace_section(section, HEADINGS[key])


if __name__ == "__main__":
    main()
