"""One signed request to an app, as Twilio makes them (CONTRACT.md §8, §12): the parameters in
the query (GET) or a form body (POST), `X-Twilio-Signature` over exactly what is sent, Twilio's
User-Agent, no redirects followed. Status callbacks and TwiML requests both go out through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from callrec import __version__
from callrec.callbacks.policy import Failure, Policy
from callrec.callbacks.signing import signature
from callrec.domain.model import CallbackMethod

USER_AGENT = f"TwilioProxy/1.1 callrec/{__version__}"
MAX_IN_FLIGHT = 64


@dataclass(frozen=True, slots=True)
class Answered:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Unanswered:
    failure: Failure  # CONNECT or READ
    detail: str


def new_session() -> aiohttp.ClientSession:
    """A session for webhooks (make it inside the running loop)."""
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, limit_per_host=MAX_IN_FLIGHT)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})


async def send(
    session: aiohttp.ClientSession,
    method: CallbackMethod,
    url: str,
    params: Sequence[tuple[str, str]],
    token: str,
    policy: Policy,
    max_body: int,
) -> Answered | Unanswered:
    """`url` has no fragment (policy.split took it off). Reads at most `max_body` bytes of the
    answer (one more, so that the caller can tell a body that is too large)."""
    timeout = aiohttp.ClientTimeout(
        total=policy.total_timeout, sock_connect=policy.connect_timeout,
        sock_read=policy.read_timeout,
    )  # fmt: skip
    if method is CallbackMethod.GET:
        joiner = "&" if "?" in url else "?"
        url = f"{url}{joiner}{urlencode(params)}" if params else url
        headers = {"X-Twilio-Signature": signature(token, url)}
        body = None
    else:
        grouped: dict[str, list[str]] = {}
        for name, value in params:
            grouped.setdefault(name, []).append(value)
        headers = {
            "X-Twilio-Signature": signature(token, url, grouped),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urlencode(params).encode()
    try:
        # encoded=True: sent byte for byte as signed (yarl would otherwise requote it).
        async with session.request(
            method.value, URL(url, encoded=True), data=body, headers=headers, timeout=timeout,
            allow_redirects=False,
        ) as response:  # fmt: skip
            content = await response.content.read(max_body + 1)
            return Answered(response.status, content, response.headers.get("Content-Type", ""))
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
        return Unanswered(Failure.CONNECT, f"connect: {error!r}")
    except (aiohttp.ServerTimeoutError, TimeoutError) as error:
        return Unanswered(Failure.READ, f"timeout: {error!r}")
    except (aiohttp.ClientError, ValueError) as error:
        return Unanswered(Failure.CONNECT, f"transport: {error!r}")
