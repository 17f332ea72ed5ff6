"""The sample shop tested as its developer would, with callrec's pytest plugin (the `callrec`
fixture, installed with callrec): a caller pays by phone, and the card number is not in the
recording — not in its timeline's recorded span, not in its audio."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator

import pytest

from callrec.testing import Callrec
from tests.sample_app.shop import Shop

CARD = "4111111111111111"
NUMBER = "+14155550100"


@pytest.fixture
def shop(callrec: Callrec) -> Iterator[Shop]:
    running = Shop(callrec.client, callrec.auth_token)
    yield running
    running.stop()


def test_the_card_number_is_never_recorded(callrec: Callrec, shop: Shop) -> None:
    callrec.client.incoming_phone_numbers.create(phone_number=NUMBER, voice_url=f"{shop.url}/voice")
    call = callrec.call_in(from_="+14155550111", to=NUMBER)
    recording = callrec.wait_until(lambda: callrec.client.calls(call["sid"]).recordings.list())[0]
    callrec.wait_until(lambda: callrec.client.recordings(recording.sid).fetch().status == "paused")
    time.sleep(2.0)  # the caller takes two seconds to find the card…
    callrec.press(call["sid"], CARD)  # …and types its number, while the recording is paused
    callrec.wait_until(lambda: callrec.client.calls(call["sid"]).fetch().status == "completed", 20)
    assert shop.cards == [CARD]
    assert shop.refused == 0

    done = callrec.wait_until(
        lambda: (r := callrec.client.recordings(recording.sid).fetch()).status == "completed" and r
    )
    kinds = [(e["kind"], e.get("pause_behavior")) for e in callrec.timeline(recording.sid)]
    assert kinds[:3] == [("started", None), ("paused", "skip"), ("resumed", None)]
    with wave.open(io.BytesIO(callrec.audio(recording.sid))) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert abs(seconds - int(done.duration)) <= 1
    call_seconds = int(callrec.client.calls(call["sid"]).fetch().duration)
    assert seconds <= call_seconds - 1.5  # the paused span (the card number) is cut out
