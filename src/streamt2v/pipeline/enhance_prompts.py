"""The prompt of each stage-3 chunk: a prompt schedule read at the chunk's middle frame (``docs/enhance.md``),
and the warning about schedule entries no chunk is refined with."""

from __future__ import annotations

import logging

from streamt2v.pipeline.blending import WindowPlan
from streamt2v.pipeline.prompts import PromptSchedule, as_schedule, nearby_starts, unused_entries

logger = logging.getLogger(__name__)


def chunk_prompt_frames(plan: WindowPlan) -> list[int]:
    """The frame whose prompt each enhancer chunk is refined with: its middle frame (within the video)."""
    last = plan.num_frames - 1
    return [min(last, s + plan.chunk_frames // 2) for s in plan.starts]


def chunk_prompts(prompt: str | PromptSchedule, plan: WindowPlan) -> list[str]:
    """The prompt of each enhancer chunk: a schedule's prompt at the chunk's middle frame
    (:func:`chunk_prompt_frames`)."""
    if isinstance(prompt, str):
        return [prompt] * len(plan)
    return [prompt.prompt_at(frame) for frame in chunk_prompt_frames(plan)]


def warn_unused_entries(schedule: PromptSchedule, plan: WindowPlan) -> None:
    """Warn about each schedule entry no enhancer chunk is refined with (one followed by another before the
    next chunk's middle frame), as the stages-1-2 pipeline warns about those no chunk of it uses."""
    frames = chunk_prompt_frames(plan)
    for frame, text in unused_entries(schedule, frames):
        logger.warning(
            "prompt schedule entry %d: %r is never used by stage 3: each enhancer chunk is refined with the "
            "prompt active at its middle frame, and the chunks' middle frames are %s",
            frame,
            text,
            nearby_starts(frames, frame),
        )


def prompt_schedule(prompt: str | PromptSchedule, num_frames: int) -> PromptSchedule:
    """``prompt`` as a schedule checked against a ``num_frames``-frame video. A string is read by
    :func:`~streamt2v.pipeline.prompts.as_schedule`, as the stages-1-2 pipeline reads it (an inline
    schedule such as ``"0: a cat; 16: a dog"``, else one prompt), so a prompt means the same in every stage."""
    schedule = as_schedule(prompt)
    schedule.validate(num_frames)
    return schedule
