"""Which of StreamConfig's sampling options set one stage alone (``init_*`` stage 1, the others the streaming
chunks of stage 2), and those of a stage a video does not have: ``steps`` on a video of one chunk,
``init_steps`` on one continuing an image or a video. The command line and ``pipe(...)`` both warn of them."""

from __future__ import annotations

from dataclasses import fields

from streamt2v.pipeline.stream import StreamConfig

STAGE2_SAMPLING = (
    "steps",
    "guidance",
    "guidance_rescale",
    "scheduler",
    "eta",
    "noise_correlation",
    "cond_replacement",
    "anchor_colour_match",
    "chunk_strength",
)
STAGE1_SAMPLING = tuple(
    name for name in (f"init_{k}" for k in STAGE2_SAMPLING) if name in {f.name for f in fields(StreamConfig)}
)


def sampling_without_stage(given: list[str], config: StreamConfig, continues: bool) -> tuple[list[str], int]:
    """The sampling options among ``given`` (StreamConfig's names) of a stage the video does not have, and
    that stage: 1 where the video ``continues`` an image or a video (no stage 1), 2 where it is one chunk
    (``[], 0`` where it has both)."""
    if continues:
        return [k for k in given if k in STAGE1_SAMPLING], 1
    if config.num_frames <= config.chunk_frames:
        return [k for k in given if k in STAGE2_SAMPLING], 2
    return [], 0
