"""A pytest plugin for an app's own tests: a real callrec server per test session.

    def test_my_ivr(callrec):
        callrec.client.incoming_phone_numbers.create(phone_number="+14155550100", voice_url=...)
        call = callrec.call_in(from_="+14155550111", to="+14155550100")
        callrec.press(call["sid"], "1234#")
        callrec.wait_until(lambda: callrec.client.calls(call["sid"]).fetch().status == "completed")

Installed with callrec (the `pytest11` entry point); the fixture needs the official `twilio`
package, which an app that tests its Twilio code has anyway. The server runs with SQLite in a
temporary directory on a free port and stops when the session ends; each test gets a fresh
account, so tests do not see each other's calls."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
START_TIMEOUT_SECONDS = 30.0


@dataclass
class CallrecServer:
    """A callrec process, serving on `base_url`."""

    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def new_account(self) -> tuple[str, str]:
        """A fresh account's sid and auth token (made by the `callrec` command)."""
        made = subprocess.run(
            [sys.executable, "-m", "callrec", "accounts", "create", "--json",
             "--data-dir", str(self.data_dir)],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        account = json.loads(made.stdout)
        return account["account_sid"], account["auth_token"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Callrec:
    """What a test gets: an SDK client on its own account, and the far end to script."""

    server: CallrecServer
    account_sid: str
    auth_token: str
    client: Any  # twilio.rest.Client, pointed at the server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def call_in(self, from_: str, to: str) -> dict[str, Any]:
        """Place an inbound call to one of the account's numbers; the Call resource."""
        return self._post("IncomingCalls.json", {"From": from_, "To": to})

    def press(self, call_sid: str, digits: str) -> dict[str, Any]:
        return self._post(f"Calls/{call_sid}/Digits.json", {"Digits": digits})

    def fall_silent(self, call_sid: str, seconds: float) -> dict[str, Any]:
        return self._post(f"Calls/{call_sid}/Silence.json", {"Seconds": str(seconds)})

    def hang_up(self, call_sid: str) -> dict[str, Any]:
        return self._post(f"Calls/{call_sid}/Hangup.json", {})

    def timeline(self, recording_sid: str) -> list[dict[str, Any]]:
        """A recording's events: started, paused (with behaviour), resumed, stopped, …"""
        path = f"/_callrec/Accounts/{self.account_sid}/Recordings/{recording_sid}/Events.json"
        events: list[dict[str, Any]] = json.loads(self._request(path))["events"]
        return events

    def audio(self, recording_sid: str) -> bytes:
        """A completed recording's WAV."""
        return self._request(
            f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}.wav"
        )

    def wait_until(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll `check()` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {check}")
            time.sleep(0.05)

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        body = urllib.parse.urlencode(form).encode()
        answer: dict[str, Any] = json.loads(
            self._request(f"/_callrec/Accounts/{self.account_sid}/{path}", body)
        )
        return answer

    def _request(self, path: str, body: bytes | None = None) -> bytes:
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(
            self.base_url + path, data=body, headers={"Authorization": f"Basic {credentials}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                content: bytes = answer.read()
                return content
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path}: HTTP {error.code}: {error.read().decode()}") from None


def start_server(data_dir: Path, answer_delay: float = 0.2) -> CallrecServer:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CALLREC_"))}
    with (data_dir / "callrec.log").open("ab") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "callrec", "serve", "--port", str(port), "--data-dir",
             str(data_dir), "--answer-delay", str(answer_delay)],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    server = CallrecServer(f"http://127.0.0.1:{port}", data_dir, process)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"callrec exited at start; see {data_dir / 'callrec.log'}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/_callrec/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"callrec did not answer within {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="session")
def callrec_server() -> Iterator[CallrecServer]:
    with tempfile.TemporaryDirectory(prefix="callrec-") as data_dir:
        directory = Path(data_dir)
        server = start_server(directory)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def callrec(callrec_server: CallrecServer) -> Callrec:
    """callrec serving, with an SDK client on a fresh account of its own."""
    from twilio.rest import Client  # the app's dependency, not callrec's

    sid, token = callrec_server.new_account()
    client = Client(sid, token)
    client.api.base_url = callrec_server.base_url
    return Callrec(callrec_server, sid, token, client)


__all__ = ["Callrec", "CallrecServer", "callrec", "callrec_server", "start_server"]
