"""Benchmark: the console's page of an hour-long dual-channel recording, cold and cached.

The recording: a call placed with `Record=true` and `RecordingChannels=dual`, paused with `skip` at
10:00 of its audio for 30 s and with `silence` at 30:00 for 60 s, hung up at 60:30: an hour of
audio (3,600 s, 115 MB of WAV). Its rows are written as callrec's services write them (the
domain's transitions, one transaction per step, events started/paused/resumed/paused/resumed/
stopped/processing/completed), its WAV and peaks rendered by callrec's renderer from synthetic
audio, without waiting an hour; then a real `callrec serve` serves it. Measured, `--rounds` times:

- server: the page `/console/recordings/{RE}` then its `peaks.json` (httpx, signed in, one
  keep-alive connection): cold (the peaks file deleted first, so that the page's request computes
  them from the WAV), cold with the WAV also out of the page cache (posix_fadvise DONTNEED: a
  recording nobody has touched for a while), and cached (the second view);
- browser: Chromium (Playwright), from navigation start to the waveform painted (`#waveform`
  gets `data-drawn="1"` from console.js; read in the page as performance.now(), so Playwright's
  polling is not counted): cold (a fresh profile, the peaks file deleted) and cached (the same
  page again: CSS and JS from the browser's cache, HTML and peaks.json fetched again, no-store);
- what the page moves, as Chromium's network log (CDP) counts it: HTML, peaks.json, CSS, JS, the
  audio (`<audio preload="metadata">`, by range) and the live-updates stream, each apart;
- where a cold view's time goes, in this process: reading the WAV, the min/max, writing the JSON,
  and reading it back (each view parses it).

The server is pinned to CPU 0; this script and the browser to CPU 1.

    python bench/console.py [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, CDPSession, Page, ViewportSize, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from streams import _wait
from tests.support.browser import launch
from update_recording import free_port, replace_section

from callrec.domain import call as calls
from callrec.domain import recording as recordings
from callrec.domain.model import (
    MICROS_PER_SECOND,
    CallFlow,
    CallStatus,
    PauseBehavior,
    Recording,
    RecordingChannels,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.media.files import MediaFiles, read_wav
from callrec.media.peaks import Peaks, peaks, write_peaks
from callrec.server import open_accounts
from callrec.service.media import render_to_disk
from callrec.storage.base import Custody, Tx
from callrec.storage.factory import open_store

ROOT = Path(__file__).resolve().parent.parent
S = MICROS_PER_SECOND
#: The call's media clock: (status asked for, pause behaviour, seconds into the call).
UPDATES = [
    (RecordingStatus.PAUSED, PauseBehavior.SKIP, 600),
    (RecordingStatus.IN_PROGRESS, PauseBehavior.SKIP, 630),
    (RecordingStatus.PAUSED, PauseBehavior.SILENCE, 1800),
    (RecordingStatus.IN_PROGRESS, PauseBehavior.SILENCE, 1860),
]
HANG_UP_AT = 3630  # seconds into the call: 3,630 s less the 30 s skipped is an hour of audio
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
#: Set in the page before any of its scripts: when console.js marks the waveform drawn.
WATCH_DRAWN = """
new MutationObserver((records, observer) => {
  for (const record of records) {
    if (record.target.id === "waveform" && record.target.dataset.drawn === "1") {
      window.__drawnAt = performance.now();
      observer.disconnect();
    }
  }
}).observe(document, {attributes: true, attributeFilter: ["data-drawn"], subtree: true});
"""
#: The page's own timings, milliseconds from navigation start.
PAGE_TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const peaks = performance.getEntriesByType("resource")
    .find((entry) => entry.name.endsWith("/peaks.json"));
  return {
    drawn: window.__drawnAt,
    html_first_byte: nav.responseStart,
    html_done: nav.responseEnd,
    dom_ready: nav.domContentLoadedEventEnd,
    peaks_asked: peaks ? peaks.startTime : null,
    peaks_first_byte: peaks ? peaks.responseStart : null,
    peaks_done: peaks ? peaks.responseEnd : null,
  };
}"""


