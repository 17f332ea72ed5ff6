"""The <Stream>s the calls' TwiML opens (`<Start><Stream>`, `<Connect><Stream>`): each a
`StreamClient` task of its own, sending the call's synthetic audio (the same a recording of the
call renders), with a stop event that `<Stop><Stream>` or the call's end sets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial

from callrec.callbacks.dispatcher import TokenLookup
from callrec.callbacks.stream_client import FRAME_SAMPLES, RATE, StreamClient, StreamTarget
from callrec.dates import iso8601
from callrec.domain.model import MICROS_PER_SECOND, Call, Micros, RecordingTrack
from callrec.media import synth
from callrec.media.codec import ulaw_encode
from callrec.service.deps import Deps
from callrec.service.far_end import FarEnd
from callrec.storage.base import OutboxEntry, Tx
from callrec.twiml.verbs import StartStream


class CannotStream(Exception):
    """The account has no auth token to sign the handshake with."""


class OutboundStreams:
    def __init__(
        self,
        deps: Deps,
        token_of: TokenLookup,
        heard: Callable[[Call, Micros, bytes], Awaitable[None]],
    ) -> None:
        self._deps = deps
        self._token_of = token_of
        self._heard = heard  # the app's audio, played into the call from a media position
        #: By call, by name (or stream sid): how to stop each stream.
        self._open: dict[str, dict[str, tuple[asyncio.Event, asyncio.Task[None]]]] = {}

    async def open(self, call: Call, url: str, verb: StartStream, far: FarEnd) -> None:
        """Open a stream to `url` (absolute, ws or wss); with <Connect>, wait until the app
        closes it, the far end's keys sent to it meanwhile as `dtmf`."""
        token = await self._token_of(call.account_sid)
        if token is None:
            raise CannotStream(call.account_sid)
        stream_sid = self._deps.new_sid("MZ")
        target = StreamTarget(
            url, stream_sid, call.account_sid, call.sid, verb.tracks, verb.parameters,
            verb.bidirectional,
        )  # fmt: skip
        media_at = self._deps.media.position(call.sid, call.start_time, self._deps.clock())
        first = media_at * RATE // MICROS_PER_SECOND

        def audio(track: str, sample: int) -> bytes:
            kind = RecordingTrack(track)
            return ulaw_encode(synth.samples(call.sid, kind, first + sample, FRAME_SAMPLES, RATE))

        client = StreamClient(target, token, audio)
        stop = asyncio.Event()
        report = partial(self._report, call, verb, stream_sid)

        async def tell_started() -> None:
            await client.started.wait()
            await report("stream-started")

        async def run() -> None:
            telling = asyncio.get_running_loop().create_task(tell_started())
            failed = await client.run(stop)
            if failed is None:
                await telling  # `started` comes before `stopped`
            else:
                telling.cancel()
            await report("stream-error" if failed else "stream-stopped", failed)
            if verb.bidirectional:  # the bot's audio was the call's outbound audio meanwhile
                await self._heard(call, media_at, client.played_audio(time.monotonic()))

        task = asyncio.get_running_loop().create_task(run())
        key = verb.name or stream_sid
        self._open.setdefault(call.sid, {})[key] = (stop, task)
        if not verb.bidirectional:
            return

        async def relay_keys() -> None:
            while True:
                client.press(await far.keys.get())

        relaying = asyncio.get_running_loop().create_task(relay_keys())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()  # the call ended (or was redirected): the stream says `stop`, closes
            raise
        finally:
            relaying.cancel()
            self._open.get(call.sid, {}).pop(key, None)

    async def _report(
        self, call: Call, verb: StartStream, stream_sid: str, event: str, error: str | None = None
    ) -> None:
        """<Stream statusCallback>: through the outbox, in order per stream (CONTRACT.md §12.3)."""
        if verb.status_callback is None:
            return
        now = self._deps.clock()
        params = [
            ("AccountSid", call.account_sid), ("CallSid", call.sid), ("StreamSid", stream_sid),
            ("StreamName", verb.name or stream_sid), ("StreamEvent", event),
            ("Timestamp", iso8601(now)),
        ]  # fmt: skip
        if error is not None:
            params.append(("StreamError", error))
        entry = OutboxEntry.due(
            call.account_sid, stream_sid, event, verb.status_callback_method,
            verb.status_callback, tuple(params), now, self._deps.me.id,
        )  # fmt: skip

        async def write(tx: Tx) -> None:
            await tx.insert_callback(entry)

        await self._deps.store.write(write)
        self._deps.wake_callbacks([stream_sid])

    def stop(self, call_sid: str, name: str | None) -> None:
        """<Stop><Stream>: the one of that name, or every one the call's TwiML opened."""
        named = self._open.get(call_sid, {})
        for each in [name] if name else list(named):
            if each in named:
                named.pop(each)[0].set()

    def ended(self, call_sid: str) -> None:
        for stop, _ in self._open.pop(call_sid, {}).values():
            stop.set()  # each sends `stop` and closes
