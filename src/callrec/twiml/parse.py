"""A TwiML document, parsed strictly into verbs (CONTRACT.md §12; pure).

Malformed XML, a root other than <Response>, a verb Twilio does not know or an attribute value it
would refuse raise `TwimlError` with Twilio's code (12100 parse failure, 12200 schema
validation); the runner then ends the call as Twilio does. An attribute Twilio does not know is
ignored with a warning, as Twilio's schema validation warns and goes on. The XML parser refuses
entity expansion and external references (defusedxml): the document comes from the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from callrec.domain.model import (
    CallbackEvent,
    CallbackMethod,
    CallCallbacks,
    CallEvent,
    RecordingChannels,
    RecordingOptions,
    RecordingTrack,
    Trim,
)
from callrec.twiml.verbs import (
    RECORD_FINISH_KEYS,
    RECORD_MAX_SECONDS,
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
    Verb,
)

PARSE_FAILURE = 12100
NOT_A_RESPONSE = 12102
SCHEMA_VIOLATION = 12200
#: Verbs Twilio runs that callrec does not run yet (docs/COMPATIBILITY.md).
NOT_YET = frozenset({
    "Enqueue", "Leave", "Queue", "Sms", "Message", "Pay", "Prompt", "Refer",
    "Echo", "Autopilot", "VirtualAgent",
})  # fmt: skip
_DIGIT_KEYS = frozenset("0123456789*#")
#: <Gather>'s speech recognition attributes: accepted, unused (the far end only presses keys).
_SPEECH = (
    "input", "language", "hints", "speechTimeout", "speechModel", "profanityFilter",
    "partialResultCallback", "partialResultCallbackMethod", "enhanced", "bargeIn",
)  # fmt: skip
_E = TypeVar("_E", Trim, RecordingTrack, RecordingChannels)


class TwimlError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(text: str | bytes) -> Document:
    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException) as error:
        raise TwimlError(PARSE_FAILURE, f"the document is not well-formed XML: {error}") from None
    if root.tag != "Response":
        raise TwimlError(NOT_A_RESPONSE, f"the root element is <{root.tag}>, not <Response>")
    warnings: list[str] = []
    verbs = tuple(_verb(element, warnings) for element in root)
    return Document(verbs, tuple(warnings))


def _verb(element: Element, warnings: list[str]) -> Verb | Unsupported:
    reader = _VERBS.get(element.tag)
    if reader is not None:
        return reader(_Attributes(element, warnings))
    if element.tag in ("Start", "Stop"):
        return _start_or_stop(element, warnings)
    if element.tag == "Connect":
        return _connect(element, warnings)
    if element.tag in NOT_YET:
        return Unsupported(element.tag)
    raise TwimlError(SCHEMA_VIOLATION, f"<{element.tag}> is not a TwiML verb")


class _Attributes:
    """One element's attributes, each read once; whatever is left unread earns a warning."""

    def __init__(self, element: Element, warnings: list[str]) -> None:
        self.element = element
        self.text = (element.text or "").strip()
        self._left = dict(element.attrib)
        self.warnings = warnings

    def get(self, name: str) -> str | None:
        return self._left.pop(name, None)

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise self.invalid(name, value) from None
        if number < minimum:
            raise self.invalid(name, value)
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.strip().lower() not in ("true", "false"):
            raise self.invalid(name, value)
        return value.strip().lower() == "true"

    def method(self, name: str = "method") -> CallbackMethod:
        value = self.get(name)
        if value is None or value.strip() == "":
            return CallbackMethod.POST
        try:
            return CallbackMethod(value.strip().upper())
        except ValueError:
            raise self.invalid(name, value) from None

    def keys(self, name: str, default: str) -> str:
        value = self.get(name)
        if value is None:
            return default
        if not set(value) <= _DIGIT_KEYS:
            raise self.invalid(name, value)
        return value

    def invalid(self, name: str, value: str) -> TwimlError:
        tag = self.element.tag
        return TwimlError(SCHEMA_VIOLATION, f"<{tag} {name}='{value}'> is not valid")

    def done(self) -> None:
        for name in self._left:
            self.warnings.append(f"<{self.element.tag}> has no attribute '{name}' (ignored)")
        self._left.clear()

    def recording_options(
        self, channels: RecordingChannels, track: RecordingTrack, trim: Trim = Trim.TRIM_SILENCE
    ) -> RecordingOptions:
        """<Record>'s and <Start><Recording>'s trim silence unless told not to; <Dial>'s not."""
        return RecordingOptions(
            channels=channels,
            track=track,
            trim=self.enum("trim", Trim, trim),
            callback_url=self.get("recordingStatusCallback") or None,
            callback_method=self.method("recordingStatusCallbackMethod"),
            callback_events=self._events("recordingStatusCallbackEvent"),
        )

    def enum(self, name: str, kind: type[_E], default: _E) -> _E:
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        try:
            return kind(value.strip())
        except ValueError:
            raise self.invalid(name, value) from None

    def call_callbacks(self) -> CallCallbacks | None:
        """A <Dial> noun's `statusCallback*`: its child call's progress, as CreateCall's."""
        url = self.get("statusCallback")
        method = self.method("statusCallbackMethod")
        value = self.get("statusCallbackEvent") or ""
        try:
            events = tuple(dict.fromkeys(CallEvent(n) for n in value.replace(",", " ").split()))
        except ValueError:
            raise self.invalid("statusCallbackEvent", value) from None
        if not url:
            return None
        return CallCallbacks(url, method, events or (CallEvent.COMPLETED,))

    def _events(self, name: str) -> tuple[CallbackEvent, ...]:
        value = self.get(name)
        names = (value or "").replace(",", " ").split()
        if not names:
            return (CallbackEvent.COMPLETED,)
        try:
            return tuple(dict.fromkeys(CallbackEvent(n) for n in names))
        except ValueError:
            raise self.invalid(name, value or "") from None


