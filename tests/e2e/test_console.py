"""The web console in a real browser (Playwright driving Debian's Chromium): signing in, calls that
change state on screen, a recording's waveform with its pauses where its timeline says, its
player, its callbacks replayed, and what nobody may do: see another account, or post without the
CSRF token. Screenshots of the main pages are kept under test-artifacts/console/."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from callrec.server import open_accounts
from tests.conftest import AccountKeys, answered_call, eventually, make_account
from tests.support.browser import launch, screenshot, sign_in
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess

#: Retries soon after each other: a callback to a failing receiver is dead within a second.
RETRIES = ("--callback-retry-delays", "0.2,0.2")
SECOND = 1.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        running = launch(playwright)
        yield running
        running.close()


@pytest.fixture
def console_server(deployment: Deployment) -> Iterator[ServerProcess]:
    server = ServerProcess(deployment, extra_args=RETRIES).start()
    yield server
    server.stop()


@pytest.fixture
def context(browser: Browser, console_server: ServerProcess) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookies. Closed before its server stops (the server need not
    wait for the pages' live streams to end)."""
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    yield fresh
    fresh.close()


@pytest.fixture
def keys(console_server: ServerProcess) -> AccountKeys:
    return AccountKeys(
        console_server.account_sid, console_server.auth_token, console_server.deployment
    )


@pytest.fixture
def client(console_server: ServerProcess, keys: AccountKeys) -> Any:
    return sdk_client(console_server.base_url, keys.sid, keys.token)


@pytest.fixture
def page(context: BrowserContext, console_server: ServerProcess, keys: AccountKeys) -> Page:
    """A signed-in page."""
    opened = context.new_page()
    sign_in(opened, console_server.base_url, keys.sid, keys.token)
    return opened


def _completed(client: Any, sid: str) -> Any:
    done = eventually(lambda: (r := client.recordings(sid).fetch()).status == "completed" and r)
    assert done, f"recording {sid} did not complete"
    return done


def _paused_twice(client: Any, **options: Any) -> tuple[Any, Any]:
    """A call recorded with one `skip` pause and one `silence` pause, stopped and rendered."""
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create(**options)
    handle = client.calls(call.sid).recordings(recording.sid)
    for behavior in ("skip", "silence"):
        time.sleep(SECOND)
        handle.update(status="paused", pause_behavior=behavior)
        time.sleep(SECOND)
        handle.update(status="in-progress")
    time.sleep(SECOND)
    handle.update(status="stopped")
    return call, _completed(client, recording.sid)


def _timeline(server: ServerProcess, keys: AccountKeys, sid: str) -> list[dict[str, Any]]:
    url = f"{server.base_url}/_callrec/Accounts/{keys.sid}/Recordings/{sid}/Events.json"
    events: list[dict[str, Any]] = httpx.get(url, auth=(keys.sid, keys.token)).json()["events"]
    return events


def _wav(server: ServerProcess, keys: AccountKeys, sid: str) -> tuple[np.ndarray[Any, Any], int]:
    url = f"{server.base_url}/2010-04-01/Accounts/{keys.sid}/Recordings/{sid}.wav"
    data = httpx.get(url, auth=(keys.sid, keys.token)).content
    with wave.open(io.BytesIO(data)) as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return samples.reshape(-1, channels), rate


def _spans(page: Page) -> list[dict[str, str]]:
    spans: list[dict[str, str]] = page.eval_on_selector_all(
        "#waveform [data-behavior]", "spans => spans.map(s => ({...s.dataset}))"
    )
    return spans


def _player_duration(page: Page) -> float:
    duration: float = page.eval_on_selector(
        "#player",
        """player => new Promise(done => player.readyState >= 1 ? done(player.duration)
            : player.addEventListener("loadedmetadata", () => done(player.duration)))""",
    )
    return duration