@dataclass(frozen=True)
class Built:
    account_sid: str
    token: str
    sid: str
    files: MediaFiles
    duration: int
    wav_bytes: int


def build(data: Path) -> Built:
    """A deployment holding one completed hour-long dual recording, written step by step as the
    services write it (service/calls.py, recordings.py, lifecycle.py), with wall times an hour
    and a bit ago and media times as synthetic audio has them (wall time since the answer)."""
    account, token = open_accounts(data).create_account("bench console")
    store = open_store(None, data)
    files = MediaFiles(data / "media")
    files.root.mkdir(parents=True, exist_ok=True)
    began = time.time_ns() // 1000 - (HANG_UP_AT + 300) * S
    me = store.run_now(lambda tx: tx.insert_process("127.0.0.1:0 (bench/console.py)", began))
    options = RecordingOptions(channels=RecordingChannels.DUAL)
    placed = calls.create(
        "CA" + os.urandom(16).hex(), account.sid, "+15005550006", "+14155550100", began,
        1 * S, True, options, CallFlow(twiml="<Response><Pause length=\"3600\"/></Response>"),
    )  # fmt: skip

    async def create(tx: Tx) -> None:
        await tx.insert_call(placed, Custody(me))

    store.run_now(create)
    ringing = calls.ring(placed, began + 2_000)

    async def ring(tx: Tx) -> None:
        await tx.update_call(ringing)

    store.run_now(ring)
    answered = calls.answer(ringing, placed.answer_at)
    assert answered.status is CallStatus.IN_PROGRESS
    assert answered.start_time is not None
    answered_at = answered.start_time
    recording, events = recordings.start(
        "RE" + os.urandom(16).hex(), answered, options, RecordingSource.OUTBOUND_API,
        answered_at, 0, actor=None,
    )  # fmt: skip

    async def answer(tx: Tx) -> None:
        await tx.update_call(answered)
        await tx.insert_recording(recording)
        await tx.append_events(events)

    store.run_now(answer)
    sid = recording.sid
    for target, behavior, second in UPDATES:
        now = answered_at + second * S
        recording, events = recordings.update(
            recording, CallStatus.IN_PROGRESS, target, behavior, now, second * S, account.sid
        )
        assert events

        async def update(tx: Tx, changed: Recording = recording, made: Any = events) -> None:
            await tx.record_status_change(changed, made)

        store.run_now(update)
    ended_at = answered_at + HANG_UP_AT * S
    ended = calls.end(answered, CallStatus.COMPLETED, ended_at)
    stopped, stop_events = recordings.stop_with_call(recording, ended_at, HANG_UP_AT * S)

    async def hang_up(tx: Tx) -> None:
        await tx.update_call(ended)
        live = await tx.lock_live_recordings_of_call(ended.sid)
        assert [found.sid for found in live] == [sid]
        await tx.update_recording(stopped)
        await tx.append_events(stop_events)
        await tx.set_finalizer(sid, me)

    store.run_now(hang_up)
    processing, processing_events = recordings.begin_processing(stopped, ended_at + 1_000)

    async def begin(tx: Tx) -> tuple[list[Any], Any, list[Any]]:
        await tx.update_recording(processing)
        await tx.append_events(processing_events)
        return await tx.events(sid), await tx.call(ended.sid), await tx.audio_spans(ended.sid)

    timeline, call_row, spans = store.run_now(begin)
    rendered = render_to_disk(files, processing, timeline, call_row, spans)
    assert rendered.absent_code is None
    duration = recordings.whole_seconds(round(rendered.seconds * S))
    completed, completed_events = recordings.complete(processing, duration, ended_at + 500_000)

    async def finish(tx: Tx) -> None:
        await tx.update_recording(completed)
        await tx.append_events(completed_events)
        await tx.set_finalizer(sid, None)
        await tx.end_process(me, ended_at + 600_000)

    store.run_now(finish)
    kinds = [event.kind.value for event in store.run_now(lambda tx: tx.events(sid))]
    assert kinds == [
        "started", "paused", "resumed", "paused", "resumed", "stopped", "processing", "completed",
    ], kinds  # fmt: skip
    return Built(account.sid, token, sid, files, duration, files.wav(sid).stat().st_size)