def _say(a: _Attributes) -> Say:
    a.get("voice")
    a.get("language")
    say = Say(text=a.text, loop=a.integer("loop", 1))
    a.done()
    return say


def _play(a: _Attributes) -> Play:
    play = Play(url=a.text or None, loop=a.integer("loop", 1), digits=a.get("digits") or None)
    if play.url is None and play.digits is None:
        raise TwimlError(SCHEMA_VIOLATION, "<Play> needs a URL or digits")
    a.done()
    return play


def _pause(a: _Attributes) -> Pause:
    pause = Pause(seconds=a.integer("length", 1))
    a.done()
    return pause


_PROMPTS: dict[str, Callable[[_Attributes], Prompt]] = {"Say": _say, "Play": _play, "Pause": _pause}


def _gather(a: _Attributes) -> Gather:
    for name in _SPEECH:
        a.get(name)
    num_digits = a.integer("numDigits", 0, minimum=1) or None
    prompts = []
    for child in a.element:
        reader = _PROMPTS.get(child.tag)
        if reader is None:
            raise TwimlError(SCHEMA_VIOLATION, f"<Gather> cannot contain <{child.tag}>")
        prompts.append(reader(_Attributes(child, a.warnings)))
    gather = Gather(
        action=a.get("action") or None,
        method=a.method(),
        timeout=a.integer("timeout", 5),
        finish_on_key=a.keys("finishOnKey", "#"),
        num_digits=num_digits,
        action_on_empty_result=a.boolean("actionOnEmptyResult", False),
        prompts=tuple(prompts),
    )
    a.done()
    return gather


def _redirect(a: _Attributes) -> Redirect:
    if not a.text:
        raise TwimlError(SCHEMA_VIOLATION, "<Redirect> needs a URL")
    redirect = Redirect(url=a.text, method=a.method())
    a.done()
    return redirect


def _hangup(a: _Attributes) -> Hangup:
    a.done()
    return Hangup()


def _reject(a: _Attributes) -> Reject:
    reason = a.get("reason") or "rejected"
    if reason not in ("rejected", "busy"):
        raise a.invalid("reason", reason)
    a.done()
    return Reject(reason)


def _record(a: _Attributes) -> Record:
    for name in ("transcribe", "transcribeCallback", "storageUrl", "storageUrlMethod"):
        a.get(name)
    record = Record(
        action=a.get("action") or None,
        method=a.method(),
        timeout=a.integer("timeout", 5),
        finish_on_key=a.keys("finishOnKey", RECORD_FINISH_KEYS),
        max_length=a.integer("maxLength", RECORD_MAX_SECONDS, minimum=1),
        play_beep=a.boolean("playBeep", True),
        options=a.recording_options(RecordingChannels.MONO, RecordingTrack.INBOUND),
    )
    a.done()
    return record


#: <Dial record>'s values, and what `true`/`false` stand for.
_DIAL_RECORD = {
    "do-not-record": "do-not-record", "false": "do-not-record",
    "record-from-answer": "record-from-answer", "true": "record-from-answer",
    "record-from-ringing": "record-from-ringing",
    "record-from-answer-dual": "record-from-answer-dual",
    "record-from-ringing-dual": "record-from-ringing-dual",
}  # fmt: skip
_DIAL_IGNORED = (
    "hangupOnStar", "answerOnBridge", "ringTone", "sequential", "referUrl", "referMethod",
    "callReason", "recordingConfigurationId", "events",
)  # fmt: skip
_DIAL_NOUNS = {"Number": "", "Client": "client:", "Sip": "sip:"}
_NOUN_IGNORED = (
    "url", "method", "sendDigits", "byoc", "machineDetection", "amdStatusCallback", "username",
    "password",
)  # fmt: skip


