"""The incremental writers: :class:`StreamingVideoWriter`, behind ``streamt2v generate`` (paper §4: the video
grows chunk by chunk, a playable preview after each), and :class:`VideoFileWriter`, behind stage 3's output
(``write_video``'s file given its frames a slice at a time, so the whole video is never held).

Every chunk is encoded to its own closed segment; after every :meth:`~StreamingVideoWriter.append` a playable
*preview* file holds all frames so far (the segments remuxed without re-encoding), and
:meth:`~StreamingVideoWriter.finish` renames it to the final path, so the final file never exists
half-written. A writer claims its output (:func:`streamt2v.io.output_paths.claim_output`: the checks, the
output's lock) when it is made, and holds the lock until it finishes or aborts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import torch

from streamt2v.io import locks
from streamt2v.io.gif import TRAILER, append_gif_frames, finish_gif_copy, gif_frames
from streamt2v.io.output_paths import (
    claim_output,
    lock_preview,
    naming_write_errors,
    output_kind,
    preview_path_for,
    replace_dir,
    temp_sibling,
    temp_sibling_dir,
)
from streamt2v.io.video import (
    BITEXACT,
    DEFAULT_CRF,
    add_video_stream,
    check_crf,
    encode_frames,
    encode_video,
    to_uint8_frames,
    video_frames,
    vp9_crf,
    write_pngs,
)
from streamt2v.wording import counted


def _segment_delay(seg: Path) -> int:
    """How far ``seg``'s decode timestamps start before its presentation timestamps (time-base units).

    x264 shifts the dts of a segment back by its B-frame reorder delay, but only when the segment actually
    uses B-frames: a segment of 1-2 frames has none (delay 0), a longer one 2 frames' worth. Segments with
    different delays cannot be concatenated with one pts/dts offset (the dts would run backwards)."""
    import av

    with av.open(str(seg)) as inp:
        istream = inp.streams.video[0]
        stamps = [(p.pts, p.dts) for p in inp.demux(istream) if p.dts is not None and p.pts is not None]
    if not stamps:
        return 0
    return max(0, min(p for p, _ in stamps) - min(d for _, d in stamps))


def _copy_packets(container, ostream, source: Path, offset: int, dts_shift: int) -> tuple[Any, int]:
    """Mux ``source``'s video packets into ``container`` (its stream made from ``source``'s when
    ``ostream`` is None), their pts shifted by ``offset`` and their dts by ``dts_shift`` (Matroska stores
    no dts: its demuxer guesses some, None for the first, so the muxer sets its own). Returns the stream
    and where the packets end (the largest pts + duration, at least ``offset``)."""
    import av

    matroska = "matroska" in container.format.name
    with av.open(str(source)) as inp:
        istream = inp.streams.video[0]
        if ostream is None:
            ostream = container.add_stream_from_template(istream)
        end = offset
        for packet in inp.demux(istream):
            if packet.size == 0:  # the demuxer's final flush packet
                continue
            if offset:
                packet.pts += offset
            if matroska:
                packet.dts = None
            elif dts_shift:
                packet.dts += dts_shift
            if packet.pts is not None:
                end = max(end, packet.pts + (packet.duration or 0))
            packet.stream = ostream
            container.mux(packet)
    return ostream, end


def _remux(segments: Sequence[Path], out: Path, delays: Sequence[int] | None = None) -> int:
    """Concatenate closed H.264 segments (same encoder settings) into ``out`` without re-encoding; returns
    where the last one ends (the next segment's pts offset).

    Every segment's pts are shifted by the duration of the segments before it. Their dts are shifted the
    same way and then back by the difference between the largest reorder delay of all segments and the
    segment's own (:func:`_segment_delay`, or ``delays`` when known), so the output has one constant delay:
    its dts strictly increase across segment boundaries and never exceed the pts, whatever the segment
    lengths (a 2-frame segment has no B-frames and no delay, its neighbours 2 frames' worth)."""
    import av

    if delays is None:
        delays = [_segment_delay(seg) for seg in segments]
    delay = max(delays, default=0)
    offset = 0  # in the segments' time base
    with av.open(str(out), "w", options=BITEXACT) as container:
        ostream = None
        for seg, seg_delay in zip(segments, delays):
            ostream, offset = _copy_packets(container, ostream, seg, offset, offset - (delay - seg_delay))
    return offset


def _append_segment(video: Path, seg: Path, out: Path, offset: int, dts_shift: int, first: Path) -> int:
    """``out``: the remuxed ``video`` (:func:`_remux`'s output of segments from ``first`` on) with the
    segment ``seg`` after it, its pts shifted by ``offset`` and its dts by ``dts_shift``: the bytes
    :func:`_remux` writes for all segments when the largest delay stays the same, reading three files
    instead of every segment (remuxing them all after every chunk took quadratic time: 0.1 s per chunk
    after 150 chunks, growing). Returns where ``seg`` ends."""
    import av

    with av.open(str(out), "w", options=BITEXACT) as container:
        with av.open(str(first)) as template:  # not the video's stream: its bit rate is the whole file's
            ostream = container.add_stream_from_template(template.streams.video[0])
        _copy_packets(container, ostream, video, 0, 0)
        _, end = _copy_packets(container, ostream, seg, offset, dts_shift)
    return end


def _identity(path: Path) -> tuple[int, ...]:
    """What tells the file at ``path`` from another put there since (device, inode, size, mtime)."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


_Writer = TypeVar("_Writer", bound="_FinishedOrAborted")


class _FinishedOrAborted(ABC):
    """A writer used as a context manager: its output finished when the block ends normally, aborted (no
    output, no temporary) when it ends by an exception; nothing more once it is closed."""

    _closed: bool
    _finished = False  # closed by finish(), not abort()
    path: Path
    kind: str
    fps: float
    crf: int
    num_frames: int

    def __repr__(self) -> str:
        # one line, as repr(Refiner): a writer held in a notebook says what it writes and how far it got
        webm = self.path.suffix.lower() == ".webm"
        if self.kind == "video" and webm:  # the crf VP9 is given, and the one asked
            codec = f"VP9 crf {vp9_crf(self.crf)} (crf={self.crf} on H.264's scale)"
        elif self.kind == "video":
            codec = f"H.264 crf {self.crf}"
        else:
            codec = "GIF" if self.kind == "gif" else "PNG frames"
        state = "finished" if self._finished else "aborted" if self._closed else "open"
        return (
            f"{type(self).__name__}({str(self.path)!r}, {codec}, {float(self.fps):g} fps, "
            f"{counted(self.num_frames, 'frame')} written, {state})"
        )

    @abstractmethod
    def finish(self) -> Any:
        """Complete the output (renamed over its path)."""

    @abstractmethod
    def abort(self) -> None:
        """Stop without an output; the temporaries removed."""

    def __enter__(self: _Writer) -> _Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.finish()
        else:
            self.abort()


class StreamingVideoWriter(_FinishedOrAborted):
    """Write a video chunk by chunk (paper §4: the long video is produced 8 frames at a time).

    ``append(chunk)`` takes ``(1, 3, t, H, W)`` / ``(3, t, H, W)`` in ``[-1, 1]``. After each append the
    :attr:`preview_path` (``<stem>.partial<suffix>`` beside ``path``, a ``.partial`` folder for PNGs:
    :func:`~streamt2v.io.output_paths.preview_path_for`, where ``generate``'s checks before a run and
    ``evaluate`` look for it) is a complete, playable file with every frame so far, replaced atomically.
    :meth:`finish` renames the preview to ``path``; leaving the context manager with an exception (or
    :meth:`abort`) removes the temporary segments but keeps the preview, so the final path never holds a
    half-written file.

    Nothing there is replaced by default, as with :func:`~streamt2v.io.video.write_video`: an existing file
    at ``path`` or at a file output's preview path (a stopped writer's preview too), or a folder holding the
    frames of an earlier PNG output, is a ``FileExistsError`` naming it, raised before anything is written and
    replaced only with ``overwrite=True`` (as the command line's ``--overwrite``); a folder holding anything
    else is never replaced (:func:`~streamt2v.io.output_paths.check_output_path`). A PNG output's preview
    folder is replaced whatever ``overwrite`` says, if it holds only frames: it is this class's own. The
    preview's name is locked as an output's (:func:`~streamt2v.io.output_paths.lock_preview`): a writer of an
    output of that name (``a.partial.mp4``) and this one are not let write at once. ``before_replace(source,
    dest)`` is called before each file is renamed to the preview (a run records what comes there first, so a
    ``kill -9`` between the rename and its record still finds its own preview: pipeline.run_outputs).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        crf: int = DEFAULT_CRF,
        overwrite: bool = False,
        before_replace: Callable[[Path, Path], None] | None = None,
    ) -> None:
        crf = check_crf(crf)
        # Held until finish/abort: a second writer of the same path would replace this one's preview.
        self.path, self._lock = claim_output(path, fps, overwrite=overwrite, preview=True)
        # the preview's name is an output's too (a.partial.mp4): its lock keeps a writer of it off this one's
        # preview, and this one off that output (after claim_output, whose cleanup asks who holds it)
        try:
            self._preview_lock = lock_preview(self.path)
        except BaseException:
            locks.release(self._lock, remove=True)
            raise
        self.kind = output_kind(self.path)
        self.preview_path = preview_path_for(self.path)
        self.fps, self.crf = float(fps), crf
        self._before_replace = before_replace
        self.num_frames = 0
        self._segments: list[Path] = []
        self._delays: list[int] = []  # each segment's reorder delay (_segment_delay)
        self._end = 0  # where the segments end in the preview (the next one's pts offset)
        self._preview_stat: tuple[int, ...] | None = None  # the preview this writer wrote last (_identity)
        self._size: tuple[int, int] | None = None
        self._closed = False
        self._workdir: Path | None = None
        try:
            if self.kind == "png-dir":
                if self.preview_path.exists() or self.preview_path.is_symlink():
                    shutil.rmtree(self.preview_path)
                self.preview_path.mkdir(parents=True)
            else:  # a video's segments; a GIF's frames so far, without the trailer (seg_000000.gif)
                self._workdir = Path(
                    tempfile.mkdtemp(prefix=f".{self.path.name}.segments-", dir=self.path.parent)
                )
        except BaseException:
            locks.release(self._preview_lock, remove=True)
            locks.release(self._lock, remove=True)
            raise

    def append(self, chunk: torch.Tensor) -> None:
        """Add frames; afterwards :attr:`preview_path` is a valid video of all frames so far."""
        if self._closed:
            raise RuntimeError("StreamingVideoWriter is closed")
        frames = to_uint8_frames(chunk)
        if frames.shape[0] == 0:
            return
        size = frames.shape[1:3]
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise ValueError(f"chunk frame size {size} differs from the video's {self._size}")
        # a full disk is named by the file it stopped (the encoders' own errors name none, or a temporary)
        with naming_write_errors(f"the preview {str(self.preview_path)!r} of output {str(self.path)!r}"):
            self._write(frames)
        self.num_frames += frames.shape[0]

    def _write(self, frames: np.ndarray) -> None:
        """Add uint8 ``frames`` to the preview (see :meth:`append`)."""
        if self.kind == "png-dir":
            write_pngs(self.preview_path, frames, start=self.num_frames)
        elif self.kind == "gif":
            assert self._workdir is not None
            # Only the new frames are encoded (a GIF re-encoded whole took quadratic time), appended to the
            # GIF so far in the work folder, which the kernel copies to the preview: its bytes, kept in
            # memory and copied twice after every chunk, grew with the length (a GIF of 1200 frames at
            # 720x1280: ~1 GB).
            body = self._workdir / f"seg_000000{self.path.suffix}"
            held = body.stat().st_size if self.num_frames else 0
            tmp = temp_sibling(self.preview_path)
            try:
                append_gif_frames(body, frames, self.fps, first=self.num_frames)
                finish_gif_copy(body, tmp)
                self._replace(tmp, self.preview_path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                with contextlib.suppress(FileNotFoundError):  # back to the frames counted, for another append
                    os.truncate(body, held)
                raise
        else:
            assert self._workdir is not None
            seg = self._workdir / f"seg_{len(self._segments):06d}{self.path.suffix}"
            encode_video(seg, frames, self.fps, self.crf)
            seg_delay = _segment_delay(seg)
            segments, delays = [*self._segments, seg], [*self._delays, seg_delay]
            tmp = temp_sibling(self.preview_path)
            try:
                # The preview so far plus the new segment, unless the new one raises the common delay (every
                # dts changes) or the preview is not the file this writer wrote last (removed meanwhile)
                end = None
                if self._segments and seg_delay <= max(self._delays) and self._preview_is_ours():
                    shift = self._end - (max(self._delays) - seg_delay)
                    with contextlib.suppress(FileNotFoundError):  # removed since it was looked at
                        end = _append_segment(self.preview_path, seg, tmp, self._end, shift, segments[0])
                if end is None:
                    end = _remux(segments, tmp, delays)
                self._replace(tmp, self.preview_path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._segments, self._delays, self._end = segments, delays, end
            self._preview_stat = _identity(self.preview_path)

    def _replace(self, source: Path, dest: Path) -> None:
        if self._before_replace is not None:
            self._before_replace(source, dest)
        os.replace(source, dest)

    def _preview_is_ours(self) -> bool:
        try:
            return _identity(self.preview_path) == self._preview_stat
        except OSError:
            return False

    def finish(self) -> Path:
        """Atomically move the complete video to :attr:`path` and clean up. Returns the final path."""
        if self._closed:
            raise RuntimeError("StreamingVideoWriter is closed")
        if self.num_frames == 0:
            raise ValueError(f"no frames were appended; nothing to write to {str(self.path)!r}")
        if self.kind == "png-dir":
            replace_dir(self.preview_path, self.path)
        else:
            os.replace(self.preview_path, self.path)
        self._finished = True
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop without finishing: the final path is not touched, the last preview stays for inspection."""
        self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        locks.release(self._preview_lock, remove=True)
        locks.release(self._lock, remove=True)
        self._lock = self._preview_lock = None


class VideoFileWriter(_FinishedOrAborted):
    """:func:`~streamt2v.io.video.write_video`'s output given its frames a slice at a time (:meth:`write`),
    for a video made a slice at a time (stage 3's decoded output), which is then never held whole: the same
    file, byte for byte, as ``write_video`` of all the frames (one encoder over all of them; no segments or
    preview, unlike :class:`StreamingVideoWriter`).

    Made, it does what ``write_video`` does before it writes (the same checks of ``path`` and ``fps``, the
    output's lock taken unless ``held_lock`` is given, a killed writer's temporaries removed). The frames go
    to a temporary beside ``path``, made with the first of them, which :meth:`finish` renames over ``path``;
    :meth:`abort` (or an exception leaving a ``with`` block, or one while a slice is written) removes it:
    ``path`` never holds a half-written file. A slice refused before any of it is written (another frame
    size, not pixels) leaves the writer as it was. ``before_replace(source, dest)`` is called before the
    temporary is renamed to ``path``, as :class:`StreamingVideoWriter`'s is.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        crf: int = DEFAULT_CRF,
        overwrite: bool = False,
        held_lock: IO[str] | None = None,
        before_replace: Callable[[Path, Path], None] | None = None,
    ) -> None:
        crf = check_crf(crf)
        self.path, self._lock = claim_output(path, fps, overwrite=overwrite, held_lock=held_lock)
        self._own_lock = held_lock is None
        self._before_replace = before_replace
        self.kind = output_kind(self.path)
        self.fps, self.crf = fps, crf
        self.num_frames = 0
        self.frame_size: tuple[int, int] | None = None  # (H, W)
        self._tmp: Path | None = None
        self._sink: Any = None  # the video's (container, stream), or the GIF's open file
        self._closed = False

    def write(self, frames: np.ndarray | torch.Tensor) -> None:
        """Add ``frames``: any form :func:`~streamt2v.io.video.video_frames` takes (``uint8 (t, H, W, 3)``, a
        ``[-1, 1]`` video ``(1, 3, t, H, W)`` / ``(3, t, H, W)``...)."""
        if self._closed:
            raise RuntimeError("VideoFileWriter is closed")
        frames = video_frames(frames, "frames")
        size = tuple(frames.shape[1:3])
        if self.frame_size is not None and size != self.frame_size:
            raise ValueError(
                f"frames of {size[1]}x{size[0]} differ from the {self.frame_size[1]}x{self.frame_size[0]} "
                f"(width x height) ones written to {str(self.path)!r}"
            )
        if frames.shape[0] == 0:
            return
        try:
            with naming_write_errors(f"output {str(self.path)!r}"):
                if self._tmp is None:
                    self._open(size)
                if self.kind == "png-dir":
                    write_pngs(self._tmp, frames, start=self.num_frames)
                elif self.kind == "gif":
                    for data in gif_frames(frames, self.fps, first=self.num_frames):
                        self._sink.write(data)
                else:
                    encode_frames(*self._sink, frames)
        except BaseException:  # a slice half encoded cannot be taken back
            self.abort()
            raise
        self.frame_size = size
        self.num_frames += frames.shape[0]

    def _open(self, size: tuple[int, int]) -> None:
        import av

        if self.kind == "png-dir":
            self._tmp = temp_sibling_dir(self.path)
            return
        self._tmp = temp_sibling(self.path)
        if self.kind == "gif":
            self._sink = open(self._tmp, "wb")  # noqa: SIM115 (closed by finish or abort)
            return
        container = av.open(str(self._tmp), "w", options=BITEXACT)
        try:
            self._sink = (container, add_video_stream(container, size, self.fps, self.crf))
        except BaseException:
            container.close()
            raise

    def finish(self) -> Path:
        """End the file and rename it to :attr:`path` atomically; release the lock taken. Returns the path."""
        if self._closed:
            raise RuntimeError("VideoFileWriter is closed")
        if self.num_frames == 0:
            self.abort()
            raise ValueError(f"cannot write a video with 0 frames to {str(self.path)!r}")
        try:
            with naming_write_errors(f"output {str(self.path)!r}"):
                sink, self._sink = self._sink, None
                if self.kind == "gif":
                    with sink:
                        sink.write(TRAILER)
                elif self.kind == "video":
                    with sink[0]:
                        encode_frames(*sink, None)
                if self._before_replace is not None:
                    self._before_replace(self._tmp, self.path)
                if self.kind == "png-dir":
                    replace_dir(self._tmp, self.path)
                else:
                    os.replace(self._tmp, self.path)
                self._tmp = None
                self._finished = True
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Stop without finishing: the temporary is removed, :attr:`path` is not touched."""
        if self._closed:
            return
        self._closed = True
        sink, self._sink = self._sink, None
        with contextlib.suppress(Exception):  # an abandoned file: its encoder's complaints do not matter
            if self.kind == "gif" and sink is not None:
                sink.close()
            elif sink is not None:
                sink[0].close()
        if self._tmp is not None:
            if self.kind == "png-dir":
                shutil.rmtree(self._tmp, ignore_errors=True)
            else:
                self._tmp.unlink(missing_ok=True)
        if self._own_lock:
            locks.release(self._lock, remove=True)
        self._lock = None
