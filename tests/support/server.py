"""A real callrec server process for end-to-end tests: started, polled until it answers, stopped
gracefully or killed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Deployment:
    """Where a deployment keeps its state: a data directory, and its PostgreSQL database (None:
    SQLite in the data directory)."""

    data_dir: Path
    database: str | None = None

    @property
    def args(self) -> list[str]:
        """The options that name it, for `callrec serve` and every other command."""
        database = ["--database", self.database] if self.database else []
        return ["--data-dir", str(self.data_dir), *database]


class ServerProcess:
    def __init__(
        self,
        deployment: Deployment,
        answer_delay: float = 0.2,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.deployment = deployment
        self.data_dir = deployment.data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._answer_delay = answer_delay
        self._env = env or {}
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self.account_sid = ""
        self.auth_token = ""

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"server-{self.port}.log"  # processes may share the data dir

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        env.update(self._env)
        command = [
            sys.executable,
            "-m",
            "callrec",
            "serve",
            "--port",
            str(self.port),
            *self.deployment.args,
            "--answer-delay",
            str(self._answer_delay),
            *self._extra_args,
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        output = self.log_path.read_text()
        self.account_sid = re.findall(r"TWILIO_ACCOUNT_SID=(\S+)", output)[-1]
        self.auth_token = re.findall(r"TWILIO_AUTH_TOKEN=(\S+)", output)[-1]
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"callrec exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/_callrec/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"callrec did not answer in time:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM, as a service manager would; the server must shut down cleanly and exit 0."""
        status = self._end(signal.SIGTERM)
        assert status == 0, status
        assert "callrec stopped cleanly" in self.log_path.read_text()

    def freeze(self) -> None:
        """SIGSTOP: the process stands still, its connections open (a long pause, a VM frozen)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs, as in a crash or power cut of the process."""
        return self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> int:
        process, self._process = self._process, None
        if process is None:
            return 0
        process.send_signal(how)
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()  # not left running into the next test
            process.wait()
            tail = "\n".join(self.log_path.read_text().splitlines()[-40:])
            raise AssertionError(
                f"not ended 20 s after {how.name}; the log ends:\n{tail}"
            ) from None
