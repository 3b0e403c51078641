"""Device and dtype policy: which device and dtype a model runs in, moving modules there, and the machine
a figure was measured on.

- :func:`resolve_device`: ``"auto"`` → CUDA if available, else MPS, else CPU; explicit names are checked.
- :func:`resolve_dtype`: ``fp32`` / ``fp16`` / ``bf16`` (and torch names) → ``torch.dtype``, checked against
  the device: half precision on CPU is refused (incomplete and very slow kernels), bf16 on CUDA needs a GPU
  that supports it.
- :func:`move_modules`: ``.to`` with only the settings given, on several modules; :func:`move_checked`
  a model's ``.to`` with the device and dtype checked first; :func:`one_dtype` a loader's dtype argument.
- :func:`own_aligned_memory`: loaded weights copied to aligned memory (bit-identical reloads on the CPU).
- :func:`describe_machine`: the CPU, GPU, torch version and thread count, for measured figures.
- :func:`seeded_rng`: random draws from a seed, every global generator (CPU and CUDA) left as it was.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.config import DTYPE_NAMES
from streamt2v.wording import counted

logger = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None → the best available device; otherwise the named one, if it is available."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        # model.to("bf16"): a dtype's name where a device goes
        hint = f" ({device!r} is a dtype: pass it as dtype=)" if str(device).lower() in DTYPES else ""
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps{hint}") from err
    name = str(device)  # 'cuda', not device(type='cuda')
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ArgumentValueError(
                f"device {name!r} requested but CUDA is not available; use ",
                Arg("device", "cpu"),
                " or ",
                Arg("device", "auto"),
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            present = "cuda:0" + (f" to cuda:{count - 1}" if count > 1 else "")
            raise ArgumentValueError(
                f"device {name!r} requested but only {counted(count, 'CUDA device')} "
                f"{'is' if count == 1 else 'are'} present ({present}); use ",
                Arg("device", "cuda:0"),
                " or ",
                Arg("device", "auto"),
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ArgumentValueError(
                f"device {name!r} requested but MPS is not available; use ",
                Arg("device", "cpu"),
                " or ",
                Arg("device", "auto"),
            )
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    elif dev.index:  # torch takes cpu:7 and runs on the one CPU device: a cuda:7 mistyped, most likely
        raise ValueError(
            f"unknown device {name!r}: the CPU is one device, cpu; for a GPU use cuda:{dev.index}"
        )
    return dev


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device | None) -> torch.dtype:
    """The compute dtype; raises ``ValueError`` naming the dtype, the device and what is allowed
    (``device`` None: any dtype of :data:`DTYPE_NAMES`, whatever it will run on)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        resolved = dtype
        if resolved not in DTYPES.values():
            raise ValueError(f"unsupported dtype {dtype}; use one of {', '.join(DTYPE_NAMES)}")
    else:
        try:
            resolved = DTYPES[str(dtype).lower()]
        except KeyError:
            # from_pretrained(path, "cpu"): a device's name where the dtype goes (its second argument)
            hint = f" ({dtype!r} is a device: pass it as device=)" if _names_a_device(dtype) else ""
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_NAMES)}{hint}") from None
    allowed = supported_dtypes(device) if device is not None else list(DTYPES.values())
    if resolved not in allowed:
        names = ", ".join(dtype_name(d) for d in allowed)
        raise ValueError(
            f"dtype {dtype_name(resolved)} is not supported on device {device}; use one of {names}"
        )
    return resolved


def _names_a_device(name: object) -> bool:
    try:
        return isinstance(name, str) and (name == "auto" or torch.device(name).type in ("cpu", "cuda", "mps"))
    except RuntimeError:
        return False


def to_arguments(
    device: torch.device | str | torch.dtype | None, dtype: torch.dtype | None
) -> tuple[torch.device | str | None, torch.dtype | None]:
    """``(device, dtype)`` of a ``.to(...)`` call, which like ``nn.Module.to`` may name a dtype first."""
    if isinstance(device, torch.dtype):
        if dtype is not None:
            raise TypeError(f"to() got two dtypes: {device} and {dtype}")
        return None, device
    return device, dtype


def one_dtype(
    torch_dtype: str | torch.dtype | None, dtype: str | torch.dtype | None
) -> str | torch.dtype | None:
    """The dtype a loader was given under either name (``torch_dtype``, diffusers'; ``dtype``,
    transformers 5's), or None; both given must name the same dtype."""
    both = torch_dtype is not None and dtype is not None
    if both and resolve_dtype(torch_dtype, None) != resolve_dtype(dtype, None):
        raise ValueError(f"torch_dtype={torch_dtype!r} and dtype={dtype!r} disagree; give one")
    return dtype if dtype is not None else torch_dtype


