"""Frame rates: the ones a video may be written at (:func:`check_fps`; a GIF's limit, :func:`check_gif_fps`)
and the one a video file has when read: its container's rate (:func:`stream_frame_rate`), a GIF's from its
frame delays (:func:`delays_frame_rate`), and a variable-rate recording's mean where its container states
only a nominal rate (:func:`has_nominal_rate`, :func:`variable_rate_mean`), put together by
:func:`video_frame_rate` for decoded frames and read packets alike.

Apart from the frames themselves (:mod:`streamt2v.io.decoding`, :mod:`streamt2v.io.video`) because the
training data reads a file's rate from its packets without decoding it (:mod:`streamt2v.train.video_probe`),
and the output checks run before any frame exists (:mod:`streamt2v.pipeline.preflight`); numpy only, no
torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamt2v.typed_values import as_bool, shown_value

MIN_FPS, MAX_FPS = 0.01, 1000.0
#: The model's native frame rate: what a file that states none, a still image or a folder of frames is
#: read at.
DEFAULT_FPS = 8


def is_still_image(container: Any) -> bool:
    """Whether a PyAV container is an image file (PNG, JPEG, WebP, ...: FFmpeg's ``*_pipe`` and ``image2``
    demuxers), whose frame rate FFmpeg makes up (25 fps): it is read at :data:`DEFAULT_FPS`, as a folder of
    images is. An animated PNG (``apng``) states its own."""
    name = container.format.name.split(",")[0]
    return name == "image2" or name.endswith("_pipe")


def fps_number(fps: object, what: str = "fps") -> float:
    """``fps`` as a float if it is a number (raises naming it otherwise), in any range. Text and booleans
    are refused, numpy's too: ``float('8')`` and ``float(True)`` would pass, and be stored in a run's
    config.json as text, or fail to be (``np.True_`` is no JSON)."""
    if isinstance(fps, (str, bytes)) or as_bool(fps) is not None:
        raise ValueError(f"{what} must be a number, got {shown_value(fps)}")
    try:
        return float(fps)  # type: ignore[arg-type]
    except OverflowError:  # an int of hundreds of digits
        raise ValueError(
            f"{what} must be a finite number between {MIN_FPS:g} and {MAX_FPS:g}, got {shown_value(fps)}"
        ) from None
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {shown_value(fps)}") from None


def stored_fps(fps: object) -> object:
    """An fps a run's config.json holds, as the version that wrote it stored it: text (``"8"``, stored as given
    until text was refused) read as the number the run went at; anything else as it is, checked on resume."""
    if isinstance(fps, str):
        try:
            return float(fps)
        except ValueError:
            return fps
    return fps


def check_fps(fps: float, what: str = "fps") -> float:
    """``fps`` as a float, if it is a finite number in ``[MIN_FPS, MAX_FPS]`` (:func:`fps_number`; raises
    naming it otherwise)."""
    value = fps_number(fps, what)
    if not math.isfinite(value) or not MIN_FPS <= value <= MAX_FPS:
        raise ValueError(
            f"{what} must be a finite number between {MIN_FPS:g} and {MAX_FPS:g}, got {shown_value(fps)}"
        )
    return value


# GIF frame delays are whole centiseconds, and players (browsers, FFmpeg) show a delay under 2 cs as 10 cs
MAX_GIF_FPS = 50.0


def check_gif_fps(fps: float, what: str = "fps") -> float:
    """``fps`` if a GIF can play at it (:func:`check_fps`, and at most :data:`MAX_GIF_FPS`)."""
    value = check_fps(fps, what)
    if value > MAX_GIF_FPS:
        raise ValueError(
            f"{what} {fps!r} is too high for a GIF: its frame delays are whole hundredths of a second and "
            f"players show those under 2 as 10, so a GIF plays at most {MAX_GIF_FPS:g} fps; write a video "
            f"(.mp4), or a GIF at {MAX_GIF_FPS:g} fps or less"
        )
    return value


def stream_frame_rate(stream: Any) -> float:
    """A PyAV video stream's frame rate: its average, else FFmpeg's guess, else its base rate, else
    :data:`DEFAULT_FPS` where the file gives none."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else float(DEFAULT_FPS)


