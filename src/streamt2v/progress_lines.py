"""The times in the log lines of long work without a progress bar (``--no-progress``, stderr a log file: a
batch job): the time so far and the time left, from the time per unit of work (a training step, a chunk, a
stage-3 step, a decoded frame). Used by ``train``'s lines (:mod:`streamt2v.train.progress`), ``generate``'s
chunk lines (:mod:`streamt2v.pipeline.run_writing`) and stage 3's (:mod:`streamt2v.pipeline.enhance`)."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class UnitRate:
    """The time per unit, timed from the end of the first unit: the first carries the start-up (data
    workers, compiling, the device's caches), which says little of the rest. ``clock``: seconds, monotonic
    (:func:`time.monotonic`; a test passes its own)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.began = clock()
        self.first_end: float | None = None
        self.last_end: float | None = None
        self.units = 0.0  # done since the first unit ended

    def done(self, units: float = 1) -> float:
        """Count ``units`` more done now (the first call: the first unit, not timed); returns now."""
        now = self.clock()
        if self.first_end is None:
            self.first_end = now
        else:
            self.units += units
        self.last_end = now
        return now

    def per_unit(self) -> float | None:
        """Seconds per unit from the end of the first to the end of the last, or None before one is timed."""
        if self.first_end is None or self.last_end is None or not self.units:
            return None
        return (self.last_end - self.first_end) / self.units

    def times(self, units_left: float, left_before: str = "") -> str:
        """``3 min so far, 12 min left`` (``left_before``: what follows the work, `` before stage 3``), the
        time left once a unit is timed and something is left: ``under 1 s left`` below a second, where
        ``0 s left`` would read as done."""
        said = f"{duration(self.clock() - self.began)} so far"
        per_unit = self.per_unit()
        if per_unit is not None and units_left > 0:
            left = per_unit * units_left
            said += f", {'under 1 s' if left < 1 else duration(left)} left{left_before}"
        return said


def duration(seconds: float) -> str:
    """``45 s``, ``1.5 min`` (tenths below 10 minutes: a short run's minutes are coarse), ``12 min``,
    ``3.5 h``."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 9.95 * 60:
        return f"{seconds / 60:.1f}".removesuffix(".0") + " min"
    if seconds < 59.5 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f}".removesuffix(".0") + " h"
