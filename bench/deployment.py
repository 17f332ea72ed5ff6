"""What bench/postgres.py sets up and measures with: a throwaway PostgreSQL cluster, callrec
servers (one or several on one database), wrk runs, and the CPU each process used, read from
/proc (utime + stime, all threads; a cluster's exited children through the postmaster's
cutime + cstime)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.postgres import Cluster, cluster_processes
from update_recording import CONNECTIONS, Run, _latency, found, free_port, wait_until_up

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
#: Every process of a deployment serves this account (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN).
ACCOUNT = "AC" + secrets.token_hex(16)
TOKEN = secrets.token_hex(16)
ANSWER_DELAY_SECONDS = "0.1"
STREAM_GRACE_SECONDS = "60"
CORES = os.cpu_count() or 1
#: A machine this busy (a fraction of all its cores) is quiet enough to measure on.
QUIET_BUSY = 0.10
QUIET_WAIT_SECONDS = 120.0


def cpu_seconds(pids: Iterable[int], reaped_children_of: int | None = None) -> float:
    """CPU time used so far by these processes (and by the reaped children of one of them)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # it exited while we looked
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == reaped_children_of:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS_PER_SECOND


def queued_seconds(pids: Iterable[int]) -> float:
    """Time these processes' threads have spent runnable but waiting for a core, so far (the
    run queue: /proc/PID/task/TID/schedstat)."""
    nanoseconds = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, ValueError):
                nanoseconds += int(task.read_text().split()[1])
    return nanoseconds / 1e9


def machine_seconds() -> tuple[float, float, float]:
    """CPU time of the whole machine so far, all cores: running processes (user, nice, system,
    steal), interrupts (irq, softirq: loopback networking is mostly softirq, which no process's
    own times include), and idle (with iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy, interrupts = user + nice + system + steal, irq + softirq
    return (
        busy / CLOCK_TICKS_PER_SECOND,
        interrupts / CLOCK_TICKS_PER_SECOND,
        (idle + iowait) / CLOCK_TICKS_PER_SECOND,
    )


def machine_busy_seconds() -> float:
    busy, interrupts, _ = machine_seconds()
    return busy + interrupts


def wait_for_quiet(busy_below: float = QUIET_BUSY, longest: float = QUIET_WAIT_SECONDS) -> float:
    """Wait (up to `longest` seconds) for a second in which the machine's cores were busy less
    than `busy_below` of the time (others share it: a test suite running would be measured too);
    the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < longest:
        busy = machine_busy_seconds()
        time.sleep(1.0)
        if (machine_busy_seconds() - busy) / CORES < busy_below:
            break
    return time.monotonic() - began


def pin(pids: Iterable[int], cpus: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, cpus)


class Postgres:
    """A throwaway cluster; `pin` moves its processes (and so the backends it forks later)."""

    def __init__(self, root: Path) -> None:
        self.cluster = Cluster.start(root)
        assert self.cluster.pid is not None
        self.postmaster = self.cluster.pid
        # For the time spent in WAL syncs (pg_stat_wal); the cost is a clock read per sync.
        settings = ["ALTER SYSTEM SET track_wal_io_timing = on", "SELECT pg_reload_conf()"]
        asyncio.run(_execute(self.cluster.url("postgres"), *settings))

    def pids(self) -> list[int]:
        return cluster_processes(self.postmaster)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids(), reaped_children_of=self.postmaster)

    def queued_seconds(self) -> float:
        return queued_seconds(self.pids())

    def pin(self, cpus: set[int]) -> None:
        pin(self.pids(), cpus)

    def checkpoint(self) -> None:
        """A checkpoint now: the next timed one (checkpoint_timeout, 5 min) is that far away,
        so none falls inside a run that starts next."""
        asyncio.run(_execute(self.cluster.url("postgres"), "CHECKPOINT"))

    def settle(self) -> None:
        """Before a run: a checkpoint, then a quiet machine."""
        self.checkpoint()
        waited = wait_for_quiet()
        if waited > 2:
            print(f"  waited {waited:.0f} s for the machine to be quiet", flush=True)

    def stop(self) -> None:
        self.cluster.stop()


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def timeline_events(url: str) -> int:
    """How many recording events the database holds (each one a durable change)."""

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            total: int = await conn.fetchval("SELECT count(*) FROM recording_events")
            return total
        finally:
            await conn.close()

    return asyncio.run(count())


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds([self.pid])

    def queued_seconds(self) -> float:
        return queued_seconds([self.pid])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_callrec(
    log: Path, data_dir: Path, database: str | None, cpus: set[int] | None = None
) -> Server:
    """`callrec serve` (on SQLite in `data_dir` without `database`), serving ACCOUNT; it answers
    when this returns."""
    port = free_port()
    command = [sys.executable, "-m", "callrec", "serve", "--port", str(port), "--data-dir",
               str(data_dir), "--answer-delay", ANSWER_DELAY_SECONDS, "--stream-grace",
               STREAM_GRACE_SECONDS, *(["--database", database] if database else [])]  # fmt: skip
    if cpus is not None:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    env = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/_callrec/health", process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Server(process, base, log)


