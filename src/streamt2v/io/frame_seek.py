"""Seeking to frames by their timestamps: a frame far into a video decoded from the keyframe before it
instead of from the start, with the same pixels (a training sample's clip, :mod:`streamt2v.train.data`).

:func:`frame_times` tells from packet timestamps (read, not decoded) whether a video's timestamps name its
frames; :func:`pick_frames` then seeks, and says None wherever seeking cannot be trusted, for the caller to
decode from the start (:class:`~streamt2v.io.decoding.DecodedFrames`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from streamt2v.io.damage import damage_hint
from streamt2v.io.decoding import (
    RgbConverter,
    check_decoded_frames,
    check_frame_size,
    decode_error_reason,
    no_video_stream,
)


@dataclass(frozen=True)
class FrameTimes:
    """Where a video's first ``count`` frames lie in time, evenly spaced: frame ``i`` within a quarter
    step of ``first + i * step`` (stream time base), so a frame's timestamp names its index. What
    :func:`pick_frames` needs to seek to a frame instead of decoding every frame before it; built by
    :func:`frame_times` from the timestamps of packets read, not decoded."""

    first: int
    step: Fraction
    count: int

    def index(self, pts: int | None) -> int | None:
        """The index of the frame at ``pts``; None for a timestamp off the grid or past ``count``."""
        if pts is None:
            return None
        num, den = self.step.numerator, self.step.denominator  # in integers: ~100,000 per probe
        d = (pts - self.first) * den
        k = (2 * d + num) // (2 * num)
        if not 0 <= k < self.count or 4 * abs(d - k * num) > num:
            return None
        return k

    def seek_target(self, index: int) -> int:
        """A timestamp at or after frame ``index``'s and before the next frame's: seeking backward to it
        finds the last keyframe at or before the frame."""
        return math.floor(self.first + index * self.step + self.step / 4)


def frame_times(pts: Iterable[int | None], count: int, step: Fraction | None = None) -> FrameTimes | None:
    """:class:`FrameTimes` of the first ``count`` frames (fewer if there are fewer) from the presentation
    timestamps of a stream's packets in file order (the first ``count`` + a few, since B-frames store a
    frame after later ones), or None where they cannot name frames: a packet without a timestamp, two
    frames at one time, or unevenly spaced frames (a variable frame rate, a dropped frame) — in all of
    these the n-th frame decoded is not the frame at ``first + n * step``.

    The step is the first and last frames' distance over their count, unless ``step`` (stream time base)
    is given and names every frame: a GIF's from the rate of its delays
    (:func:`~streamt2v.io.frame_rates.delays_frame_rate`). A GIF's times are whole centiseconds, frame ``k`` of a
    30 fps GIF at ``round(k * 100 / 30)`` cs (0, 3, 7, 10, ...): within half a centisecond of its rate's
    grid, and so of the step's quarter up to 50 fps, where an estimate from two of those rounded times can
    be off by a centisecond (a quarter step is 0.83 cs at 30 fps, 0.5 at 50)."""
    stamps = list(pts)
    if any(p is None for p in stamps):
        return None
    stamps = sorted(stamps)[:count]
    if len(stamps) < 2 or len(set(stamps)) < len(stamps):
        return None
    estimate = Fraction(stamps[-1] - stamps[0], len(stamps) - 1)
    for each in (step, estimate) if step else (estimate,):
        times = FrameTimes(stamps[0], Fraction(each), len(stamps))
        if all(times.index(p) == k for k, p in enumerate(stamps)):
            return times
    return None


# A wanted frame this close after the frames decoded so far is decoded on from there rather than sought.
SEEK_MIN_GAP = 16
# Seeks for one run of frames, each earlier than the last, before it is decoded from the start instead.
SEEK_TRIES = 12


def pick_frames(
    path: str | os.PathLike, indices: Iterable[int], times: FrameTimes
) -> dict[int, np.ndarray] | None:
    """``{i: upright uint8 (H, W, 3)}`` for the frames ``i`` of a video file, the same pixels as decoding
    every frame from the start (:class:`DecodedFrames`) gives, but reached by seeking: frame 0 and the
    wanted frames near it are decoded from the start, a run of frames further on from the keyframe at or
    before its first (PyAV ``container.seek``), picked by their timestamps (``times``, from
    :func:`frame_times`). None where that cannot be trusted, for the caller to decode from the start;
    every frame decoded must have the timestamp of the next index, from frame 0 (an edit list that drops
    a file's first frames shifts every index) and from the keyframe a seek lands on (frames reordered
    without timestamps, as in AVI with B-frames, give them out of order); see :func:`_seek_run` for the
    rest. ``indices`` must be below ``times.count``.

    A GIF is not sought: its one keyframe is its first frame (every other frame is drawn over the one
    before), where every seek lands, and FFmpeg's GIF demuxer, which keeps no index, reads the whole file
    for each seek (55 ms in a 35 MB GIF). Its runs are decoded on from where decoding stopped, picked by
    their timestamps as well: from the start as far as the last frame wanted, not as far as a sample can
    reach."""
    import av

    path = Path(path)
    want = sorted(set(int(i) for i in indices))
    if want and not 0 <= want[0] <= want[-1] < times.count:
        raise ValueError(f"frame indices must be in [0, {times.count}), got {want[0]}..{want[-1]}")
    got: dict[int, Any] = {}
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise no_video_stream(path, container)
            stream = container.streams.video[0]
            gif = stream.codec_context.name == "gif"
            pos, first = 0, None  # pos: the index of the next frame decoded from the start
            for frame in container.decode(stream):
                if times.index(frame.pts) != pos:
                    return None
                if first is None:
                    first = frame
                if pos in want:
                    got[pos] = frame
                pos += 1
                later = [i for i in want if i >= pos]
                if not later or later[0] - pos > SEEK_MIN_GAP:
                    break
            if first is None:
                check_decoded_frames(path, [])
            rest = [i for i in want if i >= pos]
            # runs of consecutive indices, each reached by one seek
            runs: list[list[int]] = []
            for i in rest:
                if runs and i - runs[-1][-1] <= SEEK_MIN_GAP:
                    runs[-1].append(i)
                else:
                    runs.append([i])
            for run in runs:
                frames = _seek_run(container, stream, times, run[0], run[-1], pos if gif else None)
                if frames is None:
                    return None
                got.update((i, frames[i]) for i in run)
                pos = run[-1] + 1
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(
            f"cannot read video {str(path)!r}: {decode_error_reason(err)}{damage_hint(path)}"
        ) from err
    size = (first.height, first.width)
    out, to_rgb = {}, RgbConverter()
    for i in want:
        check_frame_size(path, size, got[i], i)
        out[i] = to_rgb(got[i])
    return out


def _seek_run(
    container: Any, stream: Any, times: FrameTimes, lo: int, hi: int, at: int | None = None
) -> dict[int, Any] | None:
    """The decoded frames ``lo..hi`` (by index) after seeking to the keyframe at or before ``lo``, or
    where ``at`` is given (a GIF, not sought: :func:`pick_frames`), decoded on from frame ``at``, the next
    frame the container gives (those before were decoded from the start). None where seeking cannot be
    trusted, for the caller to decode from the start:

    - the container cannot seek (FFmpeg refuses: no index, a stream it cannot search);
    - the first keyframe decoded lies past ``lo`` even after seeking earlier, to before the packet the
      last seek landed on and at least twice as far back each time (``SEEK_TRIES`` seeks in all, or
      until a seek lands no earlier than the last: at the start of the file). A seek lands past its
      target where an index gives decode times (an H.264 keyframe decoded before the B-frames shown
      ahead of it, as in open GOPs, is found for them: the retry from before its packet finds the
      keyframe before) or where there is no index
      (MPEG-TS: FFmpeg searches packet times and lands on the packet at the target, seldom a keyframe;
      the packets up to the next keyframe's are skipped, not decoded, and stepping back one packet at a
      time would not reach the keyframe before in a long keyframe interval; landing past the last
      keyframe, the stream ends before any keyframe, which is retried likewise). A keyframe's packet
      whose frame is past ``lo`` ends a try before it is decoded;
    - a frame decoded from that keyframe on is not the next index (a timestamp off the grid, frames out
      of order, one missing), or the stream ends first.

    Frames before the first keyframe decoded (leading pictures of an open GOP, which need the frames
    before the seek point) are skipped; from a keyframe on, frames decode as they do from the start."""
    import av

    if at is not None:  # every frame from ``at`` on must be the next index, to ``hi``
        run: dict[int, Any] = {}
        for frame in container.decode(stream):
            if times.index(frame.pts) != at:
                return None
            if at >= lo:
                run[at] = frame
            if at == hi:
                return run
            at += 1
        return None  # the stream ended before frame hi
    target, before = times.seek_target(lo), None  # before: where the last seek landed
    for attempt in range(SEEK_TRIES):
        try:
            container.seek(target, backward=True, any_frame=False, stream=stream)
        except av.error.FFmpegError:
            return None
        out: dict[int, Any] = {}
        landed = None  # the earliest timestamp of the first packet read after the seek
        last = None  # the index of the last frame taken, from the first keyframe on
        keyed = False  # a keyframe's packet read: from there on, packets are decoded
        for packet in container.demux(stream):
            if landed is None and packet.size > 0:
                stamps = [t for t in (packet.pts, packet.dts) if t is not None]
                landed = min(stamps) if stamps else None
            if not keyed and packet.size > 0:
                if not packet.is_keyframe:
                    continue  # before a keyframe (no index: landed mid-interval): as an index seek skips it
                keyed = True
                k = times.index(packet.pts)
                if k is not None and k > lo:
                    break  # its frame is past the target: seek earlier, without decoding up to it
            for frame in packet.decode():
                k = times.index(frame.pts)
                if last is None:
                    if not frame.key_frame:
                        continue
                    if k is None:
                        return None
                    if k > lo:
                        break  # past the target: seek earlier
                elif k != last + 1:
                    return None
                last = k
                if k >= lo:
                    out[k] = frame
                if k == hi:
                    return out
            else:
                continue
            break
        else:
            if last is not None:
                return None  # the stream ended before frame hi
            # no keyframe after where the seek landed (it landed in the last keyframe interval, past the
            # keyframe): seek earlier
        if landed is None or (before is not None and landed >= before):  # no earlier: the file's start
            return None
        before, target = landed, min(landed - 1, math.floor(target - times.step * 2**attempt))
    return None
