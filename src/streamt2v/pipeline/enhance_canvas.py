"""Stage 3's canvas: the input frames upscaled (or fitted and padded) to the refiner's frame size and
encoded, and the decoded output cropped back to the content, a VAE slice of frames at a time (paper §4.3;
``docs/enhance.md``, "What it does", steps 1 and 6)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager

import numpy as np
import torch
import torch.nn.functional as F

from streamt2v.arguments import NAME_ONLY, Arg, FlaggedArg, logs_with_args
from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.typed_values import shown_value

logger = logging.getLogger(__name__)


class EnhanceSetting(Arg):
    """A stage-3 setting an advice names: a field of the :class:`EnhanceConfig` that ``enhance_video`` takes
    as ``config=`` to a Python caller (``pad_to_aspect=True in the EnhanceConfig (config=refiner.config(
    pad_to_aspect=True))``: ``pass pad_to_aspect=True`` read as an argument it has not), its flag on the
    command line (``--pad-to-aspect``)."""

    def __str__(self) -> str:
        given = super().__str__()
        return (
            given
            if self.value is NAME_ONLY
            else f"{given} in the EnhanceConfig (config=refiner.config({given}))"
        )


class SizeArg(EnhanceSetting):
    """A frame size an advice names: ``resolution=(64, 64)`` to a Python caller, ``--resolution 64x64`` on the
    command line (``HxW``, as the flag takes it)."""

    @property
    def flag(self) -> str:
        height, width = self.value
        return f"--{self.name.replace('_', '-')} {height}x{width}"


class RunEnhanceSetting(FlaggedArg):
    """A stage-3 setting as :func:`~streamt2v.pipeline.generate.generate`'s advice names it: a key of its
    config's ``enhance`` dict (``pad_to_aspect=True in the run's enhance settings (GenerateConfig(enhance=
    {'pad_to_aspect': True}))``), the run having no refiner object to call ``refiner.config(...)`` on; its
    flag kept for the command line, which names the ``streamt2v enhance`` flag instead."""

    def __str__(self) -> str:
        given = Arg.__str__(self)
        if self.value is NAME_ONLY:
            return given
        return f"{given} in the run's enhance settings (GenerateConfig(enhance={{{self.name!r}: {shown_value(self.value)}}}))"


def logs_advising_run_settings() -> AbstractContextManager:
    """While within, stage 3's warnings name a setting they advise as a key of generate's ``enhance`` dict
    (:class:`RunEnhanceSetting`), not a field of an EnhanceConfig the caller never made."""

    def advise(arg: object) -> object:
        if isinstance(arg, EnhanceSetting):
            return RunEnhanceSetting(arg.name, arg.value, flag=arg.flag)
        return arg

    return logs_with_args(advise, "streamt2v.pipeline.enhance", __name__)


def fit_and_pad(
    video: torch.Tensor, canvas: tuple[int, int], pad: bool
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Upscale ``(B, 3, T, H, W)`` to the ``canvas`` ``(H, W)`` (bilinear, antialiased).

    With ``pad``: keep the aspect ratio, fit inside the canvas and pad with black (-1) as the official
    code does (256² → 720² inside 1280×720). The fitted size is rounded to even numbers of pixels (within the
    canvas), so the cropped output can be written as H.264 (yuv420p needs even sizes): a 32×50 frame in a
    64×64 canvas is 40×64, not 41×64, which ``streamt2v enhance -o x.mp4`` could only refuse after all the
    work. Returns the canvas video and the crop box ``(top, left, height, width)`` of the content, to undo the
    pad with :func:`crop`.
    """
    from streamt2v.pixels import resize_video

    ch, cw = canvas
    if not pad:
        return resize_video(video, (ch, cw)), (0, 0, ch, cw)
    fh, fw = output_size(tuple(video.shape[-2:]), canvas, pad)
    fitted = resize_video(video, (fh, fw))
    top, left = (ch - fh) // 2, (cw - fw) // 2
    out = F.pad(fitted, (left, cw - fw - left, top, ch - fh - top), value=-1.0)
    return out, (top, left, fh, fw)


def output_size(frame: tuple[int, int], canvas: tuple[int, int], pad: bool) -> tuple[int, int]:
    """The ``(H, W)`` of the output frames for input frames of ``frame`` size: the ``canvas``, or with
    ``pad`` the frame fitted inside it (:func:`fit_and_pad`'s box)."""
    (h, w), (ch, cw) = frame, canvas
    if not pad:
        return ch, cw
    scale = min(ch / h, cw / w)
    return _even_side(h * scale, ch), _even_side(w * scale, cw)


