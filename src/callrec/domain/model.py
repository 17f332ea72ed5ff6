"""Value types shared by every layer: accounts, calls, recordings and their timeline events.

Times are integer microseconds since the Unix epoch (UTC) so that durations are exact sums,
never accumulated floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def hot_value(cls: type[_T]) -> type[_T]: ...

else:

    def hot_value(cls: type[_T]) -> type[_T]:
        """A value type made on every request: frozen for the type checker (mypy --strict rejects
        any assignment to a field), a plain slotted dataclass at run time, because a frozen
        dataclass sets each field through object.__setattr__. Measured: UpdateCallRecording
        builds three of them, and unfreezing them took 7 % off its CPU in-process."""
        return dataclass(slots=True)(cls)


Micros = int
MICROS_PER_SECOND = 1_000_000


class CallStatus(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_ended(self) -> bool:
        return self not in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


class RecordingStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    PAUSED = "paused"
    STOPPED = "stopped"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ABSENT = "absent"

    @property
    def is_live(self) -> bool:
        return self in (RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED)

    @property
    def is_final(self) -> bool:
        return self in (RecordingStatus.COMPLETED, RecordingStatus.ABSENT)


class PauseBehavior(StrEnum):
    SKIP = "skip"
    SILENCE = "silence"


class RecordingSource(StrEnum):
    START_CALL_RECORDING_API = "StartCallRecordingAPI"
    OUTBOUND_API = "OutboundAPI"
    RECORD_VERB = "RecordVerb"
    START_CALL_RECORDING_TWIML = "StartCallRecordingTwiML"
    DIAL_VERB = "DialVerb"


class RecordingTrack(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BOTH = "both"


class RecordingChannels(StrEnum):
    MONO = "mono"
    DUAL = "dual"


class Trim(StrEnum):
    TRIM_SILENCE = "trim-silence"
    DO_NOT_TRIM = "do-not-trim"


class CallbackMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class CallbackEvent(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ABSENT = "absent"
    # Beyond Twilio, sent only when asked for: every pause, resume and stop of a recording.
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"


class CallEvent(StrEnum):
    """A call's progress an app may ask to hear of (`StatusCallbackEvent`)."""

    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"  # sent with CallStatus in-progress
    COMPLETED = "completed"  # any end: completed, busy, no-answer, failed, canceled


class EventKind(StrEnum):
    """What happened to a recording; its timeline is the ordered list of these."""

    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ABSENT = "absent"
    DELETED = "deleted"
    # Recorded by callrec itself, with why in `detail`: the call's audio stopped reaching any
    # process (its media stream dropped; the process that held it died or lost the database),
    # and came back. Not pauses: the audio between them is silence, and it counts.
    INTERRUPTED = "interrupted"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    """How a recording is to be made and reported, as asked at creation."""

    channels: RecordingChannels = RecordingChannels.MONO
    track: RecordingTrack = RecordingTrack.BOTH
    trim: Trim = Trim.DO_NOT_TRIM
    callback_url: str | None = None
    callback_method: CallbackMethod = CallbackMethod.POST
    callback_events: tuple[CallbackEvent, ...] = (CallbackEvent.COMPLETED,)
    #: Its account encrypts recordings: the capture file is encrypted too, frame by frame.
    sealed: bool = False

    @property
    def channel_count(self) -> int:
        """Channels in the file: dual needs both tracks, a single track is always mono."""
        both = self.track is RecordingTrack.BOTH
        return 2 if both and self.channels is RecordingChannels.DUAL else 1


@dataclass(frozen=True, slots=True)
class CallFlow:
    """What a call runs once answered: the TwiML at `url` (fetched with `method`; on failure,
    `fallback_url`), or the document `twiml` itself."""

    url: str | None = None
    method: CallbackMethod = CallbackMethod.POST
    fallback_url: str | None = None
    fallback_method: CallbackMethod = CallbackMethod.POST
    twiml: str | None = None


@dataclass(frozen=True, slots=True)
class CallCallbacks:
    """Where and how a call's progress is reported (CreateCall's `StatusCallback*`)."""

    url: str
    method: CallbackMethod = CallbackMethod.POST
    events: tuple[CallEvent, ...] = (CallEvent.COMPLETED,)


@dataclass(frozen=True, slots=True)
class AudioSpan:
    """What a call's flow made heard on one track, from `start` to `end` of its media clock:
    the decoded file `played` (looped to fill the span), or silence (None)."""

    call_sid: str
    track: RecordingTrack
    start: Micros
    end: Micros
    played: str | None = None


@dataclass(frozen=True, slots=True)
class FlowPosition:
    """Where a call's flow is: verb `step` of the TwiML `document` fetched from `url` (None: the
    call's own `Twiml`), and the recording that verb started, if any. Written as each verb
    begins, so that a process that takes the call over goes on from there."""

    document: str
    url: str | None
    step: int
    recording_sid: str | None = None


