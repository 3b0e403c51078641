"""What a training set needs to know of a video file before it draws samples from it, read cheaply: its
frame count (from the container's packets, read, not decoded, where the container counts its frames), its
frame rate (a GIF's from its delays) and the timestamps a sample seeks by (:func:`probe_video_file`). Nothing
is kept here: a dataset keeps what it probed (:class:`~streamt2v.train.data.VideoFolderDataset`)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from streamt2v.io.decoding import decode_error_reason, decode_frames, no_video_stream
from streamt2v.io.frame_rates import DEFAULT_FPS, has_nominal_rate, stream_frame_rate, video_frame_rate
from streamt2v.io.frame_seek import FrameTimes, frame_times
from streamt2v.microworld.dataset import ClipSpec


def decode_video(path: Path, max_frames: int | None = None) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` frames of ``path`` (the first ``max_frames`` if given)."""
    return decode_frames(path, max_frames=max_frames)[0]


# Packets read past a sample's reach: B-frames store a frame's packet up to a few after later frames'.
SEEK_MARGIN = 32


class VideoProbe(NamedTuple):
    """What :func:`probe_video_file` learns of a video: ``frames`` (how many FFmpeg decodes where the
    container counts them, else at most ``need``), ``fps``, ``times``: the timestamps of its first ``reach``
    frames (fewer in a shorter video) where they name the frames, for a sample to seek to its clip; None
    where they do not (the sample then decodes from the start, as far as ``reach``), and ``dropped``: the
    frames the container counts that FFmpeg does not decode (an edit list's), as far as they were counted;
    ``side``: the shorter side of its frames in pixels (0 where the container does not say)."""

    frames: int
    fps: float
    times: FrameTimes | None
    dropped: int = 0
    side: int = 0


def probe_video_file(path: Path, need: int, reach: int) -> VideoProbe:
    """What a sample that draws from the first ``reach`` frames needs to know of a video, and enough to
    tell whether it gets a clip of ``need``. Where the container counts its frames, the count, once the
    file is seen to hold the packets of the first ``reach`` (read, not decoded), less the packets FFmpeg
    is told to drop (an mp4 edit list that cuts the start or the end, as ``ffmpeg -ss ... -c copy`` writes:
    the container lists 60 frames, 57 decode): those are counted as far as the packets are read, which is
    the whole file where it has fewer than ``reach + SEEK_MARGIN`` frames to decode, so a count near
    ``need`` is exact; past that, the frames a sample reaches are there whatever the file drops later. A
    file that ends before them (a copy or download cut short, whose index at the start still lists every
    frame) is decoded as a sample would be, and where that fails the error names the file and the
    shortfall. Without a count (WebM, MKV, whose demuxers drop a cut-off last packet) the first ``need``
    frames are decoded, and the packets of the first ``reach`` are read (not decoded) to count them. The
    packets' timestamps, read either way (up to ``SEEK_MARGIN`` frames further), give ``times``
    (:func:`~streamt2v.io.frame_seek.frame_times`), and a GIF's rate (:func:`packets_frame_rate`)."""
    import av

    if path.is_file() and path.stat().st_size == 0:
        decode_video(path)  # refused there, saying the file is empty
    stamps: list[int | None] = []  # of the packets that decode to a frame, in file order
    durations: list[int | None] = []  # theirs (a GIF's frame delays)
    kept = dropped = 0  # packets read that decode to a frame; that the decoder is told to drop
    unreadable = False  # a read past what the check needs failed

    def read_packets(packets: Iterator[Any], upto: int) -> None:
        """Read (not decode) ``packets`` until ``kept`` reaches ``upto`` or they end."""
        nonlocal kept, dropped
        for packet in packets:
            if packet.size == 0:  # the end
                continue
            if packet.is_discard:  # outside an edit list: decoded for the frames after it, not shown
                dropped += 1
                continue
            kept += 1
            stamps.append(packet.pts)
            durations.append(packet.duration)
            if kept >= upto:
                return

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise no_video_stream(path, container)
            stream = container.streams.video[0]
            listed = int(stream.frames or 0)
            want = min(listed, reach)
            scan = min(listed, reach + SEEK_MARGIN) if listed > 0 else reach + SEEK_MARGIN
            demuxed, ended = container.demux(stream), False
            if want > 0:
                read_packets(demuxed, want)
            try:  # past what the check needs (a file may end there, cut short): for the timestamps alone
                if kept < scan:
                    read_packets(demuxed, scan)
                ended = kept < scan
            except (av.error.FFmpegError, OSError):
                unreadable = True
            fps, step = packets_frame_rate(stream, stamps, durations)
            side = min(stream.codec_context.width or 0, stream.codec_context.height or 0)
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(f"cannot read video {str(path)!r}: {decode_error_reason(err)}") from err
    times = None if unreadable else frame_times(stamps, reach, step)
    if listed == 0:
        n, dropped = len(decode_video(path, max_frames=need)), 0
        if n < min(kept, need):  # packets that decode to no frame: a count of packets is no count
            times = None
    elif kept >= want:
        n = listed - dropped  # exact where every packet was read (fewer than reach + SEEK_MARGIN decode)
        if ended and kept + dropped < listed:  # fewer packets than the container counts (past what a
            times = None  # sample reaches): no count
    elif kept + dropped >= listed:  # every packet is there: an edit list drops frames the sample needs
        n = kept
    else:
        try:
            n, dropped = len(decode_video(path, max_frames=reach)), 0
        except ValueError as err:  # the index lists frames the file does not hold
            reason = decode_error_reason(err.__cause__) if err.__cause__ is not None else str(err)
            raise ValueError(
                f"cannot read video {str(path)!r}: {reason} (its container lists {listed} frames, the "
                f"file holds {kept + dropped}: cut short?)"
            ) from None
        times = None
    return VideoProbe(n, fps, times, dropped, side)


