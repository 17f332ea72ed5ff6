"""Fixtures shared by the suites: one real server per session and backend, a fresh account per
test.

Every test that stores anything runs against both backends: SQLite, and PostgreSQL on a
throwaway cluster the session starts from the installed server binaries (or on the server
CALLREC_TEST_DATABASE_URL names), a database of its own for each deployment."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from callrec.server import open_accounts
from callrec.storage.base import Store
from callrec.storage.postgres import PostgresStore
from callrec.storage.sqlite import SqliteStore
from tests.support.client import sdk_client
from tests.support.postgres import PostgresServer, open_server
from tests.support.receiver import Receiver
from tests.support.schemas import check_answer
from tests.support.server import Deployment, ServerProcess

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """The PostgreSQL server of the session, started on first use."""
    cluster = open_server(tmp_path_factory.mktemp("postgres"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def new_deployment(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> Deployment:
    if backend == "sqlite":
        return Deployment(data_dir)
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return Deployment(data_dir, postgres.create_database())


@pytest.fixture
def deployment(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Deployment:
    """A new, empty deployment of the backend under test."""
    return new_deployment(request, backend, tmp_path / "data")


@pytest.fixture
def new_store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Callable[[], Store]:
    """Makes stores on one new database of the backend under test: each call opens (and
    migrates) another store on that same database. A store is `open`ed in its event loop."""
    if backend == "sqlite":
        path = tmp_path / "callrec.db"
        return lambda: SqliteStore(path)
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create_database()
    return lambda: PostgresStore(url)


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    process = ServerProcess(new_deployment(request, backend, data_dir)).start()
    yield process
    process.stop()


@dataclass(frozen=True)
class AccountKeys:
    sid: str
    token: str
    deployment: Deployment


def make_account(deployment: Deployment, parent: str | None = None) -> AccountKeys:
    accounts = open_accounts(deployment.data_dir, deployment.database)
    account, token = accounts.create_account("test", parent_sid=parent)
    return AccountKeys(account.sid, token, deployment)


@pytest.fixture
def account(server: ServerProcess) -> AccountKeys:
    return make_account(server.deployment)


@pytest.fixture
def client(server: ServerProcess, account: AccountKeys) -> Any:
    return sdk_client(server.base_url, account.sid, account.token)


@pytest.fixture
def app() -> Iterator[Receiver]:
    """A real HTTP server playing the app: it serves TwiML and receives callbacks."""
    running = Receiver().start()
    yield running
    running.stop()


class Raw:
    """Plain HTTP against the server, for what the SDK never sends (malformed input)."""

    def __init__(self, base_url: str, auth: tuple[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, auth=auth, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if path.startswith("/2010-04-01/"):
            check_answer(method, path.split("?")[0], response.status_code, response.text)
        return response


@pytest.fixture
def raw(server: ServerProcess, account: AccountKeys) -> Iterator[Raw]:
    http = Raw(server.base_url, (account.sid, account.token))
    yield http
    http.http.close()


#: TwiML that keeps a call live (for an hour) and does nothing else: what the tests that drive a
#: call by REST alone answer it with.
HOLD = '<Response><Pause length="3600"/></Response>'


def answered_call(client: Any, **create: Any) -> Any:
    """Create a call and wait until it is answered (the server answers by itself)."""
    call = client.calls.create(to="+15005550006", from_="+15005550001", twiml=HOLD, **create)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        call = client.calls(call.sid).fetch()
        if call.status == "in-progress":
            return call
        time.sleep(0.05)
    raise AssertionError(f"call {call.sid} was not answered: {call.status}")


def eventually(check: Any, timeout: float = 10.0) -> Any:
    """Poll `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
