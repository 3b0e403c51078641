"""Schedulers and the loop that steps them: diffusers schedulers built fresh for every chunk (DESIGN §3; they
hold state), the keyword arguments of a step, :func:`sample_loop` with its known frames (:class:`KnownFrames`)
and the check that stops a run whose latents went non-finite.

Defaults of the official release (official-facts §1.5): stage 1 uses DPM-Solver++ multistep (50 steps),
stage 2 DDIM (50 steps, η = 1.0; paper §4, appendix Tab. 12), the enhancer DPM++ 2M SDE.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    SchedulerMixin,
)

from streamt2v.arguments import Arg, NamesArguments
from streamt2v.sampling.sdedit import sdedit_noise, sdedit_timesteps
from streamt2v.wording import counted

# name -> (class, fixed arguments that define the method)
_SCHEDULERS: dict[str, tuple[type[SchedulerMixin], dict[str, Any]]] = {
    "ddim": (DDIMScheduler, {}),
    "dpm-multistep": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp-2m-sde": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "euler": (EulerDiscreteScheduler, {}),
    "ddpm": (DDPMScheduler, {}),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(_SCHEDULERS)
# diffusers' spacings of the sampling timesteps over the training schedule, which every scheduler above takes
TIMESTEP_SPACINGS: tuple[str, ...] = ("leading", "trailing", "linspace")


def make_scheduler(name: str, base_config: Mapping[str, Any], **overrides: Any) -> SchedulerMixin:
    """A fresh scheduler ``name`` built from a diffusers scheduler config (the noise schedule of the model).

    ``base_config`` is any diffusers scheduler config dict (``num_train_timesteps``, ``beta_*``,
    ``prediction_type`` …); keys the class does not know are ignored. ``overrides`` win over both the
    base config and the method's fixed arguments. Unknown ``name`` raises ``ValueError``.
    """
    try:
        cls, fixed = _SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULER_NAMES)}") from None
    config = {k: v for k, v in dict(base_config).items() if not k.startswith("_")}
    config.update(fixed)
    config.update(overrides)
    scheduler = cls.from_config(config)
    defaults = scheduler.config.get("_use_default_values")
    if defaults is not None:
        # diffusers lists the defaulted options from a set, in an order that changes from process to process
        # (string hashing): sorted, the config is the same in every process, as the stage-3 state key needs
        # (with it a stopped `enhance` always started over: "its saved state ... is of another ... setting")
        scheduler.register_to_config(_use_default_values=sorted(defaults))
    return scheduler


# Zero terminal SNR (ᾱ = 0 at the last training step) with DDIM at η = 1: on the first step the step's
# variance equals 1 - ᾱ_prev exactly, and DDIM's sqrt(1 - ᾱ_prev - σ²) rounds below zero to a NaN sample
# for some step counts (50 among them; diffusers issue 5969). η a millionth below 1 keeps the root real
# and changes σ by as little.
ZERO_SNR_MAX_ETA = 1.0 - 1e-6


def step_kwargs(
    scheduler: SchedulerMixin, *, eta: float | None = None, generator: torch.Generator | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``scheduler.step`` that this scheduler accepts (η for DDIM, the generator for
    every stochastic step), so one sampling loop serves all schedulers and a seed controls all noise."""
    params = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {}
    if eta is not None and "eta" in params:
        if float(getattr(scheduler, "alphas_cumprod", torch.ones(1)).min()) == 0.0:
            eta = min(eta, ZERO_SNR_MAX_ETA)
        kwargs["eta"] = eta
    if generator is not None and "generator" in params:
        kwargs["generator"] = generator
    return kwargs