@contextlib.contextmanager
def serving(*servers: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.stop()


@dataclass
class Wrk:
    """A wrk run under way; `finish` waits for it and reads its figures and its CPU time."""

    process: subprocess.Popen[str]
    name: str

    @classmethod
    def start(
        cls, name: str, url: str, script: Path, seconds: int, cpus: set[int] | None = None,
        connections: int = CONNECTIONS,
    ) -> Wrk:  # fmt: skip
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                   str(script), url]  # fmt: skip
        return cls(_pinned(command, cpus), name)

    def finish(self) -> tuple[Run, float]:
        """Its figures, and the CPU seconds it used (from its rusage: wrk exits when done)."""
        out, cpu = _reaped(self.process)
        errors = 0
        if "Non-2xx" in out:
            errors = int(found(r"Non-2xx or 3xx responses: (\d+)", out))
        run = Run(
            self.name,
            float(found(r"Requests/sec:\s+([\d.]+)", out)),
            _latency(out, "50%"),
            _latency(out, "99%"),
            int(found(r"(\d+) requests in", out)),
            errors,
        )
        return run, cpu


def _pinned(command: list[str], cpus: set[int] | None) -> subprocess.Popen[str]:
    """`command` started on `cpus` (anywhere without), its output piped."""
    if cpus is not None:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _reaped(process: subprocess.Popen[str]) -> tuple[str, float]:
    """What a finished run printed, and the CPU seconds it used (its rusage); raises if it
    failed. Its output is a few hundred bytes: the pipe never fills."""
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{process.args!r} failed ({process.returncode}):\n{out}")
    return out, usage.ru_utime + usage.ru_stime


@dataclass
class Paced:
    """A paced.py run under way (requests at a set rate); `finish` as Wrk's."""

    process: subprocess.Popen[str]
    name: str

    @classmethod
    def start(
        cls, name: str, url: str, requests: Path, seconds: int, rate: float,
        cpus: set[int] | None = None, connections: int = CONNECTIONS,
    ) -> Paced:  # fmt: skip
        command = [sys.executable, str(Path(__file__).with_name("paced.py")), "--url", url,
                   "--requests", str(requests), "--rate", f"{rate:.0f}", "--seconds",
                   str(seconds), "--connections", str(connections)]  # fmt: skip
        return cls(_pinned(command, cpus), name)

    def finish(self) -> tuple[Run, float, dict[str, float]]:
        """Its figures as a wrk Run, the CPU seconds it used, and all it printed."""
        out, cpu = _reaped(self.process)
        figures: dict[str, float] = json.loads(out)
        run = Run(
            self.name,
            figures["rate"],
            figures["p50_ms"],
            figures["p99_ms"],
            int(figures["requests"]),
            int(figures["errors"]),
        )
        return run, cpu, figures


def wrk(name: str, url: str, script: Path, seconds: int, cpus: set[int] | None) -> Run:
    """One wrk run to its end (a warm-up: its CPU is not asked for)."""
    return Wrk.start(name, url, script, seconds, cpus).finish()[0]