def evict(path: Path) -> None:
    """Drop the file from the page cache (its pages are clean once fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def breakdown(built: Built) -> dict[str, float]:
    """Milliseconds of each step of a cold view's peaks, in this process, best of 3."""
    wav, peaks_path = built.files.wav(built.sid), built.files.peaks(built.sid)
    audio, rate = read_wav(wav)
    found = peaks(audio, rate)
    scratch = peaks_path.with_name("scratch.peaks.json")

    def evicted_read() -> float:
        evict(wav)
        began = time.perf_counter()
        read_wav(wav)
        return time.perf_counter() - began

    steps: dict[str, Callable[[], object]] = {
        "read_wav": lambda: read_wav(wav),
        "peaks": lambda: peaks(audio, rate),
        "write_peaks": lambda: write_peaks(scratch, found),
        "read_peaks": lambda: Peaks.from_json(peaks_path.read_bytes()),
    }
    figures = {name: _best(step) * 1000 for name, step in steps.items()}
    figures["read_wav_evicted"] = min(evicted_read() for _ in range(3)) * 1000
    scratch.unlink()
    return figures


def _best(action: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def sign_in(http: httpx.Client, built: Built) -> str:
    """Through the console's form, with the account's auth token; the session cookie."""
    http.get("/console/sign-in").raise_for_status()
    csrf = http.cookies.get("callrec_sign_in", path="/console")
    assert csrf
    form = {"csrf": csrf, "method": "token", "account_sid": built.account_sid}
    answer = http.post("/console/sign-in", data={**form, "auth_token": built.token})
    assert answer.status_code == 303, answer.text
    session = answer.cookies.get("callrec_session")
    assert session
    return session


@dataclass
class ServerView:
    html_ms: float
    peaks_ms: float
    html_bytes: int
    peaks_bytes: int

    @property
    def total_ms(self) -> float:
        return self.html_ms + self.peaks_ms


def server_view(http: httpx.Client, sid: str) -> ServerView:
    began = time.perf_counter()
    html = http.get(f"/console/recordings/{sid}")
    middle = time.perf_counter()
    data = http.get(f"/console/recordings/{sid}/peaks.json")
    ended = time.perf_counter()
    assert html.status_code == 200, html.status_code
    assert 'id="waveform"' in html.text
    assert data.status_code == 200, data.status_code
    return ServerView(
        (middle - began) * 1000, (ended - middle) * 1000, len(html.content), len(data.content)
    )


@dataclass
class Fetched:
    """One request of the page, as Chromium's network log saw it."""

    url: str
    status: int = 0
    range: str = ""
    body: int = 0  # bytes of the body received (decoded; nothing here is compressed)
    wire: int = 0  # bytes on the wire, headers included, once the request finished
    cached: bool = False
    state: str = "open"


@dataclass
class BrowserView:
    timings: dict[str, float]
    fetched: list[Fetched] = field(default_factory=list)


class NetworkLog:
    """Every request a page makes, from the DevTools protocol (media requests included)."""

    def __init__(self, cdp: CDPSession) -> None:
        self.requests: dict[str, Fetched] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", self._failed)
        cdp.on("Network.requestServedFromCache", self._from_cache)
        cdp.send("Network.enable")

    def start(self) -> None:
        self.requests = {}

    def _sent(self, event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["request"].get("headers", {}).items()}
        self.requests[event["requestId"]] = Fetched(
            event["request"]["url"], range=headers.get("range", "")
        )

    def _get(self, event: dict[str, Any]) -> Fetched:
        return self.requests.setdefault(event["requestId"], Fetched("?"))

    def _response(self, event: dict[str, Any]) -> None:
        found = self._get(event)
        found.status = event["response"]["status"]
        found.cached = found.cached or bool(event["response"].get("fromDiskCache"))

    def _data(self, event: dict[str, Any]) -> None:
        self._get(event).body += event["dataLength"]

    def _finished(self, event: dict[str, Any]) -> None:
        found = self._get(event)
        found.wire = int(event["encodedDataLength"])
        found.state = "finished"

    def _failed(self, event: dict[str, Any]) -> None:
        self._get(event).state = "canceled" if event.get("canceled") else "failed"

    def _from_cache(self, event: dict[str, Any]) -> None:
        self._get(event).cached = True


def browser_view(page: Page, log: NetworkLog, url: str, settle_seconds: float) -> BrowserView:
    log.start()
    page.goto(url, wait_until="commit")
    page.wait_for_selector('#waveform[data-drawn="1"]', state="attached", timeout=60_000)
    timings: dict[str, float] = page.evaluate(PAGE_TIMINGS)
    # what <audio preload="metadata"> fetches: wait for its metadata, then a while longer
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30_000)
    page.wait_for_timeout(settle_seconds * 1000)
    return BrowserView(timings, [Fetched(**vars(f)) for f in log.requests.values()])


