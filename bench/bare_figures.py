"""What a floor server (bench/bare_streams.py, bench/bare_picows.py) prints when it stops.

Its frames, the bytes it appended, and their lag: over the whole run, and over the measured
seconds alone, from the SIGUSR1 the benchmark sends as they begin (binary streams send from
their handshake, so the whole run includes the opening, when the load generator is busiest), as
the benchmark reads callrec's. Not part of callrec.
"""

from __future__ import annotations

import asyncio
import signal

from callrec.media.hub import LagHistogram


class MeasuredLag:
    """The lag counts as the measured seconds began (SIGUSR1), to take from the run's."""

    def __init__(self, lag: LagHistogram) -> None:
        self.lag = lag
        self.at_begin: list[int] | None = None
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.begin)

    def begin(self) -> None:
        self.at_begin = self.lag.counts.copy()

    def figures(self, frames: int, appended: int) -> dict[str, object]:
        window = LagHistogram()
        at_begin = self.at_begin or [0] * LagHistogram.BUCKETS
        window.counts = [now - then for now, then in zip(self.lag.counts, at_begin, strict=True)]
        return {
            "frames_received": frames,
            "bytes_appended": appended,
            "frame_lag_ms": _percentiles(self.lag),
            "measured_lag_ms": _percentiles(window),
        }


def _percentiles(lag: LagHistogram) -> dict[str, int | None]:
    return {"p50": lag.percentile_ms(0.5), "p99": lag.percentile_ms(0.99), "max": lag.worst_ms}
