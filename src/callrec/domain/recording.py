"""Recording lifecycle: the transition rules as pure functions, and durations from the timeline.

Each function takes the current state and returns the new state with the events that record the
change; storing both in one transaction is the caller's job. The state table is CONTRACT.md §4.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from callrec.domain.errors import CallNotInProgress, TransitionNotAllowed
from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    CallStatus,
    EncryptionDetails,
    EventKind,
    Micros,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)

Changed = tuple[Recording, list[RecordingEvent]]

#: How long Twilio still shows a soft-deleted recording (with `IncludeSoftDeleted`): 40 days.
SOFT_DELETE_RETENTION: Micros = 40 * 24 * 3600 * MICROS_PER_SECOND

#: The statuses UpdateCallRecording may ask for; the others are reached by callrec alone.
UPDATE_TARGETS = (RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED, RecordingStatus.STOPPED)


def start(
    sid: str,
    call: Call,
    options: RecordingOptions,
    source: RecordingSource,
    now: Micros,
    media_at: Micros,
    actor: str | None,
) -> Changed:
    """Start recording a call; only a call in progress can be recorded (Twilio error 21220)."""
    if call.status is not CallStatus.IN_PROGRESS:
        raise CallNotInProgress()
    recording = Recording(
        sid=sid,
        account_sid=call.account_sid,
        call_sid=call.sid,
        status=RecordingStatus.IN_PROGRESS,
        source=source,
        options=options,
        created_at=now,
        updated_at=now,
        start_time=now,
    )
    return recording, [RecordingEvent(sid, EventKind.STARTED, now, actor, media_at=media_at)]


def update(
    recording: Recording,
    call_status: CallStatus,
    target: RecordingStatus,
    behavior: PauseBehavior,
    now: Micros,
    media_at: Micros,
    actor: str | None,
) -> Changed:
    """Apply UpdateCallRecording's `Status` (and `PauseBehavior`, used only when pausing)."""
    if target not in UPDATE_TARGETS:
        raise TransitionNotAllowed(f"A recording cannot be set to '{target}'")
    if not recording.status.is_live:
        raise TransitionNotAllowed(
            f"The recording is {recording.status} and can no longer be updated"
        )
    if call_status is not CallStatus.IN_PROGRESS:
        raise CallNotInProgress()
    if target is recording.status:
        # Pausing a paused recording keeps the first pause's behaviour; resuming a running one
        # changes nothing (our decision: CONTRACT.md §4).
        return recording, []
    if target is RecordingStatus.STOPPED:
        return _stop(recording, now, media_at, actor)
    if target is RecordingStatus.PAUSED:
        changed = recording.moved_to(target, now, behavior)
        paused = RecordingEvent(recording.sid, EventKind.PAUSED, now, actor, behavior, media_at)
        return changed, [paused]
    changed = recording.moved_to(target, now)
    resumed = RecordingEvent(recording.sid, EventKind.RESUMED, now, actor, media_at=media_at)
    return changed, [resumed]


def stop_with_call(recording: Recording, now: Micros, media_at: Micros) -> Changed:
    """The call ended: a live recording stops with it; any other is left as it is."""
    if not recording.status.is_live:
        return recording, []
    return _stop(recording, now, media_at, None)


def _stop(recording: Recording, now: Micros, media_at: Micros, actor: str | None) -> Changed:
    changed = recording.moved_to(RecordingStatus.STOPPED, now)
    stopped = RecordingEvent(recording.sid, EventKind.STOPPED, now, actor, media_at=media_at)
    return changed, [stopped]


def begin_processing(recording: Recording, now: Micros) -> Changed:
    """A stopped recording moves on to `processing` while its media is made."""
    if recording.status is not RecordingStatus.STOPPED:
        return recording, []
    changed = recording.moved_to(RecordingStatus.PROCESSING, now, recording.pause_behavior)
    return changed, [RecordingEvent(recording.sid, EventKind.PROCESSING, now, None)]


