"""Fetches an app's TwiML (CONTRACT.md §12): a signed request with the call's parameters; a
failure is an exception carrying Twilio's error code, for the runner to try the fallback URL or
end the call with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from callrec.callbacks import webhook
from callrec.callbacks.dispatcher import TokenLookup
from callrec.callbacks.policy import Policy, split
from callrec.domain.model import CallbackMethod

#: Twilio refuses a TwiML answer past 64 kB (error 11750).
MAX_TWIML_BYTES = 64 * 1024
RETRIEVAL_FAILURE = 11200  # an answer that is not a 2xx
CONNECTION_FAILURE = 11205  # no answer
TOO_LARGE = 11750
BAD_CONTENT_TYPE = 12300
#: What Twilio reads as TwiML; `text/plain` too when it parses (the parser decides).
TWIML_TYPES = ("text/xml", "application/xml", "text/html", "text/plain")
#: The largest file a <Play> fetches (an hour of 8 kHz 16-bit WAV is 57 MB).
MAX_MEDIA_BYTES = 64 * 1024 * 1024
#: Twilio waits 15 s for a TwiML answer unless the URL's fragment says otherwise (`#tt=…`).
TWIML_POLICY = Policy(connect_timeout=5.0, read_timeout=15.0, total_timeout=15.0)


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str  # as requested, without its fragment
    body: bytes
    content_type: str


class TwimlFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TwimlClient:
    def __init__(self, token_of: TokenLookup) -> None:
        self._token_of = token_of
        self._http: aiohttp.ClientSession | None = None

    async def fetch(
        self,
        account_sid: str,
        url: str,
        method: CallbackMethod,
        params: Sequence[tuple[str, str]],
    ) -> str:
        answer = await self._answered(account_sid, url, method, params, MAX_TWIML_BYTES)
        what = f"{method} {answer.url}"
        if len(answer.body) > MAX_TWIML_BYTES:
            raise TwimlFailed(TOO_LARGE, f"{what}: more than {MAX_TWIML_BYTES} bytes")
        media_type = answer.content_type.split(";")[0].strip().lower()
        if media_type not in TWIML_TYPES:
            raise TwimlFailed(BAD_CONTENT_TYPE, f"{what}: Content-Type '{media_type}'")
        return answer.body.decode("utf-8", errors="replace")

    async def fetch_media(self, account_sid: str, url: str) -> bytes:
        """The audio file a <Play> names (a signed GET, as Twilio's requests are)."""
        answer = await self._answered(account_sid, url, CallbackMethod.GET, (), MAX_MEDIA_BYTES)
        if len(answer.body) > MAX_MEDIA_BYTES:
            raise TwimlFailed(TOO_LARGE, f"GET {answer.url}: more than {MAX_MEDIA_BYTES} bytes")
        return answer.body

    async def _answered(
        self,
        account_sid: str,
        url: str,
        method: CallbackMethod,
        params: Sequence[tuple[str, str]],
        max_body: int,
    ) -> _Answer:
        """The app's 2xx answer to a signed request (the URL's fragment read and left off)."""
        target, policy = split(url, TWIML_POLICY)
        token = await self._token_of(account_sid)
        if token is None:
            raise TwimlFailed(RETRIEVAL_FAILURE, "the account has no auth token to sign with")
        if self._http is None:  # made on first use: it must be made inside the running loop
            self._http = webhook.new_session()
        answer = await webhook.send(self._http, method, target, params, token, policy, max_body)
        if isinstance(answer, webhook.Unanswered):
            raise TwimlFailed(CONNECTION_FAILURE, f"{method} {target}: {answer.detail}")
        if not 200 <= answer.status < 300:
            raise TwimlFailed(RETRIEVAL_FAILURE, f"{method} {target}: HTTP {answer.status}")
        return _Answer(target, answer.body, answer.content_type)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
