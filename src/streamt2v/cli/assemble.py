"""``streamt2v assemble model|refiner``: a loadable model folder from ``streamt2v train`` runs.

The parts default to the folders the UNet's run recorded (its ``config.json``), so
``streamt2v assemble model models/mine --unet runs/stream/final/unet`` finds the stage-1 UNet, VAE and
micro-CLIP the stream was trained with (:mod:`streamt2v.train.assemble`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path
from typing import Any

from streamt2v.arguments import NamesArguments, logs_naming_flags
from streamt2v.cli import library_bars_off_if_quiet
from streamt2v.cli.flag_types import typed_path
from streamt2v.cli.launched import refuse_a_launch
from streamt2v.cli.train import key_value
from streamt2v.config import DTYPE_NAMES


def _looks_like_path(text: str) -> bool:
    """Whether a ``--sampler``/``--enhance`` value names a file rather than inline JSON: it ends in .json or
    holds a path separator, outside a JSON object (``{"negative_prompt": "a/b"}`` is inline)."""
    if text.lstrip().startswith("{"):
        return False
    separators = {"/", os.sep, os.altsep} - {None}
    return text.endswith(".json") or any(sep in text for sep in separators)


def _whole_frame_rate(text: str) -> int | float:
    """``--fps``: a number, ``24.0`` read as the whole number it is; the library refuses what cannot be a model
    folder's frame rate (``23.976``, ``0``) naming the flag, as argparse's ``int`` took only ``24``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return int(value) if value.is_integer() else value


class _TypedSettings(dict):
    """``--sampler``/``--enhance``'s settings, with the text typed for them (the JSON, or the file's name) that
    the command's refusals of them show (``--sampler s.json``: the settings re-dumped read as typed inline)."""

    def __init__(self, settings: dict[str, Any], typed: str) -> None:
        super().__init__(settings)
        self.typed = typed


def _settings(text: str) -> _TypedSettings:
    """A JSON object given inline or as a file path (a path that does not exist is named as such)."""
    path = Path(os.path.expanduser(text))
    if path.is_file():
        try:
            source = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise argparse.ArgumentTypeError(f"file {text!r} cannot be read ({err})") from None
        what = f"file {text!r}"
    elif path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a JSON file or a JSON object")
    elif _looks_like_path(text):
        # was "expected a JSON object or a JSON file, got 'nope.json' (Expecting value: line 1 column 1 ...)"
        raise argparse.ArgumentTypeError(f"file {text!r} not found")
    else:
        source, what = text, None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as err:
        if what:
            raise argparse.ArgumentTypeError(f"{what} is not valid JSON ({err})") from None
        raise argparse.ArgumentTypeError(
            f"expected a JSON object or a JSON file, got {text!r} ({err})"
        ) from None
    if not isinstance(value, dict):
        if what:
            raise argparse.ArgumentTypeError(f"{what} holds no JSON object")
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return _TypedSettings(value, text)


