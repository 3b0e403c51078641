"""Decoding video files with PyAV: their frames as upright ``uint8 (H, W, 3)`` RGB (phone videos turned as
their display matrix says), their frame rate (:mod:`streamt2v.io.frame_rates`), and errors that name the file
and what is wrong with it (empty, damaged, cut short, an animated WebP, no video stream). Numpy only: the
float video the library works on is :func:`streamt2v.io.video.read_video`'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from streamt2v.io.damage import damage_hint, shortfall_hint
from streamt2v.io.frame_rates import (
    DEFAULT_FPS,
    has_nominal_rate,
    is_still_image,
    stream_frame_rate,
    uneven_steps,
    video_frame_rate,
)

logger = logging.getLogger(__name__)


def decode_frames(
    path: str | os.PathLike, *, max_frames: int | None = None, warn_variable_rate: bool = False
) -> tuple[np.ndarray, float]:
    """``uint8 (T, H, W, 3)`` frames of a video file (the first ``max_frames`` if given), turned upright as
    its display matrix says (phone videos), and its frame rate (:data:`~streamt2v.io.frame_rates.DEFAULT_FPS`
    where the file gives none); a ``ValueError`` naming the file when it cannot be read.
    ``warn_variable_rate``: log a warning when the frames are unevenly spaced in time (a phone's variable
    frame rate), since they are then used as if evenly spaced at the average rate. A file that decodes to
    fewer frames than its container lists (its last frames cut off or damaged:
    :func:`~streamt2v.io.damage.shortfall_hint`) gives the frames that decode, with a warning saying so."""
    frames, fps = decode_frame_list(path, max_frames=max_frames, warn_variable_rate=warn_variable_rate)
    return np.stack(frames), fps


def decode_frame_list(
    path: str | os.PathLike, *, max_frames: int | None = None, warn_variable_rate: bool = False
) -> tuple[list[np.ndarray], float]:
    """:func:`decode_frames`' frames as a list of ``(H, W, 3)`` arrays."""
    path = Path(path)
    arrays: list[np.ndarray] = []
    times: list[float] = []
    ends: list[float] = []  # where each frame's display ends (its time plus its duration), where known
    rate: float | None = None
    nominal = False
    tick = 0.0  # the timestamps' unit (seconds)
    to_rgb = RgbConverter()
    for stream_rate, stream_nominal, frame in _decoded(path, max_frames):
        rate, nominal = stream_rate, stream_nominal
        arrays.append(to_rgb(frame))
        if frame.time is not None:
            times.append(frame.time)
            tick = float(frame.time_base or 0)
            if getattr(frame, "duration", None):  # PyAV 14 on
                ends.append(frame.time + frame.duration * tick)
    check_decoded_frames(path, arrays)
    if max_frames is None or len(arrays) < max_frames:  # decoded to the end: as many as the container lists?
        hint = shortfall_hint(path, len(arrays))
        if hint:
            logger.warning("video %r decodes to %d frames%s", str(path), len(arrays), hint)
    timed = len(times) == len(arrays)
    fps = video_frame_rate(rate, nominal, times if timed else None, ends, tick) or float(DEFAULT_FPS)
    spread = uneven_steps(times, tick) if timed else None
    if warn_variable_rate and spread is not None:
        _warn_variable_rate(path, spread, fps)
    return arrays, fps


class DecodedFrames:
    """The first ``max_frames`` frames of a video file, decoded but converted to RGB only when asked for:
    ``len()``, ``rgb(i)`` → upright ``uint8 (H, W, 3)``. A training sample takes 16 frames from the first
    ~216; converting and stacking them all took 4x the decoding (720p: 2.2 s against 0.5 s)."""

    def __init__(self, path: str | os.PathLike, max_frames: int) -> None:
        self.path = Path(path)
        self._frames = [frame for _, _, frame in _decoded(self.path, max_frames)]
        if not self._frames:
            check_decoded_frames(self.path, [])
        self._size = (self._frames[0].height, self._frames[0].width) if self._frames else (0, 0)
        self._to_rgb = RgbConverter()

    def __len__(self) -> int:
        return len(self._frames)

    def rgb(self, index: int) -> np.ndarray:
        frame = self._frames[index]
        check_frame_size(self.path, self._size, frame, index)
        return self._to_rgb(frame)


def check_frame_size(path: Path, size: tuple[int, int], frame: Any, index: int) -> None:
    """A ValueError naming ``path`` when decoded ``frame`` (number ``index``) is not ``size`` (H, W)."""
    if (frame.height, frame.width) != size:
        raise ValueError(
            f"video {str(path)!r} changes frame size mid-stream: {size} to {(frame.height, frame.width)} "
            f"at frame {index}"
        )


