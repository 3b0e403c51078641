"""The project's progress bars: tqdm's (``tqdm.auto``: a widget in a notebook), sized where the terminal reports
no size. A pseudo-terminal given none (``script`` in a batch job, some CI runners) says 0 columns and 0 lines,
where tqdm draws nothing at all (no room, or its bar below the last line); such a bar takes ``$COLUMNS`` and
``$LINES`` when set, else 80 columns and 24 lines, as ``shutil.get_terminal_size`` falls back."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any


def progress_bar(iterable: Iterable | None = None, **options: Any) -> Any:
    """``tqdm(iterable, **options)``, given a size (:func:`bar_size`) where its terminal reports none; a bar
    asking for ``dynamic_ncols`` keeps it where the terminal reports both its columns and its lines."""
    from tqdm.auto import tqdm

    size = bar_size(options.get("file"))
    if size:  # a dynamic bar reads columns and lines again at every redraw: the 0 again (0 lines hide it)
        options["dynamic_ncols"] = False
    return tqdm(iterable, **size, **options)


def bar_size(file: IO[str] | None = None) -> dict[str, int]:
    """tqdm's ``ncols``/``nrows`` for a bar on ``file`` (stderr by default): set only where its terminal
    reports 0 of them; empty (tqdm's own) when it reports a size or is no terminal."""
    try:
        columns, lines = os.get_terminal_size((file or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):  # not a terminal, or the stream replaced: tqdm's own way
        return {}
    size = {}
    if columns <= 0:
        size["ncols"] = _from_environment("COLUMNS", 80)
    if lines <= 0:
        size["nrows"] = _from_environment("LINES", 24)
    return size


def _from_environment(name: str, default: int) -> int:
    """``$name`` as a positive number, else ``default`` (``shutil.get_terminal_size``'s order)."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default
