"""A training run's optimisation settings (:class:`TrainConfig`, checked when made, so a setting that would
wreck the run is refused before anything starts) and the learning-rate schedule they give."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from streamt2v.arguments import Arg, ArgumentValueError, FlaggedArg
from streamt2v.typed_values import as_bool, as_index, is_finite, is_number, shown_number

MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "cosine")
# The TrainConfig fields with a flag of their name on the command line (cli/train.py: --grad-accum); the
# others (betas, max_grad_norm, keep_checkpoints, log_every) are set from Python alone.
FLAGGED_SETTINGS: tuple[str, ...] = (
    "steps",
    "batch_size",
    "lr",
    "grad_accum",
    "warmup_steps",
    "lr_schedule",
    "weight_decay",
    "ema_decay",
    "mixed_precision",
    "seed",
    "checkpoint_every",
    "sample_every",
    "num_workers",
    "cpu",
    "compile",
)

logger = logging.getLogger(__name__)


# no EMA, as each caller spells it: ema_decay=None in Python, --ema-decay 0 on the command line
NO_EMA = FlaggedArg("ema_decay", None, flag="--ema-decay 0")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of a run (the recipe holds the model/data settings)."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    grad_accum: int = 1
    warmup_steps: int = 0
    # After warm-up: "constant", or "cosine" (half-cosine decay to 0 at ``steps``; a fine-tune's usual
    # last phase, and a run's final weights are then those of the lowest learning rate).
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float | None = 1.0
    ema_decay: float | None = 0.999
    mixed_precision: str = "no"
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    sample_every: int = 0  # 0: no sample hooks
    log_every: int = 1
    num_workers: int = 0
    cpu: bool = False  # force CPU even when a GPU is present
    # torch.compile backend for the module's ``compile_parts()`` (streamt2v.compiling), None: no compile.
    # A one-off compile in the first step; checkpoints and exports are laid out as an eager run's, and a
    # run resumes with or without it.
    compile: str | None = None

    def __post_init__(self) -> None:
        self._check_types()
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision {self.mixed_precision!r}; choose one of {', '.join(MIXED_PRECISION)}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        # keep_checkpoints 0 pruned the checkpoint just written, and a resume found none
        for name in (
            "steps",
            "batch_size",
            "grad_accum",
            "checkpoint_every",
            "keep_checkpoints",
            "log_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {shown_number(getattr(self, name))}")
        for name in ("sample_every", "warmup_steps", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {shown_number(getattr(self, name))}")
        # not finite: --lr inf took a step (logged as "lr": Infinity, no JSON) and failed at the export
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ArgumentValueError(Arg("lr"), f" must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ArgumentValueError(
                Arg("weight_decay"), f" must be a finite number ≥ 0, got {self.weight_decay}"
            )
        # 0 zeroed every gradient and a negative norm flipped their sign (torch scales by it unchecked)
        if self.max_grad_norm is not None and not (
            math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0
        ):
            raise ValueError(
                f"max_grad_norm must be a finite number > 0 (None: no clipping), got {self.max_grad_norm}"
            )
        # refused here rather than by the EMA or the optimizer, after the accelerator has started
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ArgumentValueError(
                Arg("ema_decay"), f" must be in (0, 1) for an EMA, got {self.ema_decay}; no EMA: ", NO_EMA
            )
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")

    def _check_types(self) -> None:
        """Each field of the type it is used as (numpy numbers, bools and arrays taken as Python's): steps=2.5
        was taken and failed in range() at the start of training; a bool is no number, nor "no" a bool."""
        for name in _INTEGERS:
            value = getattr(self, name)
            if (index := as_index(value)) is None:
                raise ArgumentValueError(Arg(name), f" must be an integer, got {value!r}")
            # steps=10**5000 passed and failed at writing the run's config (a negative one fails the range)
            if index > 0 and not is_finite(index):
                raise ArgumentValueError(Arg(name), f" must be a finite number, got {shown_number(index)}")
            object.__setattr__(self, name, index)
        for name in _NUMBERS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if not is_number(value):
                which = "a number or None" if name in _OPTIONAL else "a number"
                raise ArgumentValueError(Arg(name), f" must be {which}, got {value!r}")
            try:
                object.__setattr__(self, name, float(value))
            except OverflowError:  # lr=10**400: no float holds it
                raise ArgumentValueError(
                    Arg(name), f" must be a finite number, got {shown_number(value)}"
                ) from None
        betas = self.betas
        listed = betas.tolist() if hasattr(betas, "tolist") else betas  # a numpy array's (or tensor's) items
        if not (isinstance(listed, (tuple, list)) and all(is_number(b) for b in listed)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        try:
            object.__setattr__(self, "betas", tuple(float(b) for b in listed))
        except OverflowError:  # an int no float holds, whose repr may be too long to make
            shown = ", ".join(shown_number(b) for b in listed)
            raise ValueError(f"betas must be two numbers in [0, 1), got ({shown})") from None
        if (cpu := as_bool(self.cpu)) is None:
            raise ArgumentValueError(Arg("cpu"), f" must be True or False, got {self.cpu!r}")
        object.__setattr__(self, "cpu", cpu)
        if self.compile is not None and not isinstance(self.compile, str):
            raise ArgumentValueError(
                Arg("compile"), f" must be a torch.compile backend's name or None, got {self.compile!r}"
            )
        if self.compile == "":  # as --compile "" (cli.compile_backend_name): the run went uncompiled unsaid
            raise ArgumentValueError(
                Arg("compile"),
                " must be a torch.compile backend such as inductor, or None, got an empty string",
            )


_INTEGERS = (
    "steps",
    "batch_size",
    "grad_accum",
    "warmup_steps",
    "seed",
    "checkpoint_every",
    "keep_checkpoints",
    "sample_every",
    "log_every",
    "num_workers",
)
_NUMBERS = ("lr", "weight_decay", "max_grad_norm", "ema_decay")
_OPTIONAL = ("max_grad_norm", "ema_decay")  # None: no clipping, no EMA


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then ``cfg.lr_schedule``.

    A pure function of the step, so a resumed run continues the same schedule."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))
    return cfg.lr


def fp16_needs_a_gpu() -> ArgumentValueError:
    """The refusal of ``mixed_precision='fp16'`` on the CPU, where accelerate would quietly train in fp32
    while the run config says fp16."""
    return ArgumentValueError(
        Arg("mixed_precision", "fp16"),
        " needs a GPU (this run is on the CPU); use ",
        Arg("mixed_precision", "bf16"),
        " or ",
        Arg("mixed_precision", "no"),
        " on the CPU",
    )


# The accelerators besides CUDA a fresh accelerate state takes (PartialState.default_device, and XLA's TPUs
# where torch_xla is installed), each told by accelerate.utils.is_<name>_available without making the state;
# a name this accelerate lacks is skipped.
_OTHER_ACCELERATORS = ("mps", "mlu", "sdaa", "musa", "npu", "hpu", "xpu", "neuron", "torch_xla")


def trains_on_the_cpu(cpu: bool) -> bool:
    """Whether a run given ``cpu`` trains on the CPU, told without making accelerate's state (which joins a
    launch's processes): ``cpu``, ``ACCELERATE_USE_CPU``, or no accelerator torch can use (CUDA, or one of
    :data:`_OTHER_ACCELERATORS` accelerate knows); the device of the state where an earlier run of the process
    made it."""
    import accelerate.utils
    import torch
    from accelerate.state import AcceleratorState, is_initialized

    if is_initialized():
        return cpu or AcceleratorState().device.type == "cpu"
    if cpu or accelerate.utils.parse_flag_from_env("ACCELERATE_USE_CPU"):
        return True
    if torch.cuda.is_available():
        return False
    available = (getattr(accelerate.utils, f"is_{name}_available", None) for name in _OTHER_ACCELERATORS)
    return not any(check is not None and check() for check in available)


# The CPU flags (Linux's /proc/cpuinfo: x86's "flags", Arm's "Features") of instructions that compute in bf16.
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU has bf16 instructions (:data:`_BF16_CPU_FLAGS`), read from ``cpuinfo`` (the text of
    /proc/cpuinfo; read here if not given); None where it lists no flags (no /proc/cpuinfo: not Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return bool(flags & _BF16_CPU_FLAGS) if flags else None


def warn_of_slow_bf16(cfg: TrainConfig) -> None:
    """Warn where ``cfg`` trains in bf16 on a CPU without bf16 instructions: autocast there made steps about
    10 times slower than fp32's (refiner-restore on 2 AMD EPYC cores), which a run otherwise finds out late."""
    if cfg.mixed_precision == "bf16" and trains_on_the_cpu(cfg.cpu) and cpu_has_bf16() is False:
        logger.warning(
            "%s on a CPU without bf16 instructions (its /proc/cpuinfo lists none of %s): its steps may be "
            "many times slower than in fp32 (about 10 times on 2 AMD EPYC cores); %s trains in fp32",
            Arg("mixed_precision", "bf16"),
            ", ".join(sorted(_BF16_CPU_FLAGS)),
            Arg("mixed_precision", "no"),
        )


