"""Frame-correlated Gaussian noise for video diffusion: the mixed noise prior of PYoCo (Ge et al. 2023,
"Preserve Your Own Correlation"), used in training and in sampling.

Each frame's noise is ``sqrt(ρ) · shared + sqrt(1 − ρ) · own``: still N(0, 1) per element, but any two frames
of a clip correlate by ``ρ``. With ``ρ = 0`` the draw is exactly ``torch.randn(shape, generator)``, so
seeds keep giving the videos they gave before the option existed.
"""

from __future__ import annotations

import torch


def check_correlation(correlation: float, name: str = "noise_correlation") -> float:
    """``correlation`` as a float in ``[0, 1)`` (1 would give every frame the same noise: a still video)."""
    value = float(correlation)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {correlation!r}")
    return value


def frame_correlated_noise(
    shape: tuple[int, ...],
    correlation: float = 0.0,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Noise ``(B, C, T, H, W)`` whose frames (dim 2) correlate by ``correlation``; drawn on the CPU
    generator's device (move it after), own noise first, then the shared part."""
    rho = check_correlation(correlation)
    own = torch.randn(shape, generator=generator, dtype=dtype)
    if rho == 0.0:
        return own
    b, c, _, h, w = shape
    shared = torch.randn((b, c, 1, h, w), generator=generator, dtype=dtype)
    return rho**0.5 * shared + (1.0 - rho) ** 0.5 * own
