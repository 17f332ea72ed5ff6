"""The TwiML parser: Twilio's defaults applied, strict about what Twilio refuses, lenient about
what Twilio only warns of, and safe against hostile XML."""

from __future__ import annotations

import pytest

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
    StopRecording,
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
        "<Start><Stream url='wss://a.test'/></Start></Response>"
    )
    assert document.verbs == (
        Unsupported("Dial><Conference"), Unsupported("Enqueue"), Unsupported("Start><Stream"),
    )  # fmt: skip


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
