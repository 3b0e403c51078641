"""``streamt2v generate``'s prompt: PROMPT, ``--prompt`` (enhance's spelling, or a schedule file's name) and
``--prompt-schedule``, refused empty, missing or given twice before the pipeline's imports of seconds."""

from __future__ import annotations

import argparse
import shlex
import sys

from streamt2v.cli.flag_types import user_path


def prompt_text(text: str) -> str:
    """``type=`` of ``--prompt``: empty (an unset shell variable) refused, as PROMPT's text."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected the prompt's text, got {text!r}")
    return text


def schedule_file_or_text(text: str) -> str:
    """``type=`` of ``--prompt-schedule``: a file or an inline schedule, as typed (load_schedule expands ``~``
    and names a file both ways); empty (an unset shell variable) refused, naming both forms."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a schedule file or an inline schedule ('0: a cat walks; 120: the cat runs'), got {text!r}"
        )
    return text


def check_prompt(args: argparse.Namespace) -> None:
    """Refuse a new run's missing or doubled prompt before the pipeline's imports of seconds."""
    from streamt2v.pipeline.prompts import names_a_file

    if args.prompt_option is not None:
        take_prompt_option(args)
    if args.prompt is None and args.prompt_schedule is None:
        if args.compile and not _is_backend(args.compile):  # nargs="?" took the prompt
            raise ValueError(
                f"--compile took {args.compile!r} as its backend and no PROMPT is left; put the prompt "
                "before --compile or name the backend (--compile inductor)"
            )
        raise ValueError("give a PROMPT or --prompt-schedule")
    if args.prompt is not None and args.prompt_schedule is not None:
        raise ValueError("give either a PROMPT or --prompt-schedule, not both")
    if args.prompt is not None and names_a_file(args.prompt):  # a schedule file given as the PROMPT
        raise ValueError(
            f"PROMPT {args.prompt!r} is a file, not a prompt: a prompt schedule file goes to "
            f"--prompt-schedule {shlex.quote(args.prompt)}"
        )


def take_prompt_option(args: argparse.Namespace) -> None:
    """``--prompt TEXT`` as PROMPT (enhance's spelling), or as ``--prompt-schedule`` where it names a file:
    before it was a flag of its own, ``--prompt`` was the abbreviation of ``--prompt-schedule``, and
    plain text there was looked for as a schedule file ("prompt schedule file 'a cat' not found")."""
    from streamt2v.pipeline.prompts import names_a_file

    if args.prompt is not None or args.prompt_schedule is not None:
        given = "PROMPT" if args.prompt is not None else "--prompt-schedule"
        raise ValueError(f"give either --prompt or {given}, not both")
    if names_a_file(user_path(args.prompt_option)):
        # said, as a file's reading errors would otherwise come from nowhere the user typed
        print(
            f"note: --prompt {args.prompt_option!r} names a file: read as --prompt-schedule", file=sys.stderr
        )
        args.prompt_schedule = args.prompt_option  # as typed, as --prompt-schedule keeps it
    else:
        args.prompt = args.prompt_option


def _is_backend(name: str) -> bool:
    """Whether ``name`` is a torch.compile backend (only asked when a command line went wrong: listing them
    imports torch._dynamo)."""
    from streamt2v.compiling import compile_backends

    offered, others = compile_backends()
    return name in offered or name in others
