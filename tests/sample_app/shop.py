"""A small shop's phone line, as an app developer would write it: the sample that shows the
pytest plugin (`callrec.testing`) testing a real call flow.

    /voice  welcome, start recording the call, go to payment
    /pay    pause the recording (PCI: the card number must never be recorded), gather 16 digits
    /paid   resume the recording, thank the caller, hang up
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

WELCOME = (
    "<Response><Start><Recording/></Start>"
    "<Say>Welcome to the shop, thank you for calling</Say><Redirect>/pay</Redirect></Response>"
)
ASK_FOR_CARD = (
    "<Response><Gather numDigits='16' action='/paid' timeout='10'>"
    "<Say>Please enter your card number</Say></Gather><Hangup/></Response>"
)
THANKS = "<Response><Say>Thank you, your payment is accepted, goodbye</Say><Hangup/></Response>"


class Shop:
    def __init__(self, client: Any, auth_token: str) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.cards: list[str] = []  # what the shop charged (a test looks)
        self.refused = 0  # requests whose signature was wrong
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, params: dict[str, str]) -> str:
        call = self.client.calls(params["CallSid"])
        if path == "/pay":
            call.recordings("Twilio.CURRENT").update(status="paused", pause_behavior="skip")
            return ASK_FOR_CARD
        if path == "/paid":
            self.cards.append(params["Digits"])
            call.recordings("Twilio.CURRENT").update(status="in-progress")
            return THANKS
        return WELCOME

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                url = f"{shop.url}{self.path}"
                if not shop.validator.validate(url, params, self.headers["X-Twilio-Signature"]):
                    shop.refused += 1
                    self.send_response(403)
                    self.end_headers()
                    return
                body = shop.answer(urlsplit(self.path).path, params).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
