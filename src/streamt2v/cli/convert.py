"""``streamt2v convert``: official ``streaming_t2v.ckpt`` → a StreamingT2V model folder."""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import replace
from pathlib import Path

from streamt2v.cli import library_bars_off_if_quiet
from streamt2v.cli.flag_types import typed_path
from streamt2v.cli.launched import refuse_a_launch
from streamt2v.config import DTYPE_NAMES, PRESETS, VIT_H_HEAD_WIDTH

# problems of each kind listed when most of the checkpoint does not fit (a wrong file or preset: the full list
# would be thousands of lines)
_LISTED_WHEN_MOSTLY_UNFIT = 10


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert the official StreamingT2V checkpoint to a model folder",
        description=(
            "Convert the official streaming_t2v.ckpt (read with torch.load weights_only=True; never "
            "executed) or a .safetensors state dict into a StreamingT2V model folder, and print a report "
            "of every unmapped, missing or mis-shaped tensor."
        ),
    )
    p.add_argument(
        "checkpoint",
        type=typed_path,  # ~ expanded by the library, whose messages name it as typed and as read
        help="streaming_t2v.ckpt (weights under state_dict, model or module, with or without a wrapper's "
        "model./module. prefix), a .safetensors state dict, or one saved in shards (its *.index.json, "
        "or the folder holding it and the shards)",
    )
    p.add_argument("out_dir", type=typed_path, help="output model folder (written atomically)")
    p.add_argument(
        "--preset",
        type=typed_path,  # a file's ~ expanded by the library, which names it as typed and as read
        default="modelscope-1.7b",
        metavar="NAME_OR_JSON",
        help=f"the architecture: a preset name ({', '.join(PRESETS)}; default: %(default)s) or a JSON file: "
        "a model folder's model_index.json (or the folder), or the ModelConfig object it holds under "
        "streamt2v.model_config, every field given; checked before the checkpoint is read",
    )
    p.add_argument(
        "--init-unet",
        type=typed_path,
        default=None,
        metavar="PATH_OR_HUB_ID",
        help="ModelScope diffusers folder (unet/ and tokenizer/; the fp16 variant will do) for the stage-1 model, "
        "or its hub id, e.g. damo-vilab/text-to-video-ms-1.7b (needs network: only unet/ and tokenizer/ are "
        "fetched); checked before the checkpoint is read",
    )
    p.add_argument(
        "--tokenizer",
        type=typed_path,
        default=None,
        metavar="PATH_OR_HUB_ID",
        help="folder or hub id with the tokenizer, as its files name it (a CLIP tokenizer, or a word-level one "
        "such as the microworld's; default: the --init-unet folder's tokenizer/)",
    )
    p.add_argument(
        "--head-width",
        type=int,
        default=VIT_H_HEAD_WIDTH,
        help="open_clip per-head width of the image encoder (default: %(default)s, ViT-H's)",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPE_NAMES,
        default="fp32",
        help="dtype of the saved weights (default: %(default)s, as in the checkpoint; fp16/bf16 halve the "
        "folder; generate --dtype casts either way when loading)",
    )
    p.add_argument(
        "--no-strict",
        action="store_true",
        help="report mismatches instead of failing (missing tensors saved as zeros, absent components random, "
        "no tokenizer allowed); a file of which nothing fits, or one recognised as another model's, is refused "
        "even then",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal)",
    )
    p.set_defaults(func=run, own_library_bars=True)  # run switches the libraries' bars


def run(args: argparse.Namespace) -> int:
    # a conversion is not split between a launch's processes: refused rather than done whole by each
    refuse_a_launch(
        "convert",
        "each process would convert the whole checkpoint and write the same folder; run it without the "
        "launcher",
    )
    from streamt2v.io.checkpoints import convert_official_checkpoint
    from streamt2v.io.conversion_report import CheckpointMismatchError

    # the libraries' bars (the tokenizer's, the models') off into a log; imported for it after the refusal above
    try:
        with library_bars_off_if_quiet(args):
            report = convert_official_checkpoint(
                args.checkpoint,
                args.out_dir,
                preset=args.preset,
                init_unet=args.init_unet,
                tokenizer=args.tokenizer,
                strict=not args.no_strict,
                head_width=args.head_width,
                overwrite=args.overwrite,
                dtype=args.dtype,
            )
    except CheckpointMismatchError as err:
        # the report lists the problems once; the error itself stays one line, also when the reader went away
        # during the report (it was shown whole, its problems listed again) or the print failed otherwise (a
        # full disk under stdout); a Ctrl-C during a long report stays an interruption (no Exception)
        limit = _LISTED_WHEN_MOSTLY_UNFIT if err.report.mostly_unfit else None
        with contextlib.suppress(Exception):
            print(err.report.format(limit=limit, flags=True))
        raise err.one_line() from None
    # the folder in the wrote line that ends every command's output (README, "Command line"), not the report's
    # "written:" line with the path as typed
    print(replace(report, out_dir=None).format(flags=True))
    print(f"wrote model folder {Path(report.out_dir).resolve()}")
    return 0