def complete(
    recording: Recording,
    duration: int,
    now: Micros,
    encryption: EncryptionDetails | None = None,
) -> Changed:
    """The media is ready: the recording is `completed` with its duration in whole seconds (and,
    if its audio was encrypted for its account's key, how)."""
    if recording.status is not RecordingStatus.PROCESSING:
        return recording, []
    changed = replace(
        recording,
        status=RecordingStatus.COMPLETED,
        duration=duration,
        updated_at=now,
        encryption=encryption,
    )
    return changed, [RecordingEvent(recording.sid, EventKind.COMPLETED, now, None)]


#: Why a recording is `absent` when its account encrypts but has no usable public key.
NO_VALID_KEY = 16105


def absent(recording: Recording, error_code: int, now: Micros) -> Changed:
    """No usable audio: the recording is `absent` with Twilio's reason (16101 too short, 16102
    silent, 16105 no public key to encrypt it with) and no duration."""
    if recording.status is not RecordingStatus.PROCESSING:
        return recording, []
    changed = replace(
        recording, status=RecordingStatus.ABSENT, error_code=error_code, updated_at=now
    )
    return changed, [RecordingEvent(recording.sid, EventKind.ABSENT, now, None)]


#: Why callrec itself deleted a recording: its account's retention period ran out.
RETENTION = "retention"


def delete(recording: Recording, now: Micros, actor: str | None, why: str | None = None) -> Changed:
    """Soft-delete a finished recording; a live or unfinished one must finish first. `actor`
    None and `why`: callrec deleted it by itself (RETENTION)."""
    if recording.is_deleted:
        return recording, []
    if not recording.status.is_final:
        raise TransitionNotAllowed(
            f"The recording is {recording.status}; stop it and wait for it to complete "
            "before deleting it"
        )
    changed = replace(recording, deleted_at=now, updated_at=now)
    return changed, [RecordingEvent(recording.sid, EventKind.DELETED, now, actor, detail=why)]


def gap(sid: str, kind: EventKind, now: Micros, media_at: Micros, why: str) -> RecordingEvent:
    """The call's audio stopped reaching callrec at `media_at` (`interrupted`), or reaches it
    again (`restored`): not a change of the recording's status, a fact of its timeline."""
    assert kind in (EventKind.INTERRUPTED, EventKind.RESTORED)
    return RecordingEvent(sid, kind, now, None, media_at=media_at, detail=why)


def shown(recording: Recording, include_deleted: bool, now: Micros, retention: Micros) -> bool:
    """Whether the API shows the recording: a soft-deleted one only when asked for, and only for
    `retention` after its deletion (its timeline is kept all the same)."""
    if recording.deleted_at is None:
        return True
    return include_deleted and now - recording.deleted_at < retention


def recorded_micros(events: Iterable[RecordingEvent]) -> Micros:
    """Length of the recording the timeline describes: media time from start to stop, less
    every `skip` pause (a `silence` pause is kept as silence, so it counts)."""
    started: Micros | None = None
    stopped: Micros | None = None
    skipped: Micros = 0
    skip_began: Micros | None = None
    for event in events:
        at = event.at if event.media_at is None else event.media_at
        if event.kind is EventKind.STARTED:
            started = at
        elif event.kind is EventKind.PAUSED and event.pause_behavior is PauseBehavior.SKIP:
            skip_began = at
        elif event.kind in (EventKind.RESUMED, EventKind.STOPPED) and skip_began is not None:
            skipped += at - skip_began
            skip_began = None
        if event.kind is EventKind.STOPPED:
            stopped = at
            break
    if started is None or stopped is None:
        return 0
    return max(0, stopped - started - skipped)


def whole_seconds(micros: Micros) -> int:
    """Twilio reports durations as whole seconds; we round to the nearest (our decision)."""
    return (micros + MICROS_PER_SECOND // 2) // MICROS_PER_SECOND
