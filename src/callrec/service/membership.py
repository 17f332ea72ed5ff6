"""This process in its deployment: joining it, proving it is alive, and taking over the work of
processes that die (docs/ARCHITECTURE.md, "Several processes").

A process holds its *presence* in the database (storage.base.Presence) for as long as it lives
and can reach the database. Two timings make a takeover safe:

- a process that cannot renew its presence for LEASE_SECONDS since it last sent a renewal that
  succeeded *fences* itself: its hub writes no audio at all until a renewal succeeds again;
- the others take over a process only once its presence has been seen gone for TAKEOVER_SECONDS
  (more than LEASE_SECONDS): by then it is dead, or fenced, because its presence cannot have gone
  before the last renewal it sent was answered.

So no two processes ever write the audio of one call, and the process that decides a pause is
always the only one whose gate the pause has to close. With SQLite there is one server, holding
the database alone; every other process registered with it has ended, and the work they left is
taken over at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from callrec.background import BackgroundTasks
from callrec.domain.model import Call, CallStatus, EventKind, Micros
from callrec.domain.recording import gap
from callrec.service.deps import Deps
from callrec.service.gates import GateDecisions
from callrec.service.lifecycle import Lifecycle
from callrec.service.streams import StreamService
from callrec.storage.base import Custody, Presence, StorageError, Tx

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5
LEASE_SECONDS = 3.0
TAKEOVER_SECONDS = LEASE_SECONDS + 1.0
PROCESS_DIED = "the process that held its media stream stopped (process {dead})"
FENCED = "this process could not reach the database (process {me})"


class Membership:
    def __init__(
        self,
        deps: Deps,
        presence: Presence,
        lifecycle: Lifecycle,
        streams: StreamService,
        address: str,
        wake_callbacks: Callable[[], None],
    ) -> None:
        self._deps = deps
        self._presence = presence
        self._lifecycle = lifecycle
        self._streams = streams
        self._address = address
        self._wake_callbacks = wake_callbacks
        self._addresses: dict[int, str] = {}
        self._gone_since: dict[int, float] = {}
        self._fence: asyncio.TimerHandle | None = None
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        #: Taking over the dead and joining again after a takeover change who this process
        #: is and what it holds: one at a time.
        self._changing = asyncio.Lock()
        self._notes = BackgroundTasks("noting what was not captured while fenced")

    async def join(self) -> None:
        """Register, hold the presence, take over what dead processes left, and keep at it."""
        me = await self._deps.store.write(
            lambda tx: tx.insert_process(self._address, self._deps.clock())
        )
        self._deps.me.id = me
        try:
            await self._presence.join(me)
        except StorageError:  # another server holds a SQLite database, say: leave no trace
            await self._deps.store.write(lambda tx: tx.end_process(me, self._deps.clock()))
            raise
        self._renewed(time.monotonic())
        log.info("joined the deployment as process %s (%s)", me, self._address)
        await self.reap()
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def address_of(self, process_id: int) -> str | None:
        """Where another process of the deployment listens (None: it has ended)."""
        if process_id not in self._addresses:
            await self._refresh()
        return self._addresses.get(process_id)

    async def close(self) -> None:
        self._closing = True  # the heartbeat ends even if a cancellation is lost in a call
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._fence is not None:
            self._fence.cancel()
        await self._notes.close()
        await self._presence.close()

    async def _run(self) -> None:
        # Two loops: a renewal never waits for reaping (reads, and the takeover of the dead).
        await asyncio.gather(self._heartbeat(), self._reaping())

    async def _heartbeat(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._renew()
            except Exception:  # never let the heartbeat die: the fence timer still runs
                log.exception("renewing this process's presence failed")

    async def _reaping(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.reap()
            except StorageError as error:
                log.warning("could not look for processes that died: %s", error)
            except Exception:
                log.exception("taking over the work of a process that died failed")

    # this process's own presence

    async def _renew(self) -> None:
        sent = time.monotonic()
        try:
            held = await asyncio.wait_for(self._presence.renew(), LEASE_SECONDS)
            if not held:
                await self._rejoin()
                return
        except (StorageError, TimeoutError, OSError) as error:
            log.warning("could not renew this process's presence: %r", error)
            return
        self._renewed(sent)
        if self._deps.media.fenced:
            self._unfence()

    async def _rejoin(self) -> None:
        """Taken over by the others while cut off (it was fenced by then, see the module's
        docstring): its calls are theirs. Let go of its streams, and join again as a new
        process, with nothing."""
        async with self._changing:
            await self._join_again()

    async def _join_again(self) -> None:
        me, media = self._deps.me, self._deps.media
        log.error("process %s was taken over by the others: joining again", me.id)
        media.fence()
        await self._streams.let_go()
        await self._presence.close()
        me.id = await self._deps.store.write(
            lambda tx: tx.insert_process(self._address, self._deps.clock())
        )
        await self._presence.join(me.id)
        self._renewed(time.monotonic())
        media.unfence()
        log.info("joined the deployment again as process %s", me.id)

    def _renewed(self, sent: float) -> None:
        """A renewal sent at `sent` succeeded: fence LEASE_SECONDS after it unless another does.
        Alone on its database (SQLite, held by a lock for as long as the process lives), a
        process has no lease to lose: a fence could only come from its own loop running late."""
        if self._presence.alone:
            return
        if self._fence is not None:
            self._fence.cancel()
        self._deps.media.hold_until(sent + LEASE_SECONDS)
        loop = asyncio.get_running_loop()
        delay = sent + LEASE_SECONDS - time.monotonic()
        self._fence = loop.call_later(max(0.0, delay), self._fence_now)

    def _fence_now(self) -> None:
        log.error("no renewal of this process's presence for %s s: fenced", LEASE_SECONDS)
        self._deps.media.fence()

    def _unfence(self) -> None:
        """The presence holds again and nobody took over: capture again, and say in each
        timeline what was not captured meanwhile (in the background: the heartbeat goes on)."""
        spans = self._deps.media.unfence()
        log.info("presence renewed: capturing again")
        self._notes.spawn(self._note_fenced(spans))

    async def _note_fenced(self, spans: dict[str, tuple[Micros, Micros]]) -> None:
        why = FENCED.format(me=self._deps.me.id)
        for call_sid, (since, until) in spans.items():
            await self._streams.note_gap(call_sid, EventKind.INTERRUPTED, since, why, True)
            await self._streams.note_gap(call_sid, EventKind.RESTORED, until, why, True)

    # processes that died

    async def reap(self) -> None:
        """Take over the processes whose presence has been gone long enough."""
        async with self._changing:
            await self._reap()

    async def _reap(self) -> None:
        await self._refresh()
        me = self._deps.me.id
        others = [pid for pid in self._addresses if pid != me]
        gone = await self._presence.gone(others) if others else set()
        now = time.monotonic()
        for pid in list(self._gone_since):
            if pid not in gone:
                del self._gone_since[pid]  # it was only away for a moment
        for pid in gone:
            since = self._gone_since.setdefault(pid, now)
            if now - since >= TAKEOVER_SECONDS or self._presence.alone:
                await self._adopt(pid)
                self._gone_since.pop(pid, None)

    async def _refresh(self) -> None:
        processes = await self._deps.store.read(lambda tx: tx.processes())
        self._addresses = {process.id: process.address for process in processes}

    async def _adopt(self, dead: int) -> None:
        me, media = self._deps.me, self._deps.media
        gates = GateDecisions(self._deps)

        async def adopt(tx: Tx) -> tuple[list[Call], list[str]] | None:
            now = self._deps.clock()
            if not await tx.end_process(dead, now):
                return None  # back, or another process took it over
            calls = await tx.adopt_calls(dead, me.id)
            finalizing = await tx.adopt_finalizing(dead, me.id)
            await tx.release_callbacks(dead)
            for call, custody in calls:
                if call.status is not CallStatus.IN_PROGRESS:
                    continue
                if custody.streaming:
                    await tx.set_custody(call.sid, Custody(me.id, streaming=False))
                media_at = media.position(call.sid, call.start_time, now)
                for recording in await tx.lock_live_recordings_of_call(call.sid):
                    gates.decide(recording, call.sid)
                    if custody.streaming:
                        why = PROCESS_DIED.format(dead=dead)
                        lost = gap(recording.sid, EventKind.INTERRUPTED, now, media_at, why)
                        await tx.append_events([lost])
            return [call for call, _ in calls], finalizing

        adopted = await gates.write(adopt)
        if adopted is None:
            return
        calls, finalizing = adopted
        log.info(
            "took over process %s: %d calls, %d recordings to finalize",
            dead, len(calls), len(finalizing),
        )  # fmt: skip
        self._lifecycle.adopted(calls, finalizing)
        self._streams.adopted(calls)
        self._wake_callbacks()
