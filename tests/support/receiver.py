"""A real HTTP server on loopback that plays the app: it receives status callbacks and serves
TwiML, for the callback and call-flow tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class Received:
    method: str
    url: str  # as the receiver was addressed: http://127.0.0.1:port/path?query
    params: dict[str, str]
    signature: str
    at: float
    user_agent: str = ""

    def signed_with(self, token: str) -> bool:
        """Whether the official SDK's RequestValidator accepts its `X-Twilio-Signature`."""
        params = self.params if self.method == "POST" else {}
        return bool(RequestValidator(token).validate(self.url, params, self.signature))


@dataclass
class Receiver:
    """Records every request; answers `status` (a test may change it while running).

    Its port is bound as soon as it exists, and listened on only from `start()`: until then
    connections are refused, and no other socket can take the port meanwhile (not even a
    client's own ephemeral port, which on loopback could otherwise connect to itself)."""

    status: int = 200
    delay: float = 0.0  # seconds to wait before answering: a slow receiver
    requests: list[Received] = field(default_factory=list)
    #: TwiML answered at a path (no query), with `status` and Content-Type text/xml; a test may
    #: add pages while running.
    pages: dict[str, str] = field(default_factory=dict)
    #: Other files answered at a path: (content, Content-Type), audio for <Play> say.
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(), False)
        self._server.server_bind()
        self.port: int = self._server.server_address[1]
        self._running = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        self._server.server_activate()
        self._running = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._running:
            self._server.shutdown()
        self._server.server_close()
        self._running = False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                query = body if self.command == "POST" else parts.query
                params = dict(parse_qsl(query, keep_blank_values=True))
                receiver.requests.append(
                    Received(
                        self.command,
                        f"{receiver.base}{self.path}",
                        params,
                        self.headers.get("X-Twilio-Signature", ""),
                        time.monotonic(),
                        self.headers.get("User-Agent", ""),
                    )
                )
                time.sleep(receiver.delay)
                page = receiver.pages.get(parts.path, "").encode()
                kind = "text/xml"
                if parts.path in receiver.files:
                    page, kind = receiver.files[parts.path]
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(page)))
                if page:
                    self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = _handle  # noqa: N815 - the names http.server calls

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def to(self, path: str) -> list[Received]:
        """The requests made to `path` (the query left out), in order."""
        return [r for r in self.requests if urlsplit(r.url).path == path]
