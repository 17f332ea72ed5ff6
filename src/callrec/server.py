"""The composition root: builds the store, the services and the ASGI app for one data directory."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from aiohttp import web
from starlette.types import ASGIApp

from callrec import console, front
from callrec.api.app import create_app
from callrec.api.context import Services
from callrec.api.forward import forwarder
from callrec.api.streams import StreamEndpoint
from callrec.callbacks.dispatcher import Dispatcher
from callrec.callbacks.policy import Policy
from callrec.callbacks.twiml_client import TwimlClient
from callrec.credentials import Sealer
from callrec.delayed_acks import DelayedAcks
from callrec.domain.model import MICROS_PER_SECOND
from callrec.domain.recording import SOFT_DELETE_RETENTION
from callrec.draining import Draining
from callrec.heap import return_large_blocks
from callrec.ids import Clock, ProcessIdentity, SidFactory, new_sid, system_clock
from callrec.logs import Answered, RequestLines
from callrec.media.files import MediaFiles
from callrec.media.hub import MediaHub
from callrec.media.store import S3Store
from callrec.metrics import Metrics, serve_metrics
from callrec.peers import PeerClient
from callrec.service.accounts import AccountService
from callrec.service.callbacks import CallbackService
from callrec.service.calls import CallService
from callrec.service.console_sessions import ConsoleSessions
from callrec.service.deps import Deps, Settings
from callrec.service.flows import Flows
from callrec.service.lifecycle import Lifecycle
from callrec.service.membership import Membership
from callrec.service.numbers import NumberService
from callrec.service.public_keys import PublicKeyService
from callrec.service.recording_media import RecordingMedia
from callrec.service.recordings import RecordingService
from callrec.service.retention import Retention
from callrec.service.streams import StreamService
from callrec.storage.base import StorageError, Store
from callrec.storage.factory import open_store

#: How long the readiness check waits for the database.
READY_TIMEOUT_SECONDS = 1.0
#: How long each part of the server may take to close at shutdown.
SHUTDOWN_STEP_SECONDS = 5.0
#: Allocations between young collections (Python's default is 700). See `tune_gc`.
GC_YOUNG_THRESHOLD = 10_000
log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Make the cyclic collector cheap for a server that frees almost everything by refcount.

    With 50 requests in flight, every young collection finds their live objects and promotes
    them; they die soon after, but the promotions still trigger full collections over the whole
    heap (numpy, aiohttp, the app), measured at 15-30 ms each, about twice a second under load:
    the p99 of an update went from ~8 ms to ~20-30 ms. Freezing what startup made takes it out
    of every collection, and a higher young threshold makes promotions (and so full passes)
    rare. Measured with bench/update_recording.py: p99 ~30 ms -> ~8 ms, ~5 % more throughput.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    answer_delay_seconds: float = 1.0
    public_url: str | None = None
    #: This server's absolute base URL (status callbacks' `RecordingUrl`): the public URL if
    #: set, else where it listens.
    base_url: str = "http://127.0.0.1:8080"
    public_media: bool = False
    streams_path: str = "/streams"
    #: How long a call waits for its dropped stream to reconnect before it ends.
    stream_grace_seconds: float = 5.0
    #: Seconds before each retry of a failed status callback (None: the default schedule).
    callback_retry_delays: tuple[float, ...] | None = None
    #: How long a soft-deleted recording stays visible with `IncludeSoftDeleted` (Twilio: 40 d).
    soft_delete_retention_seconds: float = SOFT_DELETE_RETENTION / MICROS_PER_SECOND
    #: The deployment's PostgreSQL (a postgresql:// URL); None: SQLite in the data directory.
    database: str | None = None
    #: Where the other processes of the deployment reach this one (default: `base_url`).
    peer_url: str | None = None
    #: How long completed recordings' audio is kept unless their account says otherwise
    #: (None: for ever), and how often to look for those past it.
    retention_seconds: float | None = None
    retention_sweep_seconds: float = 60.0
    #: Where completed recordings' files go: an s3:// URL (None: the data directory), and
    #: whether their media requests are redirected to a signed URL or proxied.
    media_store: str | None = None
    media_urls: str = "redirect"
    #: Seal capture files and rendered audio in the data directory with the server's key (and
    #: ask the media store to encrypt its objects).
    encrypt_at_rest: bool = False
    #: The Prometheus metrics' own listener (None: no metrics served).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: Each request's log line, as "text" or "json".
    log_format: str = "text"


def open_accounts(
    data_dir: Path, database: str | None = None, clock: Clock = system_clock
) -> AccountService:
    """The account service alone, for the CLI's account and key commands."""
    store = open_store(database, data_dir)
    return AccountService(store, clock, new_sid, Sealer.for_data_dir(data_dir))


@dataclass(frozen=True, slots=True)
class Built:
    app: ASGIApp
    accounts: AccountService
    #: Begin shutting down: the console's live streams end now, so that the server need not
    #: wait out its grace for them. Safe to call from a signal handler.
    drain: Callable[[], None]
    #: The listener's protocol: the media streams' WebSocket, and uvicorn's HTTP for the rest.
    listener: type[asyncio.Protocol]

    def uvicorn_config(self, **options: Any) -> uvicorn.Config:
        """uvicorn's config to serve this server (`options`: uvicorn's own)."""
        return uvicorn.Config(self.app, http=self.listener, ws="none", **options)


