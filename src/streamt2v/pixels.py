"""The library's one pixel convention: video tensors ``(B, 3, T, H, W)`` (images ``(B, 3, H, W)``) of a
floating dtype with values in ``[-1, 1]``.

:func:`check_pixels` is applied where a user's frames enter (prefix videos, anchor images, the enhancer,
the metrics): it refuses what is plainly another convention — integer frames (uint8 0–255), NaN or
infinite values, values far outside the range — with a message that names the input and the conversion,
instead of producing a silently wrong video. ``[0, 1]`` floats cannot be told apart from a bright
``[-1, 1]`` video and pass. :func:`resize_video` resizes such videos (the inputs of stages 2 and 3, the
restoration training's degraded clips).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from streamt2v.wording import counted, with_article

# Decoded frames overshoot [-1, 1] (VAE outputs are not clamped: the shipped VAE reaches 1.07 on training
# clips); beyond this margin the values are another convention (0-255 floats reach far beyond).
RANGE_MARGIN = 0.5

CONVERSIONS = (
    "uint8 or 0-255 frames: x.float() / 127.5 - 1 (uint8 frames (T, H, W, 3) as read by PIL or PyAV: "
    "streamt2v.io.video.from_uint8_frames(x), range and layout at once); [0, 1] frames: x * 2 - 1"
)


def conversion_to_tensor(value: Any, *, image: bool = False) -> str:
    """How to make ``value``, which is no tensor, the float tensor in ``[-1, 1]`` asked for (``image``: an
    image ``(1, 3, H, W)``, else a video ``(1, 3, T, H, W)``), for a refusal: ``"; a uint8 numpy array (T,
    H, W, 3): streamt2v.io.video.from_uint8_frames(x)"``; ``""`` for a value of no usual kind."""
    import os

    import numpy as np

    io = "streamt2v.io.video."
    if isinstance(value, (str, os.PathLike)):
        how = (
            f"{io}read_image(path)"
            if image
            else f"{io}read_video(path)[0] (it returns the video and its fps)"
        )
        return f"; {'an image' if image else 'a video'} file is read by {how}"
    if type(value).__module__.startswith("PIL."):  # a PIL image, without importing PIL here
        one = f"{io}from_uint8_frames(np.asarray(img.convert('RGB'))[None])"
        return f"; a PIL image: {one}[:, :, 0]" if image else f"; a PIL image, as a one-frame video: {one}"
    frames = isinstance(value, np.ndarray) or (
        isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], np.ndarray)
    )
    if not frames:
        return ""
    if isinstance(value, np.ndarray):
        return _numpy_conversion(value.shape, value.dtype, image, listed=False)
    return _numpy_conversion((len(value), *value[0].shape), value[0].dtype, image, listed=True)


def _numpy_conversion(shape: tuple[int, ...], dtype: Any, image: bool, *, listed: bool) -> str:
    """:func:`conversion_to_tensor` of numpy frames ``shape`` of ``dtype`` (``listed``: a list of frames,
    stacked), by the layout :func:`~streamt2v.io.video.array_layout` reads in the shape: integer frames
    (0-255) through ``from_uint8_frames``, floats (taken as in ``[-1, 1]``) by torch, each to the float32
    tensor shape asked for."""
    import numpy as np

    from streamt2v.io.video import array_layout, float32_cast, uint8_cast

    floats, dtype = dtype.kind == "f", np.dtype(dtype)
    # torch keeps a float16/float64 array's dtype; from_uint8_frames takes uint8 alone (a mask's True white)
    to_dtype = float32_cast(dtype) if floats else ""
    to_uint8 = "" if floats else uint8_cast(dtype)
    if to_uint8 is None:
        return ""
    io = "streamt2v.io.video."
    x = "np.stack(x)" if listed else "x"  # the stacked frames, where the expression takes an array
    what = (
        f"a list of {dtype} numpy frames {shape[1:]}"
        if listed
        else with_article(f"{dtype} numpy array {shape}")
    )
    if floats:
        what += " in [-1, 1]"
    elif dtype.kind == "b":
        what += " of masks"
    elif to_uint8:
        what += " of 0-255"
    if image and len(shape) == 3 and shape[-1] == 3:  # (H, W, 3), as PIL and imageio give an image
        how = (
            f"torch.from_numpy({x}).permute(2, 0, 1)[None]{to_dtype}"
            if floats
            else f"{io}from_uint8_frames({x}[None]{to_uint8})[:, :, 0]"
        )
    elif image and len(shape) == 3 and shape[0] == 3:
        how = (
            f"torch.from_numpy({x})[None]{to_dtype}"
            if floats
            else f"{io}from_uint8_frames({x}.transpose(1, 2, 0)[None]{to_uint8})[:, :, 0]"
        )
    elif (layout := array_layout(shape, batched=True, x=x)) is None:
        return ""
    else:
        as_frames, batched = layout  # the tensor (1, 3, T, H, W)
        if as_frames == x and not to_uint8:  # from_uint8_frames takes a list of frames unstacked
            as_frames = "x"
        if image:  # a video given as the image: its first frame
            what += ", the first frame as the image"
            how = (
                f"{batched}[:, :, 0]{to_dtype}"
                if floats
                else f"{io}from_uint8_frames({as_frames}[:1]{to_uint8})[:, :, 0]"
            )
        else:
            how = f"{batched}{to_dtype}" if floats else f"{io}from_uint8_frames({as_frames}{to_uint8})"
    return f"; {what}: {how}"


def check_pixels(video: Any, name: str, *, image: bool = False) -> torch.Tensor:
    """``video`` as a float tensor clamped to ``[-1, 1]`` (a new tensor: the caller's is never aliased);
    a ``TypeError``/``ValueError`` naming ``name`` for anything else (shapes are the caller's to check), with
    the conversion to use (:func:`conversion_to_tensor`; ``image``: ``video`` is to be an image)."""
    if not isinstance(video, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of pixels in [-1, 1], got {type(video).__name__}"
            + conversion_to_tensor(video, image=image)
        )
    check_pixel_values(video, name)
    return video.detach().clamp(-1, 1)


def check_pixel_values(video: torch.Tensor, name: str) -> None:
    """:func:`check_pixels`' refusals of a tensor, without its clamped copy (for a long video written once)."""
    if not video.is_floating_point():
        raise ValueError(f"{name} has dtype {video.dtype}; pixels are floats in [-1, 1] ({CONVERSIONS})")
    x = video.detach()
    if x.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(x))  # NaN propagates to both
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} has {counted(bad, 'NaN or infinite value')} of {x.numel()}")
    if lo < -1 - RANGE_MARGIN or hi > 1 + RANGE_MARGIN:
        raise ValueError(f"{name} has values in [{lo:.4g}, {hi:.4g}]; pixels are in [-1, 1] ({CONVERSIONS})")


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