def test_the_waveform_draws_each_pause_where_the_timeline_puts_it(
    page: Page, console_server: ServerProcess, keys: AccountKeys, client: Any
) -> None:
    call, recording = _paused_twice(client, recording_channels="dual")
    peaks: list[int] = []
    page.on(
        "response",
        lambda r: peaks.append(len(r.body())) if r.url.endswith("/peaks.json") else None,
    )
    page.goto(f"{console_server.base_url}/console/recordings/{recording.sid}")
    expect(page.locator("#waveform")).to_have_attribute("data-drawn", "1")

    # Where the timeline says: a skip is a cut at the audio recorded before it, as long as the
    # pause; the silence starts where the audio had reached, less the skip, and lasts its pause.
    events = _timeline(console_server, keys, recording.sid)
    placed = [(e["kind"], e["media_at_ms"] / 1000) for e in events if e["media_at_ms"] is not None]
    (start,) = [at for kind, at in placed if kind == "started"]
    paused = [at for kind, at in placed if kind == "paused"]
    resumed = [at for kind, at in placed if kind == "resumed"]
    skipped = resumed[0] - paused[0]
    skip, silence = _spans(page)
    assert skip["behavior"] == "skip"
    assert skip["start"] == skip["end"]
    assert float(skip["start"]) == pytest.approx(paused[0] - start, abs=0.002)
    assert float(skip["skipped"]) == pytest.approx(skipped, abs=0.002)
    assert silence["behavior"] == "silence"
    assert float(silence["start"]) == pytest.approx(paused[1] - start - skipped, abs=0.002)
    assert float(silence["end"]) == pytest.approx(resumed[1] - start - skipped, abs=0.002)

    # ... which is where the file is silent: both channels, all of the span.
    audio, rate = _wav(console_server, keys, recording.sid)
    assert audio.shape[1] == 2
    quiet = audio[
        round(float(silence["start"]) * rate) + 2 : round(float(silence["end"]) * rate) - 2
    ]
    assert len(quiet) > 0.9 * rate
    assert not quiet.any()
    assert _player_duration(page) == pytest.approx(len(audio) / rate, abs=0.01)
    assert len(page.locator("#waveform canvas").all()) == 2  # dual: a waveform per channel
    assert peaks
    assert peaks[0] < 200_000

    # The timeline beside it: every event, the credential that asked.
    rows = page.locator("table.timeline tbody tr")
    expect(rows).to_have_count(len(events))
    expect(page.locator("table.timeline")).to_contain_text(keys.sid)
    screenshot(page, "recording")

    # Clicking the waveform seeks the player; so do the keys, for whoever uses the keyboard.
    box = page.locator("#waveform").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    middle = page.eval_on_selector("#player", "p => p.currentTime")
    assert middle == pytest.approx(len(audio) / rate / 2, abs=0.2)
    page.locator("#waveform").focus()
    page.keyboard.press("Home")
    assert page.eval_on_selector("#player", "p => p.currentTime") == 0
    page.keyboard.press("End")
    assert page.eval_on_selector("#player", "p => p.currentTime") == pytest.approx(
        len(audio) / rate
    )
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")  # five seconds on, or the end
    after = min(5.0, len(audio) / rate)
    assert page.eval_on_selector("#player", "p => p.currentTime") == pytest.approx(after, abs=0.01)

    # The downloads are the file the REST API serves.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download WAV").click()
    path = download.value.path()
    with wave.open(str(path)) as saved:
        assert saved.getnframes() == len(audio)
    with page.expect_download() as mp3:
        page.get_by_role("link", name="Download MP3").click()
    assert mp3.value.suggested_filename == f"{recording.sid}.mp3"

    # A phone's width: the page still fits.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(page, "recording-phone")
    page.goto(f"{console_server.base_url}/console/calls/{call.sid}")
    expect(page.locator("table.recordings")).to_contain_text(recording.sid)
    screenshot(page, "call")