def build(config: Config, clock: Clock = system_clock, sid_factory: SidFactory = new_sid) -> Built:
    store = open_store(config.database, config.data_dir)
    sealer = Sealer.for_data_dir(config.data_dir)
    settings = Settings(
        answer_delay=round(config.answer_delay_seconds * MICROS_PER_SECOND),
        base_url=(config.public_url or config.base_url).rstrip("/"),
        soft_delete_retention=round(config.soft_delete_retention_seconds * MICROS_PER_SECOND),
    )
    files = MediaFiles(
        config.data_dir / "media", sealer.derive("callrec media files"), config.encrypt_at_rest
    )
    media = MediaHub(files)
    accounts = AccountService(store, clock, sid_factory, sealer)
    policy = Policy()
    if config.callback_retry_delays is not None:
        delays = tuple(round(s * MICROS_PER_SECOND) for s in config.callback_retry_delays)
        policy = Policy.with_backoff(delays)
    me = ProcessIdentity()
    dispatcher = Dispatcher(store, clock, accounts.auth_token, policy, me)
    metrics = Metrics(
        media, dispatcher.outcomes, lambda: store.read(lambda tx: tx.live_counts(me.id))
    )
    store.on_commit = metrics.commit
    media_store = None
    if config.media_store:
        media_store = S3Store(config.media_store, server_side_encryption=config.encrypt_at_rest)
    deps = Deps(
        store, clock, sid_factory, media, files, settings, dispatcher.wake, me,
        observe_render=metrics.render, media_store=media_store,
    )  # fmt: skip
    draining = Draining()
    lifecycle = Lifecycle(deps)
    calls = CallService(deps, lifecycle)
    membership: Membership | None = None

    async def address_of(process_id: int) -> str | None:
        assert membership is not None
        return await membership.address_of(process_id)

    peer_key = sealer.derive("callrec peers")
    peers = PeerClient(address_of, peer_key)
    streams = StreamService(deps, calls, config.stream_grace_seconds, peers)
    recordings = RecordingService(deps, lifecycle)
    retention = Retention(
        deps,
        None if config.retention_seconds is None else _micros(config.retention_seconds),
        config.retention_sweep_seconds,
    )
    twiml = TwimlClient(accounts.auth_token)
    flows = lifecycle.flows = Flows(deps, calls, recordings, twiml, lifecycle, accounts.auth_token)
    membership = Membership(
        deps,
        store.presence(),
        lifecycle,
        streams,
        (config.peer_url or config.base_url).rstrip("/"),
        dispatcher.poke,
    )
    services = Services(
        accounts=accounts,
        calls=calls,
        streams=streams,
        callbacks=CallbackService(store, clock, dispatcher.poke),
        recordings=recordings,
        files=files,
        media=media,
        flows=flows,
        numbers=NumberService(deps),
        public_keys=PublicKeyService(deps),
        recording_media=RecordingMedia(recordings, files, media_store),
        media_store=media_store,
        media_urls=config.media_urls,
        console=ConsoleSessions(store, clock, accounts),
        public_url=config.public_url,
        public_media=config.public_media,
        forward=forwarder(peers),
        peer_key=peer_key,
        process=me,
        clock=clock,
        draining=draining,
        unready=partial(unready_because, draining, store),
    )
    metrics_listener: list[web.AppRunner] = []
    acks = DelayedAcks()
    request_line = RequestLines(config.log_format)

    async def start() -> None:
        services.draining.bind()
        tune_gc()
        return_large_blocks()
        media.start_flushing()
        acks.start()
        await store.open()
        await membership.join()  # takes over what processes that died left, this one's last run too
        dispatcher.start()
        retention.start()
        if config.metrics_port is not None:
            listener = await serve_metrics(metrics, config.metrics_host, config.metrics_port)
            metrics_listener.append(listener)

    async def stop() -> None:
        for listener in metrics_listener:
            await listener.cleanup()
        request_line.flush()
        steps = [
            ("callback delivery", dispatcher.close), ("retention", retention.close),
            ("membership", membership.close),
            ("peers", peers.close), ("streams", streams.close), ("call flows", flows.close),
            ("TwiML requests", twiml.close), ("accounts", accounts.close),
            ("delayed ACKs", acks.close),
            ("background work", lifecycle.close), ("media", media.close),
            ("store", store.close),
        ]  # fmt: skip
        clean = True
        for name, close in steps:
            try:  # one part that does not finish must not keep the process from exiting
                await asyncio.wait_for(close(), SHUTDOWN_STEP_SECONDS)
            except TimeoutError:
                log.error("shutdown: %s did not finish within %s s", name, SHUTDOWN_STEP_SECONDS)
                clean = False
        log.info("callrec stopped cleanly" if clean else "callrec stopped")

    def answered(done: Answered) -> None:
        metrics.request(done.route, done.method, done.status, done.seconds)
        request_line(done)

    pages = console.routes(services)
    app = create_app(services, start, stop, pages, answered)
    streams_endpoint = StreamEndpoint(services, config.streams_path)
    return Built(app, accounts, draining.begin, front.listener(streams_endpoint, acks))


def _micros(seconds: float) -> int:
    return round(seconds * MICROS_PER_SECOND)


async def unready_because(draining: Draining, store: Store) -> str | None:
    """Why this server cannot serve now, if it cannot (readiness)."""
    if draining.started:
        return "shutting down"
    try:
        await asyncio.wait_for(store.read(lambda tx: tx.account("")), READY_TIMEOUT_SECONDS)
    except (StorageError, TimeoutError):
        return "the database does not answer"
    return None
