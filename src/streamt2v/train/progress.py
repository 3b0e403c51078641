"""What a training run shows of its steps: a tqdm bar at a terminal; where there is none (``--no-progress``,
stderr a log file: a batch job), log lines, which a bar would fill with ``\\r`` redraws: the first step with
its time, then one every :data:`LINE_SECONDS` and the last, each with the loss, the time per step since the
first, the time so far and the time left (:mod:`streamt2v.progress_lines`, as generate's and stage 3's
lines)."""

from __future__ import annotations

import logging
import time

from streamt2v.progress_bars import progress_bar
from streamt2v.progress_lines import Clock, UnitRate

logger = logging.getLogger(__name__)

# A batch job's log gets a line at most this often (a bar redraws about ten times a second).
LINE_SECONDS = 60.0


class StepProgress:
    """``bar``: the tqdm bar; ``lines``: the log lines (the main process of a run without the bar);
    ``clock``: the lines' (seconds, monotonic)."""

    def __init__(
        self, name: str, total: int, start: int, *, bar: bool, lines: bool, clock: Clock = time.monotonic
    ) -> None:
        self.name, self.total = name, total
        self.bar = progress_bar(total=total, initial=start, disable=not bar, desc=name)
        self.lines = lines and not bar
        # the first step carries the data workers' start and any compiling: the time per step is from its end
        self.rate = UnitRate(clock)
        self.last_line: float | None = None

    def update(self, done: int, loss: float) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}")
        if not self.lines:
            return
        now = self.rate.done()
        head = f"{self.name}: step {done}/{self.total}, loss {loss:.4f}"
        if self.last_line is None:
            self.last_line = now
            logger.info("%s, first step %.3g s", head, now - self.rate.began)
        elif done == self.total or now - self.last_line >= LINE_SECONDS:
            self.last_line = now
            # the time so far and left as generate's lines say them (under 1 s left, not 0 s, with steps left)
            logger.info("%s, %.3g s/step, %s", head, self.rate.per_unit(), self.rate.times(self.total - done))

    def close(self) -> None:
        self.bar.close()
