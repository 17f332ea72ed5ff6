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
- where a cold view's time goes: the server's user and system CPU over its two requests (from
  /proc), and the steps of making the peaks run in this process on the server's core (reading
  the WAV, the min/max, writing the JSON, and reading it back, which every view does); in the
  browser, the page's navigation and resource timings, and console.js's own parse and paint.

The server is pinned to CPU 0, a fresh process each round (so that no live-updates stream of an
earlier page is still polling: an open recording page's stream makes missing peaks again within
0.5 s); this script, Chromium and Playwright's driver to CPU 1. Each round waits for a quiet
second on the machine first (bench/deployment.py).

    python bench/console.py [--rounds 3] [--settle 2] [--no-write]
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
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import CDPSession, Page, ViewportSize, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deployment import QUIET_WAIT_SECONDS, wait_for_quiet
from streams import _wait
from tests.support.browser import CHROMIUM, launch
from update_recording import free_port, replace_section

from callrec.domain import call as calls
from callrec.domain import recording as recordings
from callrec.domain.model import (
    MICROS_PER_SECOND,
    AudioSpan,
    Call,
    CallFlow,
    CallStatus,
    PauseBehavior,
    Recording,
    RecordingChannels,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.media.files import MediaFiles
from callrec.media.peaks import COLUMNS, Peaks, peaks
from callrec.server import open_accounts
from callrec.service.media import render_to_disk
from callrec.storage.base import Custody, Tx
from callrec.storage.factory import open_store

T = TypeVar("T")
TICKS = os.sysconf("SC_CLK_TCK")
#: Times each step of a cold view is run in-process, each round.
STEP_RUNS = 3
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
  const statics = performance.getEntriesByType("resource")
    .filter((entry) => entry.name.includes("/console/static/"));
  return {
    drawn: window.__drawnAt,
    html_first_byte: nav.responseStart,
    html_done: nav.responseEnd,
    css_js_done: Math.max(...statics.map((entry) => entry.responseEnd)),
    dom_interactive: nav.domInteractive,
    dom_ready: nav.domContentLoadedEventEnd,
    peaks_asked: peaks.startTime,
    peaks_done: peaks.responseEnd,
  };
}"""

#: console.js's own work, timed in the page once drawn: painting both channels again (its
#: resize handler) and parsing peaks.json (fetched again).
SCRIPT_COSTS = """async () => {
  let began = performance.now();
  window.dispatchEvent(new Event("resize"));
  const paint = performance.now() - began;
  const text = await (await fetch(document.getElementById("waveform").dataset.peaks)).text();
  began = performance.now();
  JSON.parse(text);
  return {paint_ms: paint, parse_ms: performance.now() - began};
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

        async def update(
            tx: Tx, changed: Recording = recording, made: list[RecordingEvent] = events
        ) -> None:
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

    async def begin(tx: Tx) -> tuple[list[RecordingEvent], Call | None, list[AudioSpan]]:
        await tx.update_recording(processing)
        await tx.append_events(processing_events)
        return await tx.events(sid), await tx.call(ended.sid), await tx.audio_spans(ended.sid)

    timeline, call_row, spans = store.run_now(begin)
    rendered, _ = render_to_disk(files, processing, timeline, call_row, spans)
    assert rendered.absent_code is None
    duration = recordings.whole_seconds(round(rendered.seconds * S))
    assert duration == HANG_UP_AT - 30, duration
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


def steps_of_cold_view(built: Built) -> dict[str, float]:
    """Milliseconds of each step the server takes for a cold view's peaks
    (service/recording_media.py: read the WAV, min/max, write the JSON) and of reading the JSON
    back, which every view does; run here, on the server's core while it is not running."""
    wav, peaks_path = built.files.wav(built.sid), built.files.peaks(built.sid)
    scratch = peaks_path.with_name("scratch.peaks.json")
    figures: dict[str, float] = {}

    def timed(name: str, action: Callable[[], T]) -> T:
        began = time.perf_counter()
        done = action()
        figures[name] = (time.perf_counter() - began) * 1000
        return done

    def read_bytes() -> bytes:
        with wave.open(str(wav), "rb") as source:
            return source.readframes(source.getnframes())

    timed("wav_bytes", read_bytes)
    audio, rate = timed("read_wav", lambda: built.files.read_wav(wav))
    found = timed("peaks", partial(peaks, audio, rate))
    del audio
    timed("write_peaks", lambda: built.files.put(scratch, found.to_json()))
    timed("read_peaks", lambda: Peaks.from_json(scratch.read_bytes()))
    scratch.unlink()
    evict(wav)
    timed("read_wav_evicted", lambda: built.files.read_wav(wav))
    return figures


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
    user_ms: float  # the server's CPU time over both requests, from /proc (10 ms ticks)
    system_ms: float

    @property
    def total_ms(self) -> float:
        return self.html_ms + self.peaks_ms


def server_view(http: httpx.Client, pid: int, sid: str) -> ServerView:
    cpu = _cpu_ms(pid)
    began = time.perf_counter()
    html = http.get(f"/console/recordings/{sid}")
    middle = time.perf_counter()
    data = http.get(f"/console/recordings/{sid}/peaks.json")
    ended = time.perf_counter()
    user, system = (after - before for after, before in zip(_cpu_ms(pid), cpu, strict=True))
    assert html.status_code == 200, html.status_code
    assert 'id="waveform"' in html.text
    assert 'class="span skip"' in html.text  # the pauses, where the timeline puts them
    assert 'class="span silence"' in html.text
    assert data.status_code == 200, data.status_code
    return ServerView(
        (middle - began) * 1000, (ended - middle) * 1000, len(html.content), len(data.content),
        user, system,
    )  # fmt: skip


def _cpu_ms(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) * 1000 / TICKS, int(fields[12]) * 1000 / TICKS


@dataclass
class Fetched:
    """One request of the page, as Chromium's network log saw it."""

    url: str
    status: int = 0
    range: str = ""
    body: int = 0  # bytes of the body received (nothing here is compressed)
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
        request = event["request"]
        headers = {name.lower(): value for name, value in request.get("headers", {}).items()}
        self.requests[event["requestId"]] = Fetched(request["url"], range=headers.get("range", ""))

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
    fetched = [replace(request) for request in log.requests.values()]
    timings.update(page.evaluate(SCRIPT_COSTS))  # after the log is read: it fetches peaks.json
    return BrowserView(timings, fetched)


@contextmanager
def server_process(data: Path, log_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port", str(port),
             "--data-dir", str(data)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/_callrec/health")
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Results:
    built: Built
    steps: list[dict[str, float]] = field(default_factory=list)
    server: dict[str, list[ServerView]] = field(default_factory=dict)
    browser: dict[str, list[BrowserView]] = field(default_factory=dict)
    waited: list[float] = field(default_factory=list)


def run(rounds: int, settle_seconds: float) -> Results:
    """Each round on a server of its own (started, warmed up, stopped), so that no page's
    live-updates stream from an earlier view is still polling (an open recording page's stream
    makes the peaks again within 0.5 s if they are missing)."""
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp_name:
        data = Path(tmp_name) / "data"
        began = time.perf_counter()
        built = build(data)
        print(f"built the recording in {time.perf_counter() - began:.1f} s", flush=True)
        results = Results(built)
        results.server = {"cold": [], "cold_evicted": [], "cached": []}
        results.browser = {"cold": [], "cached": []}
        wav, peaks_path = built.files.wav(built.sid), built.files.peaks(built.sid)
        with sync_playwright() as playwright:
            chromium = launch(playwright)
            for number in range(1, rounds + 1):
                results.waited.append(wait_for_quiet())
                os.sched_setaffinity(0, {0})
                results.steps.extend(steps_of_cold_view(built) for _ in range(STEP_RUNS))
                os.sched_setaffinity(0, {1})
                with (
                    server_process(data, Path(tmp_name) / "server.log") as (base, pid),
                    httpx.Client(base_url=base, timeout=120) as http,
                ):
                    session = sign_in(http, built)
                    peaks_path.unlink(missing_ok=True)
                    server_view(http, pid, built.sid)  # warm-up: the code of a cold view, then
                    server_view(http, pid, built.sid)  # of a cached one
                    peaks_path.unlink()
                    results.server["cold"].append(server_view(http, pid, built.sid))
                    results.server["cached"].append(server_view(http, pid, built.sid))
                    peaks_path.unlink()
                    evict(wav)
                    results.server["cold_evicted"].append(server_view(http, pid, built.sid))
                    context = chromium.new_context(viewport=VIEWPORT)
                    context.add_cookies(
                        [{"name": "callrec_session", "value": session, "url": base + "/console/"}]
                    )
                    context.add_init_script(WATCH_DRAWN)
                    page = context.new_page()
                    log = NetworkLog(context.new_cdp_session(page))
                    url = f"{base}/console/recordings/{built.sid}"
                    peaks_path.unlink()
                    for view in ("cold", "cached"):
                        cpu = _cpu_ms(pid)
                        shown = browser_view(page, log, url, settle_seconds)
                        user, system = (a - b for a, b in zip(_cpu_ms(pid), cpu, strict=True))
                        shown.timings.update(server_user_ms=user, server_system_ms=system)
                        results.browser[view].append(shown)
                    context.close()
                print(
                    f"round {number}: server cold {results.server['cold'][-1].total_ms:.0f} ms, "
                    f"cold evicted {results.server['cold_evicted'][-1].total_ms:.0f} ms, "
                    f"cached {results.server['cached'][-1].total_ms:.0f} ms; browser cold "
                    f"{results.browser['cold'][-1].timings['drawn']:.0f} ms, cached "
                    f"{results.browser['cached'][-1].timings['drawn']:.0f} ms; steps "
                    + ", ".join(f"{k} {v:.0f}" for k, v in results.steps[-1].items()),
                    flush=True,
                )
            chromium.close()
    return results


KINDS = ["HTML", "peaks.json", "console.css", "console.js"]


def kind_of(fetched: Fetched, sid: str) -> str:
    path = "/" + fetched.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    return {
        f"/console/recordings/{sid}": "HTML",
        f"/console/recordings/{sid}/peaks.json": "peaks.json",
        "/console/static/console.css": "console.css",
        "/console/static/console.js": "console.js",
        f"/console/recordings/{sid}/audio.wav": "audio (WAV)",
        f"/console/live/recordings/{sid}": "live updates (SSE)",
    }.get(path, path)


@dataclass
class Moved:
    requests: int = 0
    body: int = 0  # over the network (not from the browser's cache)
    wire: int = 0
    how: list[str] = field(default_factory=list)


def moved(view: BrowserView, sid: str) -> dict[str, Moved]:
    """What one view fetched, by kind (data: URLs of the browser's own controls left out)."""
    found: dict[str, Moved] = {}
    for fetched in view.fetched:
        if not fetched.url.startswith("http"):
            continue
        entry = found.setdefault(kind_of(fetched, sid), Moved())
        entry.requests += 1
        if fetched.cached:
            entry.how.append("from the browser's cache")
            continue
        entry.body += fetched.body
        entry.wire += fetched.wire
        note = str(fetched.status) + (f" for `Range: {fetched.range}`" if fetched.range else "")
        if fetched.state != "finished":
            note += f", {fetched.state} by the browser" if fetched.state != "open" else ", open"
        entry.how.append(note)
    return found


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _machine() -> str:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    version = f"callrec at {commit}" + (" with uncommitted changes" if dirty else "")
    chromium = (
        subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True)
        .stdout.split(" built")[0]
        .strip()
    )
    return (
        f"{version}; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {chromium}."
    )


def worst_case_peaks_bytes() -> int:
    """peaks.json of the same length at full scale (every value -128: the longest text)."""
    full = [[-128] * COLUMNS for _ in range(2)]
    return len(Peaks(8_000, HANG_UP_AT * 8_000, full, full).to_json())


def report(results: Results, rounds: int, settle: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    built, server, browser = results.built, results.server, results.browser
    sid = built.sid

    def median_max(values: list[float]) -> str:
        return f"{_median(values):,.0f} | {max(values):,.0f}"

    def server_row(label: str, views: list[ServerView], shown: list[BrowserView] | None) -> str:
        cells = [
            median_max([v.html_ms for v in views]),
            median_max([v.peaks_ms for v in views]),
            median_max([v.total_ms for v in views]),
            median_max([v.timings["drawn"] for v in shown]) if shown else " | ",
        ]
        return f"| {label} | {' | '.join(cells)} |"

    def timeline_row(label: str, views: list[BrowserView]) -> str:
        names = [
            "html_first_byte", "html_done", "css_js_done", "dom_interactive", "dom_ready",
            "peaks_asked", "peaks_done", "drawn",
        ]  # fmt: skip
        return f"| {label} | " + " | ".join(
            f"{_median([v.timings[name] for v in views]):,.0f}" for name in names
        ) + " |"  # fmt: skip

    def script(name: str) -> str:
        views = browser["cold"] + browser["cached"]
        return f"{_median([v.timings[name] for v in views]):,.1f}"

    def cpu(view: str) -> str:
        user = _median([v.user_ms for v in server[view]])
        system = _median([v.system_ms for v in server[view]])
        return f"user {user:,.0f} ms, system {system:,.0f} ms"

    def cpu_in_browser(view: str) -> str:
        user = [v.timings["server_user_ms"] for v in browser[view]]
        system = [v.timings["server_system_ms"] for v in browser[view]]
        return (
            f"user {_median(user):,.0f} ms, system {_median(system):,.0f} ms (max "
            f"{max(system):,.0f})"
        )

    cold_server = max(v.total_ms for v in server["cold"])
    cold_browser = max(v.timings["drawn"] for v in browser["cold"])
    peaks_bytes = server["cold"][0].peaks_bytes
    first, second = moved(browser["cold"][0], sid), moved(browser["cached"][0], sid)
    rows = []
    for kind in [*KINDS, *sorted(k for k in first.keys() | second.keys() if k not in KINDS)]:
        one, two = first.get(kind, Moved()), second.get(kind, Moved())
        rows.append(
            f"| {kind} | {one.body:,} | {one.wire:,} | {'; '.join(one.how)} | {two.body:,} "
            f"| {'; '.join(two.how)} |"
        )
    page_first = sum(first.get(kind, Moved()).body for kind in KINDS)
    page_second = sum(second.get(kind, Moved()).body for kind in KINDS)
    steps = {name: _median([s[name] for s in results.steps]) for name in results.steps[0]}
    fast = cold_browser < 1000 and cold_server < 1000
    small = peaks_bytes < 200_000
    quiet = "" if max(results.waited) < QUIET_WAIT_SECONDS else (
        " The machine was not quiet before every round (others' work on its cores)."
    )  # fmt: skip
    return "\n".join([
        f"## Console: a 1-hour dual recording's page — {when}",
        "",
        f"`python bench/console.py --rounds {rounds}`: a completed {built.duration:,} s "
        f"dual-channel recording ({built.wav_bytes / 1e6:.1f} MB of WAV, synthetic audio) with a "
        "30 s `skip` and a 60 s `silence` pause, its rows written as callrec's services write "
        "them, served by `callrec serve` (SQLite) pinned to CPU 0, a fresh process each round "
        "(warmed up by one cold and one cached view); httpx, Chromium (Playwright, 1280 x 900, "
        "device pixel ratio 1) and its driver on CPU 1. Cold: the peaks file deleted first, so "
        "the page's request computes them from the WAV; cached: the second view. Server: the page "
        "then its peaks.json, one after the other on one keep-alive connection (httpx, signed "
        "in). Browser: from navigation start to `#waveform[data-drawn=\"1\"]` (console.js sets "
        "it once painted), read in the page; cold in a fresh profile, cached the same page "
        f"opened again. Median and max of {rounds} rounds, each after a quiet second on the "
        f"machine.{quiet} {_machine()}",
        "",
        "| view, ms (median \\| max) | server: HTML | | server: peaks.json | "
        "| server: both | | browser: to the waveform drawn | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        server_row("cold (peaks computed on the page's request)", server["cold"], browser["cold"]),
        server_row("cold, the WAV also out of the page cache", server["cold_evicted"], None),
        server_row("cached (second view)", server["cached"], browser["cached"]),
        "",
        "In the browser, medians in ms from navigation start:",
        "",
        "| view | HTML first byte | HTML done | CSS and JS done | DOM interactive "
        "| DOMContentLoaded done | peaks.json asked | peaks.json done | waveform drawn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        timeline_row("cold", browser["cold"]),
        timeline_row("cached", browser["cached"]),
        "",
        f"console.js's own work, timed in the page: parsing peaks.json {script('parse_ms')} ms, "
        f"painting both channels {script('paint_ms')} ms (median); the rest of the time from the "
        "HTML's last byte to the waveform drawn is Chromium's own, on its one core.",
        "",
        "What the page moved (round 1, Chromium's network log: body bytes over the network, "
        "and on the wire with headers for a request that finished; nothing is compressed):",
        "",
        "| what | body bytes, cold | on the wire, cold | how, cold | body bytes, second view "
        "| how, second view |",
        "|---|---:|---:|---|---:|---|",
        *rows,
        "",
        f"- cold **{cold_server:,.0f} ms** at worst on the server, **{cold_browser:,.0f} ms** in "
        f"the browser (goal < 1 s: {'met' if fast else '**missed**'}); waveform data "
        f"**{peaks_bytes / 1000:,.1f} KB** (goal < 200 KB: {'met' if small else '**missed**'}; "
        f"at most {worst_case_peaks_bytes() / 1000:,.1f} KB at full scale); HTML, peaks.json, "
        f"CSS and JS: {page_first / 1000:,.1f} KB on a first visit, {page_second / 1000:,.1f} KB "
        "on the next (CSS and JS cached)",
        f"- the server's CPU for the two requests, median: cold {cpu('cold')}; cold, the WAV "
        f"out of the page cache {cpu('cold_evicted')}; cached {cpu('cached')}; over a browser's "
        f"whole view (its audio and live-updates requests too, until {settle:g} s after the "
        f"audio's metadata): cold {cpu_in_browser('cold')}, cached {cpu_in_browser('cached')} "
        f"(from /proc, in {1000 / TICKS:.0f} ms ticks)",
        f"- a cold view's own work, in-process on the server's core, median of {STEP_RUNS} runs "
        "a round: "
        f"reading the WAV {steps['read_wav']:,.0f} ms (of which reading its bytes "
        f"{steps['wav_bytes']:,.0f} ms; {steps['read_wav_evicted']:,.0f} ms out of the page "
        f"cache), the min/max {steps['peaks']:,.0f} ms, writing the JSON "
        f"{steps['write_peaks']:,.0f} ms; every view then reads and parses the JSON, "
        f"{steps['read_peaks']:,.1f} ms, once for the page and once more for peaks.json",
        "- every round, ms: server cold "
        + ", ".join(f"{v.total_ms:,.0f}" for v in server["cold"])
        + "; cold, the WAV out of the page cache "
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
        help="how long to go on counting the audio's bytes once its metadata is in (default 2)",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = run(args.rounds, args.settle)
    section = report(results, args.rounds, args.settle)
    print(section)
    if not args.no_write:
        replace_section(section, "## Console: a 1-hour dual recording's page")


if __name__ == "__main__":
    main()
