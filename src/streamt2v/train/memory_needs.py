"""Whether a run's network and its training state fit in the memory of a CPU run, told before the network is
built: ``train base --preset modelscope-1.7b`` on a machine of 23 GB without a GPU was killed by the kernel
partway into its first step (the optimizer's moments are made there), without a word.

The figure is a floor, from the recipe's ``parameter_counts()`` (counted on the meta device, nothing
allocated): every weight, and for each trained one its gradient, AdamW's two moments and the EMA's copy, all
in float32 (mixed precision keeps float32 masters); the frozen encoders and the activations come on top. It
is compared with what the machine can still give: ``MemAvailable`` of ``/proc/meminfo`` and its
``SwapFree``, each no more than the container's memory cgroups still allow (cgroup v2: ``memory.max`` and
``memory.swap.max``, less what they use; v1: ``memory.limit_in_bytes``, and ``memory.memsw.limit_in_bytes``
for RAM and swap together; each level of the cgroup's path that sets one), shared by the processes of a
launch on the machine (``LOCAL_WORLD_SIZE``). The check runs before the processes of a launch join their
group, in the first of each machine alone (:func:`streamt2v.train.loop.train`): its figure is the whole
machine's, and another process, reading the free memory a moment later, could be refused alone and leave the
first waiting for it to join. A GPU run is not checked here: CUDA's own out-of-memory error says so, where
the kernel's killer says nothing. The check can be turned off (``memory_check=False``,
``--no-memory-check``): a floor from the free memory of a moment may still misjudge a machine.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from streamt2v.arguments import Arg, ArgumentRuntimeError
from streamt2v.config import PRESETS_BY_SIZE
from streamt2v.train.train_config import NO_EMA

FLOAT32_BYTES = 4
_MEMINFO = Path("/proc/meminfo")
_PROC_CGROUP = Path("/proc/self/cgroup")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit number
_NO_LIMIT = 2**62


class Available(NamedTuple):
    """Bytes of memory a process can still take, and what they are, as the refusal names them."""

    size: int
    what: str = "free RAM and swap"


class CgroupLeft(NamedTuple):
    """Bytes this process's memory cgroups still let it take (:func:`cgroup_memory_left`), None where none
    of them limits it: of RAM, of swap (cgroup v2's ``memory.swap.max``), of both together (v1's
    ``memory.memsw.limit_in_bytes``)."""

    ram: int | None = None
    swap: int | None = None
    ram_and_swap: int | None = None


def available_memory(
    meminfo: Path = _MEMINFO, proc_cgroup: Path = _PROC_CGROUP, cgroup_root: Path = _CGROUP_ROOT
) -> Available | None:
    """Memory this machine can still give a process: ``MemAvailable`` and ``SwapFree``, each no more than
    its memory cgroups still allow (:func:`cgroup_memory_left`: a container's limits, which
    ``/proc/meminfo`` does not show); None where there is no ``/proc/meminfo`` to read it from (not Linux):
    nothing is checked there."""
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    fields = _numbers(lines, ":")
    if "MemAvailable" not in fields:
        return None
    ram, swap = fields["MemAvailable"] * 1024, fields.get("SwapFree", 0) * 1024  # kB
    left = cgroup_memory_left(proc_cgroup, cgroup_root)
    ram_capped = left.ram is not None and left.ram < ram
    swap_capped = left.swap is not None and left.swap < swap
    ram, swap = min(ram, left.ram) if ram_capped else ram, min(swap, left.swap) if swap_capped else swap
    if left.ram_and_swap is not None and left.ram_and_swap < ram + swap:
        return Available(left.ram_and_swap, "what this container's memory and swap limit still allows")
    if ram_capped and swap_capped:
        what = "what this container's memory and swap limits still allow"
    elif ram_capped:
        what = "what this container's memory limit still allows, and swap"
    elif swap_capped:
        what = "free RAM and what this container's swap limit still allows"
    else:
        what = "free RAM and swap"
    return Available(ram + swap, what)


# The files of each kind of limit: cgroup v2's, v1's (under its memory/ folder), and the memory.stat field
# of the inactive file cache, which the kernel reclaims before it kills (None: nothing to reclaim)
_V2_RAM = ("memory.max", "memory.current", "inactive_file")
_V2_SWAP = ("memory.swap.max", "memory.swap.current", None)
_V1_RAM = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
_V1_RAM_AND_SWAP = ("memory.memsw.limit_in_bytes", "memory.memsw.usage_in_bytes", "total_inactive_file")


def cgroup_memory_left(proc_cgroup: Path = _PROC_CGROUP, root: Path = _CGROUP_ROOT) -> CgroupLeft:
    """What this process's memory cgroups still let it take (:class:`CgroupLeft`): of each kind, the least,
    over its cgroup and those above it that set a limit (each level that has the files), of the limit less
    what they use, the inactive file cache not counted as used; cgroup v2 (``memory.max`` and
    ``memory.current``, ``memory.swap.max`` and ``memory.swap.current``) or v1 (``memory.limit_in_bytes``
    and ``memory.usage_in_bytes``, ``memory.memsw.limit_in_bytes`` and ``memory.memsw.usage_in_bytes``)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return CgroupLeft()
    lefts: dict[str, list[int]] = {"ram": [], "swap": [], "ram_and_swap": []}
    for line in lines:  # "0::/path" (v2), "4:memory:/path" (v1)
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            base, kinds = root, {"ram": _V2_RAM, "swap": _V2_SWAP}
        elif "memory" in controllers.split(","):
            base, kinds = root / "memory", {"ram": _V1_RAM, "ram_and_swap": _V1_RAM_AND_SWAP}
        else:
            continue
        folder = base / path.strip("/")
        # inside a container the path may be the host's, its own cgroup mounted at the root: each level that
        # exists is read, up to the root
        while True:
            for kind, files in kinds.items():
                left = _cgroup_left(folder, *files)
                if left is not None:
                    lefts[kind].append(left)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return CgroupLeft(**{kind: min(found) if found else None for kind, found in lefts.items()})