def _dial(a: _Attributes) -> Dial | Unsupported:
    for name in _DIAL_IGNORED:
        a.get(name)
    numbers = []
    reports: list[CallCallbacks | None] = []
    for noun in a.element:
        prefix = _DIAL_NOUNS.get(noun.tag)
        if prefix is None:
            return Unsupported(f"Dial><{noun.tag}")
        inner = _Attributes(noun, a.warnings)
        for name in _NOUN_IGNORED:
            inner.get(name)
        reports.append(inner.call_callbacks())
        inner.done()
        if not inner.text:
            raise TwimlError(SCHEMA_VIOLATION, f"<{noun.tag}> needs what to call")
        numbers.append(prefix + inner.text.removeprefix(prefix))
    if not numbers and a.text:
        numbers.append(a.text)
        reports.append(None)
    if not numbers:
        raise TwimlError(SCHEMA_VIOLATION, "<Dial> needs a number to call")
    record = a.get("record") or "do-not-record"
    if record not in _DIAL_RECORD:
        raise a.invalid("record", record)
    record = _DIAL_RECORD[record]
    channels = RecordingChannels.DUAL if record.endswith("-dual") else RecordingChannels.MONO
    track = a.enum("recordingTrack", RecordingTrack, RecordingTrack.BOTH)
    dial = Dial(
        numbers=tuple(numbers),
        action=a.get("action") or None,
        method=a.method(),
        timeout=a.integer("timeout", 30, minimum=1),
        caller_id=a.get("callerId") or None,
        time_limit=a.integer("timeLimit", 14_400, minimum=1),
        record=record,
        options=a.recording_options(channels, track, Trim.DO_NOT_TRIM),
        reports=tuple(reports),
    )
    a.done()
    return dial


def _start_or_stop(element: Element, warnings: list[str]) -> Verb | Unsupported:
    noun = _only_noun(element, warnings)
    if noun.tag not in ("Recording", "Stream", "Siprec", "Transcription"):
        raise TwimlError(SCHEMA_VIOLATION, f"<{element.tag}> cannot contain <{noun.tag}>")
    if noun.tag == "Stream":
        return _stream(_Attributes(noun, warnings), element.tag == "Start", bidirectional=False)
    if noun.tag != "Recording":
        return Unsupported(f"{element.tag}><{noun.tag}")
    a = _Attributes(noun, warnings)
    name = a.get("name") or None
    verb: Verb
    if element.tag == "Start":
        a.get("recordingConfigurationId")
        channels = a.enum("channels", RecordingChannels, RecordingChannels.DUAL)
        track = a.enum("track", RecordingTrack, RecordingTrack.BOTH)
        verb = StartRecording(a.recording_options(channels, track), name)
    else:
        verb = StopRecording(name)
    a.done()
    return verb


#: <Stream track>: what each value sends (a <Connect><Stream> sends the caller's audio only).
_STREAM_TRACKS = {
    "inbound_track": ("inbound",), "outbound_track": ("outbound",),
    "both_tracks": ("inbound", "outbound"),
}  # fmt: skip


def _connect(element: Element, warnings: list[str]) -> Verb | Unsupported:
    noun = _only_noun(element, warnings)
    if noun.tag != "Stream":
        return Unsupported(f"Connect><{noun.tag}")
    return _stream(_Attributes(noun, warnings), True, bidirectional=True)


def _only_noun(element: Element, warnings: list[str]) -> Element:
    """The one noun of <Start>, <Stop> or <Connect> (their own `action`/`method` unused)."""
    outer = _Attributes(element, warnings)
    outer.get("action")
    outer.get("method")
    outer.done()
    children = list(element)
    if len(children) != 1:
        raise TwimlError(SCHEMA_VIOLATION, f"<{element.tag}> takes exactly one noun")
    return children[0]


def _stream(a: _Attributes, starting: bool, bidirectional: bool) -> Verb:
    name = a.get("name") or None
    a.get("connectorName")
    status_callback = a.get("statusCallback") or None
    status_callback_method = a.method("statusCallbackMethod")
    if not starting:
        a.done()
        return StopStream(name)
    url = a.get("url")
    if not url:
        raise TwimlError(SCHEMA_VIOLATION, "<Stream> needs a url")
    track = a.get("track") or "inbound_track"
    if track not in _STREAM_TRACKS or (bidirectional and track != "inbound_track"):
        raise a.invalid("track", track)
    parameters = []
    for child in a.element:
        if child.tag != "Parameter":
            raise TwimlError(SCHEMA_VIOLATION, f"<Stream> cannot contain <{child.tag}>")
        parameter = _Attributes(child, a.warnings)
        parameters.append((parameter.get("name") or "", parameter.get("value") or ""))
        parameter.done()
    a.done()
    return StartStream(
        url, name, _STREAM_TRACKS[track], tuple(parameters), bidirectional, status_callback,
        status_callback_method,
    )  # fmt: skip


_VERBS: dict[str, Callable[[_Attributes], Verb | Unsupported]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Redirect": _redirect,
    "Hangup": _hangup,
    "Reject": _reject,
    "Record": _record,
    "Dial": _dial,
}