class RgbConverter:
    """Decoded PyAV frames → upright ``uint8 (H, W, 3)``, through one swscale context: ``frame.to_ndarray``
    sets up a new one per frame, which at 64×64 took 10x the conversion itself (0.7 ms against 0.07); the
    pixels are the same."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()

    def __call__(self, frame: Any) -> np.ndarray:
        rgb = self._reformatter.reformat(frame, format="rgb24").to_ndarray()
        return _upright(rgb, frame.rotation)


def _decoded(path: Path, max_frames: int | None) -> Iterator[tuple[float | None, bool, Any]]:
    """``(fps, nominal, frame)`` for each decoded PyAV frame of the first video stream (the first
    ``max_frames``), ``fps`` None for a GIF (:func:`delays_frame_rate`), ``nominal`` where it may be only
    the container's nominal rate (:func:`has_nominal_rate`); a ``ValueError`` naming the file when it cannot
    be read."""
    import av

    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"cannot read video {str(path)!r}: the file is empty (0 bytes)")
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise no_video_stream(path, container)
            stream = container.streams.video[0]
            # A GIF states no rate, only each frame's delay: FFmpeg's rate is a guess from the first ones
            fps = None if stream.codec_context.name == "gif" else stream_frame_rate(stream)
            if is_still_image(container):  # FFmpeg's rate for it is made up
                fps = float(DEFAULT_FPS)
            nominal = has_nominal_rate(container)
            for frame in container.decode(stream):
                count += 1
                yield fps, nominal, frame
                if max_frames is not None and count >= max_frames:
                    break
    except (av.error.FFmpegError, OSError) as err:
        where = f" after frame {count}" if count else ""
        hint = _animated_webp_hint(path) or damage_hint(path) or shortfall_hint(path, count)
        raise ValueError(f"cannot read video {str(path)!r}: {decode_error_reason(err)}{where}{hint}") from err


def _animated_webp_hint(path: Path) -> str:
    """What to do with an animated WebP, which FFmpeg's WebP decoder cannot decode (still ones it can)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return ""
    # VP8X's flags byte (offset 20) has the animation bit; the ANIM chunk may come after an ICC profile
    if head[:4] != b"RIFF" or head[8:16] != b"WEBPVP8X" or len(head) < 21 or not head[20] & 0x02:
        return ""
    return (
        "; it is an animated WebP, which FFmpeg cannot decode: convert it to a GIF or an mp4 first (Pillow: "
        "Image.open(IN).save(OUT.gif, save_all=True))"
    )


def no_video_stream(path: Path, container: Any) -> ValueError:
    """The error for a file FFmpeg opens but finds no video stream in: what it holds instead (audio), or
    what its bytes say is wrong (an MP4 cut short inside its index lists no streams at all)."""
    kinds = sorted({stream.type for stream in container.streams})
    held = f" (only {' and '.join(kinds)})" if kinds else ""
    return ValueError(f"{str(path)!r} contains no video stream{damage_hint(path) or held}")


def check_decoded_frames(path: Path, arrays: list[np.ndarray]) -> None:
    """A ValueError naming ``path`` when it gave no frames or frames of different sizes."""
    if not arrays:
        raise ValueError(f"video {str(path)!r} has no decodable frames{shortfall_hint(path, 0)}")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"video {str(path)!r} changes frame size mid-stream: {sorted(shapes)}")


def decode_error_reason(err: BaseException) -> str:
    """FFmpeg's words without the errno and the repeated file name (``[Errno 1094995529] Invalid data
    found when processing input: 'a.mp4'``), for a message that names the file itself."""
    return getattr(err, "strerror", None) or str(err)


def _warn_variable_rate(path: Path, spread: tuple[float, float], fps: float) -> None:
    logger.warning(
        "video %r has a variable frame rate (frames %.0f-%.0f ms apart): its frames are used as if evenly "
        "spaced at its average %.3g fps, so motion timing can differ from the original; re-encode it at a "
        "constant rate (e.g. ffmpeg -i IN -fps_mode cfr -r %.3g OUT) for exact timing",
        str(path),
        1000 * spread[0],
        1000 * spread[1],
        fps,
        fps,
    )


def _upright(frame: np.ndarray, rotation: float) -> np.ndarray:
    """``frame`` as players show it: phones store portrait video sideways with a display matrix saying how
    far to turn it (PyAV's ``rotation``: degrees counter-clockwise, in quarter turns in practice)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=turns)) if turns else frame
