"""What stage 3 is given, made from a training clip: restoration training of the refiner.

Stage 3 refines a video generated at the base resolution, decoded by the stage-1/2 VAE and upscaled
bilinearly (``pipeline/enhance.py``). A refiner trained only to denoise clean clips leaves that blur in
place at the low noise levels SDEdit starts from; trained to recover the clean clip from this
degradation, it sharpens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class LowResolutionDegradation(nn.Module):
    """``(B, 3, T, H, W)`` → the same video downscaled by ``scale``, optionally passed through a VAE
    (encode, decode) at that size, and upscaled back: the antialiased bilinear resize of the enhancer."""

    def __init__(self, scale: int, vae: Any = None) -> None:
        super().__init__()
        if scale < 2:
            raise ValueError(f"degradation scale must be an integer ≥ 2, got {scale}")
        self.scale = scale
        self.vae = vae  # a frozen VideoAutoencoder or None

    @torch.no_grad()
    def forward(self, video: torch.Tensor) -> torch.Tensor:
        from streamt2v.pixels import resize_video

        h, w = video.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"frame size {h}×{w} is not divisible by the degradation scale {self.scale}")
        low = resize_video(video, (h // self.scale, w // self.scale))
        if self.vae is not None:
            low = self.vae.decode(self.vae.encode(low))
        return resize_video(low, (h, w)).clamp(-1, 1)