@contextmanager
def server_process(data: Path, log_path: Path) -> Iterator[str]:
    port = free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port", str(port),
             "--data-dir", str(data)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/_callrec/health")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Results:
    built: Built
    steps: dict[str, float]
    server: dict[str, list[ServerView]]
    browser: dict[str, list[BrowserView]]
    static_bytes: dict[str, int]


def run(rounds: int, settle_seconds: float) -> Results:
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp_name:
        data = Path(tmp_name) / "data"
        began = time.perf_counter()
        built = build(data)
        print(f"built the recording in {time.perf_counter() - began:.1f} s", flush=True)
        steps = breakdown(built)
        print("cold view's steps, ms:", {k: round(v, 1) for k, v in steps.items()}, flush=True)
        wav, peaks_path = built.files.wav(built.sid), built.files.peaks(built.sid)
        server: dict[str, list[ServerView]] = {"cold": [], "cold_evicted": [], "cached": []}
        browser: dict[str, list[BrowserView]] = {"cold": [], "cached": []}
        with (
            server_process(data, Path(tmp_name) / "server.log") as base,
            httpx.Client(base_url=base, timeout=120) as http,
        ):
            session = sign_in(http, built)
            static_bytes = {
                name: len(http.get(f"/console/static/{name}").content)
                for name in ("console.css", "console.js")
            }
            server_view(http, built.sid)  # warm the server's code paths and templates
            with sync_playwright() as playwright:
                chromium = launch(playwright)
                url = f"{base}/console/recordings/{built.sid}"
                for number in range(1, rounds + 1):
                    peaks_path.unlink()
                    server["cold"].append(server_view(http, built.sid))
                    server["cached"].append(server_view(http, built.sid))
                    peaks_path.unlink()
                    evict(wav)
                    server["cold_evicted"].append(server_view(http, built.sid))
                    context = _context(chromium.new_context(viewport=VIEWPORT), base, session)
                    page = context.new_page()
                    log = NetworkLog(context.new_cdp_session(page))
                    peaks_path.unlink()
                    browser["cold"].append(browser_view(page, log, url, settle_seconds))
                    browser["cached"].append(browser_view(page, log, url, settle_seconds))
                    context.close()
                    print(
                        f"round {number}: server cold {server['cold'][-1].total_ms:.0f} ms, "
                        f"cold evicted {server['cold_evicted'][-1].total_ms:.0f} ms, cached "
                        f"{server['cached'][-1].total_ms:.0f} ms; browser cold "
                        f"{browser['cold'][-1].timings['drawn']:.0f} ms, cached "
                        f"{browser['cached'][-1].timings['drawn']:.0f} ms",
                        flush=True,
                    )
                chromium.close()
    return Results(built, steps, server, browser, static_bytes)