def _common(p: argparse.ArgumentParser, unet_help: str) -> None:
    # the folders as typed: the library expands ~ at use, and its refusals name them so ('~/v' ('/home/me/v'))
    p.add_argument("out_dir", type=typed_path, help="output folder (written atomically)")
    p.add_argument("--unet", type=typed_path, required=True, help=unet_help)
    p.add_argument(
        "--vae",
        type=typed_path,
        help="VAE folder, e.g. runs/vae/final/vae, or microworld for the shipped one (default: the one the "
        "UNet's run recorded)",
    )
    p.add_argument(
        "--clip",
        type=typed_path,
        help="micro-CLIP folder, e.g. runs/clip/final, or microworld for the shipped one (default: the UNet's "
        "run's)",
    )
    p.add_argument(
        "--scheduler",
        type=typed_path,
        help="noise schedule folder (default: the UNet's run's final/scheduler)",
    )
    p.add_argument(
        "--dtype", choices=DTYPE_NAMES, default="fp32", help="weights' dtype (default: %(default)s)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal)",
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "assemble",
        help="build a model folder (generate/enhance --model) from training runs",
        description="Put the final weights of `streamt2v train` runs together as a folder that "
        "`streamt2v generate --model` (model) or `streamt2v enhance --model` / `generate --refiner` "
        "(refiner) loads. Parts the UNet's run recorded are found by themselves; the parts are checked "
        "against each other before anything is written.",
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    m = kinds.add_parser("model", help="stages 1-2: stream UNet + stage-1 UNet + VAE + micro-CLIP")
    _common(m, "the stream run's UNet, e.g. runs/stream/final/unet, or microworld for the shipped one")
    m.add_argument(
        "--init-unet",
        type=typed_path,
        help="stage-1 UNet, e.g. runs/base/final/unet, or microworld for the shipped one (default: the "
        "stream's base)",
    )
    m.add_argument(
        "--sampler",
        type=_settings,
        help="recommended sampler settings stored in the folder, JSON or a JSON file, e.g. '{\"steps\": 20}'",
    )
    m.add_argument(
        "--fps",
        type=_whole_frame_rate,
        help="frame rate of the training videos, which generate writes the model's videos at (default: the "
        "one the stream run recorded, a run on a folder of videos; else 8, the microworld's)",
    )
    m.add_argument("--name", help="model name in its config (default: the folder's name)")
    m.set_defaults(func=run, own_library_bars=True)  # run switches the libraries' bars
    r = kinds.add_parser("refiner", help="stage 3: refiner UNet + VAE + text encoder")
    _common(r, "the refiner run's UNet, e.g. runs/refiner/final/unet, or microworld for the shipped one")
    r.add_argument("--enhance", type=_settings, help="recommended enhancer settings, JSON or a JSON file")
    r.add_argument(
        "--scheduler-option",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="DDIM option over the training schedule, e.g. set_alpha_to_one=true (repeatable)",
    )
    r.set_defaults(func=run, own_library_bars=True)
    return p


def run(args: argparse.Namespace) -> int:
    # assembling is not split between a launch's processes: refused rather than done whole by each
    refuse_a_launch(
        "assemble",
        "each process would assemble the whole model and write the same folder; run it without the launcher",
    )
    # the library's log lines name its arguments (vae); here they name the flags typed (--vae); the libraries'
    # bars (model loading) off into a log, imported for it after the refusal above
    with (
        logs_naming_flags("streamt2v.train.assemble", "streamt2v.train.assemble_settings"),
        library_bars_off_if_quiet(args),
    ):
        try:
            out = Path(_assemble(args)).resolve()
        except NamesArguments as err:
            err.parts = tuple(_as_typed(part, args) for part in err.parts)
            raise
    # every command's wrote line (README, "Command line"): the absolute path ends it
    print(f"wrote {args.kind} folder {out}")
    # the folder quoted in the command (a space would split it when pasted)
    use = "generate PROMPT" if args.kind == "model" else "enhance VIDEO --prompt PROMPT"
    print(f"use it: streamt2v {use} --model {shlex.quote(str(out))}")
    return 0


def _as_typed(part: object, args: argparse.Namespace) -> object:
    """An error's ``part`` showing settings of ``--sampler``/``--enhance`` as they were typed."""
    from streamt2v.train.assemble_settings import SettingsArg

    if isinstance(part, SettingsArg):
        given = getattr(args, part.name, None)
        if isinstance(given, _TypedSettings):
            return SettingsArg(part.name, given.typed)
    return part


def _assemble(args: argparse.Namespace) -> Path:
    import torch

    from streamt2v.train.assemble import assemble_model, assemble_refiner

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    common = dict(unet=args.unet, vae=args.vae, clip=args.clip, scheduler=args.scheduler, dtype=dtype)
    if args.kind == "model":
        return assemble_model(
            args.out_dir,
            init_unet=args.init_unet,
            sampler=args.sampler,
            fps=args.fps,
            name=args.name,
            overwrite=args.overwrite,
            **common,
        )
    return assemble_refiner(
        args.out_dir,
        enhance=args.enhance,
        scheduler_overrides=dict(args.scheduler_option),
        overwrite=args.overwrite,
        **common,
    )
