"""TwiML verbs as typed values (CONTRACT.md §12): what a call is told to do, with Twilio's
defaults already applied, so that the runner never looks at an attribute string."""

from __future__ import annotations

from dataclasses import dataclass, field

from callrec.domain.model import CallbackMethod, CallCallbacks, RecordingOptions

#: `finishOnKey` of <Record> when the document says nothing: any key ends it.
RECORD_FINISH_KEYS = "1234567890*#"
#: <Record maxLength> when the document says nothing: an hour.
RECORD_MAX_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    loop: int = 1  # 0: as many times as fit in the call (Twilio caps it at 1,000)


@dataclass(frozen=True, slots=True)
class Play:
    url: str | None
    loop: int = 1
    digits: str | None = None  # DTMF tones sent to the far end instead of audio


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: int = 1


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    action: str | None  # None: the current document's URL
    method: CallbackMethod = CallbackMethod.POST
    timeout: int = 5
    finish_on_key: str = "#"  # "" : no key ends it
    num_digits: int | None = None
    action_on_empty_result: bool = False
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: CallbackMethod = CallbackMethod.POST


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str = "rejected"  # or "busy"


@dataclass(frozen=True, slots=True)
class Record:
    action: str | None  # None: the current document's URL
    method: CallbackMethod
    timeout: int  # seconds of silence from the far end that end it; 0: never
    finish_on_key: str
    max_length: int  # seconds
    play_beep: bool
    options: RecordingOptions


@dataclass(frozen=True, slots=True)
class StartRecording:
    options: RecordingOptions
    name: str | None = None


@dataclass(frozen=True, slots=True)
class StopRecording:
    name: str | None = None  # None: every recording the call's TwiML started


@dataclass(frozen=True, slots=True)
class Dial:
    """<Dial>: a child call to the first of `numbers` to answer (each a number, `client:name`
    or `sip:uri`), bridged to this one; `record` records this (the parent) call meanwhile."""

    numbers: tuple[str, ...]
    action: str | None  # None: go on with the next verb
    method: CallbackMethod = CallbackMethod.POST
    timeout: int = 30
    caller_id: str | None = None
    time_limit: int = 14_400
    record: str = "do-not-record"  # record-from-answer|record-from-ringing[-dual]
    options: RecordingOptions = field(default_factory=RecordingOptions)
    #: Each number's `statusCallback*`: the progress of its child call (None: not asked).
    reports: tuple[CallCallbacks | None, ...] = ()


@dataclass(frozen=True, slots=True)
class StartStream:
    """<Start><Stream> (`bidirectional` False: the flow goes on) or <Connect><Stream> (True: the
    flow waits until the app closes the stream)."""

    url: str
    name: str | None = None
    tracks: tuple[str, ...] = ("inbound",)
    parameters: tuple[tuple[str, str], ...] = ()
    bidirectional: bool = False
    #: Where `stream-started`, `stream-stopped` and `stream-error` are reported (None: nowhere).
    status_callback: str | None = None
    status_callback_method: CallbackMethod = CallbackMethod.POST


@dataclass(frozen=True, slots=True)
class StopStream:
    name: str | None = None  # None: every stream the call's TwiML started


Verb = (
    Say
    | Play
    | Pause
    | Gather
    | Redirect
    | Hangup
    | Reject
    | Record
    | Dial
    | StartRecording
    | StopRecording
    | StartStream
    | StopStream
)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A verb Twilio knows and callrec does not run yet: the runner reports it and hangs up."""

    name: str


@dataclass(frozen=True, slots=True)
class Document:
    verbs: tuple[Verb | Unsupported, ...]
    #: Twilio's warning 12200 for what it ignores (an attribute it does not know, say).
    warnings: tuple[str, ...] = ()
