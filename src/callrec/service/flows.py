"""Runs the app's TwiML on its calls (docs/ARCHITECTURE.md, "Call flows").

When a call with a flow is answered, the process that owns the call fetches its TwiML (a
signed request, the fallback URL if that fails) and performs the verbs one after the other, in
real time: <Say> and <Play> take as long as they would be heard, <Gather> and <Record> listen to
the scripted far end (service/far_end.py), recordings start and stop through the same use cases
as the REST API's, so the pause rules, gates and callbacks are the same. A document that ends
hangs up, as at Twilio; so does a TwiML error, after it is logged with Twilio's code.

A flow runs once: only on the call's owner, only while the call is live. Ending the call (by
REST, by the far end, by its stream) cancels it; a redirect replaces it. Where it is (the
document, the verb, the recording that verb started) is written as each verb begins, and in the
same transaction as a recording it starts; a process that takes the call over (a restart, or the
death of its process) goes on from that verb, so no recording is started twice and none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from callrec.background import BackgroundTasks
from callrec.callbacks.dispatcher import TokenLookup
from callrec.callbacks.twiml_client import TwimlFailed
from callrec.callbacks.voice import call_parameters
from callrec.domain.errors import CallNotInProgress, DomainError
from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    CallbackMethod,
    CallCallbacks,
    CallStatus,
    FlowPosition,
    PauseBehavior,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.service.calls import CallService
from callrec.service.custody import ensure_here
from callrec.service.deps import Deps, locked_call
from callrec.service.dial import Dialer
from callrec.service.far_end import FarEnd
from callrec.service.flow_audio import TONE_SECONDS, FlowAudio
from callrec.service.lifecycle import Lifecycle
from callrec.service.recordings import RecordingService
from callrec.service.streams_out import CannotStream, OutboundStreams
from callrec.storage.base import Tx
from callrec.twiml.parse import TwimlError, parse
from callrec.twiml.verbs import (
    Dial,
    Document,
    Gather,
    Hangup,
    Pause,
    Play,
    Prompt,
    Record,
    Redirect,
    Reject,
    Say,
    StartRecording,
    StartStream,
    StopRecording,
    StopStream,
    Unsupported,
)

log = logging.getLogger(__name__)

INVALID_URL = 11100
NOT_SUPPORTED = 13999  # our code: a verb Twilio runs and callrec does not (yet)
#: How long <Record> waits for its recording's audio to be ready, for `RecordingDuration`.
RENDER_WAIT_SECONDS = 30.0
Params = Sequence[tuple[str, str]]


class TwimlSource(Protocol):
    """Fetches TwiML and <Play> files (callbacks/twiml_client.py); raises TwimlFailed."""

    async def fetch(
        self, account_sid: str, url: str, method: CallbackMethod, params: Params
    ) -> str: ...

    async def fetch_media(self, account_sid: str, url: str) -> bytes: ...


class FlowFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class _Document:
    url: str | None  # None: the call's own `Twiml` (relative URLs cannot resolve)
    text: str
    verbs: Document

    def at(self, step: int, recording_sid: str | None = None) -> FlowPosition:
        return FlowPosition(self.text, self.url, step, recording_sid)


@dataclass(frozen=True, slots=True)
class _Fetch:
    """Go on with the TwiML at `url` (already absolute), requested with `extra` parameters."""

    url: str
    method: CallbackMethod
    extra: Params = ()


class Flows:
    def __init__(
        self,
        deps: Deps,
        calls: CallService,
        recordings: RecordingService,
        source: TwimlSource,
        lifecycle: Lifecycle,
        token_of: TokenLookup,
    ) -> None:
        self._deps = deps
        self._lifecycle = lifecycle
        self._tasks = BackgroundTasks("call flow")
        self._audio = FlowAudio(deps, source.fetch_media, self._tasks)
        self._streams = OutboundStreams(deps, token_of, self._audio.bot_spoke)
        self._calls = calls
        self._recordings = recordings
        self._source = source
        self._running: dict[str, asyncio.Task[None]] = {}
        self._far_ends: dict[str, FarEnd] = {}
        #: The recordings <Start><Recording> made, by call, by name (or sid, if unnamed).
        self._started: dict[str, dict[str, str]] = {}
        self._dialer = Dialer(deps, calls, recordings, self._recording_ready, self._tasks)

    # What the lifecycle tells (service/lifecycle.py, CallFlows)

    def answered(self, call: Call) -> None:
        """Run the call's flow from its start (the one it ran before stops: a redirect)."""
        if call.flow is not None:
            self._start(call, None)

    def _start(self, call: Call, position: FlowPosition | None) -> None:
        self._cancel(call.sid)
        task = asyncio.get_running_loop().create_task(self._run(call, position))
        self._running[call.sid] = task
        task.add_done_callback(lambda done: self._forget_task(call.sid, done))

    def arrived(self, call: Call) -> None:
        """An inbound call rings: its flow runs now, and answers it (or rejects it)."""
        self._start(call, None)

    def ended(self, call_sid: str) -> None:
        self._cancel(call_sid)
        self._streams.ended(call_sid)
        self._far_ends.pop(call_sid, None)
        self._started.pop(call_sid, None)

    def adopted(self, calls: Iterable[Call]) -> None:
        """Go on with the flows of calls taken over, from the verb each had begun."""
        for call in calls:
            if call.status is CallStatus.IN_PROGRESS and call.flow is not None:
                self._tasks.spawn(self._resume(call))

    async def _resume(self, call: Call) -> None:
        position = await self._deps.store.read(lambda tx: tx.flow_position(call.sid))
        log.info("call %s: its flow goes on here, at %s", call.sid, position)
        self._start(call, position)

    async def close(self) -> None:
        for sid in list(self._running):
            self._cancel(sid)
        await self._tasks.close()

    # The far end, scripted (carried out on the call's owner)

    async def press(self, account_sid: str, call_sid: str, digits: str) -> Call:
        call = await self._live_here(account_sid, call_sid)
        self._far_end(call_sid).press(digits)
        return call

    async def fall_silent(self, account_sid: str, call_sid: str, seconds: float) -> Call:
        """The far end says nothing for `seconds`: heard by <Record>, and silent in the inbound
        audio of the call's recordings."""
        call = await self._live_here(account_sid, call_sid)
        await self._audio.fall_silent(call, seconds)
        self._far_end(call_sid).fall_silent(seconds)
        return call

    async def hang_up(self, account_sid: str, call_sid: str) -> Call:
        return await self._calls.update(account_sid, call_sid, CallStatus.COMPLETED, None)

    # Running a flow

    async def _run(self, call: Call, position: FlowPosition | None) -> None:
        try:
            if position is None:
                document, step, recording = await self._first_document(call), 0, None
                if call.status is CallStatus.RINGING:  # inbound: the TwiML answers it, or not
                    verbs = document.verbs.verbs
                    if verbs and isinstance(verbs[0], Reject):
                        busy = verbs[0].reason == "busy"
                        await self._calls.refuse(
                            call, CallStatus.BUSY if busy else CallStatus.NO_ANSWER
                        )
                        return
                    answered = await self._lifecycle.answer_now(call.sid)
                    if answered is None:
                        return  # it ended while its TwiML was fetched
                    call = answered
            else:
                document = _Document(position.url, position.document, parse(position.document))
                step, recording = position.step, position.recording_sid
            taken_over = position is not None
            while True:
                then = await self._perform(call, document, step, recording, taken_over)
                if then is None:
                    break
                document, step, recording = await self._document(call, then), 0, None
                taken_over = False
        except CannotStream:
            log.warning("call %s: no auth token to sign its stream with; hanging up", call.sid)
        except (FlowFailed, TwimlError) as error:
            code = error.code
            log.warning("call %s: application error %s: %s; hanging up", call.sid, code, error)
        if call.status is CallStatus.RINGING:  # an error before it was answered
            await self._calls.refuse(call, CallStatus.FAILED)
            return
        await self._calls.hang_up(call.sid)  # the document ended, or an error: Twilio hangs up

    async def _first_document(self, call: Call) -> _Document:
        flow = call.flow
        assert flow is not None
        if flow.twiml is not None:
            return _Document(None, flow.twiml, parse(flow.twiml))
        assert flow.url is not None
        try:
            return await self._document(call, _Fetch(flow.url, flow.method))
        except (FlowFailed, TwimlError) as error:
            if flow.fallback_url is None:
                raise
            why = (("ErrorCode", str(error.code)), ("ErrorUrl", flow.url))
            log.info("call %s: %s failed (%s); trying its fallback", call.sid, flow.url, error)
            fallback = _Fetch(flow.fallback_url, flow.fallback_method, why)
            return await self._document(call, fallback)

    async def _document(self, call: Call, step: _Fetch) -> _Document:
        ringing = call.status is CallStatus.RINGING  # an inbound call's first request
        status = CallStatus.RINGING if ringing else CallStatus.IN_PROGRESS
        params = [*call_parameters(call, status), *step.extra]
        try:
            text = await self._source.fetch(call.account_sid, step.url, step.method, params)
        except TwimlFailed as error:
            raise FlowFailed(error.code, error.message) from error
        verbs = parse(text)
        for warning in verbs.warnings:
            log.info("call %s: TwiML warning 12200 at %s: %s", call.sid, step.url, warning)
        return _Document(step.url, text, verbs)

    async def _perform(
        self,
        call: Call,
        document: _Document,
        first: int,
        recording_sid: str | None,
        taken_over: bool,
    ) -> _Fetch | None:
        """Perform the verbs from `first` on; the next document to fetch, or None: hang up.
        `taken_over`: the flow goes on where another process (or run) left it; `recording_sid`:
        the recording the verb `first` had started then."""
        url = document.url
        for index in range(first, len(document.verbs.verbs)):
            verb = document.verbs.verbs[index]
            started = recording_sid if index == first else None
            if started is None:
                await self._save(call.sid, document.at(index))
            match verb:
                case Say() | Play() | Pause():
                    await self._audio.prompt(call, verb, _played_url(url, verb))
                case Gather():
                    then = await self._gather(call, url, verb)
                    if then is not None:
                        return then
                case Redirect():
                    return _Fetch(_resolve(url, verb.url), verb.method)
                case Hangup() | Reject():
                    return None
                case Record():
                    return await self._record(call, document, index, verb, started)
                case Dial():
                    resolved = replace(
                        verb,
                        options=_resolved_options(url, verb.options),
                        reports=tuple(_resolved_reports(url, r) for r in verb.reports),
                    )
                    resumed = taken_over and index == first
                    result = await self._dialer.dial(call, resolved, resumed)
                    if verb.action is not None:
                        return _Fetch(_resolve(url, verb.action), verb.method, result)
                case StartRecording():
                    await self._start_recording(call, document, index, verb)
                case StopRecording():
                    await self._stop_started(call, verb.name)
                case StartStream():
                    far = self._far_end(call.sid)
                    if verb.status_callback is not None:
                        verb = replace(verb, status_callback=_resolve(url, verb.status_callback))
                    await self._streams.open(call, _stream_url(url, verb.url), verb, far)
                case StopStream():
                    self._streams.stop(call.sid, verb.name)
                case Unsupported():
                    raise FlowFailed(NOT_SUPPORTED, f"callrec does not run <{verb.name}> yet")
        return None

    async def _save(self, call_sid: str, position: FlowPosition) -> None:
        async def save(tx: Tx) -> None:
            await tx.set_flow_position(call_sid, position)

        await self._deps.store.write(save)

    async def _start_recording(
        self, call: Call, document: _Document, index: int, verb: StartRecording
    ) -> None:
        after = document.at(index + 1)  # written with the recording: it is started once
        recording = await self._recordings.start(
            call.account_sid, call.sid, _resolved_options(document.url, verb.options), None,
            RecordingSource.START_CALL_RECORDING_TWIML, lambda _: after,
        )  # fmt: skip
        self._started.setdefault(call.sid, {})[verb.name or recording.sid] = recording.sid

    async def _gather(self, call: Call, url: str | None, verb: Gather) -> _Fetch | None:
        far = self._far_end(call.sid)
        pending: str | None = None
        for prompt in verb.prompts:  # a key pressed during a prompt cuts it short
            pending = await self._audio.prompt(call, prompt, _played_url(url, prompt), far)
            if pending is not None:
                break
        digits = finished = ""
        while True:
            key = pending if pending is not None else await far.next_key(verb.timeout)
            pending = None
            if key is None:
                break
            if key in verb.finish_on_key:
                finished = key
                break
            digits += key
            if verb.num_digits is not None and len(digits) >= verb.num_digits:
                break
        if not digits and not verb.action_on_empty_result:
            return None  # Twilio goes on with the next verb
        extra = (("Digits", digits), ("FinishedOnKey", finished))
        return _Fetch(_resolve(url, verb.action), verb.method, extra)

    async def _record(
        self, call: Call, document: _Document, step: int, verb: Record, started: str | None
    ) -> _Fetch:
        """<Record>; `started`: its recording, already made (a flow taken over goes on with it
        for what is left of `maxLength`)."""
        action = _resolve(document.url, verb.action)
        if started is None:
            if verb.play_beep:
                await asyncio.sleep(TONE_SECONDS)
            options = _resolved_options(document.url, verb.options)
            made = await self._recordings.start(
                call.account_sid, call.sid, options, None, RecordingSource.RECORD_VERB,
                lambda sid: document.at(step, sid),
            )  # fmt: skip
            sid, since = made.sid, time.monotonic()
        else:
            found = await self._deps.store.read(lambda tx: tx.recording(started))
            age = self._deps.clock() - found.start_time if found else 0
            sid, since = started, time.monotonic() - age / MICROS_PER_SECOND
        try:
            digits = await _listen(self._far_end(call.sid), verb, since)
            with contextlib.suppress(DomainError):  # stopped already (by REST, say)
                await self._recordings.update(
                    call.account_sid, call.sid, sid, RecordingStatus.STOPPED,
                    PauseBehavior.SILENCE, None,
                )  # fmt: skip
        except asyncio.CancelledError:
            # The call ended (or was redirected) while recording: Twilio still tells the action.
            self._tasks.spawn(self._recording_cut_short(call, action, verb, sid))
            raise
        return _Fetch(action, verb.method, await self._recorded(call, sid, digits))

    async def _recording_cut_short(
        self, call: Call, action: str, verb: Record, recording_sid: str
    ) -> None:
        with contextlib.suppress(DomainError):  # stopped with the call already
            await self._recordings.update(
                call.account_sid, call.sid, recording_sid, RecordingStatus.STOPPED,
                PauseBehavior.SILENCE, None,
            )  # fmt: skip
        current = await self._deps.store.read(lambda tx: tx.call(call.sid))
        if current is None or not current.status.is_ended:
            return  # redirected: the new flow goes on, the old action is not asked
        extra = await self._recorded(call, recording_sid, "hangup")
        params = [*call_parameters(current, current.status), *extra]
        with contextlib.suppress(Exception):  # the call is over: its answer is not run
            await self._source.fetch(call.account_sid, action, verb.method, params)

    async def _recorded(self, call: Call, recording_sid: str, digits: str) -> Params:
        """<Record>'s parameters for its action, once the recording's audio is ready."""
        return (*await self._recording_ready(call, recording_sid), ("Digits", digits))

    async def _recording_ready(self, call: Call, recording_sid: str) -> Params:
        """A recording's `RecordingUrl`, `RecordingSid`, `RecordingDuration`, once its audio is
        ready (an action that fetches the URL at once gets it)."""
        deadline = time.monotonic() + RENDER_WAIT_SECONDS
        while True:
            recording = await self._deps.store.read(lambda tx: tx.recording(recording_sid))
            done = recording is None or recording.status.is_final
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        base = self._deps.settings.base_url
        duration = recording.duration if recording and recording.duration is not None else 0
        path = f"/2010-04-01/Accounts/{call.account_sid}/Recordings/{recording_sid}"
        return (
            ("RecordingUrl", f"{base}{path}"),
            ("RecordingSid", recording_sid),
            ("RecordingDuration", str(duration)),
        )

    async def _stop_started(self, call: Call, name: str | None) -> None:
        """<Stop><Recording>: the one of that name, or every live one the call's TwiML started
        (found in the store: the names are known only to the process that started them)."""
        named = self._started.get(call.sid, {})
        if name is not None:
            chosen = [named.pop(name)] if name in named else []
        else:
            named.clear()
            live = await self._deps.store.write(
                lambda tx: tx.lock_live_recordings_of_call(call.sid)
            )
            twiml = RecordingSource.START_CALL_RECORDING_TWIML
            chosen = [r.sid for r in live if r.source is twiml]
        for sid in chosen:
            with contextlib.suppress(DomainError):  # stopped already (by REST, say)
                await self._recordings.update(
                    call.account_sid, call.sid, sid, RecordingStatus.STOPPED,
                    PauseBehavior.SILENCE, None,
                )  # fmt: skip

    # Bookkeeping

    async def _live_here(self, account_sid: str, call_sid: str) -> Call:
        async def check(tx: Tx) -> Call:
            call, custody = await locked_call(tx, account_sid, call_sid)
            ensure_here(call.status, custody.owner, self._deps.me)
            if call.status is not CallStatus.IN_PROGRESS:
                raise CallNotInProgress()
            return call

        return await self._deps.store.write(check)

    def _far_end(self, call_sid: str) -> FarEnd:
        return self._far_ends.setdefault(call_sid, FarEnd())

    def _cancel(self, call_sid: str) -> None:
        task = self._running.pop(call_sid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _forget_task(self, call_sid: str, task: asyncio.Task[None]) -> None:
        if self._running.get(call_sid) is task:
            del self._running[call_sid]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("call %s: its flow failed", call_sid, exc_info=error)


async def _listen(far: FarEnd, verb: Record, started: float) -> str:
    """Until a finishing key (returned), `timeout` seconds of silence or `maxLength` ("") since
    `started` (monotonic)."""
    while True:
        ends = [started + verb.max_length]
        silent = far.silent_since(started)
        if silent is not None and verb.timeout > 0:
            ends.append(silent + verb.timeout)
        left = min(ends) - time.monotonic()
        if left <= 0:
            return ""
        key = await far.next_key(min(left, 0.1))
        if key is not None and key in verb.finish_on_key:
            return key


def _resolve(base: str | None, url: str | None) -> str:
    """`url` against the document's URL (None: the document's own URL), as a browser would."""
    target = urljoin(base or "", url or "") if base else url
    if not target or urlsplit(target).scheme not in ("http", "https"):
        raise FlowFailed(INVALID_URL, f"'{url}' is not a URL callrec can request")
    return target


def _played_url(base: str | None, prompt: Prompt) -> str | None:
    """The absolute URL of a <Play>'s file; None for anything else (and for <Play digits>)."""
    if not isinstance(prompt, Play) or prompt.digits or prompt.url is None:
        return None
    return _resolve(base, prompt.url)


def _stream_url(base: str | None, url: str) -> str:
    """A <Stream url>: ws(s) as given, or relative to the document's URL, its http(s) made ws(s)."""
    if urlsplit(url).scheme in ("ws", "wss"):
        return url
    return "ws" + _resolve(base, url).removeprefix("http")


def _resolved_reports(base: str | None, reports: CallCallbacks | None) -> CallCallbacks | None:
    if reports is None:
        return None
    return replace(reports, url=_resolve(base, reports.url))


def _resolved_options(base: str | None, options: RecordingOptions) -> RecordingOptions:
    if options.callback_url is None:
        return options
    return replace(options, callback_url=_resolve(base, options.callback_url))
