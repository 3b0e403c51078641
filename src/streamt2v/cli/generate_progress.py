"""``streamt2v generate``'s progress bar: the denoising steps of a run's chunks, counted from its settings as the
run resolved them (a new run's once its model is loaded: a hub id's recommended steps are known only then)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamt2v.pipeline.generate import GenerateConfig
    from streamt2v.pipeline.stream import Chunk


def steps_per_chunk(cfg: GenerateConfig, num_chunks: int) -> list[int]:
    """Denoising steps of each of a run's ``num_chunks`` chunks (the progress bar's total; ``cfg.stream``
    resolved): chunk 0 is the input (none) or a stage-1 chunk, every later one a stage-2 chunk."""
    s = cfg.stream
    first = 0 if cfg.init_video or cfg.init_image else s.init_steps
    return [first] + [s.steps] * (num_chunks - 1)


class StepBar:
    """A tqdm bar on stderr of a run's denoising steps, made at the first step (an error before it comes
    without a bar); ``shown=False``: none. Its total is known once :meth:`start` is told the run's plan."""

    def __init__(self, *, shown: bool) -> None:
        self.shown = shown
        self.bar: Any = None
        self.per_chunk: list[int] | None = None
        self.done = 0  # chunks finished before this process (a resume's)

    def start(self, cfg: GenerateConfig, num_chunks: int, done: int = 0) -> None:
        """The run's settings (resolved) and number of chunks, ``done`` of them finished already."""
        self.per_chunk, self.done = steps_per_chunk(cfg, num_chunks), done

    def on_chunk(self, chunk: Chunk) -> None:
        from streamt2v.wording import counted

        if self.bar is not None:
            self.bar.set_postfix_str(f"{counted(chunk.stop, 'frame')} done", refresh=False)

    def on_step(self, index: int, step: int, steps: int) -> None:
        if self.bar is None and self.shown:
            from streamt2v.progress_bars import progress_bar

            total = sum(self.per_chunk) if self.per_chunk else None
            # a resume's bar starts at the steps done before this process: initial= shows them from its
            # first line and keeps them out of the rate, which is this process's steps a second
            before = sum(self.per_chunk[: self.done]) if self.per_chunk else 0
            self.bar = progress_bar(
                total=total, initial=before, unit="step", file=sys.stderr, dynamic_ncols=True
            )
        if self.bar is not None:
            self.bar.set_description(f"chunk {index + 1}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