def test_live_calls_change_state_on_screen(
    page: Page, console_server: ServerProcess, client: Any
) -> None:
    page.evaluate("window.notReloaded = true")
    call = answered_call(client)
    row = page.locator(f"tr[data-sid='{call.sid}']")
    expect(row.locator("[data-status]")).to_have_text("in-progress", timeout=2000)
    screenshot(page, "calls")
    client.calls(call.sid).update(status="completed")
    expect(row.locator("[data-status]")).to_have_text("completed", timeout=2000)
    assert page.evaluate("window.notReloaded") is True

    # Filters: by status, and by sid.
    page.get_by_label("Status").select_option("in-progress")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody#calls-rows")).to_contain_text("No calls.")
    page.goto(f"{console_server.base_url}/console/calls?sid={call.sid}")
    expect(page.locator("tbody#calls-rows tr")).to_have_count(1)


def test_a_stopping_server_does_not_wait_for_open_pages(
    page: Page, console_server: ServerProcess
) -> None:
    """An open page's live stream ends as soon as the server is told to stop: it is not cut off
    once the server's grace has run out."""
    expect(page.locator("tbody#calls-rows")).to_have_attribute("data-connected", "1")
    console_server.stop()
    assert "graceful shutdown exceeded" not in console_server.log_path.read_text()


def test_a_live_recording_shows_its_pauses_as_they_happen(
    page: Page, console_server: ServerProcess, client: Any
) -> None:
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    page.goto(f"{console_server.base_url}/console/recordings/{recording.sid}")
    page.evaluate("window.notReloaded = true")
    state = page.locator("#recording-state")
    expect(state).to_contain_text("being written")
    first = page.locator("#recording-duration").inner_text()
    expect(page.locator("#recording-duration")).not_to_have_text(first, timeout=3000)

    client.calls(call.sid).recordings("Twilio.CURRENT").update(
        status="paused", pause_behavior="skip"
    )
    expect(state).to_have_text(
        "Paused (skip): nothing is being written — the span left out.", timeout=2000
    )
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("table.timeline tbody tr[data-kind='paused']")).to_have_count(1)

    # Once completed, the page comes back with its waveform.
    client.calls(call.sid).recordings(recording.sid).update(status="stopped")
    expect(page.locator("#waveform")).to_be_visible(timeout=5000)


def test_a_dead_callback_can_be_replayed(
    page: Page, console_server: ServerProcess, client: Any
) -> None:
    receiver = Receiver(status=500).start()
    try:
        call = answered_call(client)
        recording = client.calls(call.sid).recordings.create(
            recording_status_callback=f"{receiver.base}/status"
        )
        time.sleep(0.6)
        client.calls(call.sid).recordings(recording.sid).update(status="stopped")
        _completed(client, recording.sid)
        page.goto(f"{console_server.base_url}/console/recordings/{recording.sid}")
        dead = page.locator("table.callbacks tr[data-state='dead']")
        expect(dead).to_have_count(1, timeout=5000)
        expect(dead).to_contain_text("HTTP 500")
        expect(dead.locator("td").nth(3)).to_have_text("3")  # the first attempt and two retries
        screenshot(page, "callbacks")

        receiver.status = 200
        tried = len(receiver.requests)
        dead.get_by_role("button", name="Replay").click()
        delivered = page.locator("table.callbacks tr[data-state='delivered']")
        expect(delivered).to_have_count(1, timeout=5000)
        assert len(receiver.requests) == tried + 1
        assert receiver.requests[-1].params["RecordingSid"] == recording.sid
    finally:
        receiver.stop()


