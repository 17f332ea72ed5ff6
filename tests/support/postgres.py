"""A throwaway PostgreSQL cluster for tests and benchmarks, or an external server named by
CALLREC_TEST_DATABASE_URL on which we only create databases."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg

from callrec.storage.postgres import run_sync

ENV_URL = "CALLREC_TEST_DATABASE_URL"
SUPERUSER = "callrec"
MAINTENANCE_DATABASE = "postgres"
MAX_CONNECTIONS = 200
SETTINGS = (
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",  # TCP only: nothing is needed in /var/run
    f"max_connections={MAX_CONNECTIONS}",
    "fsync=on",  # the defaults, said aloud: commits are durable, and that is what we measure
    "synchronous_commit=on",
)
CONNECT_TIMEOUT_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.05
LOG_TAIL_CHARS = 4000


class PostgresServer(Protocol):
    """Where a test gets its databases."""

    def url(self, database: str) -> str: ...
    def create_database(self) -> str: ...
    def stop(self) -> None: ...


def database_url_from_env() -> str | None:
    """The external server to use instead of a cluster of our own, if one is named."""
    return os.environ.get(ENV_URL) or None


def open_server(root: Path) -> PostgresServer:
    """The server named by CALLREC_TEST_DATABASE_URL, else a new cluster under `root`."""
    url = database_url_from_env()
    return External(url) if url else Cluster.start(root)


def find_bindir() -> Path:
    """The server binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        # Debian's pg_config may come with libpq alone and name a bin dir without a server.
        if found.returncode == 0 and (Path(found.stdout.strip()) / "postgres").is_file():
            return Path(found.stdout.strip())
    versions = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    if versions := [p for p in versions if p.parent.name.isdigit()]:
        return max(versions, key=lambda p: int(p.parent.name))
    raise RuntimeError(
        "no PostgreSQL server binaries (neither `pg_config --bindir` nor /usr/lib/postgresql/*/bin"
        f" has them): install them (apt-get install postgresql) or set {ENV_URL}"
    )


def cluster_processes(postmaster: int) -> list[int]:
    """The postmaster and its live (not zombie) children, from /proc (none without it)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # it exited while we looked
            state, parent = stat_file.read_text().rpartition(")")[2].split()[:2]
            pid = int(stat_file.parent.name)
            if state != "Z" and postmaster in (pid, int(parent)):
                members.append(pid)
    return members


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _create_database(maintenance_url: str) -> str:
    name = f"callrec_test_{uuid.uuid4().hex[:12]}"
    run_sync(_execute(maintenance_url, f'CREATE DATABASE "{name}"'))
    return name


def _alive(pids: list[int]) -> bool:
    """Whether any of these processes has not exited (a zombie has: it holds no memory)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
                return True
    return False


class External:
    """A server someone else runs: we create databases on it and drop them at `stop`, nothing
    else (dropping needs PostgreSQL 13 or newer, for `WITH (FORCE)`)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._created: list[str] = []

    def url(self, database: str) -> str:
        return urlsplit(self._url)._replace(path=f"/{database}").geturl()

    def create_database(self) -> str:
        self._created.append(_create_database(self._url))
        return self.url(self._created[-1])

    def stop(self) -> None:
        drops = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in self._created]
        self._created = []
        if drops:
            run_sync(_execute(self._url, *drops))


class Cluster:
    """A cluster of our own on 127.0.0.1 only, with durable commits.

    initdb and postgres refuse to run as root, so as root they run as `nobody`, who must be able
    to reach the data directory. It goes to a new directory under `root` when every component of
    `root` is searchable by others; otherwise (pytest's tmp_path lies under a 0700 directory) to a
    new directory in the system temp dir, which `stop` removes after copying the log into `root`.
    """

    def __init__(self, bindir: Path, root: Path, workdir: Path, scratch: bool) -> None:
        self.bindir, self.root, self.workdir, self.scratch = bindir, root, workdir, scratch
        self.data_dir, self.log_path = workdir / "data", workdir / "postgres.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        nobody = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        self._ids = (nobody.pw_uid, nobody.pw_gid) if nobody else None
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, root: Path) -> Cluster:
        """initdb a new cluster and start it; it accepts connections when this returns."""
        bindir = find_bindir()
        root.mkdir(parents=True, exist_ok=True)
        searchable = all(p.stat().st_mode & stat.S_IXOTH for p in (root, *root.parents))
        scratch = os.geteuid() == 0 and not searchable
        workdir = Path(tempfile.mkdtemp(prefix="postgres-", dir=None if scratch else root))
        cluster = cls(bindir, root, workdir, scratch)
        try:
            if cluster._ids:
                os.chown(workdir, *cluster._ids)
            # --no-sync: only initdb's own files skip fsync; the server's commits are durable.
            options = ["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
            if status := cluster._spawn("initdb", *options).wait():
                raise RuntimeError(f"initdb failed ({status}):\n{cluster._log_tail()}")
            cluster._launch()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, while it runs."""
        return None if self._process is None else self._process.pid

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        return self.url(_create_database(self.url(MAINTENANCE_DATABASE)))

    def stop(self) -> None:
        """Fast shutdown; a scratch directory outside `root` is removed (its log is kept)."""
        self._shutdown()
        if self.scratch and self.workdir.exists():
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(self.log_path, self.root / f"{self.workdir.name}.log")
            shutil.rmtree(self.workdir)

    def kill(self) -> None:
        """SIGKILL to the postmaster and all its children, as in a crash; `start_again` recovers."""
        process, self._process = self._process, None
        if process is None:
            return
        # Stopped, it forks no more, and its children stay its own (by parent pid) while we list
        # them. Each child leads a process group of its own, so killpg would not reach them.
        # Left alive, they would hold the shared memory and refuse the restart.
        os.kill(process.pid, signal.SIGSTOP)
        children = [pid for pid in cluster_processes(process.pid) if pid != process.pid]
        for pid in [*children, process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_SECONDS)

    def restart(self) -> None:
        """Fast shutdown, then start on the same data directory and port."""
        self._shutdown()
        self._launch()

    def start_again(self) -> None:
        """Start on the same data directory and port after `kill` (crash recovery runs)."""
        if self._process is not None:
            raise RuntimeError("the cluster is running")
        self._launch()

    def _launch(self) -> None:
        options = (f"-c{setting}" for setting in (*SETTINGS, f"port={self.port}"))
        self._process = self._spawn("postgres", *options)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while (status := self._process.poll()) is None:
            try:
                run_sync(_execute(self.url(MAINTENANCE_DATABASE), "SELECT 1"))
                return
            except (ConnectionError, TimeoutError, asyncpg.CannotConnectNowError):
                if time.monotonic() > deadline:
                    self._shutdown()
                    raise RuntimeError(f"postgres not ready:\n{self._log_tail()}") from None
            time.sleep(POLL_INTERVAL_SECONDS)
        self._process = None
        raise RuntimeError(f"postgres exited ({status}):\n{self._log_tail()}")

    def _spawn(self, program: str, *options: str) -> subprocess.Popen[bytes]:
        """One of the server's programs on our data directory, as `nobody` if we are root."""
        uid, gid = self._ids or (None, None)
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [str(self.bindir / program), "-D", str(self.data_dir), *options],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self._env,
                user=uid,
                group=gid,
                extra_groups=None if self._ids is None else [],  # none of root's
                start_new_session=True,  # out of our terminal's group: a Ctrl-C is ours
            )

    def _shutdown(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGINT)  # SIGINT is postgres's fast shutdown
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
