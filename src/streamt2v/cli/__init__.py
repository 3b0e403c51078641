"""The ``streamt2v`` command line: parses flags into config objects and calls library functions.

Each subcommand lives in its own module ``streamt2v.cli.<name>`` exposing ``add_parser(subparsers)``
(which registers the subcommand and sets ``func``) and keeps heavy imports inside its run function, so
``streamt2v --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("generate", "enhance", "convert", "evaluate", "train", "assemble")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamt2v",
        description="StreamingT2V: long text-to-video generation (arXiv 2403.14773).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:
        # Library errors are written to be read by people: show the message, not a traceback.
        if args.verbose:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
