"""The SQL of what configures and shapes calls beyond their rows: the phone numbers an app
configures (migration 0011) and the audio a call's flow makes heard (migration 0013)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from callrec.domain.model import (
    AudioSpan,
    CallbackMethod,
    NumberSettings,
    PhoneNumber,
    RecordingTrack,
)
from callrec.storage.base import NumberFilter, PageRequest, Position
from callrec.storage.sql_base import Row, SqlPrimitives, Where

_COLUMNS = "id, sid, account_sid, phone_number, friendly_name, settings, created_at, updated_at"
_METHODS = frozenset(f.name for f in fields(NumberSettings) if f.name.endswith("_method"))


def encode_settings(settings: NumberSettings) -> str:
    return json.dumps(asdict(settings))


def decode_settings(text: str) -> NumberSettings:
    raw = json.loads(text)
    known = {f.name for f in fields(NumberSettings)}
    values: dict[str, Any] = {
        name: CallbackMethod(value) if name in _METHODS else value
        for name, value in raw.items()
        if name in known  # a field a later version dropped
    }
    return NumberSettings(**values)


def _number(row: Row) -> PhoneNumber:
    return PhoneNumber(
        sid=row["sid"],
        account_sid=row["account_sid"],
        phone_number=row["phone_number"],
        friendly_name=row["friendly_name"],
        settings=decode_settings(row["settings"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class NumbersSql(SqlPrimitives):
    async def add_audio_span(self, span: AudioSpan) -> None:
        await self._run(
            "INSERT INTO call_audio (call_sid, track, start_at, end_at, played)"
            " VALUES (?, ?, ?, ?, ?)",
            span.call_sid, span.track, span.start, span.end, span.played,
        )  # fmt: skip

    async def audio_spans(self, call_sid: str) -> list[AudioSpan]:
        rows = await self._all(
            "SELECT track, start_at, end_at, played FROM call_audio WHERE call_sid = ? ORDER BY id",
            call_sid,
        )
        return [
            AudioSpan(call_sid, RecordingTrack(row["track"]), row["start_at"], row["end_at"],
                      row["played"])
            for row in rows
        ]  # fmt: skip

    async def insert_number(self, number: PhoneNumber) -> None:
        await self._run(
            "INSERT INTO phone_numbers (sid, account_sid, phone_number, friendly_name, settings,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            number.sid, number.account_sid, number.phone_number, number.friendly_name,
            encode_settings(number.settings), number.created_at, number.updated_at,
        )  # fmt: skip

    async def number(self, sid: str) -> PhoneNumber | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM phone_numbers WHERE sid = ?", sid)
        return _number(row) if row else None

    async def number_called(self, phone_number: str) -> PhoneNumber | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM phone_numbers WHERE phone_number = ?", phone_number
        )
        return _number(row) if row else None

    async def update_number(self, number: PhoneNumber) -> None:
        await self._run(
            "UPDATE phone_numbers SET friendly_name = ?, settings = ?, updated_at = ?"
            " WHERE sid = ?",
            number.friendly_name, encode_settings(number.settings), number.updated_at,
            number.sid,
        )  # fmt: skip

    async def delete_number(self, sid: str) -> None:
        await self._run("DELETE FROM phone_numbers WHERE sid = ?", sid)

    async def list_numbers(
        self, where: NumberFilter, page: PageRequest
    ) -> list[tuple[Position, PhoneNumber]]:
        clause = Where()
        clause.add("account_sid = ?", where.account_sid)
        if where.phone_number is not None:
            clause.add("phone_number = ?", where.phone_number)
        if where.friendly_name is not None:
            clause.add("friendly_name = ?", where.friendly_name)
        tail = clause.add_page(page)
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM phone_numbers{clause.sql}{tail}", *clause.params
        )
        return [(Position(row["created_at"], row["id"]), _number(row)) for row in rows]
