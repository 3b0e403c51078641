"""Whether a run's network and its training state fit in the memory of a CPU run, told before the network is
built: ``train base --preset modelscope-1.7b`` on a machine of 23 GB without a GPU was killed by the kernel
partway into its first step (the optimizer's moments are made there), without a word.

The figure is a floor, from the recipe's ``parameter_counts()`` (counted on the meta device, nothing
allocated): every weight, and for each trained one its gradient, AdamW's two moments and the EMA's copy, all
in float32 (mixed precision keeps float32 masters); the frozen encoders and the activations come on top. It
is compared with what the machine can still give (``MemAvailable`` and ``SwapFree`` of ``/proc/meminfo``),
shared by the processes of a launch on it. A GPU run is not checked here: CUDA's own out-of-memory error
says so, where the kernel's killer says nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from streamt2v.arguments import Arg, ArgumentRuntimeError
from streamt2v.train.train_config import NO_EMA

FLOAT32_BYTES = 4
_MEMINFO = Path("/proc/meminfo")


def available_memory(meminfo: Path = _MEMINFO) -> int | None:
    """Bytes of memory this machine can still give a process (``MemAvailable`` + ``SwapFree``); None where
    there is no ``/proc/meminfo`` to read it from (not Linux): nothing is checked there."""
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024  # kB
    if "MemAvailable" not in fields:
        return None
    return fields["MemAvailable"] + fields.get("SwapFree", 0)


def training_memory(parameters: int, trained: int, ema: bool) -> int:
    """Bytes at least a run of a network of ``parameters`` weights, ``trained`` of them trained, holds:
    the weights, and per trained one its gradient, AdamW's two moments and (``ema``) the EMA's copy."""
    return FLOAT32_BYTES * (parameters + trained * (3 + int(ema)))


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def check_training_memory(recipe: Any, cfg: Any, available: int | None, processes: int = 1) -> None:
    """Refuse a CPU run of ``recipe`` with ``cfg`` (``TrainConfig``) whose training memory
    (:func:`training_memory`, for each of the ``processes`` on this machine) exceeds ``available`` bytes,
    naming both and what to do; nothing where either is unknown (a recipe without ``parameter_counts``)."""
    counts = getattr(recipe, "parameter_counts", None)
    if counts is None or available is None:
        return
    parameters, trained = counts()
    ema = bool(cfg.ema_decay)
    need = training_memory(parameters, trained, ema) * processes
    if need <= available:
        return
    preset = getattr(recipe, "preset", None)
    network = f"the {recipe.name} network" + (f" of preset {preset!r}" if preset else "")
    each = f", {processes} processes each holding their own" if processes > 1 else ""
    of_them = "all" if trained == parameters else f"{trained / 1e9:.2f} billion"
    parts: list[object] = [
        f"{network} ({parameters / 1e9:.2f} billion parameters, {of_them} trained) needs at "
        f"least {_gb(need)} of memory to train on the CPU{each} (its weights, and the gradients, AdamW's two "
        f"moments{' and the EMA' if ema else ''} of the trained ones, in float32, before the activations); "
        f"this machine has {_gb(available)} available (free RAM and swap): train it on a GPU",
    ]
    if preset:
        parts += [", or choose a smaller ", Arg("preset"), " (tiny or small)"]
    without_ema = training_memory(parameters, trained, False) * processes
    if ema and without_ema <= available:
        parts += ["; without the EMA (", NO_EMA, f") at least {_gb(without_ema)}"]
    raise ArgumentRuntimeError(*parts)


def processes_on_this_machine(processes: int) -> int:
    """How many of a launch's ``processes`` run on this machine (its ``LOCAL_WORLD_SIZE``, which torchrun and
    accelerate launch set; all of them without it)."""
    local = os.environ.get("LOCAL_WORLD_SIZE", "").strip()
    return int(local) if local.isdigit() and int(local) > 0 else processes
