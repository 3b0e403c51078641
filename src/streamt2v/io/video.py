"""Video and image I/O: the ONLY place where ``uint8 (T, H, W, 3)`` frames and ``[-1, 1]`` floats meet.

Library layout everywhere else is ``(B, 3, T, H, W)`` float in ``[-1, 1]`` (DESIGN §4).

- :func:`read_video` / :func:`write_video`: mp4 / mov / mkv / webm (H.264 via PyAV), ``.gif`` (Pillow), or a
  directory of PNG frames. Writes are atomic: a temporary name in the same folder, renamed at the end.
- :class:`StreamingVideoWriter`: the incremental writer behind ``streamt2v generate`` (paper §4: the video
  grows chunk by chunk). Every chunk is encoded to its own closed segment; after every
  :meth:`~StreamingVideoWriter.append` a playable *preview* file holds all frames so far (the segments
  remuxed without re-encoding), and :meth:`~StreamingVideoWriter.finish` renames it to the final path, so
  the final file never exists half-written.

Float → uint8 conversion rounds ``(x + 1) * 127.5`` and saturates at 0 / 255 (decoders overshoot ``[-1, 1]``
slightly; saturation is the definition of the pixel format, not a silent edit of the video).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_CRF = 18


# ----------------------------------------------------------------------------- tensor <-> uint8
def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """``(1, 3, T, H, W)`` or ``(3, T, H, W)`` float in ``[-1, 1]`` → ``uint8 (T, H, W, 3)``."""
    if video.dim() == 5:
        if video.shape[0] != 1:
            raise ValueError(f"expected one video (batch size 1), got shape {tuple(video.shape)}")
        video = video[0]
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"expected a video shaped (1, 3, T, H, W) or (3, T, H, W), got {tuple(video.shape)}")
    x = video.detach().to("cpu", torch.float32)
    x = ((x + 1.0) * 127.5).round().clamp_(0, 255).to(torch.uint8)
    return x.permute(1, 2, 3, 0).contiguous().numpy()  # (T, H, W, 3)


def from_uint8_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` → ``(1, 3, T, H, W)`` float32 in ``[-1, 1]`` (exact inverse on the grid)."""
    t = (
        torch.as_tensor(np.array(frames, copy=True))
        if isinstance(frames, np.ndarray)
        else torch.as_tensor(frames)
    )
    if t.dtype != torch.uint8 or t.dim() != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {t.dtype} {tuple(t.shape)}")
    return (t.permute(3, 0, 1, 2).float() / 127.5 - 1.0).unsqueeze(0)


# ----------------------------------------------------------------------------- atomic paths
def _temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A unique temporary name beside ``path`` keeping its suffix (containers are chosen by suffix)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{tag}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
    return Path(name)


def _is_dir_target(path: Path) -> bool:
    return path.is_dir() or path.suffix == ""


def output_kind(path: Path) -> str:
    if _is_dir_target(path):
        return "png-dir"
    s = path.suffix.lower()
    if s in VIDEO_SUFFIXES:
        return "video"
    if s == ".gif":
        return "gif"
    raise ValueError(
        f"cannot write video to {str(path)!r}: unknown suffix {path.suffix!r}; use one of "
        f"{list(VIDEO_SUFFIXES) + ['.gif']} or a directory (no suffix) for PNG frames"
    )


def _fps_fraction(fps: float) -> Fraction:
    if not fps or fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


