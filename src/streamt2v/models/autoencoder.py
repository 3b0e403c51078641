"""The video autoencoder: a per-frame diffusers ``AutoencoderKL`` (paper §3, latent video diffusion).

This is the ONLY module that knows the latent scaling (``vae.config.scaling_factor``: 0.18215 for
ModelScope T2V / SD-2.1, optional ``shift_factor``). Everything else in the library works with scaled
latents ``(B, 4, T, h, w)`` and pixels ``(B, 3, T, H, W)`` in ``[-1, 1]``. Encoding and decoding go over
the frames in slices of ``frames_per_slice`` so memory does not grow with the video length.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from torch import nn


class VideoAutoencoder(nn.Module):
    """Frame-wise ``AutoencoderKL`` over ``(B, C, T, H, W)`` videos, sliced over time."""

    def __init__(self, vae: AutoencoderKL, frames_per_slice: int = 8) -> None:
        super().__init__()
        if frames_per_slice < 1:
            raise ValueError(f"frames_per_slice must be >= 1, got {frames_per_slice}")
        self.vae = vae
        self.frames_per_slice = int(frames_per_slice)

    @property
    def scaling_factor(self) -> float:
        """Latent scaling (``z_scaled = (z - shift) * scaling``), from the VAE's own config."""
        return float(self.vae.config.scaling_factor)

    @property
    def shift_factor(self) -> float:
        shift = getattr(self.vae.config, "shift_factor", None)
        return float(shift) if shift is not None else 0.0

    @property
    def scale_factor(self) -> int:
        """Pixels per latent pixel along each spatial axis (``2 ** (levels - 1)``)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def device(self) -> torch.device:
        return self.vae.device

    @property
    def dtype(self) -> torch.dtype:
        return self.vae.dtype

    def _check(self, x: torch.Tensor, channels: int, what: str) -> None:
        if x.ndim != 5 or x.shape[1] != channels:
            raise ValueError(f"{what} must be (B, {channels}, T, H, W), got shape {tuple(x.shape)}")

    @torch.no_grad()
    def encode(
        self,
        video: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = False,
    ) -> torch.Tensor:
        """``(B, 3, T, H, W)`` in ``[-1, 1]`` → scaled latents ``(B, 4, T, H/f, W/f)``.

        ``sample=False`` takes the posterior mode (deterministic); ``sample=True`` draws from it with
        ``generator``.
        """
        self._check(video, 3, "video")
        b, _, t, h, w = video.shape
        f = self.scale_factor
        if h % f or w % f:
            raise ValueError(f"frame size {h}x{w} is not divisible by the VAE scale factor {f}")
        out = []
        for t0 in range(0, t, self.frames_per_slice):
            part = video[:, :, t0 : t0 + self.frames_per_slice]
            n = part.shape[2]
            x = part.permute(0, 2, 1, 3, 4).reshape(b * n, 3, h, w)  # (B n, 3, H, W)
            x = x.to(device=self.vae.device, dtype=self.vae.dtype)
            dist = self.vae.encode(x).latent_dist
            z = dist.sample(generator=generator) if sample else dist.mode()
            z = (z - self.shift_factor) * self.scaling_factor
            out.append(z.reshape(b, n, *z.shape[1:]).permute(0, 2, 1, 3, 4))  # (B, 4, n, h, w)
        return torch.cat(out, dim=2)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``(B, 4, T, h, w)`` → video ``(B, 3, T, h*f, w*f)`` clamped to ``[-1, 1]``."""
        self._check(latents, self.latent_channels, "latents")
        b, c, t, h, w = latents.shape
        out = []
        for t0 in range(0, t, self.frames_per_slice):
            part = latents[:, :, t0 : t0 + self.frames_per_slice]
            n = part.shape[2]
            z = part.permute(0, 2, 1, 3, 4).reshape(b * n, c, h, w)
            z = z.to(device=self.vae.device, dtype=self.vae.dtype)
            z = z / self.scaling_factor + self.shift_factor
            x = self.vae.decode(z).sample.clamp(-1.0, 1.0)  # (B n, 3, H, W)
            out.append(x.reshape(b, n, *x.shape[1:]).permute(0, 2, 1, 3, 4))
        return torch.cat(out, dim=2)
