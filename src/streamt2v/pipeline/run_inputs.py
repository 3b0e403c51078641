"""A run's input files read once, with the chunk plan they make: what :func:`~streamt2v.pipeline.generate.
generate` streams from, and a resume that starts over (no chunk finished) as well. The plan needs the run's
chunk sizes, which may be the model's to say (a hub id's, once it is loaded): :meth:`RunInputs.planned`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from streamt2v.io.video import read_image, read_video
from streamt2v.pipeline.chunking import ChunkSpec, plan_chunks

if TYPE_CHECKING:
    from streamt2v.pipeline.generate import GenerateConfig
    from streamt2v.pipeline.stream_config import StreamConfig


@dataclass(frozen=True)
class RunInputs:
    """The ``--init-video`` (and its frame rate), ``--init-image`` and ``--anchor`` of a run, each None when
    not given, and the chunk plan of its length after the frames they give (None until it is planned)."""

    init_video: torch.Tensor | None
    init_fps: float | None
    init_image: torch.Tensor | None
    anchor: torch.Tensor | None
    prefix_frames: int  # the frames given before the first sampled chunk: the input video's, or the image
    plan: list[ChunkSpec] | None = None

    @property
    def streams(self) -> bool:
        """Whether any chunk is a streaming one (stage 2): only those take the APM anchor."""
        if self.plan is None:
            raise ValueError("the run's chunks are not planned yet (RunInputs.planned)")
        return any(spec.stage == 2 for spec in self.plan)

    def planned(self, stream: StreamConfig) -> RunInputs:
        """These inputs with the chunk plan of ``stream`` (its chunk sizes resolved) after the frames given."""
        plan = plan_chunks(
            stream.num_frames,
            chunk_frames=stream.chunk_frames,
            cond_frames=stream.cond_frames,
            prefix_frames=self.prefix_frames,
        )
        return replace(self, plan=plan)


def read_run_inputs(cfg: GenerateConfig, *, plan: bool = True) -> RunInputs:
    """``cfg``'s input files read (checked before by :func:`~streamt2v.pipeline.preflight.check_inputs`) and,
    with ``plan``, the chunk plan of ``cfg.stream`` (resolved) after them."""
    init_video, init_fps = read_video(cfg.init_video) if cfg.init_video else (None, None)
    init_image = read_image(cfg.init_image) if cfg.init_image else None
    anchor = read_image(cfg.anchor) if cfg.anchor else None
    prefix = init_video.shape[2] if init_video is not None else int(init_image is not None)
    inputs = RunInputs(init_video, init_fps, init_image, anchor, prefix)
    return inputs.planned(cfg.stream) if plan else inputs