def _cgroup_left(folder: Path, limit_file: str, usage_file: str, cache_field: str | None) -> int | None:
    """What the cgroup ``folder`` still allows of one kind (its limit less its use, the inactive file cache
    not counted as used); None: no limit, or its files unreadable."""
    try:
        limit_text = (folder / limit_file).read_text().strip()
        if not limit_text.isdigit() or int(limit_text) >= _NO_LIMIT:  # v2's "max"
            return None
        used = int((folder / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    cached = 0
    if cache_field is not None:
        # unreadable, its limit holds all the same: its use counted whole, as if it cached nothing
        with suppress(OSError):
            cached = _numbers((folder / "memory.stat").read_text().splitlines(), " ").get(cache_field, 0)
    return max(0, int(limit_text) - max(0, used - cached))


def _numbers(lines: list[str], separator: str) -> dict[str, int]:
    """The ``name<separator> number ...`` lines of ``/proc/meminfo`` or ``memory.stat`` as a dict."""
    fields = {}
    for line in lines:
        name, _, value = line.partition(separator)
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def training_memory(parameters: int, trained: int, ema: bool) -> int:
    """Bytes at least a run of a network of ``parameters`` weights, ``trained`` of them trained, holds:
    the weights, and per trained one its gradient, AdamW's two moments and (``ema``) the EMA's copy."""
    return FLOAT32_BYTES * (parameters + trained * (3 + int(ema)))


def smaller_presets(preset: str | None) -> list[str]:
    """The presets smaller than ``preset`` (:data:`PRESETS_BY_SIZE`), smallest first; none for another."""
    return list(PRESETS_BY_SIZE[: PRESETS_BY_SIZE.index(preset)]) if preset in PRESETS_BY_SIZE else []


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def check_training_memory(recipe: Any, cfg: Any, available: Available | None, processes: int = 1) -> None:
    """Refuse a CPU run of ``recipe`` with ``cfg`` (``TrainConfig``) whose training memory
    (:func:`training_memory`, for each of the ``processes`` on this machine) exceeds ``available``,
    naming both and what to do (among it ``memory_check=False``, :func:`~streamt2v.train.loop.train`'s, which
    skips this check); nothing where either is unknown (a recipe without ``parameter_counts``)."""
    counts = getattr(recipe, "parameter_counts", None)
    if counts is None or available is None:
        return
    parameters, trained = counts()
    ema = bool(cfg.ema_decay)
    need = training_memory(parameters, trained, ema) * processes
    if need <= available.size:
        return
    preset = getattr(recipe, "preset", None)
    network = f"the {recipe.name} network" + (f" of preset {preset!r}" if preset else "")
    each = f", {processes} processes each holding their own" if processes > 1 else ""
    of_them = "all" if trained == parameters else f"{trained / 1e9:.2f} billion"
    parts: list[object] = [
        f"{network} ({parameters / 1e9:.2f} billion parameters, {of_them} trained) needs at "
        f"least {_gb(need)} of memory to train on the CPU{each} (its weights, and the gradients, AdamW's two "
        f"moments{' and the EMA' if ema else ''} of the trained ones, in float32, before the activations); "
        f"this machine has {_gb(available.size)} available ({available.what}): train it on a GPU",
    ]
    if smaller := smaller_presets(preset):  # none smaller than tiny: no such advice
        parts += [", or choose a smaller ", Arg("preset"), f" ({' or '.join(smaller)})"]
        if recipe.name == "stream":  # its base layers are the base run's, of the same preset
            parts += [" and train a base run of that preset first"]
    without_ema = training_memory(parameters, trained, False) * processes
    if ema and without_ema <= available.size:
        parts += ["; without the EMA (", NO_EMA, f") at least {_gb(without_ema)}"]
    parts += ["; to try anyway: ", Arg("memory_check", False)]
    raise ArgumentRuntimeError(*parts)