# ----------------------------------------------------------------------------- encoders
def _rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB → the ``(3H/2, W)`` yuv420p plane stack, BT.601 limited range (what decoders
    assume for untagged H.264). Done here rather than by swscale, whose SIMD paths vary with memory
    alignment: the same frames must always give the same bytes (resume is byte-identical)."""
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + 0.256788 * r + 0.504129 * g + 0.097906 * b
    h, w = r.shape
    r2, g2, b2 = (c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)) for c in (r, g, b))
    u = 128.0 - 0.148223 * r2 - 0.290993 * g2 + 0.439216 * b2
    v = 128.0 + 0.439216 * r2 - 0.367788 * g2 - 0.071427 * b2
    q = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return np.concatenate([q(y), q(u).reshape(h // 4, w), q(v).reshape(h // 4, w)], axis=0)


def _encode_video(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    import av

    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {w}x{h}; resize the video first")
    video_frames = [av.VideoFrame.from_ndarray(_rgb_to_yuv420p(f), format="yuv420p") for f in frames]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=_fps_fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # The output must be a pure function of the frames (a resumed run is byte-identical): one encoder
        # thread, and no macroblock tree, whose look-ahead made ~1 in 40 encodes of the same frames differ
        # with the heap layout (measured: 6 distinct outputs in 250 encodes with it, 1 without).
        stream.options = {"crf": str(int(crf)), "threads": "1", "x264-params": "mbtree=0"}
        stream.codec_context.thread_count = 1
        for frame in video_frames:
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _encode_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(1, round(1000.0 / float(fps)))  # ms per frame
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


def _write_pngs(folder: Path, frames: np.ndarray, start: int = 0) -> None:
    from PIL import Image

    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{start + i:06d}.png")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Put folder ``tmp`` at ``final``; an existing ``final`` is moved aside first, then removed."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_video(path: str | os.PathLike, video: torch.Tensor, fps: float, *, crf: int = DEFAULT_CRF) -> Path:
    """Write ``video`` (``(1, 3, T, H, W)`` or ``(3, T, H, W)`` in ``[-1, 1]``) atomically.

    The format follows ``path``: a video suffix (H.264 mp4 via PyAV, ``crf`` quality), ``.gif``, or a path
    without suffix / an existing directory for PNG frames ``frame_000000.png …``. Returns the final path.
    """
    path = Path(path)
    frames = to_uint8_frames(video)
    if frames.shape[0] == 0:
        raise ValueError("cannot write a video with 0 frames")
    kind = output_kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "png-dir":
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            _write_pngs(tmp, frames)
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path
    tmp = _temp_sibling(path)
    try:
        if kind == "gif":
            _encode_gif(tmp, frames, fps)
        else:
            _encode_video(tmp, frames, fps, crf)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- readers
def read_video(path: str | os.PathLike, *, max_frames: int | None = None) -> tuple[torch.Tensor, float]:
    """Read a video file (any container PyAV/FFmpeg can decode, a GIF) or a folder of images.

    Returns ``(video, fps)`` with ``video`` shaped ``(1, 3, T, H, W)`` float32 in ``[-1, 1]``; at most
    ``max_frames`` frames from the start. A folder of images reports 8 fps (the model's native rate).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {str(path)!r}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no image frames ({', '.join(IMAGE_SUFFIXES)}) in folder {str(path)!r}")
        files = files[:max_frames] if max_frames else files
        frames = np.stack([_load_rgb(p) for p in files])
        return from_uint8_frames(frames), 8.0

    import av

    arrays: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{str(path)!r} contains no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 8.0
            for frame in container.decode(stream):
                arrays.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(arrays) >= max_frames:
                    break
    except av.error.FFmpegError as err:
        raise ValueError(f"cannot read video {str(path)!r}: {err}") from err
    if not arrays:
        raise ValueError(f"video {str(path)!r} has no decodable frames")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"video {str(path)!r} changes frame size mid-stream: {sorted(shapes)}")
    return from_uint8_frames(np.stack(arrays)), fps


