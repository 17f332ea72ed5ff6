"""The official twilio SDK pointed at a callrec server, checking every answer it receives."""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tests.support.schemas import check_answer


class ValidatingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's own HTTP client; each answer is validated against Twilio's schemas."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.answers = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response: Response = super().request(method, url, *args, **kwargs)
        check_answer(method.upper(), url, response.status_code, response.text)
        self.answers += 1
        return response


def sdk_client(base_url: str, username: str, password: str, account_sid: str | None = None) -> Any:
    """`Client(...)` with `client.api.base_url` set, exactly as the README tells users."""
    client = Client(username, password, account_sid=account_sid, http_client=ValidatingHttpClient())
    client.api.base_url = base_url
    return client