def test_another_accounts_recording_is_not_reachable(
    context: BrowserContext, console_server: ServerProcess, keys: AccountKeys, client: Any
) -> None:
    _, recording = _paused_twice(client)
    other = make_account(console_server.deployment)
    page = context.new_page()
    sign_in(page, console_server.base_url, other.sid, other.token)
    base = console_server.base_url
    for path in (
        f"/console/recordings/{recording.sid}",
        f"/console/recordings/{recording.sid}/audio.wav",
        f"/console/recordings/{recording.sid}/peaks.json",
        f"/console/calls/{recording.call_sid}",
        f"/console/calls?account={keys.sid}",
    ):
        answer = page.goto(base + path)
        assert answer is not None
        assert answer.status == 404, path
        assert recording.sid not in page.content()

    # A parent account sees its subaccount's, and switches to it.
    child = make_account(console_server.deployment, parent=other.sid)
    child_client = sdk_client(base, child.sid, child.token)
    child_call = answered_call(child_client)
    child_recording = child_client.calls(child_call.sid).recordings.create()
    page.goto(f"{base}/console/calls")
    page.get_by_label("Account", exact=True).select_option(child.sid)
    expect(page.locator(f"tr[data-sid='{child_call.sid}']")).to_be_visible()
    answer = page.goto(f"{base}/console/recordings/{child_recording.sid}")
    assert answer is not None
    assert answer.status == 200


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, console_server: ServerProcess, client: Any
) -> None:
    _, recording = _paused_twice(client)
    delete = f"{console_server.base_url}/console/recordings/{recording.sid}/delete"
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf": "not-the-token"}]
    for form in forms:
        refused = page.request.post(delete, form=form, max_redirects=0)
        assert refused.status == 403
    assert client.recordings(recording.sid).fetch().status == "completed"
    refused = page.request.post(f"{console_server.base_url}/console/sign-out", form={})
    assert refused.status == 403

    # With the page's own token (its form), after confirming, it is deleted.
    page.goto(f"{console_server.base_url}/console/recordings/{recording.sid}")
    page.get_by_role("button", name="Delete recording…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert client.recordings(recording.sid).fetch().status == "completed"
    page.get_by_role("button", name="Delete recording…").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator(".notice")).to_contain_text(f"{recording.sid} was deleted")
    with pytest.raises(Exception, match="404"):
        client.recordings(recording.sid).fetch()


def test_signing_in_and_out(
    context: BrowserContext, console_server: ServerProcess, keys: AccountKeys
) -> None:
    base = console_server.base_url
    page = context.new_page()
    page.goto(f"{base}/console/calls")
    assert "/console/sign-in" in page.url
    screenshot(page, "sign-in")
    page.get_by_label("Account SID", exact=True).fill(keys.sid)
    page.get_by_label("Auth token", exact=True).fill("0" * 32)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Those credentials were not accepted.")

    sign_in(page, base, keys.sid, keys.token)
    (cookie,) = [c for c in context.cookies() if c["name"] == "callrec_session"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert cookie["expires"] > time.time()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Auth token", exact=True)).to_be_visible()
    # The session is over on the server too: its cookie, presented again, opens nothing.
    stolen = httpx.get(f"{base}/console/calls", cookies={"callrec_session": cookie["value"]})
    assert stolen.status_code == 303
    assert "/console/sign-in" in stolen.headers["location"]

    # An API key signs in for its account.
    key_sid, secret = open_accounts(
        keys.deployment.data_dir, keys.deployment.database
    ).create_api_key(keys.sid, "console")
    page.get_by_text("Sign in with an API key").click()
    page.get_by_label("API key SID").fill(key_sid)
    page.get_by_label("API key secret").fill(secret)
    page.get_by_label("Account SID of the key").fill(keys.sid)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(f"**/console/calls?account={keys.sid}")
    expect(page.locator(".who")).to_contain_text(key_sid[:8])


def test_failed_sign_ins_are_throttled(console_server: ServerProcess, keys: AccountKeys) -> None:
    with httpx.Client(base_url=console_server.base_url) as http:

        def sign_in(token: str, csrf: str | None = None) -> httpx.Response:
            """A POST of the sign-in form, as the last page served it (a fresh CSRF token)."""
            csrf = http.cookies["callrec_sign_in"] if csrf is None else csrf
            form = {"csrf": csrf, "method": "token", "account_sid": keys.sid, "auth_token": token}
            return http.post("/console/sign-in", data=form)

        http.get("/console/sign-in")
        for _ in range(5):
            assert sign_in("wrong").status_code == 401
        throttled = sign_in(keys.token)  # the right one, too late
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert sign_in(keys.token, csrf="").status_code == 403
