"""HTTP between the processes of one deployment: a request carried out by the process that owns
its call, and a call handed over to the process its media stream reached.

A forwarded request is the client's own request, sent on as it came (its credentials, its body,
its Host), so the owner answers exactly what it would have answered the client; the answer goes
back unchanged. A handover is callrec's own request, signed with a key derived from the secret
key that every process of a deployment shares.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from callrec import __version__

#: How many times one request may be passed on (ownership moved while it travelled).
MAX_HOPS = 3
HOPS_HEADER = "x-callrec-hops"
SIGNATURE_HEADER = "x-callrec-peer-signature"
TIME_HEADER = "x-callrec-peer-time"
#: How old a signed request may be, in seconds (replays of an old handover are refused).
SIGNATURE_MAX_AGE_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 1.0
#: Request headers carried over to the owner; the rest describe the hop, not the request.
FORWARDED_HEADERS = ("authorization", "content-type", "host", "user-agent", "accept")
#: Answer headers carried back to the client.
RETURNED_HEADERS = ("content-type", "www-authenticate", "allow")
HANDOVER_PATH = "/_callrec/internal/calls/{call_sid}/handover"

AddressOf = Callable[[int], Awaitable[str | None]]


class Unreachable(Exception):
    """Another process of the deployment did not answer (it may have died)."""


class CallBusy(Exception):
    """The call's media stream is still connected to its owner: another one cannot take over."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def sign(key: bytes, method: str, path: str, body: bytes, at: int) -> str:
    message = b"\n".join((method.encode(), path.encode(), str(at).encode(), body))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def is_signed(key: bytes, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a request comes from a process of this deployment, lately."""
    given, at = headers.get(SIGNATURE_HEADER, ""), headers.get(TIME_HEADER, "")
    if not at.isdigit() or abs(time.time() - int(at)) > SIGNATURE_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(given, sign(key, method, path, body, int(at)))


class PeerClient:
    """The HTTP client to the other processes (one aiohttp session, made on first use)."""

    def __init__(self, address_of: AddressOf, key: bytes) -> None:
        self._address_of = address_of
        self._key = key
        self._http: aiohttp.ClientSession | None = None

    async def forward(
        self, owner: int, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        """Send the client's request on to process `owner`; its answer, as it gave it."""
        hops = int(headers.get(HOPS_HEADER, "0") or 0) + 1
        if hops > MAX_HOPS:
            raise Unreachable("the request was passed on too many times")
        sent = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        sent[HOPS_HEADER] = str(hops)
        status, answer_headers, data = await self._request(owner, method, target, sent, body)
        kept = {name: answer_headers[name] for name in RETURNED_HEADERS if name in answer_headers}
        return Answer(status, kept, data)

    async def hand_over(self, owner: int, call_sid: str, to: int) -> None:
        """Ask process `owner` to give the call to process `to`."""
        path = HANDOVER_PATH.format(call_sid=call_sid)
        body = f"To={to}".encode()
        at = int(time.time())
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: sign(self._key, "POST", path, body, at),
            TIME_HEADER: str(at),
        }
        status, _, data = await self._request(owner, "POST", path, headers, body)
        if status == 409:
            raise CallBusy()
        if status != 204:
            raise Unreachable(f"handover refused: HTTP {status} {data[:200]!r}")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _request(
        self, owner: int, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        address = await self._address_of(owner)
        if address is None:
            raise Unreachable(f"process {owner} has ended")
        timeout = aiohttp.ClientTimeout(
            total=REQUEST_TIMEOUT_SECONDS, sock_connect=CONNECT_TIMEOUT_SECONDS
        )
        try:
            async with self._session().request(
                method, address + target, headers=headers, data=body, timeout=timeout,
                allow_redirects=False,
            ) as response:  # fmt: skip
                data = await response.read()
                answer_headers = {name.lower(): value for name, value in response.headers.items()}
                return response.status, answer_headers, data
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise Unreachable(f"process {owner} at {address}: {error!r}") from error

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"User-Agent": f"callrec/{__version__}"}, auto_decompress=False
            )
        return self._http
