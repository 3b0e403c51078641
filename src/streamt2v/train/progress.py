"""What a training run shows of its steps: a tqdm bar at a terminal; where there is none (``--no-progress``,
stderr a log file: a batch job), log lines, which a bar would fill with ``\\r`` redraws: the first step with
its time, then one every :data:`LINE_SECONDS` and the last, each with the loss, the time per step since the
first and the time left."""

from __future__ import annotations

import logging
import time

from streamt2v.progress_bars import progress_bar

logger = logging.getLogger(__name__)

# A batch job's log gets a line at most this often (a bar redraws about ten times a second).
LINE_SECONDS = 60.0


class StepProgress:
    """``bar``: the tqdm bar; ``lines``: the log lines (the main process of a run without the bar)."""

    def __init__(self, name: str, total: int, start: int, *, bar: bool, lines: bool) -> None:
        self.name, self.total, self.start = name, total, start
        self.bar = progress_bar(total=total, initial=start, disable=not bar, desc=name)
        self.lines = lines and not bar
        self.began = time.monotonic()
        self.first_step_end: float | None = None
        self.last_line: float | None = None

    def update(self, done: int, loss: float) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}")
        if not self.lines:
            return
        now = time.monotonic()
        head = f"{self.name}: step {done}/{self.total}, loss {loss:.4f}"
        if self.first_step_end is None:
            # the first step carries the data workers' start and any compiling: its time says little
            # of the rest
            self.first_step_end = self.last_line = now
            logger.info("%s, first step %.3g s", head, now - self.began)
        elif done == self.total or now - self.last_line >= LINE_SECONDS:
            self.last_line = now
            per_step = (now - self.first_step_end) / (done - self.start - 1)
            left = f", {_duration(per_step * (self.total - done))} left" if done < self.total else ""
            logger.info("%s, %.3g s/step%s", head, per_step, left)

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
