"""Scheduler construction (diffusers schedulers, built fresh per chunk) and SDEdit starts."""

from streamt2v.sampling.schedulers import (
    SCHEDULER_NAMES,
    KnownFrames,
    make_scheduler,
    sample_loop,
    step_kwargs,
)

__all__ = ["SCHEDULER_NAMES", "KnownFrames", "make_scheduler", "sample_loop", "step_kwargs"]
