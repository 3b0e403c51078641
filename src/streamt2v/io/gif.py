"""GIF encoding, a frame at a time: every frame with its own palette and its exact delay, so a GIF written
a chunk at a time (the streaming writer's preview) is byte for byte the GIF written at once."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from streamt2v.io.frame_rates import check_gif_fps

TRAILER = b";"  # what ends a GIF


def gif_delays(count: int, fps: float, first: int = 0) -> list[int]:
    """The delays (centiseconds) of ``count`` GIF frames at ``fps``: frame k starts at ``round(k * 100 / fps)``
    cs, so the delays differ by at most 1 cs (8 fps: 13, 12, 13, 12, ...) and the GIF plays at ``fps`` on
    average (one delay for all frames, 12 or 13 cs, plays at 8.33 or 7.69 fps). ``first``: the index of the
    first of them (a GIF written a chunk at a time)."""
    step = 100 / Fraction(check_gif_fps(fps))  # exact: float fps are binary fractions
    starts = [math.floor(k * step + Fraction(1, 2)) for k in range(first, first + count + 1)]
    return [b - a for a, b in zip(starts, starts[1:])]


def gif_frames(frames: np.ndarray, fps: float, first: int = 0) -> Iterator[bytes]:
    """The bytes of each of ``frames`` (uint8 ``(T, H, W, 3)``) in a GIF, each with its own adaptive palette
    and its delay from :func:`gif_delays`, the GIF's header (looping) before frame 0; ``first``: the index of
    ``frames[0]`` in the GIF. The GIF is these bytes for all its frames, then :data:`TRAILER`.

    Written a frame at a time with Pillow's GIF frame encoder: ``Image.save(save_all=True)`` merges
    identical consecutive frames into one (summing their delays), which no option turns off, and a video
    read back must have the frames written."""
    from PIL import GifImagePlugin, Image

    for k, (frame, delay) in enumerate(zip(frames, gif_delays(len(frames), fps, first)), start=first):
        image = Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE)
        data = b""
        if k == 0:  # the first frame's palette is the global one
            header, _ = GifImagePlugin.getheader(image, None, {"loop": 0})
            data = b"".join(header)
        # Pillow takes milliseconds and writes whole centiseconds
        yield data + b"".join(GifImagePlugin.getdata(image, duration=10 * delay, include_color_table=k > 0))


def encode_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write the GIF of ``frames`` (:func:`gif_frames`) to ``path``, a frame at a time (the bytes of the whole
    GIF are never held)."""
    with open(path, "wb") as fp:
        for data in gif_frames(frames, fps):
            fp.write(data)
        fp.write(TRAILER)


def append_gif_frames(body: Path, frames: np.ndarray, fps: float, first: int) -> None:
    """Append ``frames`` to ``body``, a GIF without its trailer holding ``first`` frames (none: a new file)."""
    with open(body, "ab" if first else "wb") as fp:
        for data in gif_frames(frames, fps, first):
            fp.write(data)


def finish_gif_copy(body: Path, path: Path) -> None:
    """``path``: a copy of ``body`` (:func:`append_gif_frames`' GIF without its trailer) with the trailer,
    copied by the kernel without passing through this process (a long GIF's bytes are not held)."""
    shutil.copyfile(body, path)
    with open(path, "ab") as fp:
        fp.write(TRAILER)
