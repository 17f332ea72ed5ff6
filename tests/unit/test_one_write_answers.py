"""An answer's head and body leave in one write, in order, and a lone head still leaves."""

from __future__ import annotations

import asyncio
from typing import Any

from callrec.front import OneWriteAnswers

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class _Recorded:
    """A transport below the layer under test: what was written, call by call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8080) if name == "sockname" else None


def _run(test: Any) -> None:
    asyncio.run(test())


def test_a_head_and_its_body_leave_in_one_write() -> None:
    async def test() -> None:
        recorded = _Recorded()
        answers = OneWriteAnswers(recorded)  # type: ignore[arg-type]
        answers.write(HEAD)
        answers.write(b"{}")
        answers.write(HEAD)
        answers.write(b"[]")
        await asyncio.sleep(0)
        assert recorded.writes == [HEAD + b"{}", HEAD + b"[]"]

    _run(test)


def test_a_lone_head_leaves_at_the_loops_next_turn_and_before_a_close() -> None:
    async def test() -> None:
        recorded = _Recorded()
        answers = OneWriteAnswers(recorded)  # type: ignore[arg-type]
        answers.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # no body follows
        assert recorded.writes == []
        await asyncio.sleep(0)
        assert recorded.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]
        answers.write(HEAD)
        answers.close()
        assert recorded.writes[-1] == HEAD
        assert recorded.closed

    _run(test)


def test_anything_else_is_written_as_it_comes() -> None:
    async def test() -> None:
        recorded = _Recorded()
        answers = OneWriteAnswers(recorded)  # type: ignore[arg-type]
        chunks = [b"5\r\nhello\r\n", b"0\r\n\r\n"]
        for chunk in chunks:
            answers.write(chunk)
        assert recorded.writes == chunks
        assert answers.get_extra_info("sockname") == ("127.0.0.1", 8080)

    _run(test)
