"""GIF encoding, a frame at a time: every frame with its own palette and its exact delay, so a GIF written
a chunk at a time (the streaming writer's preview) is byte for byte the GIF written at once."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from streamt2v.io.frame_rates import check_gif_fps


def gif_delays(count: int, fps: float, first: int = 0) -> list[int]:
    """The delays (centiseconds) of ``count`` GIF frames at ``fps``: frame k starts at ``round(k * 100 / fps)``
    cs, so the delays differ by at most 1 cs (8 fps: 13, 12, 13, 12, ...) and the GIF plays at ``fps`` on
    average (one delay for all frames, 12 or 13 cs, plays at 8.33 or 7.69 fps). ``first``: the index of the
    first of them (a GIF written a chunk at a time)."""
    step = 100 / Fraction(check_gif_fps(fps))  # exact: float fps are binary fractions
    starts = [math.floor(k * step + Fraction(1, 2)) for k in range(first, first + count + 1)]
    return [b - a for a, b in zip(starts, starts[1:])]


def encode_gif(path: Path, frames: np.ndarray, fps: float, *, first: int = 0, before: bytes = b"") -> bytes:
    """Every frame, each with its own adaptive palette and its delay from :func:`gif_delays`, looping.

    Written a frame at a time with Pillow's GIF frame encoder: ``Image.save(save_all=True)`` merges
    identical consecutive frames into one (summing their delays), which no option turns off, and a video
    read back must have the frames written.

    Each frame is encoded on its own, so a GIF grows by appending: ``before`` is what an earlier call returned
    (the GIF so far without its trailer), ``first`` the index of ``frames[0]`` in it; the file is ``before``,
    then ``frames``, then the trailer, byte for byte the GIF of all the frames written at once. Returns the
    file's bytes without the trailer, to pass as ``before`` next time."""
    from PIL import GifImagePlugin, Image

    if bool(first) != bool(before):
        raise ValueError(f"a GIF continued from frame {first} needs the bytes written before it (before=)")
    data = bytearray(before)
    for k, (frame, delay) in enumerate(zip(frames, gif_delays(len(frames), fps, first)), start=first):
        image = Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE)
        if k == 0:  # the first frame's palette is the global one
            header, _ = GifImagePlugin.getheader(image, None, {"loop": 0})
            data += b"".join(header)
        # Pillow takes milliseconds and writes whole centiseconds
        data += b"".join(GifImagePlugin.getdata(image, duration=10 * delay, include_color_table=k > 0))
    with open(path, "wb") as fp:
        fp.write(data)
        fp.write(b";")  # the GIF trailer
    return bytes(data)
