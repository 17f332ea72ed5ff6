"""The PostgreSQL fast path's turns (storage/postgres_fast.py): a recording's units in one
process one at a time, in the order they asked; one that gives up waiting loses no one's turn."""

from __future__ import annotations

import asyncio

from callrec.storage.postgres_fast import Turns


def test_units_of_one_recording_take_turns_in_order_and_others_do_not_wait() -> None:
    async def test() -> list[str]:
        turns, order = Turns(), []

        async def unit(name: str, sid: str, seconds: float = 0.01) -> None:
            await turns.take(sid)
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")
            turns.end(sid)

        await asyncio.gather(unit("a", "RE1"), unit("b", "RE1"), unit("c", "RE2", 0.2))
        await turns.take("RE1")  # free again: no await
        return order

    assert asyncio.run(test()) == ["a in", "c in", "a out", "b in", "b out", "c out"]


def test_a_unit_that_gives_up_waiting_loses_no_one_its_turn() -> None:
    async def test() -> list[str]:
        turns, order = Turns(), []
        await turns.take("RE1")
        giving_up = asyncio.create_task(turns.take("RE1"))
        after = asyncio.create_task(turns.take("RE1"))
        after.add_done_callback(lambda _: order.append("after"))
        await asyncio.sleep(0)
        turns.end("RE1")  # handed to the one giving up, as it gives up
        giving_up.cancel()
        await asyncio.wait_for(after, 1)
        return order

    assert asyncio.run(test()) == ["after"]