def _context(context: BrowserContext, base: str, session: str) -> BrowserContext:
    context.add_cookies([{"name": "callrec_session", "value": session, "url": base + "/console/"}])
    context.add_init_script(WATCH_DRAWN)
    return context


def kind_of(fetched: Fetched, sid: str) -> str:
    path = fetched.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    return {
        f"console/recordings/{sid}": "HTML",
        f"console/recordings/{sid}/peaks.json": "peaks.json",
        "console/static/console.css": "console.css",
        "console/static/console.js": "console.js",
        f"console/recordings/{sid}/audio.wav": "audio",
        f"console/live/recordings/{sid}": "live updates (SSE)",
    }.get(path, path)


def _median_max(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} | {max(values):,.0f}"


def _moved(views: list[BrowserView], sid: str) -> dict[str, tuple[int, int, int, str]]:
    """Per kind, from the first view: requests, body bytes, wire bytes, how (status, cache)."""
    moved: dict[str, tuple[int, int, int, str]] = {}
    for fetched in views[0].fetched:
        kind = kind_of(fetched, sid)
        requests, body, wire, how = moved.get(kind, (0, 0, 0, ""))
        note = "from cache" if fetched.cached else str(fetched.status)
        if fetched.range:
            note += f" `{fetched.range}`"
        if fetched.state != "finished":
            note += f" ({fetched.state})"
        how = f"{how}; {note}" if how else note
        moved[kind] = (requests + 1, body + fetched.body, wire + fetched.wire, how)
    return moved


def _machine() -> str:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    version = f"callrec at {commit}" + (" with uncommitted changes" if dirty else "")
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{version}; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {chromium}."
    )