def check_process_state(cfg: TrainConfig) -> None:
    """Refuse ``cfg`` where an earlier run in this process fixed another precision or device: accelerate makes
    its state (``AcceleratorState``) once per process and keeps it, and has no public way to make it again,
    so a second run with another ``mixed_precision`` failed in its words ("restart your runtime"); one
    without ``cpu`` after one with it trains on the CPU though a GPU is there, with a warning saying so.
    ValueErrors, as accelerate's own refusal was. fp16 on the CPU is refused before accelerate makes its state:
    made with fp16, it refused the next run of the process, in fp32, as trained with fp16 before."""
    from accelerate.state import AcceleratorState, PartialState, is_initialized

    # first, and without making accelerate's state: a process of its own on the CPU would refuse it too
    if cfg.mixed_precision == "fp16" and trains_on_the_cpu(cfg.cpu):
        raise fp16_needs_a_gpu()
    if not is_initialized():
        return
    state = AcceleratorState()
    was = state.mixed_precision
    if was != cfg.mixed_precision:
        raise ArgumentValueError(
            "an earlier run in this process trained with ",
            Arg("mixed_precision", was),
            ", which accelerate keeps to the end of the process: train with ",
            Arg("mixed_precision", was),
            " here, or with ",
            Arg("mixed_precision", cfg.mixed_precision),
            " in a process of its own",
        )
    if cfg.cpu and state.device.type != "cpu":
        raise ArgumentValueError(
            f"an earlier run in this process trained on {state.device}, which accelerate keeps to the end of "
            "the process: train on it here, or with ",
            Arg("cpu", True),
            " in a process of its own",
        )
    # the device a fresh state would take (a CUDA GPU, Apple's MPS, ...)
    device = PartialState().default_device
    if not cfg.cpu and state.device.type == "cpu" and device.type != "cpu":
        logger.warning(
            "training on the CPU, as an earlier run in this process did (%s; accelerate keeps it to the end "
            "of the process): to train on %s, run it in a process of its own",
            Arg("cpu", True),
            device.type,
        )
