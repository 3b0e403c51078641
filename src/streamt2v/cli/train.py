"""``streamt2v train RECIPE``: train one model of the system (vae | clip | base | stream | refiner).

The loop and recipes are :mod:`streamt2v.train` (paper §4 and appendix; DESIGN.md §6). Recipe options
have flags for the common ones and ``--set KEY=VALUE`` for any other field of the recipe dataclass.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from streamt2v.arguments import Arg, NamesArguments, RecipeOption, logs_naming_flags
from streamt2v.cli import chosen_device, say
from streamt2v.cli.flag_types import compile_backend_name, integer_at_least, number_in, typed_path
from streamt2v.cli.interrupts import InterruptSaidElsewhere
from streamt2v.cli.launched import another_process_of_a_launch
from streamt2v.cli.setting_flags import typed_flags
from streamt2v.config import PRESETS
from streamt2v.launcher import launch_size
from streamt2v.train.part_sources import TRAINED_SOURCES, shipped_what

# The recipe options that have a flag (FLAG, its type, its help): the flag's dest is the recipe field, passed
# only when given. Any other option: --set KEY=VALUE.
_RECIPE_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("--data", typed_path, "'microworld' (default) or a folder of videos"),
    ("--captions", typed_path, "captions file for --data FOLDER (CSV/TSV file,caption; JSONL or JSON)"),
    ("--size", int, "frame size in pixels (square; default 32, refiner 64)"),
    ("--num-frames", int, "frames per clip (base, stream: default 16; refiner: 24)"),
    (
        "--preset",
        str,
        f"architecture preset of the UNet (base, stream, refiner): {', '.join(PRESETS)} (default tiny)",
    ),
    # where each part is found, and what microworld names: the recipes' advice says them from the same table
    (
        "--vae",
        typed_path,
        f"trained VAE folder ({TRAINED_SOURCES['vae']}); 'microworld': {shipped_what('vae', '')} (the "
        f"refiner recipe: {shipped_what('vae', 'refiner')})",
    ),
    (
        "--clip",
        typed_path,
        f"trained micro-CLIP folder ({TRAINED_SOURCES['clip']}); 'microworld': {shipped_what('clip', '')}",
    ),
    (
        "--base-unet",
        typed_path,
        f"trained base UNet folder (stream recipe: {TRAINED_SOURCES['base_unet']}); 'microworld': "
        f"{shipped_what('base_unet', 'stream')}",
    ),
)
_RECIPE_FIELDS = tuple(flag[2:].replace("-", "_") for flag, _, _ in _RECIPE_FLAGS)


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` flags: the value parsed as JSON (lists become tuples), else kept as a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return key.strip().replace("-", "_"), parsed


def compile_backend(text: str) -> str:
    """``type=`` of ``--compile``, whose backend is optional: a recipe's name there was the recipe, taken as
    the backend (``train --compile vae --out o``), which argparse then called missing."""
    from streamt2v.train.recipes import RECIPES  # imports torch: only when --compile names something

    if text in RECIPES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is a recipe, not a torch.compile backend: give the recipe before --compile, "
            "or name the backend (--compile inductor)"
        )
    return compile_backend_name(text)


def _auto_or_cpu(text: str) -> str:
    """``type=`` of ``--device``, generate's name: ``cpu`` is ``--cpu``; a GPU is not chosen by a flag."""
    if text not in ("auto", "cpu"):
        raise argparse.ArgumentTypeError(
            f"expected auto or cpu, got {text!r}: training runs on the GPUs the launcher gives its processes "
            "(choose them with CUDA_VISIBLE_DEVICES=N)"
        )
    return text


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a model: vae | clip | base | stream | refiner",
        description="Train one model of the system on the microworld or on a folder of captioned videos. "
        "Order: vae, clip, then base (needs --vae, --clip), refiner (same), stream (also --base-unet).",
    )
    p.add_argument("recipe", help="vae | clip | base | stream | refiner")
    p.add_argument(
        "-o",  # generate's and enhance's names, the same messages naming the flag
        "--output",
        "--out",
        dest="out",
        type=typed_path,  # as typed, for its messages: train() expands ~
        required=True,
        help="run folder: checkpoints/, loss.jsonl, samples/, final/",
    )
    for flag, kind, text in _RECIPE_FLAGS:
        p.add_argument(flag, type=kind, default=None, help=text)
    p.add_argument(
        "--set",
        dest="options",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="any other recipe option, e.g. --set kl_weight=1e-4 (repeatable)",
    )
    p.add_argument(
        "--steps", type=integer_at_least(1), default=1000, help="optimizer steps (default %(default)s)"
    )
    p.add_argument(
        "--batch-size",
        type=integer_at_least(1),
        default=8,
        help="samples per micro-batch and process: a step takes --batch-size × --grad-accum × the launcher's "
        "processes (default %(default)s)",
    )
    p.add_argument(
        "--lr", type=number_in(0, above=True), default=1e-4, help="AdamW learning rate (default %(default)s)"
    )
    p.add_argument(
        "--grad-accum",
        type=integer_at_least(1),
        default=1,
        help="micro-batches per optimizer step (default %(default)s)",
    )
    p.add_argument(
        "--warmup-steps",
        type=integer_at_least(0),
        default=0,
        help="linear warm-up steps (default %(default)s)",
    )
    p.add_argument(
        "--lr-schedule",
        default="constant",
        choices=["constant", "cosine"],
        help="after warm-up: constant (default), or cosine decay to 0 at --steps",
    )
    p.add_argument(
        "--weight-decay", type=number_in(0), default=0.0, help="AdamW weight decay (default %(default)s)"
    )
    p.add_argument(
        "--ema-decay",
        type=number_in(0, 1, below=True, note="(0: no EMA)"),
        default=0.999,
        help="0 disables the EMA (default %(default)s)",
    )
    p.add_argument(
        "--mixed-precision",
        default="no",
        choices=["no", "fp16", "bf16"],
        help="default no (fp32); fp16: GPU only; bf16: GPU or CPU (on the CPU slower than fp32: many times "
        "slower without bf16 instructions, warned of at the start)",
    )
    p.add_argument(
        "--seed",
        type=integer_at_least(0, below=2**31),
        default=0,
        help="data, initialisation and draws (default %(default)s)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=integer_at_least(1),
        default=500,
        help="steps between checkpoints (default %(default)s)",
    )
    p.add_argument(
        "--sample-every",
        type=integer_at_least(0),
        default=0,
        help="write samples every N steps (default 0: never)",
    )
    p.add_argument(
        "--num-workers",
        type=integer_at_least(0),
        default=0,
        help="DataLoader worker processes (default 0: in the training process)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its latest checkpoint (from step 0 if it has none yet); the flags "
        "not typed take the run's values",
    )
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument(
        "--no-memory-check",
        dest="memory_check",
        action="store_false",
        help="start a CPU run even where its network and training state seem not to fit in the free memory",
    )
    p.add_argument(
        "--device",
        type=_auto_or_cpu,
        default="auto",
        metavar="{auto,cpu}",
        help="cpu: --cpu (generate's name); auto: the GPU the launcher gives each process, else the CPU (the "
        "default; choose the GPUs with CUDA_VISIBLE_DEVICES)",
    )
    p.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        type=compile_backend,
        metavar="BACKEND",
        help="torch.compile the trained network and the frozen VAE encoder (backend default inductor; "
        "on the CPU it needs a C++ compiler): a one-off compile in the first step (minutes on a CPU), "
        "then faster steps where the device is launch-bound (docs/training.md)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal)",
    )
    p.set_defaults(func=run, parser=p)  # the parser: its defaults tell which flags a --resume typed
    return p