def report(results: Results, rounds: int) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    built, server, browser, steps = results.built, results.server, results.browser, results.steps
    sid = built.sid

    def server_row(label: str, views: list[ServerView], shown: list[BrowserView] | None) -> str:
        cells = [
            _median_max([v.html_ms for v in views]),
            _median_max([v.peaks_ms for v in views]),
            _median_max([v.total_ms for v in views]),
        ]
        drawn = _median_max([v.timings["drawn"] for v in shown]) if shown else " | "
        return f"| {label} | {' | '.join(cells)} | {drawn} |"

    cold_server = max(v.total_ms for v in server["cold"])
    cold_browser = max(v.timings["drawn"] for v in browser["cold"])
    peaks_bytes = server["cold"][0].peaks_bytes
    timings = browser["cold"]

    def part(name: str) -> float:
        return statistics.median(v.timings[name] for v in timings)

    cold_moved = _moved(browser["cold"], sid)
    cached_moved = _moved(browser["cached"], sid)
    order = ["HTML", "peaks.json", "console.css", "console.js"]
    page_rows = []
    for kind in [*order, *sorted(k for k in cold_moved if k not in order)]:
        requests, body, wire, how = cold_moved.get(kind, (0, 0, 0, ""))
        again = cached_moved.get(kind, (0, 0, 0, ""))
        page_rows.append(
            f"| {kind} | {requests} | {body:,} | {wire:,} | {how} | {again[1]:,} | {again[3]} |"
        )
    page_total = sum(cold_moved.get(k, (0, 0, 0, ""))[1] for k in order)
    cached_total = sum(cached_moved.get(k, (0, 0, 0, ""))[1] for k in order)
    met = "met" if cold_browser < 1000 and cold_server < 1000 else "**missed**"
    data_met = "met" if peaks_bytes < 200_000 else "**missed**"
    return "\n".join([
        f"## Console: a 1-hour dual recording's page — {when}",
        "",
        f"`python bench/console.py --rounds {rounds}`: a completed {built.duration:,} s "
        f"dual-channel recording ({built.wav_bytes / 1e6:.1f} MB WAV, synthetic audio) with a "
        "30 s `skip` and a 60 s `silence` pause, its rows written as callrec writes them, served "
        "by `callrec serve` (SQLite) pinned to CPU 0; httpx and Chromium (Playwright, 1280 x 900, "
        "device pixel ratio 1) on CPU 1. Cold: the peaks file deleted first, so the page's "
        "request computes them from the WAV; cached: the second view. Server: the page then its "
        "peaks.json over one keep-alive connection (httpx, signed in). Browser: from navigation "
        "start to `#waveform[data-drawn=\"1\"]`, read in the page (performance.now()); cold in a "
        f"fresh profile. {rounds} rounds, median and max. {_machine()}",
        "",
        "| view | server HTML ms (median \\| max) | | server peaks.json ms | | server both ms | "
        "| browser to waveform drawn ms | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        server_row("cold (peaks computed on the page's request)", server["cold"], browser["cold"]),
        server_row("cold, WAV also out of the page cache", server["cold_evicted"], None),
        server_row("cached (second view)", server["cached"], browser["cached"]),
        "",
        "What the page moved in the browser (Chromium's network log; body bytes, and on the "
        "wire with headers once the request finished; nothing is compressed):",
        "",
        "| what | requests | body bytes, cold | on the wire, cold | status, cold "
        "| body bytes, second view | status, second view |",
        "|---|---:|---:|---:|---|---:|---|",
        *page_rows,
        "",
        f"- cold: **{cold_server:,.0f} ms** server, **{cold_browser:,.0f} ms** in the browser at "
        f"worst (goal < 1 s: {met}); waveform data **{peaks_bytes / 1000:,.1f} KB** of peaks.json "
        f"(goal < 200 KB: {data_met}); HTML + peaks.json + CSS + JS: {page_total / 1000:,.1f} KB "
        f"on a first visit, {cached_total / 1000:,.1f} KB on the second (CSS and JS cached)",
        f"- a cold view's steps, in-process (best of 3): reading the WAV {steps['read_wav']:,.0f} "
        f"ms ({steps['read_wav_evicted']:,.0f} ms out of the page cache), min/max "
        f"{steps['peaks']:,.0f} ms, writing the JSON {steps['write_peaks']:,.0f} ms; every view "
        f"then reads and parses the JSON, {steps['read_peaks']:,.1f} ms (once for the page, "
        "once more for peaks.json)",
        f"- the browser's cold view, median ms from navigation start: HTML first byte "
        f"{part('html_first_byte'):,.0f}, HTML done {part('html_done'):,.0f}, DOM ready "
        f"{part('dom_ready'):,.0f}, peaks.json asked {part('peaks_asked'):,.0f}, its first byte "
        f"{part('peaks_first_byte'):,.0f}, done {part('peaks_done'):,.0f}, waveform drawn "
        f"{part('drawn'):,.0f}",
        "- every round, ms: server cold "
        + ", ".join(f"{v.total_ms:,.0f}" for v in server["cold"])
        + "; cold, WAV out of the page cache "
        + ", ".join(f"{v.total_ms:,.0f}" for v in server["cold_evicted"])
        + "; cached "
        + ", ".join(f"{v.total_ms:,.0f}" for v in server["cached"])
        + "; browser cold "
        + ", ".join(f"{v.timings['drawn']:,.0f}" for v in browser["cold"])
        + "; browser cached "
        + ", ".join(f"{v.timings['drawn']:,.0f}" for v in browser["cached"]),
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--settle", type=float, default=2.0, metavar="SECONDS",
        help="how long to keep counting the audio's bytes once its metadata is in (default 2)",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = run(args.rounds, args.settle)
    section = report(results, args.rounds)
    print(section)
    if not args.no_write:
        replace_section(section, "## Console: a 1-hour dual recording's page")


if __name__ == "__main__":
    main()
