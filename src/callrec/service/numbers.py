"""Use cases of the IncomingPhoneNumbers resource: the numbers an app configures, and which of
them an inbound call reaches."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from callrec.domain.errors import InvalidParameter, NotFound
from callrec.domain.model import NumberSettings, PhoneNumber
from callrec.service.deps import Deps
from callrec.storage.base import Conflict, NumberFilter, PageRequest, Position, Tx

#: Numbers made for `AreaCode`: NXX 555 01XX is what North America keeps for fiction.
_MADE_UP = "+1{area}55501{line:02d}"
_ATTEMPTS = 100


class NumberService:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def create(
        self,
        account_sid: str,
        phone_number: str | None,
        area_code: str | None,
        friendly_name: str | None,
        settings: NumberSettings,
    ) -> PhoneNumber:
        """A number of the account: `phone_number` if free, else one made in `area_code`."""
        sid = self._deps.new_sid("PN")

        async def create(tx: Tx) -> PhoneNumber:
            chosen = phone_number or await _free_number(tx, area_code or "")
            if await tx.number_called(chosen) is not None:
                raise InvalidParameter("PhoneNumber", f"PhoneNumber {chosen} is not available")
            now = self._deps.clock()
            number = PhoneNumber(
                sid, account_sid, chosen, friendly_name or formatted(chosen), settings, now, now
            )
            await tx.insert_number(number)
            return number

        try:
            return await self._deps.store.write(create)
        except Conflict:  # taken meanwhile, by a request side by side
            taken = f"PhoneNumber {phone_number} is not available"
            raise InvalidParameter("PhoneNumber", taken) from None

    async def fetch(self, account_sid: str, sid: str) -> PhoneNumber:
        return await self._deps.store.read(lambda tx: _owned(tx, account_sid, sid))

    async def find(
        self, where: NumberFilter, page: PageRequest
    ) -> list[tuple[Position, PhoneNumber]]:
        return await self._deps.store.read(lambda tx: tx.list_numbers(where, page))

    async def update(
        self, account_sid: str, sid: str, friendly_name: str | None, changes: dict[str, Any]
    ) -> PhoneNumber:
        async def update(tx: Tx) -> PhoneNumber:
            number = await _owned(tx, account_sid, sid)
            changed = replace(
                number,
                friendly_name=friendly_name or number.friendly_name,
                settings=replace(number.settings, **changes),
                updated_at=self._deps.clock(),
            )
            await tx.update_number(changed)
            return changed

        return await self._deps.store.write(update)

    async def delete(self, account_sid: str, sid: str) -> None:
        async def delete(tx: Tx) -> None:
            await _owned(tx, account_sid, sid)
            await tx.delete_number(sid)

        await self._deps.store.write(delete)

    async def called(self, account_sid: str, phone_number: str) -> PhoneNumber:
        """The account's number an inbound call is placed to (404 if it has none such)."""

        async def called(tx: Tx) -> PhoneNumber:
            number = await tx.number_called(phone_number)
            if number is None or number.account_sid != account_sid:
                raise NotFound()
            return number

        return await self._deps.store.read(called)


def formatted(phone_number: str) -> str:
    """A North American number as Twilio shows it by default, `(415) 555-0100`."""
    digits = phone_number.removeprefix("+1")
    if phone_number.startswith("+1") and len(digits) == 10 and digits.isdigit():
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return phone_number


async def _owned(tx: Tx, account_sid: str, sid: str) -> PhoneNumber:
    number = await tx.number(sid)
    if number is None or number.account_sid != account_sid:
        raise NotFound()
    return number


async def _free_number(tx: Tx, area_code: str) -> str:
    for _ in range(_ATTEMPTS):
        candidate = _MADE_UP.format(area=area_code, line=secrets.randbelow(100))
        if await tx.number_called(candidate) is None:
            return candidate
    raise InvalidParameter("AreaCode", f"No phone number is left in area code {area_code}")