class CallDirection(StrEnum):
    OUTBOUND_API = "outbound-api"  # CreateCall
    INBOUND = "inbound"  # to one of the account's numbers (callrec's IncomingCalls)
    OUTBOUND_DIAL = "outbound-dial"  # the child call of a <Dial>


@dataclass(frozen=True, slots=True)
class NumberSettings:
    """What an app sets on a phone number: the writable fields of IncomingPhoneNumbers. callrec
    uses the voice ones; the others are kept and shown as set."""

    api_version: str = "2010-04-01"
    voice_url: str | None = None
    voice_method: CallbackMethod = CallbackMethod.POST
    voice_fallback_url: str | None = None
    voice_fallback_method: CallbackMethod = CallbackMethod.POST
    voice_caller_id_lookup: bool = False
    voice_application_sid: str | None = None
    voice_receive_mode: str = "voice"
    trunk_sid: str | None = None
    status_callback: str | None = None
    status_callback_method: CallbackMethod = CallbackMethod.POST
    sms_url: str | None = None
    sms_method: CallbackMethod = CallbackMethod.POST
    sms_fallback_url: str | None = None
    sms_fallback_method: CallbackMethod = CallbackMethod.POST
    sms_application_sid: str | None = None
    address_sid: str | None = None
    identity_sid: str | None = None
    bundle_sid: str | None = None
    emergency_status: str = "Inactive"
    emergency_address_sid: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    sid: str
    account_sid: str
    phone_number: str  # E.164
    friendly_name: str
    settings: NumberSettings
    created_at: Micros
    updated_at: Micros


@dataclass(frozen=True, slots=True)
class EncryptionDetails:
    """How a recording's audio was encrypted for its account's public key, as Twilio's Voice
    Recording Encryption does (`rsa-aes`, CONTRACT.md §12): the content key wrapped with the
    public key, and the AES-GCM nonce, both base64."""

    public_key_sid: str
    encrypted_cek: str
    iv: str


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An account's RSA public key (Accounts v1 `Credentials/PublicKeys`), `CR…`."""

    sid: str
    account_sid: str
    friendly_name: str
    #: The key as X.509 SubjectPublicKeyInfo PEM, normalized; never shown.
    pem: str
    created_at: Micros
    updated_at: Micros


@dataclass(frozen=True, slots=True)
class Account:
    sid: str
    friendly_name: str
    parent_sid: str | None
    created_at: Micros
    #: How long its completed recordings' audio is kept (None: the server's default).
    retention: Micros | None = None
    #: The public key its new recordings are encrypted with (None: not encrypted).
    encryption_key_sid: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    sid: str
    account_sid: str
    to: str
    from_: str
    status: CallStatus
    created_at: Micros
    updated_at: Micros
    answer_at: Micros
    start_time: Micros | None = None
    end_time: Micros | None = None
    record: bool = False
    recording_options: RecordingOptions = field(default_factory=RecordingOptions)
    #: Where on the media clock a live stream took over from synthetic audio (None: never).
    stream_media_at: Micros | None = None
    #: The TwiML it runs once answered (None: nothing, as for a call a media stream made).
    flow: CallFlow | None = None
    status_callback: CallCallbacks | None = None
    direction: CallDirection = CallDirection.OUTBOUND_API
    parent_call_sid: str | None = None

    @property
    def duration_seconds(self) -> int | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time) // MICROS_PER_SECOND


@hot_value
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    status: RecordingStatus
    source: RecordingSource
    options: RecordingOptions
    created_at: Micros
    updated_at: Micros
    start_time: Micros
    pause_behavior: PauseBehavior | None = None
    duration: int | None = None
    error_code: int | None = None
    deleted_at: Micros | None = None
    #: Set when its audio was encrypted for its account's key (then only that WAV exists).
    encryption: EncryptionDetails | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def moved_to(
        self, status: RecordingStatus, now: Micros, pause_behavior: PauseBehavior | None = None
    ) -> Recording:
        """This recording in `status` since `now`. `dataclasses.replace` does the same at twice
        the cost, on the path of every UpdateCallRecording."""
        return Recording(
            self.sid,
            self.account_sid,
            self.call_sid,
            status,
            self.source,
            self.options,
            self.created_at,
            now,
            self.start_time,
            pause_behavior,
            self.duration,
            self.error_code,
            self.deleted_at,
            self.encryption,
        )


@hot_value
class RecordingEvent:
    """One entry of a recording's timeline, with the credential that caused it (None: callrec).

    `at` is wall time. `media_at` is the point of the call's audio the event took effect at, in
    microseconds of the call's media clock (zero when the call was answered): what the renderer
    cuts the audio by, exact to the frame whatever the network did to the request."""

    recording_sid: str
    kind: EventKind
    at: Micros
    actor: str | None
    pause_behavior: PauseBehavior | None = None
    media_at: Micros | None = None
    #: Why, for the events callrec records by itself (a gap in the audio, say).
    detail: str | None = None
