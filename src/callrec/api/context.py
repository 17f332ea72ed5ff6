"""What the route handlers are given: the services, and the server's public base URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from callrec.api.resource import Forward
from callrec.draining import Draining
from callrec.ids import Clock, ProcessIdentity, system_clock
from callrec.media.files import MediaFiles
from callrec.media.hub import MediaHub
from callrec.media.store import S3Store
from callrec.service.accounts import AccountService
from callrec.service.callbacks import CallbackService
from callrec.service.calls import CallService
from callrec.service.console_sessions import ConsoleSessions
from callrec.service.flows import Flows
from callrec.service.numbers import NumberService
from callrec.service.public_keys import PublicKeyService
from callrec.service.recording_media import RecordingMedia
from callrec.service.recordings import RecordingService
from callrec.service.streams import StreamService


async def _always_ready() -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Services:
    accounts: AccountService
    calls: CallService
    recordings: RecordingService
    streams: StreamService
    callbacks: CallbackService
    files: MediaFiles
    media: MediaHub
    flows: Flows
    numbers: NumberService
    public_keys: PublicKeyService
    recording_media: RecordingMedia
    #: Sign-ins to the web console.
    console: ConsoleSessions
    #: Absolute base of `media_url`s; None: taken from each request's own scheme and host.
    public_url: str | None = None
    #: Serve recording media without credentials, as Twilio does unless told otherwise.
    public_media: bool = False
    #: Carries a request out in the process that owns its call (None: a lone server).
    forward: Forward | None = None
    #: Signs and checks what the processes of the deployment ask each other.
    peer_key: bytes = b""
    #: This process's id in its deployment.
    process: ProcessIdentity = field(default_factory=ProcessIdentity)
    clock: Clock = system_clock
    #: Set when the server begins to shut down: long-lived responses end then.
    draining: Draining = field(default_factory=Draining)
    #: Where completed recordings' files live when not in the data directory (S3), and whether
    #: their media requests are answered with a redirect to a signed URL or proxied.
    media_store: S3Store | None = None
    media_urls: str = "redirect"
    #: Why the server cannot serve now (None: it can): readiness.
    unready: Callable[[], Awaitable[str | None]] = _always_ready

    def base_url(self, request: Request) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.url.netloc}"