def _even_side(size: float, limit: int) -> int:
    """``size`` rounded to the nearest even number of pixels, at least 2 and at most ``limit`` (the
    canvas side; an odd canvas side stays odd only where it is the limit)."""
    return max(1, min(limit, 2 * max(1, round(size / 2))))


def crop(video: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop ``(B, C, T, H, W)`` to ``box = (top, left, height, width)``."""
    top, left, hh, ww = box
    return video[..., top : top + hh, left : left + ww]


def warn_if_smaller(frame: tuple[int, int], canvas: tuple[int, int], config: EnhanceConfig, f: int) -> None:
    """Warn when the output frames would be smaller than the input's on a side (a refiner made for smaller
    frames than these): an enhancer that shrinks the video is rarely what was meant, and nothing else says
    so until the output is looked at. ``f``: the VAE's scale factor, which a canvas's sides are multiples of."""
    out = output_size(frame, canvas, config.pad_to_aspect)
    if out[0] >= frame[0] and out[1] >= frame[1]:
        return
    # the smallest canvas holding the input, in multiples of f (with pad_to_aspect, the output fills it)
    larger = SizeArg("resolution", (-(-frame[0] // f) * f, -(-frame[1] // f) * f))
    source = Arg("resolution") if config.resolution is not None else "the refiner's frame size"
    # each caller reads its own names: resolution=(H, W) in Python, --resolution HxW on enhance's command line
    # (and on generate's, with the enhance command to pass it to: the advice ends the line)
    logger.warning(
        "the output frames will be %dx%d, smaller than the input's %dx%d (HxW), on the %dx%d canvas (%s); use a "
        "refiner made for at least this size, or pass a larger canvas, e.g. %s",
        *out,
        *frame,
        *canvas,
        source,
        larger,
    )


def upscale_and_encode(
    video: torch.Tensor, vae: VideoAutoencoder, canvas: tuple[int, int], pad: bool
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Float32 latents of ``video`` upscaled to ``canvas`` (:func:`fit_and_pad`) and the content's crop box,
    a VAE slice of frames at a time: the canvas-sized float video would be the largest tensor of the
    stage (1200 frames at 720×1280: 13.3 GB). The slices are the VAE's own, so the latents equal those
    of encoding the whole upscaled video."""
    parts, box = [], (0, 0, *canvas)
    for t0 in range(0, video.shape[2], vae.frames_per_slice):
        x, box = fit_and_pad(video[:, :, t0 : t0 + vae.frames_per_slice].float().cpu(), canvas, pad)
        parts.append(vae.encode(x.to(device=vae.device, dtype=vae.dtype)).float())
    return torch.cat(parts, dim=2), box


def decoded_slices(
    latents: torch.Tensor, decoder: VideoAutoencoder, box: tuple[int, int, int, int], as_uint8: bool
) -> Iterator[torch.Tensor | np.ndarray]:
    """``latents`` decoded and cropped to ``box`` a decoder slice of frames at a time, in order, on the CPU:
    float32 ``(B, 3, n, H, W)``, or ``uint8 (B, n, H, W, 3)`` frames (the decoder's own slices, so the values
    equal those of decoding and converting the whole video)."""
    from streamt2v.io.video import to_uint8_frames

    step = decoder.frames_per_slice
    for t0 in range(0, latents.shape[2], step):
        part = crop(decoder.decode(latents[:, :, t0 : t0 + step]).float().cpu(), box)  # (B, 3, n, H, W)
        if not as_uint8:
            yield part
        elif len(part) == 1:  # one video (the command line's): its frames, not a stacked copy of them
            yield to_uint8_frames(part[0])[None]
        else:
            yield np.stack([to_uint8_frames(p) for p in part])


def gather_slices(
    slices: Iterable[torch.Tensor | np.ndarray], num_frames: int, as_uint8: bool
) -> torch.Tensor | np.ndarray:
    """:func:`decoded_slices`' slices of a ``num_frames``-frame video in one array (frames on axis 1 of a
    uint8 one, 2 of a float one), made as the first arrives: the slices are never held all at once."""
    out: torch.Tensor | np.ndarray | None = None
    t0 = 0
    for part in slices:
        if out is None:
            b, size = part.shape[0], (part.shape[2:4] if as_uint8 else part.shape[-2:])
            shape = (b, num_frames, *size, 3) if as_uint8 else (b, 3, num_frames, *size)
            out = np.empty(shape, np.uint8) if as_uint8 else torch.empty(shape)
        n = part.shape[1 if as_uint8 else 2]
        if as_uint8:
            out[:, t0 : t0 + n] = part
        else:
            out[:, :, t0 : t0 + n] = part
        t0 += n
    return out
