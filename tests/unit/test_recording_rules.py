"""The recording state table (CONTRACT.md §4) hammered with random command sequences, checked
against an independent model; and durations computed from the timeline."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from callrec.domain import recording as rules
from callrec.domain.errors import CallNotInProgress, TransitionNotAllowed
from callrec.domain.model import (
    Call,
    CallStatus,
    EventKind,
    PauseBehavior,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)

SID = "RE" + "0" * 32


def _call(status: CallStatus = CallStatus.IN_PROGRESS) -> Call:
    return Call("CA" + "0" * 32, "AC" + "0" * 32, "+1", "+2", status, 0, 0, 0, start_time=0)


class RecordingMachine(RuleBasedStateMachine):
    """Drives the pure rules; the model is a plain status string plus the live call flag."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.call = _call()
        self.recording, self.events = rules.start(
            SID, self.call, RecordingOptions(), RecordingSource.START_CALL_RECORDING_API, 0, 0, "AC"
        )
        self.model_status = "in-progress"
        self.model_behavior: PauseBehavior | None = None
        self.model_kept = 0  # microseconds that belong in the recording
        self.skipping = False

    def _advance(self, micros: int) -> None:
        if self.model_status in ("in-progress", "paused") and not self.skipping:
            self.model_kept += micros
        self.now += micros

    @rule(
        wait=st.integers(0, 5_000_000),
        asked=st.sampled_from(list(RecordingStatus)),
        behavior=st.sampled_from(list(PauseBehavior)),
    )
    def update(self, wait: int, asked: RecordingStatus, behavior: PauseBehavior) -> None:
        target = asked
        self._advance(wait)
        live = self.model_status in ("in-progress", "paused")
        expected_refusal: type[Exception] | None = None
        if target.value not in ("in-progress", "paused", "stopped") or not live:
            expected_refusal = TransitionNotAllowed
        elif self.call.status is not CallStatus.IN_PROGRESS:
            expected_refusal = CallNotInProgress
        if expected_refusal is not None:
            with pytest.raises(expected_refusal):
                rules.update(
                    self.recording, self.call.status, target, behavior, self.now, self.now, "AC"
                )
            return
        changed, events = rules.update(
            self.recording, self.call.status, target, behavior, self.now, self.now, "AC"
        )
        if target.value == self.model_status:
            assert (changed, events) == (self.recording, [])
            return
        if target is RecordingStatus.PAUSED:
            self.model_behavior = behavior
            self.skipping = behavior is PauseBehavior.SKIP
        else:
            self.model_behavior = None
            self.skipping = False
        self.model_status = target.value
        assert len(events) == 1
        self.recording = changed
        self.events += events

    @rule(wait=st.integers(0, 5_000_000))
    def hang_up(self, wait: int) -> None:
        self._advance(wait)
        self.call = replace(self.call, status=CallStatus.COMPLETED)
        changed, events = rules.stop_with_call(self.recording, self.now, self.now)
        if self.model_status in ("in-progress", "paused"):
            self.model_status = "stopped"
            self.model_behavior = None
            self.skipping = False
            assert [e.kind for e in events] == [EventKind.STOPPED]
        else:
            assert events == []
        self.recording = changed
        self.events += events

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.recording.status.value == self.model_status
        assert self.recording.pause_behavior == self.model_behavior
        assert self.recording.updated_at == self.events[-1].at

    @invariant()
    def duration_matches_model_once_stopped(self) -> None:
        if self.model_status == "stopped":
            assert rules.recorded_micros(self.events) == self.model_kept


TestRecordingMachine = RecordingMachine.TestCase


def _event(kind: EventKind, at: int, behavior: PauseBehavior | None = None) -> RecordingEvent:
    return RecordingEvent(SID, kind, at, None, behavior)


@given(
    before=st.integers(0, 10**9),
    paused=st.integers(0, 10**9),
    after=st.integers(0, 10**9),
    behavior=st.sampled_from(list(PauseBehavior)),
)
def test_skip_drops_the_pause_and_silence_keeps_it(
    before: int, paused: int, after: int, behavior: PauseBehavior
) -> None:
    timeline = [
        _event(EventKind.STARTED, 0),
        _event(EventKind.PAUSED, before, behavior),
        _event(EventKind.RESUMED, before + paused),
        _event(EventKind.STOPPED, before + paused + after),
    ]
    expected = before + after if behavior is PauseBehavior.SKIP else before + paused + after
    assert rules.recorded_micros(timeline) == expected


def test_stop_while_skip_paused_ends_the_skip() -> None:
    timeline = [
        _event(EventKind.STARTED, 0),
        _event(EventKind.PAUSED, 3_000_000, PauseBehavior.SKIP),
        _event(EventKind.STOPPED, 10_000_000),
    ]
    assert rules.recorded_micros(timeline) == 3_000_000


@pytest.mark.parametrize(
    ("micros", "seconds"), [(0, 0), (499_999, 0), (500_000, 1), (1_499_999, 1), (61_600_000, 62)]
)
def test_whole_seconds_round_to_nearest(micros: int, seconds: int) -> None:
    assert rules.whole_seconds(micros) == seconds


def test_start_needs_a_call_in_progress() -> None:
    for status in CallStatus:
        if status is CallStatus.IN_PROGRESS:
            continue
        with pytest.raises(CallNotInProgress):
            rules.start(
                SID, _call(status), RecordingOptions(), RecordingSource.OUTBOUND_API, 0, 0, None
            )


def test_delete_only_finished_recordings() -> None:
    recording, _ = rules.start(
        SID, _call(), RecordingOptions(), RecordingSource.OUTBOUND_API, 0, 0, None
    )
    with pytest.raises(TransitionNotAllowed):
        rules.delete(recording, 1, "AC")
    done = replace(recording, status=RecordingStatus.COMPLETED)
    deleted, events = rules.delete(done, 5, "AC")
    assert (deleted.deleted_at, [e.kind for e in events]) == (5, [EventKind.DELETED])


@pytest.mark.parametrize(
    ("deleted_at", "include_deleted", "now", "shown"),
    [
        (None, False, 100, True),
        (None, True, 100, True),
        (50, False, 51, False),  # deleted: hidden unless asked for
        (50, True, 51, True),
        (50, True, 59, True),  # within the retention (10)
        (50, True, 60, False),  # and not a microsecond after
    ],
)
def test_a_soft_deleted_recording_is_shown_for_the_retention_when_asked(
    deleted_at: int | None, include_deleted: bool, now: int, shown: bool
) -> None:
    recording, _ = rules.start(
        SID, _call(), RecordingOptions(), RecordingSource.OUTBOUND_API, 0, 0, None
    )
    recording = replace(recording, deleted_at=deleted_at)
    assert rules.shown(recording, include_deleted, now, retention=10) is shown
