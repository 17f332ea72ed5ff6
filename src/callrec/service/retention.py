"""Retention: once a completed recording is older than its account's period (or the server's
default), its audio is deleted, and its timeline says so: a `deleted` event with no credential
and the reason `retention`. The resource then behaves as any deleted recording does.

Every process of a deployment sweeps; each recording is deleted under its row's lock, so once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callrec.domain import recording as recordings
from callrec.domain.model import Micros
from callrec.service.deps import Deps
from callrec.service.media import forget
from callrec.storage.base import StorageError, Tx

#: Recordings expired per look; the next look goes on where this one stopped.
BATCH = 100
log = logging.getLogger(__name__)


class Retention:
    def __init__(self, deps: Deps, default: Micros | None, every_seconds: float) -> None:
        self._deps = deps
        self._default = default
        self._every = every_seconds
        self._runner: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        while not self._closing:
            try:
                while await self.sweep() == BATCH:
                    pass  # more are due: go on at once
            except StorageError as error:
                log.warning("retention: could not look for expired recordings: %s", error)
            except Exception:
                log.exception("retention: the sweep failed")
            await asyncio.sleep(self._every)

    async def sweep(self) -> int:
        """Delete the audio of recordings past their period (at most BATCH); how many were."""
        store, now = self._deps.store, self._deps.clock()
        accounts = await store.read(lambda tx: tx.accounts())
        periods = [a.retention for a in accounts if a.retention is not None]
        if self._default is not None:
            periods.append(self._default)
        if not periods:
            return 0
        shortest, default = min(periods), self._default
        due = await store.read(lambda tx: tx.expired_recordings(now, default, shortest, BATCH))
        for sid in due:
            await self._expire(sid)
        return len(due)

    async def _expire(self, sid: str) -> None:
        now = self._deps.clock()

        async def expire(tx: Tx) -> bool:
            recording = await tx.lock_recording(sid)
            if recording is None or recording.is_deleted:
                return False  # another process of the deployment was first
            changed, events = recordings.delete(recording, now, None, recordings.RETENTION)
            await tx.update_recording(changed)
            await tx.append_events(events)
            return True

        if await self._deps.store.write(expire):
            await forget(self._deps.files, self._deps.media_store, sid)
            log.info("retention: deleted the audio of %s", sid)
