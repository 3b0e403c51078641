"""A run's input files read once, with the chunk plan they make: what :func:`~streamt2v.pipeline.generate.
generate` streams from, and a resume that starts over (no chunk finished) as well."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from streamt2v.io.video import read_image, read_video
from streamt2v.pipeline.chunking import ChunkSpec, plan_chunks

if TYPE_CHECKING:
    from streamt2v.pipeline.generate import GenerateConfig


@dataclass(frozen=True)
class RunInputs:
    """The ``--init-video`` (and its frame rate), ``--init-image`` and ``--anchor`` of a run, each None when
    not given, and the chunk plan of its length after the frames they give."""

    init_video: torch.Tensor | None
    init_fps: float | None
    init_image: torch.Tensor | None
    anchor: torch.Tensor | None
    prefix_frames: int  # the frames given before the first sampled chunk: the input video's, or the image
    plan: list[ChunkSpec]

    @property
    def streams(self) -> bool:
        """Whether any chunk is a streaming one (stage 2): only those take the APM anchor."""
        return any(spec.stage == 2 for spec in self.plan)


def read_run_inputs(cfg: GenerateConfig) -> RunInputs:
    """``cfg``'s input files read (checked before by :func:`~streamt2v.pipeline.preflight.check_inputs`) and the
    chunk plan of ``cfg.stream`` after them."""
    init_video, init_fps = read_video(cfg.init_video) if cfg.init_video else (None, None)
    init_image = read_image(cfg.init_image) if cfg.init_image else None
    anchor = read_image(cfg.anchor) if cfg.anchor else None
    prefix = init_video.shape[2] if init_video is not None else int(init_image is not None)
    plan = plan_chunks(
        cfg.stream.num_frames,
        chunk_frames=cfg.stream.chunk_frames,
        cond_frames=cfg.stream.cond_frames,
        prefix_frames=prefix,
    )
    return RunInputs(init_video, init_fps, init_image, anchor, prefix, plan)
