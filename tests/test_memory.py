"""Devices, dtypes and where modules live (streamt2v.memory): resolve_device / resolve_dtype and their
errors, describe_machine's thread count, move_modules passing only the settings given."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import torch

from streamt2v.memory import move_modules, resolve_device, resolve_dtype


def test_memory_policy():
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    if not torch.cuda.is_available():  # a Python caller is told the argument, not only the CLI flag
        with pytest.raises(ValueError, match=r"use device='cpu' or device='auto'$") as refused:
            resolve_device("cuda")
        assert str(refused.value.as_flags()).endswith("use --device cpu or --device auto")  # the CLI's
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", torch.device("cpu"))


def test_describe_machine_names_the_threads_only_when_asked():
    from streamt2v.memory import describe_machine

    n = torch.get_num_threads()
    assert describe_machine().endswith(f"torch {torch.__version__}, {n} thread{'' if n == 1 else 's'}")
    assert describe_machine(threads=False).endswith(f"torch {torch.__version__}")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_machine().endswith(", 1 thread")  # not "1 threads"
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or os.cpu_count() < 2, reason="needs 2 cores")
def test_describe_machine_counts_the_cores_the_process_may_use():
    """A benchmark held to one core (taskset, a container's cpuset) was said to run on all the machine's
    cores, from /proc/cpuinfo; a figure of one core then read as one of many."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from streamt2v.memory import describe_machine; print(describe_machine(threads=False))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f", 1 of {os.cpu_count()} cores; " in out


def test_move_modules_passes_only_the_given_settings():
    import logging

    from diffusers import AutoencoderKL

    vae = AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=2)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # diffusers' loggers do not propagate to pytest's caplog
    logging.getLogger("diffusers").addHandler(handler)
    try:
        move_modules([vae], device="cpu")  # no dtype: diffusers must not warn about casting
        assert vae.dtype == torch.float32 and not records
        move_modules([vae, torch.nn.Linear(2, 2)])  # nothing given: nothing moves
        move_modules([vae], dtype=torch.float64)
        assert vae.dtype == torch.float64
    finally:
        logging.getLogger("diffusers").removeHandler(handler)


def test_seeded_rng_draws_from_its_seed_and_leaves_the_global_generator():
    from streamt2v.memory import seeded_rng

    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded_rng(7):
        first = torch.rand(3)
    with seeded_rng(7):
        assert torch.equal(torch.rand(3), first)
    with seeded_rng(None):  # no seeding (the meta device): it draws on from the caller's state
        assert torch.equal(torch.rand(3), torch.rand(3, generator=torch.Generator().manual_seed(123)))
    assert torch.equal(torch.get_rng_state(), state)


def test_a_dtype_given_for_the_device_or_a_device_for_the_dtype_is_named_as_such():
    """``model.to("bf16")`` said only "unknown device 'bf16'", and ``from_pretrained(path, "cpu")`` (the second
    argument is the dtype) "unknown dtype 'cpu'"."""
    with pytest.raises(
        ValueError, match=r"^unknown device 'bf16'; .* \('bf16' is a dtype: pass it as dtype=\)$"
    ):
        resolve_device("bf16")
    for device in ("cpu", "cuda:1", "auto"):
        with pytest.raises(ValueError, match=rf"\('{device}' is a device: pass it as device=\)$"):
            resolve_dtype(device, None)
    with pytest.raises(ValueError, match=r"^unknown dtype 'fp8'; use one of fp32, fp16, bf16$"):
        resolve_dtype("fp8", None)
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps$"):
        resolve_device("gpu")


def test_a_cpu_with_an_index_is_refused():
    # torch takes cpu:7 and runs on the one CPU device; --device cpu:7 was accepted without a word
    with pytest.raises(
        ValueError, match=r"^unknown device 'cpu:7': the CPU is one device, cpu; for a GPU use cuda:7$"
    ):
        resolve_device("cpu:7")
    assert resolve_device("cpu:0") == torch.device("cpu:0") and resolve_device("cpu") == torch.device("cpu")
