"""SDEdit starts (paper §4.3): noise a clean latent to step ``t'`` and denoise from there: the enhancer's, and
stage 2's chunk start from its conditioning frames (``chunk_strength``, :func:`start_step_from_strength`).

The paper and the official ModelScope code start at ``T' = 600`` of 1000 training steps (``t = 599``) and run
30 DPM-Solver++ steps over ``[599, 0]`` with trailing spacing. With a diffusers scheduler we reproduce that
by building a longer schedule (``≈ N · T_train / t'`` steps) and starting at its first timestep below
``t'`` (``set_begin_index``); for 600/30 with trailing spacing this gives exactly 599, 579, …, 19.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)


def start_step_from_strength(strength: float, num_train_timesteps: int = 1000) -> int:
    """SDEdit strength in ``(0, 1]`` → start step ``round(strength · num_train_timesteps)``."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"SDEdit strength must be in (0, 1], got {strength}")
    return max(1, round(strength * num_train_timesteps))


def sdedit_timesteps(
    scheduler: Any,
    num_inference_steps: int,
    start_step: int,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Configure ``scheduler`` for exactly ``num_inference_steps`` steps starting below ``start_step``.

    The scheduler's own spacing is kept: its schedule is lengthened until exactly ``num_inference_steps`` of
    its timesteps are ``< start_step`` (or, if no length gives exactly that, the last
    ``num_inference_steps`` of the first schedule that has enough), and its begin index is set so that
    ``add_noise`` and stateful ``step`` calls start there. Returns the timesteps to run (descending).
    """
    num_train = int(scheduler.config.num_train_timesteps)
    if num_inference_steps < 1:
        raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
    if not 0 < start_step <= num_train:
        raise ValueError(f"SDEdit start step must be in 1..{num_train}, got {start_step}")
    if num_inference_steps > start_step:
        raise ValueError(
            f"cannot run {num_inference_steps} distinct steps below start step {start_step}; "
            f"use at most {start_step} steps"
        )
    chosen = None
    for total in range(num_inference_steps, num_train + 1):
        scheduler.set_timesteps(total, device=device)
        if bool((scheduler.timesteps < 0).any()):
            # diffusers' "trailing" spacing ends at t = -1 when ``total`` does not divide the training
            # steps; alphas_cumprod[-1] is the noisiest step, so such a schedule ends in noise
            continue
        kept = int((scheduler.timesteps < start_step).sum())
        if kept == num_inference_steps:
            chosen = total
            break
        if kept > num_inference_steps and chosen is None:
            chosen = total  # remember; keep looking for an exact fit a little longer
        if chosen is not None and total > chosen + 8:
            break
    if chosen is None:
        raise ValueError(
            f"scheduler {type(scheduler).__name__} cannot place {num_inference_steps} steps below "
            f"start step {start_step}"
        )
    scheduler.set_timesteps(chosen, device=device)
    timesteps = scheduler.timesteps
    begin = len(timesteps) - num_inference_steps
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    timesteps = timesteps[begin:]
    logger.debug(
        "SDEdit: %d of %d scheduler steps, t from %s to %s",
        len(timesteps),
        chosen,
        int(timesteps[0]),
        int(timesteps[-1]),
    )
    return timesteps


def sdedit_noise(
    scheduler: Any, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """Diffuse clean ``latents`` to the first of ``timesteps`` with the given (shared) ``noise`` (eq. 1, 7).

    Uses the scheduler's own ``add_noise`` so that the result is in its sample convention (VP ``x_t`` for
    DDIM/DPM-Solver, sigma-scaled for Euler). ``noise`` has the shape of ``latents``; the enhancer passes
    one whole-video tensor so overlapping chunks share it.
    """
    if noise.shape != latents.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} != latents shape {tuple(latents.shape)}")
    t0 = timesteps[:1].to(latents.device)
    return scheduler.add_noise(latents, noise, t0)
