"""The frames a caller gives the stream (an image or video to continue, an APM anchor): checked for our layout
``(1, 3, T, H, W)`` in ``[-1, 1]``, with a hint for the common other layouts, and resized to the model's."""

from __future__ import annotations

import logging

import torch

from streamt2v.pixels import check_pixels, resize_video

# the stream's logger: its warnings are the stream's, and the command line names their flags (cli/generate.py)
logger = logging.getLogger("streamt2v.pipeline.stream")


def layout_hint(shape: tuple[int, ...], image: bool) -> str:
    """How to convert frames of a common other layout to ours (``""`` when the shape suggests none)."""
    dims = len(shape)
    if image:
        if dims == 3 and shape[0] == 3:
            return " (no batch dimension? use x[None])"
        if dims == 3 and shape[-1] == 3:
            return " (channels last (H, W, C)? use x.permute(2, 0, 1)[None])"
        if dims == 4 and shape[-1] == 3 and shape[1] != 3:
            return " (channels last (B, H, W, C)? use x.permute(0, 3, 1, 2))"
        if dims == 5 and shape[:3] == (1, 3, 1):
            return " (a one-frame video? use x[:, :, 0])"
        if dims == 4 and shape[0] > 1 and shape[1] == 3:
            return " (one image per call: x[i : i + 1])"
        return ""
    if (
        dims == 4 and shape[-1] == 3
    ):  # before (C, T, H, W): (3, H, W, 3) is 3 frames, as video_frames reads it
        return " (channels last (T, H, W, C) frames? use x.permute(3, 0, 1, 2)[None])"
    if dims == 4 and shape[0] == 3:
        return " (no batch dimension (C, T, H, W)? use x[None])"
    if dims == 4 and shape[1] == 3:
        return " ((T, C, H, W) frames? use x.permute(1, 0, 2, 3)[None])"
    if dims == 5 and shape[-1] == 3 and shape[1] != 3:
        return " (channels last (B, T, H, W, C)? use x.permute(0, 4, 1, 2, 3))"
    if dims == 5 and shape[2] == 3 and shape[1] != 3:
        return " ((B, T, C, H, W)? use x.permute(0, 2, 1, 3, 4))"
    if dims == 5 and shape[0] > 1 and shape[1] == 3:
        return " (one video per call: x[i : i + 1])"
    return ""


def check_frames(name: str, video: torch.Tensor, size: int, *, image: bool = False) -> torch.Tensor:
    """The user's frames as the stream's own float32 CPU copy in [-1, 1] (never aliasing the caller's),
    shaped ``(1, 3, T, H, W)``; ``image``: the user gave one image ``(1, 3, H, W)`` (returned with T = 1)."""
    video = check_pixels(video, name, image=image)
    shape = tuple(video.shape)
    if image:
        if video.dim() != 4 or shape[:2] != (1, 3):
            raise ValueError(f"{name} must be shaped (1, 3, H, W), got {shape}{layout_hint(shape, True)}")
        video = video.unsqueeze(2)
    elif video.dim() != 5 or shape[:2] != (1, 3) or shape[2] < 1:
        raise ValueError(f"{name} must be shaped (1, 3, T>=1, H, W), got {shape}{layout_hint(shape, False)}")
    h, w = video.shape[-2:]
    if (h, w) != (size, size):
        stretch = (
            f", stretching it {w}:{h} -> 1:1 (crop or pad it to a square first to keep its proportions)"
            if h != w
            else ""
        )
        logger.warning("%s is %dx%d; resizing to the model's %dx%d%s", name, w, h, size, size, stretch)
        video = resize_video(video.float(), size)
    return video.to("cpu", torch.float32)
