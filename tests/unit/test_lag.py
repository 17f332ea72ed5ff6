"""Frame lag as the hub counts it: 1 ms buckets, the figures derived from them."""

from __future__ import annotations

from callrec.media.hub import LagHistogram


def test_the_figures_come_from_the_buckets() -> None:
    lag = LagHistogram()
    for seconds in [0.0004] * 97 + [0.0126, 0.0129, -0.003]:
        lag.add(seconds)
    lag.add(12.0)  # past the last bucket: counted there
    assert lag.total == 101
    assert lag.percentile_ms(0.50) == 1
    assert lag.percentile_ms(0.99) == 13
    assert lag.worst_ms == LagHistogram.BUCKETS
    assert lag.at_most(0.001) == 98  # the early frame counts as on time
    assert lag.nonzero() == {"1": 98, "13": 2, str(LagHistogram.BUCKETS): 1}
    assert abs(lag.sum - (98 * 0.0005 + 2 * 0.0125 + 9.9995)) < 1e-9


def test_an_empty_histogram_has_no_figures() -> None:
    lag = LagHistogram()
    assert (lag.total, lag.percentile_ms(0.99), lag.worst_ms, lag.nonzero()) == (0, None, None, {})
