"""The ``type=`` functions of the command line's flags: each refuses a value as typed (an empty path, an
integer or a number out of range) with argparse's error naming the flag (``argument --seed: ...``), before
any work."""

from __future__ import annotations

import argparse
import math
import os

from streamt2v.typed_values import shown_text


def user_path(text: str) -> str:
    """``type=`` of every path flag: ``~`` expanded, since the shell leaves it in ``--output=~/out.mp4``. An
    empty path is refused (``--init-video "$VIDEO"`` with the variable unset): read as no flag it was dropped
    without a word (a video made from text alone, ``evaluate --out ''`` writing no file), read as a path it
    named the working directory."""
    return os.path.expanduser(typed_path(text))


def typed_path(text: str) -> str:
    """``type=`` of a path flag whose library call expands ``~`` itself (generate's): the path as typed, so its
    messages name it so (``'~/x.mp4' ('/home/me/x.mp4')``); empty refused as by :func:`user_path`."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def compile_backend_name(text: str) -> str:
    """``type=`` of an optional-valued ``--compile BACKEND``: an empty backend (``--compile "$BACKEND"`` with
    the variable unset) is refused; the run took it for no --compile and ran uncompiled without a word."""
    if not text:
        raise argparse.ArgumentTypeError(
            "expected a torch.compile backend such as inductor, got an empty string"
        )
    return text


def integer_at_least(minimum: int, below: int | None = None):
    """``type=`` of an integer flag with a lower bound (and ``below``, an upper one it must stay under):
    argparse then names the flag in the error (``argument --enhance-steps: expected an integer >= 1, got
    '0'``), where the config it fills would name its field (``EnhanceConfig``'s ``steps``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (below is not None and value >= below):
            expected = f">= {minimum}" if below is None else f"from {minimum} to {below - 1}"
            raise argparse.ArgumentTypeError(f"expected an integer {expected}, got {shown_text(text)}")
        return value

    return parse


def number_in(
    low: float, high: float | None = None, *, above: bool = False, below: bool = False, note: str = ""
):
    """``type=`` of a number flag: a finite number from ``low`` to ``high`` (None: no upper bound;
    ``above``/``below``: the bound itself is out), refused as typed with argparse naming the flag (``argument
    --fps: expected a finite number in [0.01, 1000], got '0'``) and ``note`` after the range (``(0 = off)``),
    as :func:`integer_at_least` refuses an integer. The config the value fills checks it again for a Python
    caller, naming its argument and the value's repr (``fps=0.0``); its refusal here named the value so too
    (``got 0.0`` for ``0``, ``got inf`` for ``1e999``)."""
    if high is None:
        expected = f"{'>' if above else '>='} {low:g}"
    else:
        expected = f"in {'(' if above else '['}{low:g}, {high:g}{')' if below else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        out = not math.isfinite(value) or value < low or (above and value == low)
        if high is not None:
            out |= value > high or (below and value == high)
        if out:
            raise argparse.ArgumentTypeError(
                f"expected a finite number {expected}{' ' + note if note else ''}, got {shown_text(text)}"
            )
        return value

    return parse


def frame_rate(text: str) -> float:
    """``type=`` of an output ``--fps``: a number in the range every writer takes (``check_fps``), refused as
    typed (:func:`number_in`)."""
    from streamt2v.io.frame_rates import MAX_FPS, MIN_FPS  # numpy: imported when the flag is given alone

    return number_in(MIN_FPS, MAX_FPS)(text)
