"""Helpers shared by the bench scripts: argument checks that fail in one line before any work, output paths,
plural wording. Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from streamt2v.cli import integer_at_least as at_least

# Default results folder: beside the scripts, so a script run from outside the repository root still
# writes where the committed results are (and not into a bench/results/ under the current folder).
RESULTS = Path(__file__).resolve().parent / "results"


positive = at_least(1)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def output_path(
    parser: argparse.ArgumentParser, out: str | None, default_name: str, flag: str = "--out"
) -> Path:
    """The results file: ``out``, or ``default_name`` in ``out`` when it is a folder, or in bench/results when
    ``out`` is None. Its folder is created and the file checked writable here, before the benchmark runs,
    so a long run does not end in a traceback over a path typo."""
    if out is None:
        path = RESULTS / default_name
    else:
        path = Path(out).expanduser()
        if path.is_dir() or out.endswith(("/", os.sep)):
            path = path / default_name
    if path.is_dir():
        parser.error(f"{flag} {str(path)!r} is a folder; give a file name or a folder ending in /")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"{flag}: cannot create the folder {str(path.parent)!r}: {err.strerror or err}")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"{flag}: cannot write {str(path)!r} (permission denied)")
    return path


def machine(threads: bool = True) -> str:
    """``describe_machine()``: the CPU, GPU, torch and (``threads``) this process's thread count."""
    from streamt2v.memory import describe_machine

    return describe_machine(threads=threads)


def check_device(parser: argparse.ArgumentParser, device: str, dtype: str | None = None):
    """``(torch.device, torch.dtype)`` for ``--device``/``--dtype``, or one ``error:`` line naming what the
    machine lacks (CUDA absent, fp16 on the CPU) instead of a traceback from inside torch."""
    from streamt2v.memory import resolve_device, resolve_dtype

    try:
        dev = resolve_device(device)
        return dev, resolve_dtype(dtype, dev)
    except ValueError as err:
        parser.error(str(err))
