"""What a call's flow makes heard, in its audio (docs/ARCHITECTURE.md, "Call flows"): prompts
played for as long as they are heard, a <Play>'s file decoded and kept, a <Connect><Stream>
bot's audio, the far end's silence — each written as a span of the call's media clock
(`call_audio`) that rendering lays over the synthetic audio."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable

from callrec.background import BackgroundTasks
from callrec.callbacks.twiml_client import TwimlFailed
from callrec.domain.model import MICROS_PER_SECOND, AudioSpan, Call, Micros, RecordingTrack
from callrec.media.codec import ulaw_decode
from callrec.media.decode import RATE as DECODED_RATE
from callrec.media.decode import NotAudio, decode
from callrec.media.render import Samples
from callrec.service.deps import Deps
from callrec.service.far_end import FarEnd
from callrec.storage.base import Tx
from callrec.twiml.verbs import Pause, Play, Prompt, Say

log = logging.getLogger(__name__)

#: How long <Say> speaks, per word (about 150 words a minute); our decision.
SECONDS_PER_WORD = 0.4
#: How long a key of <Play digits> sounds, and <Record>'s beep.
TONE_SECONDS = 0.5
#: <Play> URLs whose decoded file a process remembers (the oldest is forgotten first).
PLAYED_FILES_KEPT = 256
#: Fetches a <Play>'s file (the account, the absolute URL); raises TwimlFailed.
FetchMedia = Callable[[str, str], Awaitable[bytes]]


class FlowAudio:
    def __init__(self, deps: Deps, fetch_media: FetchMedia, tasks: BackgroundTasks) -> None:
        self._deps = deps
        self._fetch_media = fetch_media
        self._tasks = tasks
        #: Each <Play> URL's decoded file (its name) and length, as this process has it.
        self._played_files: dict[str, tuple[str, float]] = {}

    async def prompt(
        self, call: Call, prompt: Prompt, where: str | None, far: FarEnd | None = None
    ) -> str | None:
        """Play a prompt for as long as it is heard (`where`: a <Play>'s absolute URL); in
        <Gather> (`far`), until a key, which is returned. A <Play>'s audio goes on the call's
        outbound track for as long as it played."""
        played = await self._played(call, where) if isinstance(prompt, Play) and where else None
        if isinstance(prompt, Play) and where and played is None:
            return None  # a file that cannot be had is skipped
        seconds = prompt_seconds(prompt, played[1] if played else 0.0)
        began = self.media_now(call)
        try:
            if far is not None:
                return await far.next_key(seconds)
            await asyncio.sleep(seconds)
            return None
        finally:
            if played is not None:  # written even when the call ends mid-<Play>
                ended = self.media_now(call)
                span = AudioSpan(call.sid, RecordingTrack.OUTBOUND, began, ended, played[0])
                self._tasks.spawn(self.add_span(span))

    async def bot_spoke(self, call: Call, media_at: Micros, mulaw: bytes) -> None:
        """A <Connect><Stream> bot's audio, kept as a <Play>'s is, on the outbound track."""
        samples = ulaw_decode(mulaw)
        if not len(samples):
            return
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, self._keep_samples, samples)
        end = media_at + len(samples) * MICROS_PER_SECOND // DECODED_RATE
        await self.add_span(AudioSpan(call.sid, RecordingTrack.OUTBOUND, media_at, end, name))

    async def fall_silent(self, call: Call, seconds: float) -> None:
        """The far end says nothing for `seconds`: silence on the inbound track."""
        began = self.media_now(call)
        end = began + round(seconds * MICROS_PER_SECOND)
        await self.add_span(AudioSpan(call.sid, RecordingTrack.INBOUND, began, end))

    async def add_span(self, span: AudioSpan) -> None:
        async def add(tx: Tx) -> None:
            await tx.add_audio_span(span)

        await self._deps.store.write(add)

    def media_now(self, call: Call) -> Micros:
        return self._deps.media.position(call.sid, call.start_time, self._deps.clock())

    async def _played(self, call: Call, where: str) -> tuple[str, float] | None:
        """A <Play>'s file, decoded and kept under the data directory: its name and length.
        Each URL is fetched once a process. One that cannot be fetched or decoded is skipped, as
        Twilio skips it (logged, 11200)."""
        known = self._played_files.get(where)
        if known is not None:
            return known
        try:
            data = await self._fetch_media(call.account_sid, where)
            loop = asyncio.get_running_loop()
            samples = await loop.run_in_executor(None, decode, data)
            name = await loop.run_in_executor(None, self._keep_samples, samples)
        except (TwimlFailed, NotAudio) as error:  # the call goes on
            log.warning("call %s: <Play> %s skipped (11200): %s", call.sid, where, error)
            return None
        known = name, len(samples) / DECODED_RATE
        if len(self._played_files) >= PLAYED_FILES_KEPT:
            self._played_files.pop(next(iter(self._played_files)))
        self._played_files[where] = known
        return known

    def _keep_samples(self, samples: Samples) -> str:
        name = hashlib.sha256(samples.tobytes()).hexdigest()[:32]
        self._deps.files.keep_played(name, samples)
        return name


def prompt_seconds(prompt: Prompt, file_seconds: float = 0.0) -> float:
    """How long a prompt is heard (loop 0, "for ever", counts as Twilio's cap of 1,000);
    `file_seconds`: how long the file a <Play> names plays."""
    loops = prompt.loop or 1000 if not isinstance(prompt, Pause) else 1
    match prompt:
        case Say():
            return loops * max(1, len(prompt.text.split())) * SECONDS_PER_WORD
        case Play():
            return loops * (len(prompt.digits or "") * TONE_SECONDS or file_seconds)
        case Pause():
            return float(prompt.seconds)
