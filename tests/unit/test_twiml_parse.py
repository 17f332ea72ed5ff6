"""The TwiML parser: Twilio's defaults applied, strict about what Twilio refuses, lenient about
what Twilio only warns of, and safe against hostile XML."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrec.domain.model import (
    CallbackEvent,
    CallbackMethod,
    RecordingChannels,
    RecordingTrack,
    Trim,
)
from callrec.twiml.parse import NOT_A_RESPONSE, PARSE_FAILURE, SCHEMA_VIOLATION, TwimlError, parse
from callrec.twiml.verbs import (
    RECORD_FINISH_KEYS,
    Dial,
    Gather,
    Hangup,
    Pause,
    Play,
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


def test_verbs_come_with_twilios_defaults() -> None:
    document = parse(
        "<Response><Say>Hi</Say><Play>https://a.test/x.wav</Play><Pause/><Gather/>"
        "<Redirect>/next</Redirect><Record/><Start><Recording/></Start><Stop><Recording/></Stop>"
        "<Reject/><Hangup/></Response>"
    )
    say, play, pause, gather, redirect, record, start, stop, reject, hangup = document.verbs
    assert say == Say("Hi", loop=1)
    assert play == Play("https://a.test/x.wav", loop=1)
    assert pause == Pause(1)
    assert gather == Gather(action=None, timeout=5, finish_on_key="#", num_digits=None)
    assert redirect == Redirect("/next", CallbackMethod.POST)
    assert isinstance(record, Record)
    assert (record.action, record.timeout, record.finish_on_key, record.max_length) == (
        None, 5, RECORD_FINISH_KEYS, 3600,
    )  # fmt: skip
    assert record.play_beep
    assert (record.options.channels, record.options.track, record.options.trim) == (
        RecordingChannels.MONO, RecordingTrack.INBOUND, Trim.TRIM_SILENCE,
    )  # fmt: skip
    assert isinstance(start, StartRecording)
    assert (start.options.channels, start.options.track, start.options.trim) == (
        RecordingChannels.DUAL, RecordingTrack.BOTH, Trim.TRIM_SILENCE,
    )  # fmt: skip
    assert start.options.callback_events == (CallbackEvent.COMPLETED,)
    assert stop == StopRecording(None)
    assert reject == Reject("rejected")
    assert hangup == Hangup()
    assert document.warnings == ()


def test_attributes_are_read() -> None:
    (gather,) = parse(
        "<Response><Gather action='/card' method='get' timeout='10' finishOnKey='*'"
        " numDigits='4' actionOnEmptyResult='true'><Say loop='2'>Card</Say><Pause length='2'/>"
        "</Gather></Response>"
    ).verbs
    assert gather == Gather(
        action="/card", method=CallbackMethod.GET, timeout=10, finish_on_key="*", num_digits=4,
        action_on_empty_result=True, prompts=(Say("Card", 2), Pause(2)),
    )  # fmt: skip
    (start,) = parse(
        "<Response><Start><Recording name='pci' channels='mono' track='inbound' trim='do-not-trim'"
        " recordingStatusCallback='/rec' recordingStatusCallbackMethod='GET'"
        " recordingStatusCallbackEvent='in-progress completed'/></Start></Response>"
    ).verbs
    assert isinstance(start, StartRecording)
    assert start.name == "pci"
    options = start.options
    assert (options.channels, options.track, options.trim) == (
        RecordingChannels.MONO, RecordingTrack.INBOUND, Trim.DO_NOT_TRIM,
    )  # fmt: skip
    assert (options.callback_url, options.callback_method) == ("/rec", CallbackMethod.GET)
    assert options.callback_events == (CallbackEvent.IN_PROGRESS, CallbackEvent.COMPLETED)


def test_an_unknown_attribute_is_a_warning() -> None:
    document = parse("<Response><Say colour='blue'>Hi</Say></Response>")
    assert document.verbs == (Say("Hi"),)
    assert document.warnings == ("<Say> has no attribute 'colour' (ignored)",)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("<Response><Say>Hi</Response>", PARSE_FAILURE),
        ("", PARSE_FAILURE),
        ("<Reply/>", NOT_A_RESPONSE),
        ("<Response><say>Hi</say></Response>", SCHEMA_VIOLATION),  # names are case-sensitive
        ("<Response><Pause length='soon'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Pause length='-1'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Record maxLength='0'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Record playBeep='yes'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Gather method='PUT'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Gather finishOnKey='x'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Gather><Record/></Gather></Response>", SCHEMA_VIOLATION),
        ("<Response><Redirect/></Response>", SCHEMA_VIOLATION),
        ("<Response><Reject reason='rude'/></Response>", SCHEMA_VIOLATION),
        ("<Response><Start/></Response>", SCHEMA_VIOLATION),
        ("<Response><Start><Dial/></Start></Response>", SCHEMA_VIOLATION),
        ("<Response><Dial/></Response>", SCHEMA_VIOLATION),
        ("<Response><Dial record='maybe'>+1555</Dial></Response>", SCHEMA_VIOLATION),
        ("<Response><Dial><Number/></Dial></Response>", SCHEMA_VIOLATION),
        ("<Response><Start><Recording channels='quad'/></Start></Response>", SCHEMA_VIOLATION),
        (
            "<Response><Start><Recording recordingStatusCallbackEvent='paused-ish'/></Start>"
            "</Response>",
            SCHEMA_VIOLATION,
        ),
    ],
)
def test_what_twilio_refuses_is_an_error_with_its_code(text: str, code: int) -> None:
    with pytest.raises(TwimlError) as raised:
        parse(text)
    assert raised.value.code == code


def test_verbs_callrec_does_not_run_yet_are_named() -> None:
    document = parse(
        "<Response><Dial><Conference>room</Conference></Dial><Enqueue>support</Enqueue>"
        "<Start><Siprec connectorName='c'/></Start><Connect><Room>r</Room></Connect></Response>"
    )
    assert document.verbs == (
        Unsupported("Dial><Conference"), Unsupported("Enqueue"), Unsupported("Start><Siprec"),
        Unsupported("Connect><Room"),
    )  # fmt: skip


def test_streams_read_their_url_track_and_parameters() -> None:
    start, connect, stop = parse(
        "<Response><Start><Stream name='s' url='wss://bot.test/a' track='both_tracks'>"
        "<Parameter name='lang' value='en'/></Stream></Start>"
        "<Connect><Stream url='/bot'/></Connect><Stop><Stream name='s'/></Stop></Response>"
    ).verbs
    assert start == StartStream(
        "wss://bot.test/a", "s", ("inbound", "outbound"), (("lang", "en"),), bidirectional=False
    )
    assert connect == StartStream("/bot", None, ("inbound",), (), bidirectional=True)
    assert stop == StopStream("s")
    wrongs = (
        "<Connect><Stream url='/b' track='both_tracks'/></Connect>",
        "<Start><Stream/></Start>",
        "<Start><Stream url='/b'><Say/></Stream></Start>",
    )
    for wrong in wrongs:
        with pytest.raises(TwimlError):
            parse(f"<Response>{wrong}</Response>")


def test_dial_reads_its_nouns_and_recording() -> None:
    (dial, bare) = parse(
        "<Response><Dial action='/dialed' timeout='10' callerId='+15005550001' timeLimit='60'"
        " record='record-from-answer-dual' recordingStatusCallback='/rec' hangupOnStar='true'>"
        "<Number url='/whisper'>+15005550006</Number><Client>alice</Client><Sip>sip:a@b.test</Sip>"
        "</Dial><Dial record='true'>+15005550007</Dial></Response>"
    ).verbs
    assert isinstance(dial, Dial)
    assert isinstance(bare, Dial)
    assert dial.numbers == ("+15005550006", "client:alice", "sip:a@b.test")
    assert (dial.action, dial.timeout, dial.caller_id, dial.time_limit) == (
        "/dialed", 10, "+15005550001", 60,
    )  # fmt: skip
    assert dial.record == "record-from-answer-dual"
    assert (dial.options.channels, dial.options.trim) == (RecordingChannels.DUAL, Trim.DO_NOT_TRIM)
    assert dial.options.callback_url == "/rec"
    assert (bare.numbers, bare.action, bare.timeout, bare.record) == (
        ("+15005550007",), None, 30, "record-from-answer",
    )  # fmt: skip
    assert bare.options.channels is RecordingChannels.MONO


def test_entities_are_not_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Response><Say>&b;</Say></Response>'
    )
    with pytest.raises(TwimlError) as raised:
        parse(bomb)
    assert raised.value.code == PARSE_FAILURE


_NAMES = st.sampled_from([
    "Response", "Say", "Play", "Pause", "Gather", "Record", "Dial", "Number", "Start", "Stop",
    "Recording", "Stream", "Parameter", "Connect", "Redirect", "Hangup", "Reject", "Foo", "say",
])  # fmt: skip
_ATTRIBUTE_NAMES = st.sampled_from([
    "length", "loop", "timeout", "numDigits", "finishOnKey", "record", "url", "method", "action",
    "maxLength", "playBeep", "track", "channels", "name", "reason", "trim", "value", "x",
    "recordingStatusCallbackEvent",
])  # fmt: skip
_VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
_ATTRIBUTES = st.dictionaries(_ATTRIBUTE_NAMES, _VALUES, max_size=3)


@st.composite
def _elements(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_NAMES)
    pairs = draw(_ATTRIBUTES).items()
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in pairs)
    children = draw(st.lists(_elements(depth + 1), max_size=3)) if depth < 3 else []
    text = escape(draw(_VALUES))
    return f"<{name}{attributes}>{text}{''.join(children)}</{name}>"


def _parsed_or_refused(document: str | bytes) -> tuple[object, ...] | int:
    try:
        return parse(document).verbs
    except TwimlError as error:
        return error.code


@given(st.one_of(_elements(), st.text(max_size=200), st.binary(max_size=200)))
@settings(max_examples=400, deadline=None)
def test_no_document_crashes_the_parser(document: str | bytes) -> None:
    """Whatever an app answers, the parser returns verbs or refuses with Twilio's code."""
    outcome = _parsed_or_refused(document)
    assert isinstance(outcome, tuple) or outcome in (
        PARSE_FAILURE,
        NOT_A_RESPONSE,
        SCHEMA_VIOLATION,
    )
