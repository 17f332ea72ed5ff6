"""Basic credentials are checked with scrypt once per client, not once per request: concurrent
requests share one check, and a busy client's is renewed in the background before it expires."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from callrec.credentials import Sealer
from callrec.ids import new_sid, system_clock
from callrec.service.accounts import REFRESH_AHEAD_SECONDS, AccountService, Principal
from callrec.storage.sqlite import SqliteStore


class _Counting(AccountService):
    checks = 0

    async def authenticate(self, username: str, secret: str) -> Principal | None:
        self.checks += 1
        return await super().authenticate(username, secret)


def _service(tmp_path: Path) -> tuple[_Counting, str]:
    store = SqliteStore(tmp_path / "callrec.db")
    service = _Counting(store, system_clock, new_sid, Sealer.for_data_dir(tmp_path))
    account, token = service.create_account("test")
    header = "Basic " + base64.b64encode(f"{account.sid}:{token}".encode()).decode()
    return service, header


def test_concurrent_requests_share_one_check(tmp_path: Path) -> None:
    service, header = _service(tmp_path)

    async def scenario() -> list[Principal | None]:
        answers = await asyncio.gather(*(service.authenticate_basic(header) for _ in range(20)))
        await service.close()
        return answers

    answers = asyncio.run(scenario())
    assert service.checks == 1
    assert all(answer is not None for answer in answers)


def test_a_check_about_to_expire_is_renewed_without_waiting(tmp_path: Path) -> None:
    service, header = _service(tmp_path)

    async def scenario() -> tuple[bool, int]:
        await service.authenticate_basic(header)
        for verified in service._verified.values():  # as if nearly a minute had gone by
            object.__setattr__(verified, "expires", verified.expires - 60 + REFRESH_AHEAD_SECONDS)
        answers = await asyncio.gather(*(service.authenticate_basic(header) for _ in range(20)))
        assert all(answer is not None for answer in answers)
        renewing = bool(service._checking)  # answered while the renewal is still running
        await asyncio.sleep(0.5)
        await service.close()
        return renewing, service.checks

    renewing, checks = asyncio.run(scenario())
    assert renewing
    assert checks == 2  # the first, and one renewal for all twenty