def video_frame_rate(
    stream_rate: float | None,
    nominal: bool,
    times: Sequence[float] | None,
    ends: Sequence[float] = (),
    tick: float = 0.0,
) -> float | None:
    """The frame rate a video file is read at, from its first video stream and its first frames' (or
    packets') start ``times`` in seconds (None where some are unknown), ``ends`` (where each one's display
    ends, where known) and ``tick`` (the timestamps' unit). ``stream_rate`` (:func:`stream_frame_rate`) is
    None for a GIF, which states only each frame's delay: its rate is then its delays'
    (:func:`delays_frame_rate`), None where its frames span no time (the caller reads it at
    :data:`DEFAULT_FPS`). Otherwise the stream's rate, unless it is only nominal (``nominal``:
    :func:`has_nominal_rate`) and the frames are unevenly spaced: their mean rate (:func:`variable_rate_mean`)."""
    if stream_rate is None:
        return delays_frame_rate(times, ends) if times else None
    if nominal and times:
        return variable_rate_mean(times, tick) or stream_rate
    return stream_rate


def delays_frame_rate(times: Sequence[float], ends: Sequence[float]) -> float | None:
    """The frame rate of a GIF's frames, shown from ``times`` (seconds), a frame's end in ``ends`` where
    known: their intervals' count over the time they span (the mean of the delays between frame starts);
    where those differ, by the centisecond a writer rounds frame k's start ``k * 100 / fps`` to, the whole
    number nearest that mean if the frames start where it puts them (a GIF written at 8 fps, frames 13 and
    12 cs apart, reads 8 whatever its length, not 7.97 at 11 frames). The last frame's own delay counts only
    in a GIF of one frame: GIFs often hold their last frame (a pause before the loop; FFmpeg's muxer gives
    it the rounding left over), which says nothing of the rate. None where the frames span no time."""
    start = times[0] if times else 0.0
    offsets = [t - start for t in times[1:]]  # where frames 1, 2, ... start
    if len(times) == 1 and len(ends) == 1:
        offsets = [ends[0] - start]  # where a frame after the only one would start
    cs = [round(offset * 100, 6) for offset in offsets]  # float seconds of whole centiseconds
    if not cs or not cs[-1] > 0:
        return None
    mean = len(cs) * 100 / cs[-1]
    whole = round(mean)
    uneven = len({b - a for a, b in zip([0.0, *cs], cs)}) > 1
    if uneven and whole > 0 and all(abs(k * 100 / whole - c) <= 0.5 for k, c in enumerate(cs, start=1)):
        return float(whole)
    return mean


def has_nominal_rate(container: Any) -> bool:
    """Whether a PyAV container's frame rate may not be its frames' mean rate where they are unevenly spaced
    (:func:`variable_rate_mean` is then used): Matroska and WebM store no average, only a default frame
    duration, so FFmpeg reads a variable-rate phone or screen recording's 11 fps as 25; an MP4's (MOV's)
    rate is its frames' count over its duration, which is the span of its decode timestamps, and with
    B-frames those of a variable rate are not its frames' times shifted (x264: 9.7 fps for frames 7.9 a
    second apart on average, 13.9 for 10.7)."""
    names = container.format.name.split(",")
    return names[0].startswith("matroska") or "mov" in names


def variable_rate_mean(times: Sequence[float], tick: float = 0.0) -> float | None:
    """The mean rate of frames shown at ``times`` (seconds; ``tick`` their unit) where they are unevenly
    spaced (:func:`uneven_steps`), the rate to use where the container's is nominal; None where they are
    evenly spaced or the mean is out of range."""
    if uneven_steps(list(times), tick) is None:
        return None
    mean = (len(times) - 1) / (max(times) - min(times))
    return mean if MIN_FPS <= mean <= MAX_FPS else None


def uneven_steps(times: list[float], tick: float = 0.0) -> tuple[float, float] | None:
    """The shortest and longest interval (seconds) between frames shown at ``times`` where they are unevenly
    spaced (a variable frame rate), else None: where intervals differ by more than a quarter of their
    median, and by more than one ``tick`` (the timestamps' unit, seconds) where frames are two or more
    apart: a constant rate's frame times are rounded to it (a GIF's to centiseconds: its 24 fps frames
    are 4 or 5 cs apart)."""
    steps = np.diff(np.sort(np.asarray(times)))
    if len(steps) < 2 or not np.all(steps > 0):
        return None
    median = float(np.median(steps))
    rounding = tick * (1 + 1e-6) if 2 * tick <= median * (1 + 1e-6) else 0.0
    if np.max(np.abs(steps - median)) <= 0.25 * median + rounding:
        return None
    return float(steps.min()), float(steps.max())
