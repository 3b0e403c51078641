"""Denoiser: conversions, batched CFG and loss against analytic answers."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from streamt2v.models.denoiser import Denoiser

AC = torch.linspace(0.99, 0.01, 1000, dtype=torch.float64)


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_conversions_roundtrip(ptype: str) -> None:
    d = Denoiser(ptype, AC)
    x0 = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 500, 999])
    xt = d.add_noise(x0, eps, t)
    a = AC[t].view(3, 1, 1, 1, 1)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)
    pred = d.target(x0, eps, t)
    torch.testing.assert_close(d.to_epsilon(pred, xt, t), eps)
    torch.testing.assert_close(d.to_x0(pred, xt, t), x0)
    torch.testing.assert_close(d.to_v(pred, xt, t), a.sqrt() * eps - (1 - a).sqrt() * x0)
    torch.testing.assert_close(d.from_x0(x0, xt, t), pred)


def test_from_scheduler_and_validation() -> None:
    s = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    d = Denoiser.from_scheduler(s)
    assert d.prediction_type == "epsilon" and d.num_train_timesteps == 1000
    with pytest.raises(ValueError, match="prediction_type 'sample'"):
        Denoiser("sample", AC)
    with pytest.raises(ValueError, match=r"timesteps \[1000\] outside \[0, 1000\)"):
        d.add_noise(torch.zeros(1, 2), torch.zeros(1, 2), 1000)


def test_zero_terminal_snr_needs_v_prediction() -> None:
    s = DDPMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        rescale_betas_zero_snr=True,
        prediction_type="v_prediction",
    )
    assert float(s.alphas_cumprod[-1]) == 0.0
    d = Denoiser.from_scheduler(s)
    x0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([999, 999])
    xt = d.add_noise(x0, eps, t)
    torch.testing.assert_close(xt, eps)  # the last step is pure noise
    pred = d.target(x0, eps, t)
    torch.testing.assert_close(pred, -x0)  # v = -x0 there, so x0 stays recoverable
    torch.testing.assert_close(d.to_x0(pred, xt, t), x0)
    torch.testing.assert_close(d.to_epsilon(pred, xt, t), eps)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        Denoiser("epsilon", s.alphas_cumprod)
    bad = AC.clone()
    bad[10] = 0.0
    with pytest.raises(ValueError, match="only at the last"):
        Denoiser("v_prediction", bad)


def _linear_model(x, t, text=None, scale=1.0, frames=None):
    out = x * 2 + text.view(-1, 1) * scale
    if frames is not None:
        out = out + frames
    return out


def test_guidance_is_batched_and_analytic() -> None:
    d = Denoiser("epsilon", AC)
    calls = []

    def model(x, t, **kw):
        calls.append(x.shape[0])
        return _linear_model(x, t, **kw)

    x = torch.randn(2, 3)
    cond = {"text": torch.tensor([1.0, 2.0]), "scale": 1.0}
    uncond = {"text": torch.tensor([0.0, 0.0]), "scale": 1.0}
    frames = torch.randn(2, 3)
    out = d.guided_output(model, x, 5, cond, uncond, 7.5, shared_kwargs={"frames": frames})
    assert calls == [4]  # one forward for both branches
    u = 2 * x + frames
    c = 2 * x + torch.tensor([1.0, 2.0]).view(-1, 1) + frames
    torch.testing.assert_close(out, u + 7.5 * (c - u))
    calls.clear()
    out1 = d.guided_output(model, x, torch.tensor([3, 4]), cond, uncond, 1.0)
    assert calls == [2]
    torch.testing.assert_close(out1, 2 * x + torch.tensor([1.0, 2.0]).view(-1, 1))


def test_guidance_batch_order_is_uncond_then_cond() -> None:
    d = Denoiser("epsilon", AC)
    seen = {}

    def model(x, t, text):
        seen["text"] = text.clone()
        seen["t"] = t
        return text.view(-1, 1).expand_as(x)

    x = torch.zeros(1, 2)
    d.guided_output(model, x, torch.tensor([7]), {"text": torch.ones(1)}, {"text": torch.zeros(1)}, 3.0)
    assert seen["text"].tolist() == [0.0, 1.0]
    assert seen["t"].tolist() == [7, 7]


def test_guidance_rescale() -> None:
    d = Denoiser("epsilon", AC)

    def model(x, t, text):
        return x * text.view(-1, 1)

    x = torch.randn(1, 64)
    cond, uncond = {"text": torch.tensor([1.0])}, {"text": torch.tensor([0.5])}
    plain = d.guided_output(model, x, 0, cond, uncond, 5.0)
    full = d.guided_output(model, x, 0, cond, uncond, 5.0, guidance_rescale=1.0)
    torch.testing.assert_close(full.std(), x.std())  # std matched to the conditional output
    half = d.guided_output(model, x, 0, cond, uncond, 5.0, guidance_rescale=0.5)
    torch.testing.assert_close(half, 0.5 * full + 0.5 * plain)


def test_guidance_errors() -> None:
    d = Denoiser("epsilon", AC)
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="must equal cond_kwargs keys"):
        d.guided_output(_linear_model, x, 0, {"text": torch.ones(1)}, {}, 2.0)
    with pytest.raises(ValueError, match=r"'text': uncond shape \(2,\) != cond shape \(1,\)"):
        d.guided_output(_linear_model, x, 0, {"text": torch.ones(1)}, {"text": torch.ones(2)}, 2.0)


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_loss_is_zero_for_the_perfect_model(ptype: str) -> None:
    d = Denoiser(ptype, AC)
    x0 = torch.randn(2, 4, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([10, 900])

    def oracle(xt, tt):
        return d.from_x0(x0, xt, tt)

    assert d.loss(oracle, x0, noise, t).item() < 1e-10

    def zero(xt, tt):
        return torch.zeros_like(xt)

    expected = d.target(x0, noise, t).float().pow(2).mean()
    torch.testing.assert_close(d.loss(zero, x0, noise, t), expected)


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_restoration_loss_noises_the_source_and_targets_the_clean_sample(ptype: str) -> None:
    d = Denoiser(ptype, AC)
    x0 = torch.randn(2, 4, 3, 4, 4, dtype=torch.float64)
    blurred = 0.5 * x0 + 0.5 * x0.mean(dim=(3, 4), keepdim=True)
    noise = torch.randn_like(x0)
    t = torch.tensor([3, 80])
    inputs = []

    def restorer(xt, tt):  # knows the clean sample: the perfect restoration model
        inputs.append(xt)
        return d.from_x0(x0, xt, tt)

    assert d.loss(restorer, x0, noise, t, source=blurred).item() < 1e-10
    torch.testing.assert_close(inputs[-1], d.add_noise(blurred, noise, t))

    # the plain denoiser of the blurred input is penalised by how much blur it leaves
    def denoiser(xt, tt):
        return d.from_x0(blurred, xt, tt)

    assert d.loss(denoiser, x0, noise, t, source=blurred).item() > 1e-3


def test_x0_space_loss_is_the_clean_sample_error() -> None:
    d = Denoiser("v_prediction", AC)
    x0 = torch.randn(1, 4, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    off = 0.1 * torch.randn_like(x0)

    def wrong_by(xt, tt):  # predicts x0 + off
        return d.from_x0(x0 + off, xt, tt)

    for t in (0, 50, 500):
        x0_err = off.float().pow(2).mean()
        torch.testing.assert_close(d.loss(wrong_by, x0, noise, t, x0_space=True), x0_err)
        # v's error is x̂0's over sqrt(1 - ᾱ_t): near t = 0 the same miss costs far more
        v_err = d.loss(wrong_by, x0, noise, t)
        torch.testing.assert_close(v_err, x0_err / (1 - AC[t]).float(), rtol=1e-4, atol=0)


def test_weighted_loss_is_the_weighted_mean_of_the_squared_error() -> None:
    d = Denoiser("v_prediction", AC)
    x0 = torch.randn(2, 4, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([10, 900])

    def zero(xt, tt):
        return torch.zeros_like(xt)

    sq_err = d.target(x0, noise, t).float().pow(2)
    ones = torch.ones(2, 1, 3, 4, 4)
    torch.testing.assert_close(d.loss(zero, x0, noise, t, weight=ones), d.loss(zero, x0, noise, t))
    w = torch.zeros(2, 1, 3, 4, 4)
    w[:, :, :, 1, 2] = 3.0  # only one latent position per frame counts
    expected = sq_err[:, :, :, 1, 2].mean()
    torch.testing.assert_close(d.loss(zero, x0, noise, t, weight=w), expected)


def test_loss_weight_may_be_a_function_of_the_predicted_clean_sample() -> None:
    d = Denoiser("v_prediction", AC)
    x0 = torch.randn(2, 4, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([10, 900])
    seen = []

    def zero(xt, tt):
        return torch.zeros_like(xt, requires_grad=True)

    def weight_of(x0_pred):
        seen.append(x0_pred)
        w = torch.zeros(2, 1, 3, 4, 4)
        w[:, :, :, 1, 2] = 1.0
        return w

    loss = d.loss(zero, x0, noise, t, weight=weight_of)
    x_t = d.add_noise(x0, noise, t)
    # A zero v-prediction means x̂0 = sqrt(ᾱ_t) · x_t; the weights see it detached from the graph.
    torch.testing.assert_close(seen[0], d.to_x0(torch.zeros_like(x_t), x_t, t))
    assert not seen[0].requires_grad
    torch.testing.assert_close(loss, d.target(x0, noise, t).float().pow(2)[:, :, :, 1, 2].mean())


class _CopiesFromTheCpu(TorchDispatchMode):
    """Records every op that takes a CPU tensor and gives a tensor on another device (a host-to-device copy)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        outputs = [o for o in tree_leaves(out) if isinstance(o, torch.Tensor)]
        if any(a.device.type == "cpu" for a in inputs) and any(o.device.type != "cpu" for o in outputs):
            self.ops.append(str(func))
        return out


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_coefficients_of_device_timesteps_never_wait_for_the_device(ptype: str) -> None:
    """The meta device stands in for a GPU: reading a value back (``.cpu()``, ``.item()``, ``bool()``: a
    host-device sync every step) raises there, and a copy from the CPU shows in the dispatched ops."""
    d = Denoiser(ptype, AC)
    x = torch.empty(2, 4, 3, 8, 8, device="meta")
    t = torch.empty((), dtype=torch.long, device="meta")  # a scheduler's timestep, on the device
    d.add_noise(x, x, t)  # the first call copies the coefficient table to the device
    with _CopiesFromTheCpu() as copies:
        for _ in range(3):  # sampling or training steps
            assert d.to_x0(x, x, t).device.type == "meta"
            assert d.from_x0(x, x, t).device.type == "meta"
            assert d.loss(lambda xt, tt: 2 * xt, x, x, t.expand(2), x0_space=True).device.type == "meta"
    assert copies.ops == []