def run(args: argparse.Namespace) -> int:
    # the loop's log lines name the flags typed (--batch-size), not the Python API's arguments
    with (
        _main_process_logs(),
        logs_naming_flags(
            "streamt2v.train.loop",
            "streamt2v.train.train_config",
            "streamt2v.train.resume_settings",
            "streamt2v.train.unet_schedules",
        ),
    ):
        try:
            return _train(args)
        except NamesArguments as err:
            # an option with a flag given by --set (--set size=18) is named as given, not by its flag
            by_set = {key for key, _ in args.options if key in _RECIPE_FIELDS}
            err.parts = tuple(_given_by_set(p, by_set) for p in err.parts)
            raise


def _given_by_set(part: object, by_set: set[str]) -> object:
    """An error's ``part`` naming the recipe options ``by_set`` (with a flag, given by --set) as --set."""
    from streamt2v.train.frozen import ArgAsGiven, as_given
    from streamt2v.train.resume_settings import SettingChanges

    if type(part) is Arg and part.name in by_set:
        return RecipeOption(*part)
    if (
        type(part) is ArgAsGiven and part.name in by_set
    ):  # a folder named as typed: --set base_unet='~/x' (...)
        return as_given(part.value, RecipeOption(part.name))
    if isinstance(part, SettingChanges):  # a resume's refusal of other options
        return part.given_by_set(by_set)
    return part


