"""Stage 3 written to its output files as it is decoded, a slice of frames at a time: what ``streamt2v enhance``
and ``generate --enhance`` hold at the end is the latents and a slice, not the whole output (1200 frames at
720x1280: 3.3 GB of uint8 frames)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import torch

from streamt2v.io.streaming_writer import VideoFileWriter
from streamt2v.pipeline.enhance import enhance_video
from streamt2v.pipeline.enhance_config import EnhanceConfig, settings_given_as_keywords
from streamt2v.pipeline.prompts import PromptSchedule
from streamt2v.wording import counted


def enhance_to_files(
    video: torch.Tensor,
    prompt: str | PromptSchedule,
    refiner: Any,
    config: EnhanceConfig | None,
    paths: Sequence[str | os.PathLike],
    fps: float,
    *,
    locks: Sequence[IO[str] | None] | None = None,
    overwrite: bool = False,
    before_replace: Callable[[Path, Path], None] | None = None,
    **kwargs: Any,
) -> list[VideoFileWriter]:
    """:func:`~streamt2v.pipeline.enhance.enhance_video` of a one-video batch written to each of ``paths`` (any
    :func:`~streamt2v.io.video.write_video` output) at ``fps``, as it is decoded: the same files, byte for
    byte, as ``write_video`` of the video returned. ``locks``: the outputs' locks, held by the caller (else
    each writer takes its own); ``overwrite`` as ``write_video``'s; ``before_replace``: each writer's
    (:class:`~streamt2v.io.streaming_writer.VideoFileWriter`); ``kwargs``: ``enhance_video``'s (not
    ``as_uint8``, ``on_frames``).

    Each output is checked (and locked) before any work, written under a temporary name and renamed once
    complete; on an error or an interrupt every temporary is removed, so no output is left half written (one
    already renamed stays). Returns the finished writers (their ``path``, ``num_frames`` and ``frame_size``).
    """
    takes = set(inspect.signature(enhance_video).parameters) - {"settings", "as_uint8", "on_frames"}
    settings = {name: value for name, value in kwargs.items() if name not in takes}
    if settings:  # named as this function's (enhance_video would name itself)
        own = [p for p in inspect.signature(enhance_to_files).parameters if p != "kwargs"]
        raise settings_given_as_keywords(settings, config, [*own, *takes], caller="enhance_to_files")
    if video.ndim == 5 and video.shape[0] != 1:
        raise ValueError(f"only one video is written to files, got a batch of {video.shape[0]}")
    # before any work: no output would make the whole enhancement for nothing, one given twice would be
    # refused as in use by this very process
    if not paths:
        raise ValueError("paths is empty: give the output file(s) to write")
    resolved = [Path(p).resolve() for p in paths]
    twice = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if twice:
        raise ValueError(f"paths names {', '.join(map(repr, twice))} more than once")
    locks = [None] * len(paths) if locks is None else list(locks)
    if len(locks) != len(paths):
        raise ValueError(f"{counted(len(paths), 'output')} but {counted(len(locks), 'lock')}")
    writers: list[VideoFileWriter] = []

    def write(part: Any) -> None:  # uint8 (1, n, H, W, 3)
        for writer in writers:
            writer.write(part[0])

    try:
        for path, lock in zip(paths, locks):
            writers.append(
                VideoFileWriter(path, fps, overwrite=overwrite, held_lock=lock, before_replace=before_replace)
            )
        enhance_video(video, prompt, refiner, config, as_uint8=True, on_frames=write, **kwargs)
        for writer in writers:
            writer.finish()
    except BaseException:
        for writer in writers:  # their temporaries removed (a finished one's output stays)
            writer.abort()
        raise
    return writers
