"""A real WebSocket server on loopback that plays an app's <Stream> endpoint, for the tests of
streams callrec opens: it records every message and the handshake, and can answer with audio,
marks and a close, as a voice bot would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

#: What the app does once the stream has started: given the connection, anything.
Script = Callable[[ServerConnection, "WsApp"], None]


@dataclass
class WsApp:
    script: Script | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    closed_at: float | None = None

    def __post_init__(self) -> None:
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self.port: int = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("event") == kind]

    def stop(self) -> None:
        self._server.shutdown()

    def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        self.path = connection.request.path
        self.headers = dict(connection.request.headers.raw_items())
        try:
            for raw in connection:
                message = json.loads(raw)
                self.messages.append(message)
                if message.get("event") == "start" and self.script is not None:
                    threading.Thread(target=self.script, args=(connection, self)).start()
        except ConnectionClosed:
            pass
        self.closed_at = time.monotonic()