class _MainProcessOnly(logging.Filter):
    """Under a launcher every process logs the same lines (the data scan, a resume's warnings, the recipe's
    notes): the main process alone says them. Errors are said by every process (one may fail alone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        import torch.distributed as dist

        if record.levelno >= logging.ERROR:
            return True
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
        return not another_process_of_a_launch()  # the launcher's RANK until the process group is made


@contextmanager
def _main_process_logs() -> Iterator[None]:
    """:class:`_MainProcessOnly` on the handlers of the root logger (the command line's) while the command
    runs (``main`` may run more than once in a process)."""
    handlers, only = list(logging.getLogger().handlers), _MainProcessOnly()
    for handler in handlers:
        handler.addFilter(only)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(only)


def _train(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from streamt2v.io.folders import check_writable_parent
    from streamt2v.train.loop import TrainConfig, TrainInterrupted, train
    from streamt2v.train.recipes import make_recipe

    # before the models are built: otherwise the first write fails with the OS's bare message
    check_writable_parent(args.out, "--out")
    if args.resume:
        _take_the_runs_settings(args)
    options = {k: getattr(args, k) for k in _RECIPE_FIELDS if getattr(args, k) is not None}
    # every path, by its flag or by --set (captions=~/c.csv; zsh, and bash in quotes, leave the ~ after the
    # '='), is expanded at use, so its refusals name it as typed
    options.update(args.options)
    recipe = make_recipe(args.recipe, **options)
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        grad_accum=args.grad_accum,
        warmup_steps=args.warmup_steps,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        ema_decay=args.ema_decay or None,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every,
        num_workers=args.num_workers,
        cpu=chosen_device(args) == "cpu",
        compile=args.compile,
    )
    try:
        result = train(
            recipe,
            cfg,
            args.out,
            resume=args.resume,
            progress=not args.no_progress,
            memory_check=args.memory_check,
        )
    except KeyboardInterrupt as err:
        state = PartialState()
        if not state.is_main_process:  # under a launcher the main process alone says how to continue
            raise InterruptSaidElsewhere() from None
        # main prints this as its one "interrupted" line
        lost = f"{err}; " if isinstance(err, TrainInterrupted) else ""
        raise KeyboardInterrupt(
            f"{lost}continue with: {_resume_command(args, state.num_processes)}"
        ) from None
    if not PartialState().is_main_process:  # says it once, under a multi-process launcher
        return 0
    # absolute, as every command's lines name what they wrote (README, "Command line")
    run_dir = result.out_dir.resolve()
    final = run_dir / "final"
    if result.already_finished:  # no step, no export; the resume's bookkeeping may have tidied the folder
        done = f"no step taken, but {', '.join(result.tidied)}" if result.tidied else "nothing to do"
        say(
            f"{args.recipe}: the run in {run_dir} already finished at step {result.step}, its models "
            f"in {final}; {done} (a larger --steps trains it further)",
            sys.stdout,
        )
    else:
        last = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
        trained = f"wrote the {args.recipe} run's models (step {result.step}, last loss {last})"
        say(f"{trained} to {final}", sys.stdout)
    kind = {"stream": "model", "refiner": "refiner"}.get(args.recipe)
    if kind:  # the folders generate / enhance load
        # quoted: a run folder with a space ("my runs/stream") split into two arguments when pasted
        unet_arg = shlex.quote(str(final / "unet"))
        hint = (
            f"loadable folder: streamt2v assemble {kind} OUT_DIR --unet "
            f"{unet_arg}{_fps_flag(args, kind, result.fps)}"
        )
        say(hint, sys.stdout)
    return 0


# The loop settings a resume does not take from the run when they are not typed: how this machine runs it
# (compile or not: a run resumes with or without it, and says so on the line of settings that leave its
# steps unchanged; docs/training.md), not what its steps are.
_NOT_TAKEN_ON_RESUME = ("compile",)


def _take_the_runs_settings(args: argparse.Namespace) -> None:
    """With ``--resume``: every recipe option and loop setting not typed takes the value the run recorded (the
    checkpoint it continues from; :func:`~streamt2v.train.run_folder.resumed_run_config`), so that a flag left
    out is neither a change nor refused as one (``--size`` of a run of 16 was its default, 32); typed ones
    stay as typed, a change the resume compares. Nothing where ``--out`` holds no run of this recipe (the
    resume says so)."""
    from streamt2v.io.folders import home_path
    from streamt2v.train.recipes import EARLIER_OPTION_NAMES, recipe_classes, recipe_options
    from streamt2v.train.run_folder import resumed_run_config
    from streamt2v.train.train_config import FLAGGED_SETTINGS, trains_on_the_cpu

    saved = resumed_run_config(home_path(args.out))
    if saved is None or saved.get("recipe") != args.recipe or args.recipe not in recipe_classes():
        return
    typed = set(typed_flags(args, "train"))
    recorded = {EARLIER_OPTION_NAMES.get(k, k): v for k, v in saved["recipe_config"].items()}
    options = recipe_options(recipe_classes()[args.recipe])  # not one a version since dropped
    by_set = {key for key, _ in args.options}
    for key in _RECIPE_FIELDS:
        if key in recorded and key in options and key not in typed and key not in by_set:
            setattr(args, key, recorded[key])
    kept = [
        (k, v) for k, v in recorded.items() if k in options and k not in _RECIPE_FIELDS and k not in by_set
    ]
    args.options = kept + args.options
    _refuse_moved_paths(args, typed | by_set, kept)
    world = launch_size()
    for key, value in saved["train"].items():
        if key not in FLAGGED_SETTINGS or key in _NOT_TAKEN_ON_RESUME or key in typed:
            continue
        if key == "cpu":  # --device auto typed asks for the GPU where the run trained on the CPU
            args.cpu = bool(value) if "device" not in typed else args.cpu
        elif key == "mixed_precision" and value == "fp16":  # GPU only: below, once --cpu is taken
            continue
        elif key == "grad_accum":  # on another process count: the run's samples per step, where they divide
            samples = int(saved.get("processes", world)) * int(value)
            args.grad_accum = samples // world if samples % world == 0 else value
        elif key == "ema_decay":
            args.ema_decay = value or 0  # the run's None (no EMA) is --ema-decay 0
        else:
            setattr(args, key, value)
    if saved["train"].get("mixed_precision") == "fp16" and "mixed_precision" not in typed:
        # not on the CPU, where it would be refused as if typed: the resume warns of the change (fp16 -> no)
        args.mixed_precision = "no" if trains_on_the_cpu(chosen_device(args) == "cpu") else "fp16"


def _refuse_moved_paths(args: argparse.Namespace, typed: set[str], kept: list[tuple[str, Any]]) -> None:
    """Refuse the files and folders taken from the run's record (not ``typed``) that do not exist here (the
    run's folders moved, or it resumes on another machine), naming them as the run's and the flag that gives
    their new place: read later, they were called missing as if typed, after "resumed from"."""
    from streamt2v.io.folders import named_path
    from streamt2v.train.frozen import names_a_shipped_part
    from streamt2v.train.recipes import is_path_option

    taken = [(key, getattr(args, key), False) for key in _RECIPE_FIELDS if key not in typed]
    taken += [(key, value, True) for key, value in kept]
    moved = [(key, v, by_set) for key, v, by_set in taken if is_path_option(key, v) and not os.path.exists(v)]
    if not moved:
        return
    # quoted as every message names a path (named_path): '/old/v', not a shell's /old/v
    spelled = [
        f"--set {key}={named_path(v)}" if by_set else f"--{key.replace('_', '-')} {named_path(v)}"
        for key, v, by_set in moved
    ]
    flags = [f"--set {key}=..." if by_set else f"--{key.replace('_', '-')}" for key, _, by_set in moved]
    several = len(moved) > 1
    # a shipped part the run was given as microworld, recorded inside another install's package
    shipped = [
        f"--set {key}=microworld" if by_set else f"--{key.replace('_', '-')} microworld"
        for key, v, by_set in moved
        if names_a_shipped_part(key, v, args.recipe)
    ]
    again = (
        f" ({' and '.join(shipped)} for the shipped {'ones' if len(shipped) > 1 else 'one'})"
        if shipped
        else ""
    )
    raise ValueError(
        f"the run's {' and '.join(spelled)} {'do' if several else 'does'} not exist here (moved, or another "
        f"machine): pass {' and '.join(flags)} with {'their new places' if several else 'its new place'}"
        f"{again}"
    )


def _fps_flag(args: argparse.Namespace, kind: str, recorded: int | None) -> str:
    """`` --fps N`` for a model trained on a folder of videos (assemble's default, 8, is the microworld's:
    a model of 24 fps videos would be written at a third of their speed): the frame rate the run recorded
    (``recorded``), else, for a run recorded by a version that did not, the videos' as they read now."""
    if kind != "model" or args.data in (None, "microworld") or args.captions is None:
        return ""
    if recorded is not None:
        return f" --fps {recorded}"
    from streamt2v.train.data import training_frame_rate

    try:
        rate = training_frame_rate(args.data, args.captions)
    except (ValueError, OSError) as err:
        # a finished run resumed after its videos moved or changed reads none of them: the hint stays usable
        return f" --fps FPS (FPS: the training videos' frame rate; they cannot be read now: {err})"
    return f" --fps {rate}"


def _resume_command(args: argparse.Namespace, processes: int = 1) -> str:
    """The command that was run, with ``--resume`` (the recipe options must be the same to resume).

    Under a launcher of ``processes`` > 1: the launch again, or the command alone on one process, which
    takes the run's samples per step (``--grad-accum`` not typed takes N·A, the run's process count N
    times its A: docs/training.md); where ``--grad-accum`` A was typed, the command gives ``--grad-accum``
    N·A after it, or it would resume with 1/N of the run's batch (``--batch-size`` is per process)."""
    argv = list(args.argv)
    if not args.resume:
        argv.append("--resume")
    if processes == 1:
        return shlex.join(["streamt2v", *argv])
    if "grad_accum" in typed_flags(args, "train"):
        argv += ["--grad-accum", str(processes * args.grad_accum)]
    one = shlex.join(["streamt2v", *argv])
    return f"the same launch ({processes} processes) with --resume, or on one process (the same steps): {one}"
