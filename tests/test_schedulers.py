"""make_scheduler: names, fresh instances, overrides; the sampling loop honours steps and generator."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from streamt2v.sampling import SCHEDULER_NAMES, KnownFrames, make_scheduler, sample_loop, step_kwargs
from streamt2v.sampling.sdedit import sdedit_timesteps

BASE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "_class_name": "DDIMScheduler",
}


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_name_builds_fresh_and_samples(name):
    a, b = make_scheduler(name, BASE), make_scheduler(name, BASE)
    assert a is not b
    assert a.config.num_train_timesteps == 1000
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    out = sample_loop(
        a, x, lambda x_in, t: 0.1 * x_in, num_steps=3, eta=1.0, generator=torch.Generator().manual_seed(1)
    )
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_method_arguments_and_overrides():
    s = make_scheduler("dpm-multistep", BASE)
    assert isinstance(s, DPMSolverMultistepScheduler) and s.config.algorithm_type == "dpmsolver++"
    assert make_scheduler("dpmpp-2m-sde", BASE).config.algorithm_type == "sde-dpmsolver++"
    s = make_scheduler("ddim", BASE, prediction_type="v_prediction", timestep_spacing="trailing")
    assert isinstance(s, DDIMScheduler)
    assert s.config.prediction_type == "v_prediction" and s.config.timestep_spacing == "trailing"


def test_unknown_name_lists_allowed():
    with pytest.raises(ValueError, match="unknown scheduler 'heun'.*ddim"):
        make_scheduler("heun", BASE)


def test_step_kwargs_only_what_step_accepts():
    g = torch.Generator()
    assert step_kwargs(make_scheduler("ddim", BASE), eta=1.0, generator=g) == {"eta": 1.0, "generator": g}
    assert step_kwargs(make_scheduler("dpm-multistep", BASE), eta=1.0, generator=g) == {"generator": g}


def test_ddim_eta_noise_comes_from_generator_and_steps_matter():
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))

    def run(seed, steps=3, eta=1.0):
        return sample_loop(
            make_scheduler("ddim", BASE),
            x,
            lambda x_in, t: 0.5 * x_in,
            num_steps=steps,
            eta=eta,
            generator=torch.Generator().manual_seed(seed),
        )

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))
    assert torch.equal(run(1, eta=0.0), run(2, eta=0.0))
    assert not torch.equal(run(1, steps=3), run(1, steps=4))
    with pytest.raises(ValueError, match="num_steps"):
        run(1, steps=0)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_known_frames_are_held_at_their_noised_latents(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 4, 4, generator=g)
    known = KnownFrames(torch.randn(1, 4, 2, 4, 4, generator=g), torch.randn(1, 4, 2, 4, 4, generator=g))
    seen = []

    def model_fn(x_in, t):
        seen.append((t, x_in.clone()))
        return 0.1 * x_in

    sched = make_scheduler(name, BASE)
    sample_loop(sched, x, model_fn, num_steps=3, known=known, generator=torch.Generator().manual_seed(1))
    assert len(seen) == 3
    for t, x_in in seen:
        reference = make_scheduler(name, BASE)  # fresh: its noise level is looked up from t
        reference.set_timesteps(3)
        noised = reference.add_noise(known.latents, known.noise, t.reshape(1))
        expected = reference.scale_model_input(noised, t)
        torch.testing.assert_close(x_in[:, :, :2], expected)
        assert not torch.allclose(x_in[:, :, 2:3], expected[:, :, :1])  # the other frames are sampled


def test_known_frames_must_fit():
    z = torch.zeros(1, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="differ in shape"):
        KnownFrames(z, torch.zeros(1, 4, 3, 4, 4))
    with pytest.raises(ValueError, match=r"do not fit the clip \(1, 4, 1, 4, 4\)"):
        sample_loop(
            make_scheduler("ddim", BASE),
            torch.zeros(1, 4, 1, 4, 4),
            lambda x, t: x,
            num_steps=1,
            known=KnownFrames(z, z),
        )


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_sdedit_start_runs_below_the_start_step_from_the_noised_latents(name):
    g = torch.Generator().manual_seed(0)
    noise, clean = torch.randn(1, 4, 3, 4, 4, generator=g), torch.randn(1, 4, 3, 4, 4, generator=g)
    seen = []

    def model_fn(x_in, t):
        seen.append((t, x_in.clone()))
        return 0.1 * x_in

    sched = make_scheduler(name, BASE)
    sample_loop(
        sched, noise, model_fn, num_steps=4, start_latents=clean, start_step=300, generator=torch.Generator()
    )
    assert len(seen) == 4 and all(int(t) < 300 for t, _ in seen)
    first_t, first_in = seen[0]
    reference = make_scheduler(name, BASE)
    assert int(sdedit_timesteps(reference, 4, 300)[0]) == int(first_t)  # the schedule the loop ran
    expected = reference.scale_model_input(reference.add_noise(clean, noise, first_t.reshape(1)), first_t)
    torch.testing.assert_close(first_in, expected)
    with pytest.raises(ValueError, match="give start_latents and start_step together"):
        sample_loop(make_scheduler(name, BASE), noise, model_fn, num_steps=1, start_step=300)


_CONFIG_DIGEST = """
import sys
from streamt2v.pipeline.enhance_state import state_key
from streamt2v.sampling import SCHEDULER_NAMES, make_scheduler
base = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
print({name: state_key(dict(make_scheduler(name, base).config)) for name in SCHEDULER_NAMES})
"""


def test_a_scheduler_config_is_the_same_in_every_process() -> None:
    # stage 3's state key holds the scheduler's config: it differed between processes (diffusers lists the
    # defaulted options from a set of strings, whose order follows the per-process string hash), so a
    # stopped `streamt2v enhance` with the default dpmpp-2m-sde never continued, it always started over
    import os
    import subprocess
    import sys

    # the three processes run side by side: each is mostly its single-threaded imports
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONFIG_DIGEST],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2", "3")
    ]
    digests = set()
    for proc in procs:
        stdout, stderr = proc.communicate()
        assert proc.returncode == 0, stderr
        digests.add(stdout)
    assert len(digests) == 1


def test_ddim_at_eta_1_on_a_zero_terminal_snr_schedule_gives_no_nan():
    # diffusers' DDIM takes sqrt(1 - ᾱ_prev - σ²), which at η = 1 from ᾱ_t = 0 is the root of a rounded
    # zero: for 50 trailing steps it is negative and the whole sample NaN (the official stage-2 η is 1)
    config = {
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": True,
        "timestep_spacing": "trailing",
    }
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    raw = make_scheduler("ddim", config)
    raw.set_timesteps(50)
    t = raw.timesteps[0]
    prev = t - raw.config.num_train_timesteps // raw.num_inference_steps
    assert float(raw.alphas_cumprod[t]) == 0.0
    # on the edge: 1 - ᾱ_prev - σ² at η = 1 is a rounded zero, whose sign depends on the CPU's float
    # arithmetic (NaN on an AMD EPYC, 0 on an Intel Xeon)
    variance = raw._get_variance(t, prev)
    assert abs(float(1 - raw.alphas_cumprod[prev] - variance)) <= 1e-6
    # so η is kept a millionth below 1 there, which keeps the root real on any CPU
    eta = step_kwargs(raw, eta=1.0)["eta"]
    assert eta < 1.0 and float(1 - raw.alphas_cumprod[prev] - eta**2 * variance) > 0

    def model_fn(x_in, t):
        return 0.5 * x_in

    out = sample_loop(make_scheduler("ddim", config), x, model_fn, num_steps=50, eta=1.0)
    assert torch.isfinite(out).all()
    # a schedule whose SNR stays above zero keeps η exactly: the same run as diffusers' own loop
    plain = {k: v for k, v in config.items() if k != "rescale_betas_zero_snr"}
    assert step_kwargs(make_scheduler("ddim", plain), eta=1.0) == {"eta": 1.0}
