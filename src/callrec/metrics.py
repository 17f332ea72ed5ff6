"""The server's Prometheus metrics (README, "Metrics"), with the official client library, served
on a listener of their own (`--metrics-port`). Each process exposes its own.

The parts of the server count in plain numbers (the media hub's frame counters and lag buckets,
the dispatcher's outcomes) or tell an observer (commits, renders), so that nothing below knows of
Prometheus; this module turns them into metrics when scraped. What a process runs now (its live
calls, recordings and pending callbacks) is read from the database at each scrape.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from callrec.domain.model import CallStatus, RecordingStatus
from callrec.media.hub import MediaHub
from callrec.storage.base import LiveCounts, StorageError

#: Seconds: an update answers in about a millisecond, a TwiML fetch may take seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
UNIT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RENDER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LIVE_CALLS = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
LIVE_RECORDINGS = (RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED)
CALLBACK_OUTCOMES = ("delivered", "retried", "dead")
log = logging.getLogger(__name__)


class Metrics:
    def __init__(
        self,
        hub: MediaHub,
        callback_outcomes: collections.Counter[str],
        live: Callable[[], Awaitable[LiveCounts]],
    ) -> None:
        self.registry = registry = CollectorRegistry()
        self._live = live
        self._requests = Counter(
            "callrec_http_requests", "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self._latency = Histogram(
            "callrec_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["route", "method"], buckets=REQUEST_BUCKETS, registry=registry,
        )  # fmt: skip
        self._render = Histogram(
            "callrec_recording_render_duration_seconds",
            "Time to render a stopped recording's audio.", buckets=RENDER_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self._commit = Histogram(
            "callrec_db_commit_duration_seconds",
            "Time to commit (SQLite: a group's COMMIT; PostgreSQL: a group of status changes'"
            " round trip, or another unit's transaction).",
            buckets=COMMIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self._units = Histogram(
            "callrec_db_commit_units", "Units of work committed together (a group's size).",
            buckets=UNIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self._calls = Gauge(
            "callrec_calls_live", "Calls this process runs, by status.", ["status"],
            registry=registry,
        )  # fmt: skip
        self._recordings = Gauge(
            "callrec_recordings_live", "Live recordings of this process's calls, by status.",
            ["status"], registry=registry,
        )  # fmt: skip
        self._pending = Gauge(
            "callrec_callbacks_pending", "Status callbacks this process is to send.",
            registry=registry,
        )  # fmt: skip
        registry.register(_Counted(hub, callback_outcomes))
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """An HTTP request answered (its route's pattern, never its path: few label values)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self, seconds: float) -> None:
        self._render.observe(seconds)

    def commit(self, seconds: float, units: int) -> None:
        self._commit.observe(seconds)
        self._units.observe(units)

    async def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, what this process runs read afresh."""
        try:
            counts = await self._live()
        except StorageError:
            log.warning("metrics: the database did not answer; live counts left as they were")
        else:
            for status in LIVE_CALLS:
                self._calls.labels(status.value).set(counts.calls.get(status, 0))
            for recording_status in LIVE_RECORDINGS:
                value = counts.recordings.get(recording_status, 0)
                self._recordings.labels(recording_status.value).set(value)
            self._pending.set(counts.callbacks_pending)
        return generate_latest(self.registry)


class _Counted(Collector):
    """The media hub's and the dispatcher's own counts, as metrics, when scraped."""

    def __init__(self, hub: MediaHub, callback_outcomes: collections.Counter[str]) -> None:
        self._hub = hub
        self._outcomes = callback_outcomes

    def collect(self) -> Iterable[Metric]:
        stats = self._hub.stats
        for name, text, value in (
            ("received", "Media frames received from streams.", stats.frames_received),
            ("captured", "Frames written to capture files (once per recording).",
             stats.frames_captured),
            ("dropped_paused", "Frames dropped at a paused recording's gate.",
             stats.frames_gated),
            ("dropped_fenced", "Frames dropped while this process could not prove it holds its"
             " calls.", stats.frames_fenced),
            ("dropped_unwritten", "Frames dropped because the OS refused to write their"
             " capture file (a full disk).", stats.frames_unwritten),
        ):  # fmt: skip
            yield CounterMetricFamily(f"callrec_media_frames_{name}", text, value=value)
        yield GaugeMetricFamily(
            "callrec_streams_live", "Media streams connected to this process.",
            value=self._hub.live_streams,
        )  # fmt: skip
        lag = stats.lag
        buckets = [(str(bound), lag.at_most(bound)) for bound in LAG_BUCKETS]
        yield HistogramMetricFamily(
            "callrec_capture_lag_seconds",
            "How late each frame was handled after its place in the stream's real time.",
            buckets=[*buckets, ("+Inf", lag.total)], sum_value=lag.sum,
        )  # fmt: skip
        outcomes = CounterMetricFamily(
            "callrec_callbacks", "Status callback attempts, by outcome.", labels=["outcome"]
        )
        for outcome in CALLBACK_OUTCOMES:
            outcomes.add_metric([outcome], self._outcomes[outcome])
        yield outcomes


async def serve_metrics(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """The metrics' own listener: `GET /metrics` and nothing else."""

    async def scrape(_: web.Request) -> web.Response:
        body = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
