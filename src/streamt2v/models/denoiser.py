"""The denoiser: prediction type, classifier-free guidance and the training loss in one place.

Networks return a raw prediction (``epsilon`` or ``v``); this module turns it into ε / x₀ / v, batches the
conditional and unconditional branches of classifier-free guidance into one forward (paper §10.1, CFG with
ω = 7.5, batch order ``[uncond; cond]`` as the official pipeline), and defines the training loss on the same
target, so sampling and training cannot disagree (DESIGN §3).

Forward process (DDPM): ``x_t = sqrt(ᾱ_t) x₀ + sqrt(1 - ᾱ_t) ε``; ``v = sqrt(ᾱ_t) ε - sqrt(1 - ᾱ_t) x₀``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")
ModelFn = Callable[..., torch.Tensor]


def _as_batch_timesteps(t: torch.Tensor | int, batch: int) -> torch.Tensor:
    t = torch.as_tensor(t)
    if t.ndim == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"timesteps must be a scalar or shape ({batch},), got {tuple(t.shape)}")
    return t


def _cat_cfg(name: str, uncond: Any, cond: Any) -> Any:
    """Stack one keyword argument of the two CFG branches along the batch: ``[uncond; cond]``."""
    if uncond is None and cond is None:
        return None
    if isinstance(cond, torch.Tensor) and isinstance(uncond, torch.Tensor):
        if uncond.shape != cond.shape:
            raise ValueError(
                f"guidance argument {name!r}: uncond shape {tuple(uncond.shape)} != "
                f"cond shape {tuple(cond.shape)}"
            )
        return torch.cat([uncond, cond], dim=0)
    if isinstance(cond, torch.Tensor) or isinstance(uncond, torch.Tensor):
        raise ValueError(f"guidance argument {name!r} is a tensor in only one branch")
    if uncond != cond:
        raise ValueError(f"guidance argument {name!r} is a non-tensor that differs between branches")
    return cond


def rescale_guidance(cfg: torch.Tensor, cond: torch.Tensor, rescale: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2023, "Common Diffusion Noise Schedules ...", §3.4, Eq. 15–16).

    Matches each sample's std of the guided output to the conditional output's, blended by ``rescale``.
    """
    dims = tuple(range(1, cfg.ndim))
    std_cond = cond.std(dim=dims, keepdim=True)
    std_cfg = cfg.std(dim=dims, keepdim=True)
    rescaled = cfg * (std_cond / std_cfg)
    return rescale * rescaled + (1.0 - rescale) * cfg


def weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error in float32; with ``weight`` (broadcastable to ``pred``), ``Σ w·err² / Σ w``."""
    sq_err = (pred.float() - target.float()).square()
    if weight is None:
        return sq_err.mean()
    weight = weight.float().expand_as(sq_err)
    return (sq_err * weight).sum() / weight.sum()


class Denoiser:
    """Prediction-type conversions, batched CFG and the diffusion training loss.

    ``alphas_cumprod`` is the noise schedule ᾱ (length = number of training timesteps), e.g.
    ``scheduler.alphas_cumprod`` of a diffusers scheduler (see :meth:`from_scheduler`).
    """

    def __init__(self, prediction_type: str, alphas_cumprod: torch.Tensor) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type {prediction_type!r} not in {PREDICTION_TYPES}")
        ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
        if ac.ndim != 1 or len(ac) == 0 or not bool(((ac >= 0) & (ac <= 1)).all()):
            raise ValueError("alphas_cumprod must be a non-empty 1-D tensor with values in [0, 1]")
        if bool((ac[:-1] == 0).any()):
            raise ValueError("alphas_cumprod may be 0 only at the last timestep (zero terminal SNR)")
        if float(ac[-1]) == 0 and prediction_type == "epsilon":
            # x₀ = (x_t − sqrt(1−ᾱ) ε) / sqrt(ᾱ) is undefined at ᾱ = 0 (Lin et al. 2023, §3.2)
            raise ValueError("a zero terminal SNR schedule (ᾱ_T = 0) needs prediction_type='v_prediction'")
        self.prediction_type = prediction_type
        self.alphas_cumprod = ac
        # (sqrt(ᾱ), sqrt(1 - ᾱ)) of every timestep, per (device, dtype) of the tensors seen (see _coefs)
        self._coef_tables: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    @classmethod
    def from_scheduler(cls, scheduler: Any) -> Denoiser:
        """From a diffusers scheduler (its ``config.prediction_type`` and ``alphas_cumprod``)."""
        return cls(scheduler.config.prediction_type, scheduler.alphas_cumprod)

    @property
    def num_train_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def _coefs(self, t: torch.Tensor | int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``sqrt(ᾱ_t)``, ``sqrt(1 - ᾱ_t)`` broadcast to ``x`` (``t`` scalar or ``(B,)``).

        Called every sampling or training step, so it never waits for the device: the coefficients are
        looked up where ``x`` is, in a table copied there once, and timesteps are range-checked when they are
        on the CPU (a Python int, a CPU tensor). An accelerator's timesteps (a scheduler's) are not read back
        for the check; an index out of range there is the device's own indexing error (``index_select``:
        no wrap-around of negative timesteps)."""
        t = _as_batch_timesteps(t, x.shape[0]).to(torch.long)
        if t.device.type == "cpu" and (bool((t < 0).any()) or bool((t >= self.num_train_timesteps).any())):
            raise ValueError(f"timesteps {t.tolist()} outside [0, {self.num_train_timesteps})")
        table = self._coef_tables.get((x.device, x.dtype))
        if table is None:
            # float64 roots rounded to x's dtype on the CPU, as before (and MPS has no float64)
            ac = self.alphas_cumprod
            table = torch.stack([ac.sqrt(), (1 - ac).sqrt()]).to(x.dtype).to(x.device)
            self._coef_tables[(x.device, x.dtype)] = table
        shape = (2, x.shape[0]) + (1,) * (x.ndim - 1)
        sa, sb = table.index_select(1, t.to(x.device)).view(shape)
        return sa, sb

    # --- forward process and conversions ------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        sa, sb = self._coefs(t, x0)
        return sa * x0 + sb * noise

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        sa, sb = self._coefs(t, x0)
        return sa * noise - sb * x0

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """What the network is trained to output: ε or v."""
        return noise if self.prediction_type == "epsilon" else self.velocity(x0, noise, t)

    def to_epsilon(self, pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        if self.prediction_type == "epsilon":
            return pred
        sa, sb = self._coefs(t, x_t)
        return sa * pred + sb * x_t

    def to_x0(self, pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        sa, sb = self._coefs(t, x_t)
        if self.prediction_type == "epsilon":
            return (x_t - sb * pred) / sa
        return sa * x_t - sb * pred

    def to_v(self, pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        if self.prediction_type == "v_prediction":
            return pred
        sa, sb = self._coefs(t, x_t)
        x0 = (x_t - sb * pred) / sa
        return sa * pred - sb * x0

    def from_x0(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """The prediction (of this denoiser's type) that corresponds to a given x₀ at ``x_t``."""
        sa, sb = self._coefs(t, x_t)
        eps = (x_t - sa * x0) / sb
        return eps if self.prediction_type == "epsilon" else sa * eps - sb * x0

    # --- guidance -----------------------------------------------------------------------------------
    def guided_output(
        self,
        model_fn: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor | int,
        cond_kwargs: Mapping[str, Any],
        uncond_kwargs: Mapping[str, Any] | None,
        guidance_scale: float,
        guidance_rescale: float = 0.0,
        shared_kwargs: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """Classifier-free guided raw prediction (paper §10.1): ``u + ω (c - u)``, one batched forward.

        ``model_fn(x, t, **kwargs)`` is called once on ``[x; x]`` with each keyword argument stacked as
        ``[uncond; cond]``; ``shared_kwargs`` (e.g. the CAM's conditioning frames, identical in both
        branches) are repeated. With ``guidance_scale == 1`` only the conditional branch runs.
        """
        shared = dict(shared_kwargs or {})
        if guidance_scale == 1.0:
            return model_fn(x, t, **dict(cond_kwargs), **shared)
        if uncond_kwargs is None or set(uncond_kwargs) != set(cond_kwargs):
            got = None if uncond_kwargs is None else sorted(uncond_kwargs)
            raise ValueError(
                f"uncond_kwargs keys {got} must equal cond_kwargs keys {sorted(cond_kwargs)} "
                f"when guidance_scale={guidance_scale} != 1"
            )
        if not 0.0 <= guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {guidance_rescale}")
        kwargs = {k: _cat_cfg(k, uncond_kwargs[k], v) for k, v in cond_kwargs.items()}
        for k, v in shared.items():
            kwargs[k] = torch.cat([v, v], dim=0) if isinstance(v, torch.Tensor) else v
        tt = torch.as_tensor(t)
        t2 = tt if tt.ndim == 0 else torch.cat([tt, tt], dim=0)
        out = model_fn(torch.cat([x, x], dim=0), t2, **kwargs)
        uncond, cond = out.chunk(2, dim=0)
        guided = uncond + guidance_scale * (cond - uncond)
        if guidance_rescale > 0:
            guided = rescale_guidance(guided, cond, guidance_rescale)
        return guided

    # --- training -----------------------------------------------------------------------------------
    def loss(
        self,
        model_fn: ModelFn,
        x0: torch.Tensor,
        noise: torch.Tensor,
        t: torch.Tensor | int,
        weight: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
        source: torch.Tensor | None = None,
        x0_space: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Mean squared error between ``model_fn(x_t, t, **kwargs)`` and the target (ε or v); with
        ``weight`` (broadcastable to ``x0``), the weighted mean ``Σ w·err² / Σ w``. ``weight`` may also be
        a function of the model's predicted clean sample x̂0 (detached) returning such weights, for
        weights that depend on what the model drew.

        ``source``: a degraded version of ``x0`` to noise instead of ``x0`` (restoration training); the
        target is then the prediction whose x̂0 at that ``x_t`` is ``x0`` (:meth:`from_x0`).
        ``x0_space``: the error of the predicted x̂0 against ``x0`` instead (v-prediction's error is
        x̂0's divided by ``sqrt(1 - ᾱ_t)``, which near t = 0 magnifies whatever ``source`` leaves out)."""
        x_t = self.add_noise(x0 if source is None else source, noise, t)
        pred = model_fn(x_t, t, **kwargs)
        if callable(weight):
            weight = weight(self.to_x0(pred.detach(), x_t, t))
        if x0_space:
            return weighted_mse(self.to_x0(pred, x_t, t), x0, weight)
        target = self.target(x0, noise, t) if source is None else self.from_x0(x0, x_t, t)
        return weighted_mse(pred, target, weight)
