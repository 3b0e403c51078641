"""Video and image I/O: the ONLY place where ``uint8 (T, H, W, 3)`` frames and ``[-1, 1]`` floats meet.

Library layout everywhere else is ``(B, 3, T, H, W)`` float in ``[-1, 1]`` (DESIGN §4).

- :func:`read_video` / :func:`write_video`: mp4 / mov / mkv / avi (H.264 via PyAV) / webm (VP9, ``crf``
  doubled onto its 0-63 scale), ``.gif`` (Pillow), or a directory of PNG frames. Writes are atomic: a
  temporary name in the same folder, renamed at the end.
- The incremental writers (``generate``'s chunk by chunk, stage 3's slice by slice) are in
  :mod:`streamt2v.io.streaming_writer`; the encoders here (``encode_video``, ``write_pngs``) and
  :mod:`streamt2v.io.gif`'s serve all, a frame at a time (a long video's converted frames or GIF bytes are
  never held whole), and so do the output checks, temporary names and the one-writer-per-output lock of
  :mod:`streamt2v.io.output_paths`.
- The frame rates a video may be written at, and how a file's rate is read: :mod:`streamt2v.io.frame_rates`;
  decoding a file to ``uint8`` frames (upright, with its rate, errors naming it): :mod:`streamt2v.io.decoding`.

Float → uint8 conversion rounds ``(x + 1) * 127.5`` and saturates at 0 / 255 (decoders overshoot ``[-1, 1]``
slightly; saturation is the definition of the pixel format, not a silent edit of the video).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, NoReturn

import numpy as np
import torch

from streamt2v.io import locks
from streamt2v.io.decoding import decode_frame_list
from streamt2v.io.folders import home_path
from streamt2v.io.frame_rates import DEFAULT_FPS, check_fps
from streamt2v.io.gif import encode_gif
from streamt2v.io.output_paths import (
    VIDEO_SUFFIXES,
    claim_output,
    list_names,
    naming_write_errors,
    output_kind,
    replace_dir,
    temp_sibling,
    temp_sibling_dir,
)
from streamt2v.pixels import check_pixel_values
from streamt2v.typed_values import as_index
from streamt2v.wording import first_and_more

# Container settings that keep a file a pure function of its frames: Matroska/WebM otherwise write a random
# segment UID and the date (mp4 and mov already carry neither).
BITEXACT = {"fflags": "+bitexact"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# The files taken as videos when a folder is scanned (training data, evaluate): the usual names of what
# PyAV/FFmpeg decodes. A file named explicitly is read whatever its suffix.
READ_VIDEO_SUFFIXES = (*VIDEO_SUFFIXES, ".gif", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp")
DEFAULT_CRF = 18
MAX_CRF = 51  # libx264's quality scale, 0 (lossless) to 51; a WebM's VP9 takes it doubled, on its 0-63


def check_crf(crf: int, what: str = "crf") -> int:
    """``crf`` if it is an integer on H.264's quality scale (0 to :data:`MAX_CRF`). Unchecked, libx264 clipped
    one above it to 51 and took -1 for unset (its default, 23) without a word, and the writers took a float's
    whole part; below -1 (below 0 for a WebM's VP9) the encoder refused it with a bare OverflowError."""
    value = as_index(crf)
    if value is None or not 0 <= value <= MAX_CRF:
        raise ValueError(
            f"{what} must be an integer from 0 (lossless) to {MAX_CRF} (the lowest quality), got {crf!r}; "
            f"the default is {DEFAULT_CRF}"
        )
    return value


# ----------------------------------------------------------------------------- tensor <-> uint8
def to_uint8_frames(video: torch.Tensor, what: str = "video") -> np.ndarray:
    """``(1, 3, T, H, W)`` or ``(3, T, H, W)`` float in ``[-1, 1]`` → ``uint8 (T, H, W, 3)``. Frames of
    another convention (an integer dtype, 0–255 floats, NaN or inf) are a ValueError naming ``what``, with
    the conversion to use: saturated, they would be written as a white or black video without a word."""
    video = _channels_first(video)
    check_pixel_values(video, what)
    x = video.detach().to("cpu", torch.float32)
    x = (x + 1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)  # in place after one float copy
    return x.permute(1, 2, 3, 0).contiguous().numpy()  # (T, H, W, 3)


_CHANNELS_FIRST = "a video tensor (1, 3, T, H, W) or (3, T, H, W)"


def _channels_first(video: torch.Tensor, *, frames_taken: bool = False) -> torch.Tensor:
    """One video ``(1, 3, T, H, W)`` or ``(3, T, H, W)`` as ``(3, T, H, W)``; a ValueError naming the shape
    as given, the layouts taken (``frames_taken``: uint8 frames ``(T, H, W, 3)`` too) and the permute to use
    for the usual other layouts."""
    accepted = f"uint8 frames (T, H, W, 3) or {_CHANNELS_FIRST}" if frames_taken else _CHANNELS_FIRST
    shape = tuple(video.shape)
    batched = video.dim() == 5
    if batched:
        if video.shape[0] != 1:
            raise ValueError(
                f"expected one video (batch size 1), got a batch of shape {shape}; give videos one at a time"
            )
        video = video[0]
    if video.dim() != 4 or video.shape[0] != 3:
        hint = ""
        first = "[0]" if batched else ""  # the one video of a batch of one
        if video.dim() == 4 and video.shape[-1] == 3:
            if frames_taken:  # as they are, once out of the batch
                hint = "; frames (1, T, H, W, 3) are x[0]"
            else:
                hint = f"; frames {'(1, ' if batched else '('}T, H, W, 3) are x{first}.permute(3, 0, 1, 2)"
        elif video.dim() == 4 and video.shape[1] == 3:
            hint = f"; frames {'(1, ' if batched else '('}T, 3, H, W) are x{first}.permute(1, 0, 2, 3)"
        raise ValueError(f"expected {accepted}, got {shape}{hint}")
    return video


def array_layout(
    shape: tuple[int, ...], *, batched: bool = False, tensor: bool = False, x: str = "x"
) -> tuple[str, str] | None:
    """For a video ``x`` of ``shape`` in a layout the library knows, the expression that makes it frames ``(T,
    H, W, 3)`` and the torch one that makes it a video tensor ``(3, T, H, W)``, or ``(1, 3, T, H, W)`` (one
    given so, or ``batched``) (the same values); None for another shape. ``x`` is a numpy array, or with
    ``tensor`` a torch tensor (``x.permute``, no ``torch.from_numpy``), written as ``x`` says (``np.stack(x)``
    for a list of frames). ``(3, H, W, 3)`` is frames, as :func:`video_frames` reads it."""
    five = len(shape) == 5
    if (five and shape[0] == 1 and shape[-1] == 3) or (len(shape) == 4 and shape[-1] == 3):
        source, frames, to_video = (f"{x}[0]" if five else x), "", ".permute(3, 0, 1, 2)"
    elif (five and shape[:2] == (1, 3)) or (len(shape) == 4 and shape[0] == 3):
        source, frames, to_video = x, ("[0]" if five else "") + ".transpose(1, 2, 3, 0)", ""
    elif len(shape) == 4 and shape[1] == 3:  # (T, 3, H, W), as torchvision's frames
        source, frames, to_video = x, ".transpose(0, 2, 3, 1)", ".permute(1, 0, 2, 3)"
    else:
        return None
    if batched and not (five and not to_video):  # only (1, 3, T, H, W) is one as it is
        to_video += "[None]"
    if tensor:
        return source + frames.replace(".transpose(", ".permute("), source + to_video
    return source + frames, f"torch.from_numpy({source}){to_video}"


def check_uint8_frames(frames: np.ndarray | torch.Tensor, batched: bool = False) -> np.ndarray | torch.Tensor:
    """``frames`` if it is a ``uint8 (T, H, W, 3)`` array (or tensor), else a ValueError naming its dtype and
    shape, with the conversion to use for one of a known layout (:func:`array_layout`, in numpy or torch as
    it is given): for floats, of each convention they may hold. ``batched``: the caller makes a video ``(1,
    3, T, H, W)`` (:func:`from_uint8_frames`), which the ``[-1, 1]`` conversion then makes too."""
    tensor = isinstance(frames, torch.Tensor)
    uint8 = frames.dtype == (torch.uint8 if tensor else np.uint8)
    if not uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        _refuse_frames(tuple(frames.shape), frames.dtype, batched=batched, tensor=tensor)
    return frames


def _refuse_frames(
    shape: tuple[int, ...], dtype: np.dtype | torch.dtype, *, batched: bool, tensor: bool, x: str = "x"
) -> NoReturn:
    """The refusal of frames ``x`` of ``shape`` and ``dtype`` that are not ``uint8 (T, H, W, 3)``, in one wording
    for an array, a tensor and a list of frames (``x``: ``np.stack(x)``, ``shape`` theirs stacked), with
    :func:`_conversion_hint`."""
    hint = _conversion_hint(shape, dtype, batched=batched, tensor=tensor, x=x)
    raise ValueError(f"expected uint8 frames (T, H, W, 3), got {dtype} of shape {shape}{hint}")


def _conversion_hint(
    shape: tuple[int, ...], dtype: np.dtype | torch.dtype, *, batched: bool, tensor: bool, x: str = "x"
) -> str:
    """:func:`check_uint8_frames`' conversion for frames ``x`` (an expression: ``np.stack(x)`` for a list of
    frames) of ``shape`` and ``dtype`` in a known layout, ``"; ..."``; ``""`` for another layout."""
    layout = array_layout(shape, batched=batched, tensor=tensor, x=x)
    if layout is None:
        return ""
    if _dtype_kind(dtype) == "f":  # which convention it holds is not ours to guess
        as_frames, as_tensor = layout
        cast = _TO_UINT8[tensor]
        return (
            f"; 0-255 floats: {as_frames}.round(){cast}; [0, 1] floats: ({as_frames} * 255).round()"
            f"{cast}; [-1, 1] floats: {as_tensor}{float32_cast(dtype)}"
        )
    cast = uint8_cast(dtype, tensor=tensor)
    if cast is None:
        return ""
    kind = "uint8" if dtype in (torch.uint8, np.uint8) else _dtype_kind(dtype)
    what = {"uint8": "as frames", "b": "masks"}.get(kind, "0-255 integers")
    return f"; {what}: {layout[0]}{cast}"


# the cast to uint8 of numpy frames (False) and of a tensor's (True)
_TO_UINT8 = {False: ".astype(np.uint8)", True: ".to(torch.uint8)"}


def uint8_cast(dtype: np.dtype | torch.dtype, *, tensor: bool = False) -> str | None:
    """What makes integer frames of ``dtype`` (numpy's, or torch's with ``tensor``) the 0-255 uint8 frames
    :func:`from_uint8_frames` takes, said after them: ``.astype(np.uint8)``, for a mask `` * 255`` more (its
    True is white, not 1 of 255), ``""`` for uint8; None for floats and other kinds (no cast says what their
    values mean)."""
    if dtype in (torch.uint8, np.uint8):
        return ""
    kind = _dtype_kind(dtype)
    if kind == "b":
        return f"{_TO_UINT8[tensor]} * 255"
    return _TO_UINT8[tensor] if kind in "iu" else None


def float32_cast(dtype: np.dtype | torch.dtype) -> str:
    """``.float()`` after a torch tensor made from float frames of ``dtype``, which keeps a float16 or float64
    array's dtype, for the float32 :func:`from_uint8_frames` returns; ``""`` for float32."""
    return "" if dtype in (torch.float32, np.float32) else ".float()"


def _dtype_kind(dtype: np.dtype | torch.dtype) -> str:
    """numpy's kind of a numpy or torch ``dtype``: ``f`` floats, ``i``/``u`` integers, ``b`` bool, else ``?``."""
    if isinstance(dtype, np.dtype):
        return dtype.kind
    if dtype.is_floating_point:
        return "f"
    if dtype == torch.bool:
        return "b"
    return "?" if dtype.is_complex else "i"


def video_frames(video: torch.Tensor | np.ndarray, what: str = "video") -> np.ndarray:
    """One video (``what`` in messages) in any form the library takes, as the ``uint8 (T, H, W, 3)`` frames a
    file holds: what :func:`write_video`, the incremental writers and the metrics take.

    - a float tensor ``(1, 3, T, H, W)`` or ``(3, T, H, W)`` in ``[-1, 1]`` (:func:`to_uint8_frames`, which
      refuses other conventions: 0–255 floats, NaN);
    - a uint8 tensor in ``0..255`` (never clamped as if in ``[-1, 1]``, which made it white), as frames
      ``(T, H, W, 3)`` (as torchvision and PyAV-to-torch code hold them; ``(3, H, W, 3)``, which reads both
      ways, is 3 frames) or channels first ``(1, 3, T, H, W)`` / ``(3, T, H, W)``;
    - a uint8 numpy array ``(T, H, W, 3)``.
    """
    if isinstance(video, np.ndarray):
        return check_uint8_frames(video)
    if not isinstance(video, torch.Tensor):  # e.g. a list of videos or of frames
        raise TypeError(
            f"{what} must be a torch.Tensor ((1, 3, T, H, W) or (3, T, H, W) in [-1, 1], or uint8 frames "
            f"(T, H, W, 3)) or a uint8 numpy array (T, H, W, 3); got a {type(video).__name__}"
        )
    if video.is_floating_point():
        return to_uint8_frames(video, what)
    if video.dtype != torch.uint8:
        # a mask's True must be white: x.to(torch.uint8) would make it 1 of 255
        how = (
            "masks: x.to(torch.uint8) * 255"
            if video.dtype == torch.bool
            else "0-255 integers: x.to(torch.uint8)"
        )
        raise ValueError(f"{what} has dtype {video.dtype}; give floats in [-1, 1] or uint8 in 0..255 ({how})")
    if video.dim() == 4 and video.shape[-1] == 3:  # (3, H, W, 3) too: 3 frames, not a video 3 pixels wide
        return video.detach().cpu().numpy()
    channels_first = _channels_first(video, frames_taken=True)
    return channels_first.detach().cpu().permute(1, 2, 3, 0).contiguous().numpy()


def from_uint8_frames(frames: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` (an array, a tensor or a list of ``(H, W, 3)`` frames) → ``(1, 3, T, H, W)``
    float32 in ``[-1, 1]`` (exact inverse on the grid)."""
    if isinstance(frames, torch.Tensor):
        t = check_uint8_frames(frames, batched=True)  # refused with the conversion for its layout
        # in place: one float copy of the video, not three (the same arithmetic, so the same values)
        return t.permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0).unsqueeze(0)
    first = np.asarray(frames[0]) if len(frames) else np.asarray(frames)
    shape = (len(frames), *first.shape) if first.ndim == 3 else np.shape(frames)
    if isinstance(frames, np.ndarray):  # refused with the conversion for its layout
        check_uint8_frames(frames, batched=True)
    elif first.dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3:
        _refuse_frames(tuple(shape), first.dtype, batched=True, tensor=False, x="np.stack(x)")
    # a few frames at a time into the float video: a whole uint8 copy beside the decoded frames and the float
    # video (torch takes no read-only array; a list of frames was stacked first) made reading peak higher
    out = torch.empty((1, 3, *shape[:3]), dtype=torch.float32)
    for start in range(0, shape[0], _CONVERT_FRAMES):
        piece = torch.from_numpy(np.stack(frames[start : start + _CONVERT_FRAMES]))
        out[0, :, start : start + _CONVERT_FRAMES] = piece.permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)
    return out


# Frames :func:`from_uint8_frames` converts at once (16 at 720×1280: 44 MB of uint8).
_CONVERT_FRAMES = 16


def _fps_fraction(fps: float) -> Fraction:
    return Fraction(check_fps(fps)).limit_denominator(1001)


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
    # the chroma planes follow the luma plane byte for byte, together h/2 rows of w (one plane is not a whole
    # number of rows where h is 2 mod 4: 30, 270)
    return np.concatenate([q(y), np.concatenate([q(u).ravel(), q(v).ravel()]).reshape(h // 2, w)], axis=0)


def vp9_crf(crf: int) -> int:
    """The crf a WebM's VP9 encoder is given for ``crf`` on H.264's 0-51 scale: doubled, on VP9's 0-63."""
    return min(63, int(crf) * 2)


def add_video_stream(container: Any, size: tuple[int, int], fps: float, crf: int) -> Any:
    """:func:`encode_video`'s H.264 stream (VP9 in a ``.webm``) for frames of ``size`` ``(H, W)``, added to a
    PyAV output ``container``; :func:`encode_frames` encodes them, a slice at a time if need be (same bytes)."""
    h, w = size
    webm = Path(container.name).suffix.lower() == ".webm"  # WebM holds VP8/VP9/AV1 only: VP9 there
    if h % 2 or w % 2:
        raise ValueError(
            f"{'VP9' if webm else 'H.264'} video (yuv420p) needs an even width and height, got {w}x{h}: crop "
            "or pad the frames to even sizes, or write a .gif or a folder of PNG frames"
        )
    stream = container.add_stream("libvpx-vp9" if webm else "libx264", rate=_fps_fraction(fps))
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    # The output must be a pure function of the frames (a resumed run is byte-identical): one encoder
    # thread, and no macroblock tree, whose look-ahead made ~1 in 40 encodes of the same frames differ
    # with the heap layout (measured: 6 distinct outputs in 250 encodes with it, 1 without).
    if webm:  # constant quality (b:v 0), crf on VP9's 0-63 scale
        stream.options = {"crf": str(vp9_crf(crf)), "b:v": "0", "threads": "1", "row-mt": "0"}
    else:
        stream.options = {"crf": str(int(crf)), "threads": "1", "x264-params": "mbtree=0"}
    stream.codec_context.thread_count = 1
    return stream


def encode_frames(container: Any, stream: Any, frames: np.ndarray | None) -> None:
    """Encode uint8 ``frames`` ``(t, H, W, 3)`` into :func:`add_video_stream`'s ``stream``; None: the last
    packets, which end the video (then close the container)."""
    import av

    if frames is None:
        for packet in stream.encode():
            container.mux(packet)
        return
    # a frame converted at a time: all of them converted first held another half of the uint8 frames
    # (yuv420p is 1.5 bytes a pixel: 1.7 GB more for 1200 frames at 720x1280)
    for rgb in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(_rgb_to_yuv420p(rgb), format="yuv420p")):
            container.mux(packet)


def encode_video(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    import av

    with av.open(str(path), "w", options=BITEXACT) as container:
        stream = add_video_stream(container, tuple(frames.shape[1:3]), fps, crf)
        encode_frames(container, stream, frames)
        encode_frames(container, stream, None)


def write_pngs(folder: Path, frames: np.ndarray, start: int = 0) -> None:
    from PIL import Image

    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{start + i:06d}.png")


def write_video(
    path: str | os.PathLike,
    video: torch.Tensor | np.ndarray,
    fps: float,
    *,
    crf: int = DEFAULT_CRF,
    overwrite: bool = False,
    held_lock: IO[str] | None = None,
) -> Path:
    """Write ``video`` (what :func:`video_frames` takes) atomically.

    The format follows ``path``: a video suffix (H.264 mp4 via PyAV, ``crf`` quality 0-51), ``.gif``, or a
    path without suffix / an existing directory for PNG frames ``frame_000000.png …``. Returns the final path.
    Nothing there is replaced by default: an existing file, or a folder holding the frames of an earlier PNG
    output, is a ``FileExistsError`` naming it, replaced only with ``overwrite=True`` (as the command line's
    ``--overwrite``); a folder holding anything else is never replaced (:func:`check_output_path`).

    What a writer of ``path`` killed mid-write left beside it (hidden temporaries) is removed first.
    The output's lock is taken for the write; a caller that took it earlier, to keep the output from other
    writers during its own long work (:func:`lock_output`), passes it as ``held_lock`` and releases it.
    """
    crf = check_crf(crf)
    frames = video_frames(video)
    if frames.shape[0] == 0:
        raise ValueError("cannot write a video with 0 frames")
    path, lock = claim_output(path, fps, overwrite=overwrite, held_lock=held_lock)
    try:
        # a full disk is named by the output it stopped (the encoders' own errors name none, or a temporary)
        with naming_write_errors(f"output {str(path)!r}"):
            _write_to_temporary(path, frames, fps, crf)
    finally:
        if held_lock is None:
            locks.release(lock, remove=True)
    return path


def _write_to_temporary(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    """Write ``path`` under a temporary name beside it, renamed over it once complete."""
    kind = output_kind(path)
    if kind == "png-dir":
        tmp = temp_sibling_dir(path)
        try:
            write_pngs(tmp, frames)
            replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    tmp = temp_sibling(path)
    try:
        if kind == "gif":
            encode_gif(tmp, frames, fps)
        else:
            encode_video(tmp, frames, fps, crf)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- readers
def read_video(
    path: str | os.PathLike, *, max_frames: int | None = None, warn_variable_rate: bool = False
) -> tuple[torch.Tensor, float]:
    """Read a video file (any container PyAV/FFmpeg can decode, a GIF) or a folder of images.

    Returns ``(video, fps)`` with ``video`` shaped ``(1, 3, T, H, W)`` float32 in ``[-1, 1]``; at most
    ``max_frames`` frames from the start. A folder of images, or a single image (whose rate FFmpeg makes up
    as 25 fps), reports :data:`~streamt2v.io.frame_rates.DEFAULT_FPS` (the model's native rate).
    ``warn_variable_rate``: see
    :func:`~streamt2v.io.decoding.decode_frames` (for callers whose output keeps the input's timing).
    """
    path = home_path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {str(path)!r}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    if path.is_dir():
        # Name order with numbers compared as numbers: f2 before f10, as unpadded exports are meant. Hidden
        # files are no frames: macOS writes a '._NAME' (AppleDouble) beside each file copied to a USB drive
        # or network share, a name with an image suffix that holds no image.
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
            key=_natural_key,
        )
        if not files:
            videos = sorted(
                p.name
                for p in path.iterdir()
                if p.suffix.lower() in READ_VIDEO_SUFFIXES and not p.name.startswith(".")
            )
            held = f"; it holds videos ({list_names(videos, 3)}): give one of them" if videos else ""
            raise ValueError(f"no image frames ({', '.join(IMAGE_SUFFIXES)}) in folder {str(path)!r}{held}")
        files = files[:max_frames] if max_frames else files
        frames = [_load_rgb(p) for p in files]
        odd = [
            f"{f.name!r} is {a.shape[1]}x{a.shape[0]}"
            for f, a in zip(files, frames)
            if a.shape != frames[0].shape
        ]
        if odd:
            raise ValueError(
                f"the frames in folder {str(path)!r} differ in size: {files[0].name} is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}, but {first_and_more(odd)}"
            )
        return from_uint8_frames(frames), float(DEFAULT_FPS)

    frames, fps = decode_frame_list(path, max_frames=max_frames, warn_variable_rate=warn_variable_rate)
    return from_uint8_frames(frames), fps  # from the list: a stacked copy of them is not needed


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


# Pillow's formats of several pictures that are not an animation: an MPO JPEG's previews, a TIFF's pages
_STILL_FORMATS = ("MPO", "TIFF")


def _refuse_animation(path: Path, im: Any, animation_hint: str) -> None:
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format not in _STILL_FORMATS:  # GIF, APNG, WebP, AVIF, FLI...
        raise ValueError(
            f"cannot read image {str(path)!r}: it is an animation of {frames} frames, not one image{animation_hint}"
        )


# the command line's way first: this reaches `--init-image clip.mp4` through generate's checks
_IMAGE_HINT = (
    "; an animation or video is not an image: --init-video continues one (in Python, read it with "
    "read_video), or save the one frame wanted as a still image"
)


def check_image(path: str | os.PathLike) -> None:
    """Raise as :func:`read_image` would for a file that is not one still image (an animation, a video, a
    damaged or unknown file), without making its float tensor (4 bytes a value)."""
    _load_rgb(home_path(path), _IMAGE_HINT)


def _load_rgb(path: Path, animation_hint: str = "") -> np.ndarray:
    """``path`` as ``uint8 (H, W, 3)``; a ValueError naming it for an animation (GIF, APNG, WebP), whose
    first frame alone would be taken without a word, ``animation_hint`` saying what to do instead."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            _refuse_animation(path, im, animation_hint)
            if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit greyscale: convert("RGB") clips at 255
                grey = np.asarray(im, dtype=np.float64) / 257.0
                return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        # a video given for an image (``--init-image clip.mp4``): PIL's "cannot identify" says nothing of it
        video = animation_hint if path.suffix.lower() in READ_VIDEO_SUFFIXES else ""
        raise ValueError(f"cannot read image {str(path)!r}: {err}{video}") from err


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image as ``(1, 3, H, W)`` float32 in ``[-1, 1]`` (alpha dropped, greyscale expanded). An
    animation (GIF, APNG, WebP) is refused, naming the file: who gives one (``--init-image anim.gif``)
    expects its motion, which its first frame alone loses; a video file is told to go to read_video."""
    path = home_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {str(path)!r}")
    return from_uint8_frames(_load_rgb(path, _IMAGE_HINT)[None])[:, :, 0]
