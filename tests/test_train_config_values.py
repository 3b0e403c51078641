"""A training run's settings (TrainConfig) are checked when made: a value that would wreck the run, or of the
wrong type, is refused up front naming the setting."""

from __future__ import annotations

import numpy as np
import pytest

from streamt2v.train.loop import TrainConfig


def test_train_config_refuses_negative_counts():
    for name in ("sample_every", "warmup_steps", "num_workers"):
        with pytest.raises(ValueError, match=f"{name} must be ≥ 0, got -1"):
            TrainConfig(**{name: -1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number ≥ 0, got inf"),
        ({"weight_decay": -0.1}, r"weight_decay must be a finite number ≥ 0, got -0.1"),
        ({"keep_checkpoints": 0}, "keep_checkpoints must be ≥ 1, got 0"),
        ({"max_grad_norm": 0.0}, r"max_grad_norm must be a finite number > 0 \(None: no clipping\), got 0.0"),
        ({"max_grad_norm": -1.0}, "max_grad_norm must be a finite number > 0 .*, got -1.0"),
        ({"ema_decay": 1.5}, r"^ema_decay must be in \(0, 1\) for an EMA, got 1.5; no EMA: ema_decay=None$"),
        ({"betas": (1.5, 0.9)}, r"betas must be two numbers in \[0, 1\), got \(1.5, 0.9\)"),
        ({"mixed_precision": "fp8"}, "^mixed_precision 'fp8'; choose one of no, fp16, bf16$"),
    ],
)
def test_a_setting_that_would_wreck_the_run_is_refused_up_front(options, message):
    """--lr inf took a step (logged as "lr": Infinity, which is no JSON) and failed at the export with "latent
    std is nan; the VAE did not train"; --lr nan and a negative weight decay got torch's words, naming no
    setting; --weight-decay inf trained into NaN weights. keep_checkpoints=0 deleted each checkpoint as it
    was written, max_grad_norm=0 zeroed every gradient and -1 flipped them (the run climbed the loss);
    ema_decay=1.5 and betas of 1.5 were refused only once the accelerator had started."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 2.5}, r"^steps must be an integer, got 2.5$"),
        ({"batch_size": True}, r"^batch_size must be an integer, got True$"),
        ({"grad_accum": "2"}, r"^grad_accum must be an integer, got '2'$"),
        ({"checkpoint_every": 10.0}, r"^checkpoint_every must be an integer, got 10.0$"),
        ({"sample_every": None}, r"^sample_every must be an integer, got None$"),
        ({"seed": 1.5}, r"^seed must be an integer, got 1.5$"),
        ({"lr": "1e-3"}, r"^lr must be a number, got '1e-3'$"),
        ({"lr": True}, r"^lr must be a number, got True$"),
        ({"ema_decay": "0.9"}, r"^ema_decay must be a number or None, got '0.9'$"),
        ({"betas": (0.9, "0.99")}, r"^betas must be two numbers in \[0, 1\), got \(0.9, '0.99'\)$"),
        ({"cpu": "no"}, r"^cpu must be True or False, got 'no'$"),
        ({"compile": True}, r"^compile must be a torch.compile backend's name or None, got True$"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused_when_made(options, message):
    """steps=2.5 was taken and train() failed in range() with a TypeError naming no setting; cpu="no" trained
    on the CPU; a bool passed for a number."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_numpy_numbers_are_taken_as_pythons():
    """cpu=np.bool_(True) and betas=np.array([0.9, 0.99]) were refused though numpy values are taken as
    Python's."""
    cfg = TrainConfig(steps=np.int64(3), lr=np.float32(0.5), betas=[0, 0.9])
    assert (type(cfg.steps), type(cfg.lr), cfg.betas) == (int, float, (0.0, 0.9))
    cfg = TrainConfig(cpu=np.bool_(True), betas=np.array([0.9, 0.99]))
    assert (cfg.cpu, type(cfg.cpu), cfg.betas, type(cfg.betas[0])) == (True, bool, (0.9, 0.99), float)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # the command line refuses --compile "" (compile_backend_name); Python ran the run uncompiled unsaid
        (
            {"compile": ""},
            r"^compile must be a torch.compile backend such as inductor, or None, got an empty",
        ),
        # a bare OverflowError ("int too large to convert to float") named no setting
        ({"lr": 10**400}, r"^lr must be a finite number, got an integer of 401 digits$"),
        # over 4300 digits, Python refuses to write an int: its refusal named no setting
        ({"lr": 10**5000}, r"^lr must be a finite number, got an integer of 5001 digits$"),
        ({"steps": -(10**5000)}, r"^steps must be ≥ 1, got a negative integer of 5001 digits$"),
        ({"steps": 10**5000}, r"^steps must be a finite number, got an integer of 5001 digits$"),
        (
            {"betas": (10**5000, 0.9)},
            r"^betas must be two numbers in \[0, 1\), got \(an integer of 5001 digits, 0.9\)$",
        ),
        ({"cpu": np.array([True])}, r"^cpu must be True or False, got array"),
    ],
)
def test_an_empty_backend_and_an_integer_no_float_holds_are_refused_naming_the_setting(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_cpu_bf16_instructions_are_read_from_the_cpus_flags():
    from streamt2v.train.train_config import cpu_has_bf16

    epyc = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"  # an AMD EPYC's kind: no bf16
    assert cpu_has_bf16(epyc) is False
    assert cpu_has_bf16(epyc.replace("avx512f", "avx512f avx512_bf16")) is True
    assert cpu_has_bf16("flags : fpu amx_tile amx_bf16\n") is True
    assert cpu_has_bf16("Features\t: fp asimd bf16 i8mm\n") is True  # Arm
    assert cpu_has_bf16("Features\t: fp asimd\n") is False
    assert cpu_has_bf16("processor : 0\n") is None  # no flags listed: not told


def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_of(caplog):
    """On a CPU without bf16 instructions (this AMD EPYC) bf16 autocast made steps about 10 times slower
    than fp32's, which the help called "not faster"; a run starting so is now warned, naming the setting."""
    import logging

    from streamt2v.train.train_config import cpu_has_bf16, warn_of_slow_bf16

    with caplog.at_level(logging.WARNING, logger="streamt2v.train.train_config"):
        warn_of_slow_bf16(TrainConfig(mixed_precision="bf16", cpu=True))
        warn_of_slow_bf16(TrainConfig(mixed_precision="no", cpu=True))
    said = [r.getMessage() for r in caplog.records]
    if cpu_has_bf16() is not False:
        assert said == []
        return
    assert said == [
        "mixed_precision='bf16' on a CPU without bf16 instructions (its /proc/cpuinfo lists none of amx_bf16, "
        "avx512_bf16, bf16): its steps may be many times slower than in fp32 (about 10 times on 2 AMD EPYC "
        "cores); mixed_precision='no' trains in fp32"
    ]


# a bf16 run on the CPU, then its resume at its last step (takes none), in a fresh process: this one's
# accelerate state may hold another precision
_BF16_THEN_FINISHED = """
import sys
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.vae_recipe import VAERecipe

vae = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, scaling_samples=1)
cfg = TrainConfig(steps=1, batch_size=1, ema_decay=None, cpu=True, mixed_precision="bf16")
train(vae, cfg, sys.argv[1], progress=False)
assert train(vae, cfg, sys.argv[1], resume=True, progress=False).already_finished
"""


def test_the_bf16_warning_is_shown_only_where_steps_remain(tmp_path):
    """It was shown at every train() start: before a refusal (the memory's) and on the resume of a finished
    run, which takes no step; it now comes just before the steps."""
    import os
    import subprocess
    import sys

    from streamt2v.train.train_config import cpu_has_bf16

    done = subprocess.run(
        [sys.executable, "-c", _BF16_THEN_FINISHED, str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stderr.count("on a CPU without bf16 instructions")
    assert said == (1 if cpu_has_bf16() is False else 0), done.stderr[-3000:]
