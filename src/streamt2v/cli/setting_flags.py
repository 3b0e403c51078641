"""Settings named by the command line's flags: :func:`as_flags` puts a message of generate or enhance that
names settings by their fields (``steps=10``, ``init_video``) in the command's flags (``--steps 10``,
``--init-video``), by generate's tables or the command's own; :func:`typed_flags`: the flags a command line typed."""

from __future__ import annotations

import argparse
import re

from streamt2v.pipeline.setting_checks import QUOTED
from streamt2v.typed_values import COUNTED_INTEGER, flag_value

# The flags of the stage-1/2 settings whose name is not the flag's (the rest: --name-with-dashes).
_OTHER_FLAGS = {"num_frames": "--frames", "anchor_image": "--anchor"}


#: generate's flag for each stage-3 setting (:class:`~streamt2v.pipeline.enhance_config.EnhanceConfig` field) that
#: has one; the command line names stage 3's settings by these (their own names are also stage 2's).
ENHANCE_FLAGS = {
    "steps": "--enhance-steps",
    "start_step": "--enhance-start-step",
    "chunk_frames": "--enhance-chunk-frames",
    "overlap": "--enhance-overlap",
    "negative_prompt": "--negative-prompt",  # stage 3's too
}


def _flag_names() -> dict[str, str]:
    """generate's flag for each stage-1/2 setting (:class:`StreamConfig` field) and input a message names."""
    from dataclasses import fields

    from streamt2v.pipeline.stream import StreamConfig

    names = [f.name for f in fields(StreamConfig)] + ["init_video", "init_image", "anchor_image"]
    return {name: _OTHER_FLAGS.get(name, "--" + name.replace("_", "-")) for name in names}


def as_flags(message: str, flags: dict[str, str] | None = None, typed: dict[str, str] | None = None) -> str:
    """A message with the settings named as a command's ``flags`` (setting: flag; default: generate's
    stage-1/2 ones) — ``steps=10`` as ``--steps 10`` — quoted prompts and paths left as they are; a flag
    the user typed by another of its names (``typed``: flag: as typed, ``{"--frames": "-n"}``) by that."""
    flags = _flag_names() if flags is None else flags
    flags = {name: (typed or {}).get(flag, flag) for name, flag in flags.items()}
    names = "|".join(sorted(flags, key=len, reverse=True))
    pattern = re.compile(rf"({QUOTED})|\b({names})\b(?:(=)({COUNTED_INTEGER})?)?")
    return pattern.sub(lambda m: m[1] or flags[m[2]] + " " * bool(m[3]) + flag_value(m[4] or ""), message)


def typed_flags(args: argparse.Namespace, command: str) -> dict[str, object]:
    """The dests of the flags typed on ``command``'s line (``args.argv``) and their values, whatever those
    are: a value compared with the default would take ``--size 32`` (the default) typed to change a run of
    16 for one not typed. ``args.parser``, the command's, is made for this one call: its defaults are
    changed to read the line again."""
    unset = object()
    # a repeatable flag's (--set) default is None: argparse appends to a list it makes for the first one
    left_out = {
        dest: None if isinstance(value, list) else unset
        for dest, value in vars(args).items()
        if dest not in ("func", "parser")
    }
    args.parser.set_defaults(**left_out)
    typed = vars(args.parser.parse_args(args.argv[args.argv.index(command) + 1 :]))
    return {dest: value for dest, value in typed.items() if dest in left_out and value is not left_out[dest]}
