"""callrec's outgoing <Stream>: an app that closes its socket while callrec is sending a message
has ended the stream — the call goes on — rather than failing the call's flow.

Below the layer under test, the WebSocket connection is a stand-in that closes the moment the
first `media` message is sent: with a real server that moment is a race (seen under load)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close

from callrec.callbacks import stream_client
from callrec.callbacks.stream_client import StreamClient, StreamTarget


class _ClosesOnMedia:
    """Takes `connected` and `start`, then is closed by the app as `media` goes out."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._closed = asyncio.Event()

    async def __aenter__(self) -> _ClosesOnMedia:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._closed.set()

    async def send(self, message: bytes) -> None:
        event = orjson.loads(message)["event"]
        if event == "media":
            self._closed.set()
            raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), rcvd_then_sent=True)
        self.sent.append(event)

    def __aiter__(self) -> _ClosesOnMedia:
        return self

    async def __anext__(self) -> bytes:
        await self._closed.wait()
        raise StopAsyncIteration


def test_an_app_closing_as_media_is_sent_ends_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    socket = _ClosesOnMedia()

    async def connect(*_: Any, **__: Any) -> _ClosesOnMedia:
        return socket

    monkeypatch.setattr(stream_client, "connect", connect)
    target = StreamTarget("ws://app.example/stream", "MZ1", "AC1", "CA1", ("inbound",), (), True)
    client = StreamClient(target, "token", lambda track, first: bytes(160))

    async def run() -> str | None:
        return await asyncio.wait_for(client.run(asyncio.Event()), 5)

    assert asyncio.run(run()) is None  # it streamed, and ended: no error for the flow
    assert socket.sent == ["connected", "start"]