def _load_rgb(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image {str(path)!r}: {err}") from err


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image as ``(1, 3, H, W)`` float32 in ``[-1, 1]`` (alpha dropped, greyscale expanded)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {str(path)!r}")
    return from_uint8_frames(_load_rgb(path)[None])[:, :, 0]


def resize_video(video: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Antialiased bilinear resize of ``(B, 3, T, H, W)`` to ``size`` (``int`` = square, or ``(H, W)``)."""
    if video.dim() != 5:
        raise ValueError(f"expected (B, C, T, H, W), got shape {tuple(video.shape)}")
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    b, c, t, H, W = video.shape
    if (h, w) == (H, W):
        return video
    x = video.permute(0, 2, 1, 3, 4).reshape(b * t, c, H, W)
    dtype = x.dtype
    x = F.interpolate(x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return x.to(dtype).reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4).contiguous()


# ----------------------------------------------------------------------------- streaming writer
def _remux(segments: Sequence[Path], out: Path) -> None:
    """Concatenate closed H.264 segments (same encoder settings) into ``out`` without re-encoding."""
    import av

    with av.open(str(out), "w") as container:
        ostream = None
        offset = 0  # in the segments' time base
        for seg in segments:
            with av.open(str(seg)) as inp:
                istream = inp.streams.video[0]
                if ostream is None:
                    ostream = container.add_stream_from_template(istream)
                end = offset
                for packet in inp.demux(istream):
                    if packet.dts is None:  # the demuxer's final flush packet
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = ostream
                    container.mux(packet)
                offset = end


class StreamingVideoWriter:
    """Write a video chunk by chunk (paper §4: the long video is produced 8 frames at a time).

    ``append(chunk)`` takes ``(1, 3, t, H, W)`` / ``(3, t, H, W)`` in ``[-1, 1]``. After each append the
    :attr:`preview_path` (default ``<stem>.partial<suffix>`` beside ``path``; a ``.partial`` folder for PNGs)
    is a complete, playable file with every frame so far, replaced atomically. :meth:`finish` renames the
    preview to ``path``; leaving the context manager with an exception (or :meth:`abort`) removes the
    temporary segments but keeps the preview, so the final path never holds a half-written file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        crf: int = DEFAULT_CRF,
        preview_path: str | os.PathLike | None = None,
    ) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        _fps_fraction(self.fps)
        self.crf = crf
        self.kind = output_kind(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if preview_path is None:
            name = (
                f"{self.path.stem}.partial{self.path.suffix}"
                if self.kind != "png-dir"
                else f"{self.path.name}.partial"
            )
            preview_path = self.path.with_name(name)
        self.preview_path = Path(preview_path)
        self.num_frames = 0
        self._segments: list[Path] = []
        self._gif_frames: list[np.ndarray] = []
        self._workdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.segments-", dir=self.path.parent))
        self._size: tuple[int, int] | None = None
        self._closed = False
        if self.kind == "png-dir":
            if self.preview_path.exists():
                shutil.rmtree(self.preview_path)
            self.preview_path.mkdir(parents=True)

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
        if self.kind == "png-dir":
            _write_pngs(self.preview_path, frames, start=self.num_frames)
        elif self.kind == "gif":
            self._gif_frames.extend(frames)
            tmp = _temp_sibling(self.preview_path)
            _encode_gif(tmp, np.stack(self._gif_frames), self.fps)
            os.replace(tmp, self.preview_path)
        else:
            seg = self._workdir / f"seg_{len(self._segments):06d}{self.path.suffix}"
            _encode_video(seg, frames, self.fps, self.crf)
            self._segments.append(seg)
            tmp = _temp_sibling(self.preview_path)
            try:
                _remux(self._segments, tmp)
                os.replace(tmp, self.preview_path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self.num_frames += frames.shape[0]

    def finish(self) -> Path:
        """Atomically move the complete video to :attr:`path` and clean up. Returns the final path."""
        if self._closed:
            raise RuntimeError("StreamingVideoWriter is closed")
        if self.num_frames == 0:
            raise ValueError(f"no frames were appended; nothing to write to {str(self.path)!r}")
        if self.kind == "png-dir":
            _replace_dir(self.preview_path, self.path)
        else:
            os.replace(self.preview_path, self.path)
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop without finishing: the final path is not touched, the last preview stays for inspection."""
        self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> StreamingVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.finish()
        else:
            self.abort()
