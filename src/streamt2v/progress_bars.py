"""The size of the progress bars where the terminal reports none: a pseudo-terminal given no size (``script``
in a batch job, some CI runners) says 0 columns and 0 lines, where tqdm draws nothing at all (no room, or its
bar below the last line). The bars then take 80 columns and 24 lines, as ``shutil.get_terminal_size`` falls
back; elsewhere tqdm sizes them its own way."""

from __future__ import annotations

import os
import sys
from typing import IO


def bar_size(file: IO[str] | None = None) -> dict[str, int]:
    """tqdm's ``ncols``/``nrows`` for a bar on ``file`` (stderr by default): set only where its terminal
    reports 0 of them; empty (tqdm's own) when it reports a size or is no terminal. A bar given a size here
    must not also ask for ``dynamic_ncols``, which would read the 0 again."""
    try:
        columns, lines = os.get_terminal_size((file or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):  # not a terminal, or the stream replaced: tqdm's own way
        return {}
    return {**({"ncols": 80} if columns <= 0 else {}), **({"nrows": 24} if lines <= 0 else {})}