@dataclass
class Usage:
    """CPU seconds used over `wall` seconds: by named groups of processes, and by the whole
    machine, all cores (`busy`: running processes; `interrupts`; `idle`); and seconds the groups'
    threads spent waiting for a core (`queued`, for the groups that have a reader of it)."""

    wall: float = 0.0
    busy: float = 0.0
    interrupts: float = 0.0
    idle: float = 0.0
    groups: dict[str, float] = field(default_factory=dict)
    queued: dict[str, float] = field(default_factory=dict)


Reader = Callable[[], float]


@contextlib.contextmanager
def metered(groups: dict[str, Reader], queued: dict[str, Reader] | None = None) -> Iterator[Usage]:
    """Usage over the `with` block, each group's CPU (and run queue) read by its function."""
    usage = Usage()
    queued = queued or {}
    before = {name: read() for name, read in groups.items()}
    waited = {name: read() for name, read in queued.items()}
    machine, wall = machine_seconds(), time.monotonic()
    yield usage
    usage.wall = time.monotonic() - wall
    usage.busy, usage.interrupts, usage.idle = (
        after - start for after, start in zip(machine_seconds(), machine, strict=True)
    )
    usage.groups = {name: read() - before[name] for name, read in groups.items()}
    usage.queued = {name: read() - waited[name] for name, read in queued.items()}


WAIT_LABELS = {
    ("idle in transaction", "ClientRead"): "in a transaction, waiting for callrec",
    ("idle", "ClientRead"): "idle in a pool",
    ("active", "WALWrite"): "committing: waiting for the WAL flush",
    ("active", "WALSync"): "committing: waiting for the WAL flush",
    ("active", None): "running a statement",
}
SAMPLE_SECONDS = 0.1


@dataclass
class Waits:
    """What the database's connections were doing (sampled from pg_stat_activity; mean number
    of connections in each state) and how its commits were flushed (pg_stat_wal)."""

    states: dict[str, float] = field(default_factory=dict)
    commits: int = 0
    syncs: int = 0
    sync_ms: float = 0.0  # total time in WAL syncs (needs track_wal_io_timing)

    def text(self) -> str:
        states = ", ".join(f"{label} {mean:.1f}" for label, mean in self.states.items())
        per_sync = self.commits / self.syncs if self.syncs else 0.0
        mean_sync = self.sync_ms / self.syncs if self.syncs else 0.0
        return (
            f"connections: {states}; {self.commits:,} commits in {self.syncs:,} WAL flushes "
            f"({per_sync:.1f} a flush, {mean_sync:.2f} ms each)"
        )


class WaitSampler:
    """Samples the database's connections in a thread of its own while the `with` block runs."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._counts: Counter[str] = Counter()
        self._samples = 0
        self.waits = Waits()

    def __enter__(self) -> WaitSampler:
        self._before = asyncio.run(self._flushes())
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        after = asyncio.run(self._flushes())
        commits, syncs, sync_ms = (a - b for a, b in zip(after, self._before, strict=True))
        states = {label: count / max(1, self._samples) for label, count in self._counts.items()}
        self.waits = Waits(dict(sorted(states.items(), key=lambda kv: -kv[1])), int(commits),
                           int(syncs), sync_ms)  # fmt: skip

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self._url)
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    "SELECT state, wait_event FROM pg_stat_activity WHERE datname ="
                    " current_database() AND backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()"
                )
                for state, event in rows:
                    self._counts[WAIT_LABELS.get((state, event), "other")] += 1
                self._samples += 1
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await conn.close()

    async def _flushes(self) -> tuple[float, float, float]:
        conn = await asyncpg.connect(self._url)
        try:
            commits = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            wal = await conn.fetchrow("SELECT wal_sync, wal_sync_time FROM pg_stat_wal")
            assert wal is not None
            return float(commits), float(wal["wal_sync"]), float(wal["wal_sync_time"])
        finally:
            await conn.close()
