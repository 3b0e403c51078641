"""A run's input files read once, with the chunk plan they make: what :func:`~streamt2v.pipeline.generate.
generate` streams from, and a resume that starts over (no chunk finished) as well; and the fingerprint of its
model folder, which tells a resume that a folder given as the moved model's new place holds the same weights."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from streamt2v.io.folders import home_path
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


# The files a model folder's weights are in (diffusers', transformers' and torch's), and how much of each the
# fingerprint reads at its start, middle and end.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_SAMPLE = 1 << 20


def local_model_folder(spec: str | os.PathLike | None) -> Path | None:
    """The local folder a model spec loads (the shipped model's for None or ``"microworld"``); None for a hub
    id, a preset or a folder that is not there."""
    from streamt2v.pipeline.model_loading import model_folder_spec

    folder = home_path(model_folder_spec(spec))
    return folder.resolve() if folder.is_dir() else None


def model_fingerprint(folder: Path) -> str | None:
    """A sha256 telling the weights in model ``folder`` from others' without reading them whole (a 1.7B
    model's are gigabytes): each weight file's path in the folder and size, and its first, middle and last
    MiB (a safetensors file's header, which names every tensor, and values of several of them). None for a
    folder holding no weights."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix in _WEIGHT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)  # caches, temporaries
        and p.is_file()
    )
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(file, "rb") as fh:
            for start in sorted({0, max(size // 2 - _SAMPLE // 2, 0), max(size - _SAMPLE, 0)}):
                fh.seek(start)
                digest.update(fh.read(_SAMPLE))
    return digest.hexdigest()