@dataclass(frozen=True)
class KnownFrames:
    """Frames of the sampled clip whose clean latents are known: the replacement method (Ho et al. 2022,
    "Video Diffusion Models" §3.1, as diffusers' inpainting with a non-inpainting UNet). Before every model
    call the first ``latents.shape[2]`` frame slots are set to ``latents`` noised to the current timestep
    with the fixed ``noise``, so the other frames are denoised next to the real frames."""

    latents: torch.Tensor  # (B, C, n, h, w), scaled like the sampled latents
    noise: torch.Tensor  # same shape

    def __post_init__(self) -> None:
        if self.latents.shape != self.noise.shape:
            raise ValueError(
                f"known latents {tuple(self.latents.shape)} and noise {tuple(self.noise.shape)} differ in shape"
            )

    def apply(self, scheduler: SchedulerMixin, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = self.latents.shape[2]
        if x.shape[:2] != self.latents.shape[:2] or x.shape[3:] != self.latents.shape[3:] or x.shape[2] < n:
            raise ValueError(
                f"known latents {tuple(self.latents.shape)} do not fit the clip {tuple(x.shape)}"
            )
        timesteps = t.reshape(1).expand(x.shape[0]).to(x.device)
        noised = scheduler.add_noise(self.latents.to(x), self.noise.to(x), timesteps)
        return torch.cat([noised, x[:, :, n:]], dim=2)


def sample_loop(
    scheduler: SchedulerMixin,
    latents: torch.Tensor,
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    num_steps: int,
    eta: float | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, int], None] | None = None,
    known: KnownFrames | None = None,
    start_latents: torch.Tensor | None = None,
    start_step: int | None = None,
) -> torch.Tensor:
    """Run ``num_steps`` of ``scheduler`` from pure noise ``latents`` (unit variance, drawn by the caller).

    ``model_fn(x_in, t)`` returns the (guided) model output for the scaled input. Stochastic steps (DDIM
    η > 0, DDPM, SDE solvers) draw from ``generator`` — pass a CPU generator for device-independent noise
    (DESIGN §4). ``callback(i, num_steps)`` is called after every step (progress bars). ``known``: leading
    frames held at their known latents (:class:`KnownFrames`); their slots in the result are the model's.
    ``start_latents`` with ``start_step`` (SDEdit, sampling/sdedit.py): the ``num_steps`` run below
    ``start_step``, from ``start_latents`` (clean, shaped like ``latents``) noised with ``latents`` to the
    first of them, instead of from pure noise.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if (start_latents is None) != (start_step is None):
        raise ValueError("give start_latents and start_step together (SDEdit), or neither")
    if start_latents is None:
        scheduler.set_timesteps(num_steps, device=latents.device)
        timesteps = scheduler.timesteps
        x = latents * scheduler.init_noise_sigma
    else:
        timesteps = sdedit_timesteps(scheduler, num_steps, start_step, device=latents.device)
        x = sdedit_noise(scheduler, start_latents.to(latents), latents, timesteps)
    kwargs = step_kwargs(scheduler, eta=eta, generator=generator)
    # diffusers' randn_tensor draws on a CPU generator's device and moves the noise: device-independent.
    for i, t in enumerate(timesteps):
        if known is not None:
            x = known.apply(scheduler, x, t)
        x_in = scheduler.scale_model_input(x, t)
        out = model_fn(x_in, t)
        x = scheduler.step(out, t, x, **kwargs, return_dict=False)[0]
        if callback is not None:
            callback(i + 1, num_steps)
    return x


class NonFiniteLatentsError(NamesArguments, RuntimeError):
    """Sampling produced NaN or infinite latents: a video of them would decode to black frames."""


def check_finite_latents(x: torch.Tensor, where: str, compute_dtype: torch.dtype | None = None) -> None:
    """A :class:`NonFiniteLatentsError` naming ``where`` when ``x`` holds a NaN or an infinity;
    ``compute_dtype``: the UNet's, when it differs from ``x``'s (a float16 UNet gets a hint).

    One reduction and one device sync, so callers check once per chunk (or per enhancement step, whose
    state is saved for resuming and must not be a poisoned one), not inside the UNet."""
    bad = int((~torch.isfinite(x)).sum())
    if not bad:
        return
    dtype = compute_dtype or x.dtype
    hint = ("; float16 overflows in large UNets: use bf16 or fp32 (", Arg("dtype"), ")")
    raise NonFiniteLatentsError(
        f"{where}: sampling produced {counted(bad, 'NaN or infinite latent value')} of {x.numel()} "
        f"(UNet dtype {str(dtype).removeprefix('torch.')})",
        *(hint if dtype == torch.float16 else ()),
    )
