"""Wall-clock timing, once: :class:`Timer` (a context manager) and :func:`median_time`
(warm-up runs, then the median of timed repeats). The benchmark, the lessons, the
side-by-side widget and ``codi poc`` time through these;
:func:`codi_lib.evaluation.metrics.time_per_image` is :func:`median_time` per image.
Introduced in ``notebooks/00_welcome.ipynb``. No paper equation.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def format_seconds(s: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``, ``3.2`` -> ``"3.20 s"``, ``125`` -> ``"2 min 5 s"``.
    Introduced in notebooks/00_welcome.ipynb."""
    if s != s:  # NaN
        return "n/a"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    m, r = divmod(round(s), 60)
    return f"{m} min {r} s"


class Timer:
    """Wall-clock timer as a context manager: ``with Timer("DDIM-50") as t: ...`` then
    ``t.seconds``; prints ``label: 1.23 s`` on exit when a label is given and
    ``show`` is true. Introduced in notebooks/00_welcome.ipynb."""

    def __init__(self, label: str | None = None, show: bool = True):
        self.label, self.show, self.seconds = label, show, float("nan")

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        if self.label and self.show and exc[0] is None:
            print(f"{self.label}: {format_seconds(self.seconds)}")
        return False


def median_time(fn: Callable[[], Any], repeats: int = 1, warmup: int = 0):
    """Run ``fn()`` ``warmup`` times untimed, then ``repeats`` times timed; return
    (the last result, the median seconds of the timed runs). Notebook 02."""
    for _ in range(warmup):
        fn()
    times, out = [], None
    for _ in range(max(1, repeats)):
        with Timer() as t:
            out = fn()
        times.append(t.seconds)
    return out, statistics.median(times)