def _no_empty_fp32_warning(record: logging.LogRecord) -> bool:
    """Drop diffusers' warning on every dtype cast of a model that keeps *no* module in float32 ("... should be
    kept in float32: []. Casting directly with `to()` can lead to inconsistent results"): it warns whenever
    the list exists, even empty, so ``model.to(torch.bfloat16)`` printed it three times for nothing."""
    return "should be kept in float32: []" not in record.getMessage()


def move_modules(
    modules: Iterable[nn.Module],
    device: torch.device | str | torch.dtype | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """``module.to(device, dtype)`` for each module, passing only what is given: diffusers models warn on
    any ``dtype=`` keyword, even ``None``. As with ``nn.Module.to``, a dtype may come first
    (``bundle.to(torch.bfloat16)``); ``"auto"`` is :func:`resolve_device`'s choice."""
    device, dtype = to_arguments(device, dtype)
    if device is not None:
        device = resolve_device(device)
    settings = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    if not settings:
        return
    diffusers_log = logging.getLogger("diffusers.models.modeling_utils")
    diffusers_log.addFilter(_no_empty_fp32_warning)
    try:
        for m in modules:
            m.to(**settings)
    finally:
        diffusers_log.removeFilter(_no_empty_fp32_warning)


def move_checked(
    modules: Iterable[nn.Module],
    current: torch.device,
    device: torch.device | str | torch.dtype | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """A model's ``.to(device, dtype)`` over its ``modules``, now on ``current``: the device resolved
    (``"auto"``: the best available) and a dtype it does not run (half precision on the CPU) refused
    (:func:`resolve_dtype`) before anything moves."""
    device, dtype = to_arguments(device, dtype)
    target = current if device is None else resolve_device(device)
    if dtype is not None:
        dtype = resolve_dtype(dtype, target)
    move_modules(modules, None if device is None else target, dtype)


def own_aligned_memory(module: nn.Module, alignment: int = 64) -> nn.Module:
    """Copy into fresh memory every parameter whose storage starts off an ``alignment``-byte boundary.

    Weights loaded from safetensors files in their saved dtype are views into the memory-mapped file at
    arbitrary offsets, and the CPU's vectorised matmul kernels round such tensors differently from aligned
    ones: a model reloaded from its own folder would not reproduce the saved model's videos bit for bit
    (observed: 8e-3 after two chunks). Already-aligned parameters (e.g. converted on load) are kept."""
    with torch.no_grad():
        for param in module.parameters():
            if param.device.type == "cpu" and param.data_ptr() % alignment:
                param.data = param.data.clone()
    return module


def supported_dtypes(device: torch.device) -> list[torch.dtype]:
    """The dtypes the pipeline runs in on ``device``."""
    if device.type == "cpu":
        return [torch.float32, torch.bfloat16]
    if device.type == "cuda":
        out = [torch.float32, torch.float16]
        if torch.cuda.is_bf16_supported():
            out.append(torch.bfloat16)
        return out
    if device.type == "mps":
        return [torch.float32, torch.float16]
    return [torch.float32]


def describe_machine(threads: bool = True, device: str | torch.device | None = None) -> str:
    """The machine a figure was measured on: CPU model (``/proc/cpuinfo`` where it exists) and the cores
    this process may run on ("2 of 64 cores" when it is held to fewer than the machine has), the GPU of
    ``device`` (a CUDA one; None: the current CUDA device, when CUDA is available; a CPU device: none),
    and the torch version and (``threads``) this process's thread count."""
    cpu, machine_cores = platform.processor() or platform.machine(), os.cpu_count() or 0
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines() if ln.startswith("model name")
        ]
        if names:
            cpu = names[0]
    # a container or `taskset` may hold the process to fewer cores than the machine has
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else machine_cores

    cores = (
        counted(usable, "core")
        if usable >= machine_cores
        else f"{usable} of {counted(machine_cores, 'core')}"
    )
    parts = [f"{cpu}, {cores}"]
    gpu = torch.device(device) if device is not None else None
    if gpu is None and torch.cuda.is_available():
        gpu = torch.device("cuda", torch.cuda.current_device())
    if gpu is not None and gpu.type == "cuda":
        index = gpu.index if gpu.index is not None else torch.cuda.current_device()
        several = torch.cuda.device_count() > 1
        parts.append(f"GPU {torch.cuda.get_device_name(index)}" + (f" (cuda:{index})" if several else ""))
    parts.append(
        f"torch {torch.__version__}" + (f", {counted(torch.get_num_threads(), 'thread')}" if threads else "")
    )
    return "; ".join(parts)


@contextmanager
def seeded_rng(seed: int | None) -> Iterator[None]:
    """Draw from ``seed`` inside the block (None: no seeding, e.g. on the meta device) and leave every global
    generator as it was: the CPU's and every CUDA device's, which ``torch.manual_seed`` reseeds all. Weights
    made on a CUDA device come from its generator: the same seed gives other weights than on the CPU."""
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        if seed is not None:
            torch.manual_seed(seed)
        yield