def packets_frame_rate(
    stream: Any, stamps: list[int | None], durations: list[int | None]
) -> tuple[float, Fraction | None]:
    """A PyAV video stream's frame rate, as :func:`~streamt2v.io.decoding.decode_frames` reports it, and for a
    GIF the step between its frames' timestamps at that rate (None otherwise). ``stamps`` and
    ``durations``: the timestamps and durations (stream time base) of its first packets, in file order. A
    GIF states no rate, only each frame's delay, and FFmpeg's rate for it is a guess from the first delays
    (a 30 fps GIF's 3, 4, 3 cs read 33.3 fps, an 8 fps GIF's 13, 12, 13 cs 7.69 or 8.33): its rate is the
    one :func:`~streamt2v.io.frame_rates.delays_frame_rate` gives from those packets' times and ends, as
    ``decode_frames`` gives it from the same frames' (the same for a GIF that ends there, and for any
    whose frames keep their spacing), :data:`DEFAULT_FPS` where they give none. A Matroska/WebM/MP4/MOV rate
    is, as there, the packets' mean rate where they are unevenly spaced (both:
    :func:`~streamt2v.io.frame_rates.video_frame_rate`)."""
    gif = stream.codec_context.name == "gif"
    times, ends, tick = None, [], 0.0
    if stamps and None not in stamps and stream.time_base:
        tick = float(stream.time_base)
        times = [t * tick for t in stamps]
        ends = [(t + d) * tick for t, d in zip(stamps, durations) if d]
    fps = video_frame_rate(
        None if gif else stream_frame_rate(stream), has_nominal_rate(stream.container), times, ends, tick
    )
    if fps is None:
        return float(DEFAULT_FPS), None
    step = (1 / (Fraction(fps) * stream.time_base)).limit_denominator(1000) if gif else None
    return fps, step


def frame_rate(path: Path) -> float:
    """A video's frame rate (:data:`DEFAULT_FPS` where the file gives none), from its container, and for a GIF
    or a Matroska/WebM/MP4/MOV file from the packets a sample of the default :class:`ClipSpec` can reach
    (:func:`probe_video_file`). A checked dataset knows its videos' rates already
    (:meth:`~streamt2v.train.data.VideoFolderDataset.frame_rate`)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            from_packets = stream.codec_context.name == "gif" or has_nominal_rate(container)
            fps = stream_frame_rate(stream)
    except (av.error.FFmpegError, OSError, IndexError) as err:
        raise ValueError(f"cannot read video {str(path)!r}: {decode_error_reason(err)}") from err
    if from_packets:  # a GIF's rate is that of its delays, a Matroska/MP4 one's not its frames' mean
        spec = ClipSpec()
        fps = probe_video_file(path, 1, spec.max_start + spec.num_frames).fps
    return fps
