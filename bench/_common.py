"""Helpers shared by the bench scripts: argument checks that fail in one line before any work, output paths,
results files written atomically, Ctrl-C and SIGTERM said in one line, the libraries' progress bars off in a
log. Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from streamt2v.arguments import NamesArguments
from streamt2v.cli import library_bars_off, sigterm_as_interrupt, stderr_is_terminal
from streamt2v.cli.flag_types import compile_backend_name
from streamt2v.cli.flag_types import integer_at_least as at_least
from streamt2v.io.folders import atomic_write_file, check_writable_parent
from streamt2v.wording import counted

# Default results folder: beside the scripts, so a script run from outside the repository root still
# writes where the committed results are (and not into a bench/results/ under the current folder).
RESULTS = Path(__file__).resolve().parent / "results"


positive = at_least(1)


def output_path(
    parser: argparse.ArgumentParser, out: str | None, default_name: str, flag: str = "--out"
) -> Path:
    """The results file: ``out``, or ``default_name`` in ``out`` when it is a folder, or in bench/results when
    ``out`` is None. Its folder is created and the file checked writable here, before the benchmark runs,
    so a long run does not end in a traceback over a path typo."""
    if out is None:
        path = RESULTS / default_name
    else:
        if not out.strip():  # Path("") is the current folder: the file would land wherever this was run
            parser.error(f"{flag} is empty; give a file, or a folder ending in /")
        path = Path(out).expanduser()
        if path.is_dir() or out.endswith(("/", os.sep)):
            path = path / default_name
    if path.is_dir():
        parser.error(f"{flag} {str(path)!r} is a folder; give a file name or a folder ending in /")
    make_folder(parser, path.parent, flag)
    try:  # a file created there and removed (os.access says yes to root on /proc or a read-only mount)
        check_writable_parent(path, "the results file" if flag == "--out" else "the file")
    except OSError as err:
        parser.error(f"{flag}: {err}")
    return path


def make_folder(parser: argparse.ArgumentParser, folder: Path, flag: str) -> None:
    """Create ``folder`` (and its parents), or one ``error:`` line naming ``flag`` and why not: a file where
    a folder would be (said as such, not mkdir's "File exists"), no permission."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        file = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if file == folder:
            parser.error(f"{flag}: {str(folder)!r} is a file, not a folder")
        why = f"{str(file)!r} is a file, not a folder" if file else (err.strerror or str(err))
        parser.error(f"{flag}: cannot create the folder {str(folder)!r}: {why}")


# What run() says on Ctrl-C or SIGTERM: the results file and how many measured rows this process wrote
# into it (none yet: the file is as it was).
_written: dict[Path, int] = {}

INCOMPLETE = "**Incomplete:** the benchmark stopped (or is still running) after these rows."


def write_results(path: Path, text: str, rows: int | None = None) -> None:
    """Write the results file atomically (a temporary beside it renamed over it: a stop while writing leaves
    the old file or the whole new one, never half of it). ``rows``: how many measured rows it holds, for
    scripts that rewrite it after every row (marked incomplete, :data:`INCOMPLETE`, until the last)."""
    atomic_write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    _written[path] = -1 if rows is None else rows


def _kept() -> str:
    if not _written:
        return "nothing measured was written"
    parts = []
    for path, rows in _written.items():
        if rows < 0:
            parts.append(f"{path} was written")
        else:
            parts.append(f"{path} keeps the {counted(rows, 'row')} measured so far, marked incomplete")
    return "; ".join(parts)


# When run() started the benchmark, and the machine's 1-minute load average then: its results file says
# so, beside the machine.
_started: list[tuple[datetime, float | None]] = []


def _now() -> tuple[datetime, float | None]:
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):  # Unix only, and where the system can tell
        load = None
    return datetime.now(timezone.utc), load


def started() -> str:
    """``Started YYYY-MM-DD HH:MM UTC (load average L on N cores)``: when this benchmark began (:func:`run`;
    else now), for its results file, which without a date could not be told from an older one of the same
    machine and settings; and the load the machine had then (other processes: on a shared machine the
    same benchmark took up to 50 times as long with them)."""
    when, load = _started[0] if _started else _now()
    average = "unknown" if load is None else f"{load:.2f}"
    return f"Started {when:%Y-%m-%d %H:%M} UTC (load average {average} on {counted(os.cpu_count() or 1, 'core')})"


# What quiet_library_bars switched off, switched back on as run() ends (a test runs scripts in its process).
_bars = ExitStack()


def quiet_library_bars(libraries: tuple[str, ...] = ("diffusers", "transformers")) -> None:
    """Switch off the progress bars of ``libraries`` and huggingface_hub (model loading: transformers'
    "Loading weights") until the script ends, when stderr is not a terminal (a log file, ``run_all.py``'s
    output piped): there their ``\\r`` redraws are noise. The command line does the same
    (``streamt2v.cli.library_bars_off``). The scripts' own lines are kept. Called after the arguments are
    checked, with only the libraries the script loads models of: importing one for its switch takes seconds
    (diffusers)."""
    if not stderr_is_terminal():
        _bars.enter_context(library_bars_off(libraries))


def run(main: Callable[[], object]) -> None:
    """Run a script's ``main``: Ctrl-C, and SIGTERM taken the same way (a time limit, ``kill``), end it with
    one line saying what was written (exit 130, SIGTERM 143) instead of a traceback; context managers
    still clean up (the training benchmark's temporary run folders); the bars :func:`quiet_library_bars`
    switched off are switched back on."""
    _written.clear()
    _started[:] = [_now()]
    with _bars, sigterm_as_interrupt() as terminated:
        try:
            main()
        except KeyboardInterrupt:
            print(
                f"interrupted{' (SIGTERM)' if terminated() else ''}: {_kept()}", file=sys.stderr, flush=True
            )
            sys.exit(143 if terminated() else 130)


def command() -> str:
    """The command line that ran this script, for its results file to say how to reproduce them:
    ``python bench/NAME ARGS`` as given, less ``--out`` (where the results went)."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        # argparse takes any unambiguous prefix (--ou, --o=DIR): no other option of these scripts starts --o
        name = arg.split("=", 1)[0]
        is_out = len(name) > 2 and "--out".startswith(name)
        if skip or is_out:
            skip = is_out and "=" not in arg
            continue
        args.append(arg)
    return shlex.join(["python", f"bench/{Path(sys.argv[0]).name}", *args])


def add_compile_flag(parser: argparse.ArgumentParser) -> None:
    """``--compile [BACKEND]`` of the scripts that time compiled models (an empty backend refused, as the
    command line's)."""
    parser.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        type=compile_backend_name,
        metavar="BACKEND",
        help="torch.compile backend (inductor)",
    )


def check_prompt(parser: argparse.ArgumentParser, prompt: str | None) -> None:
    """One ``error:`` line for an empty ``--prompt`` (a shell variable that was not set): the pipeline refuses
    it after the models load, or the default took its place unsaid."""
    if prompt is not None and not prompt.strip():
        parser.error(f"--prompt is empty ({prompt!r}); give a prompt, or leave the flag out for the default")


def machine(threads: bool = True, device=None) -> str:
    """``describe_machine()``: the CPU, the GPU of ``device`` (a CUDA one; None: the current one), torch and
    (``threads``) this process's thread count."""
    from streamt2v.memory import describe_machine

    return describe_machine(threads=threads, device=device)


def stamp(device=None) -> str:
    """``Machine: ... . Started ... .``: where and when the benchmark ran (:func:`machine` of ``device``,
    :func:`started`), as each results file says it."""
    return f"Machine: {machine(device=device)}. {started()}."


def check_device(parser: argparse.ArgumentParser, device: str, dtype: str | None = None):
    """``(torch.device, torch.dtype)`` for ``--device``/``--dtype``, or one ``error:`` line naming what the
    machine lacks (CUDA absent, fp16 on the CPU) instead of a traceback from inside torch."""
    from streamt2v.memory import resolve_device, resolve_dtype

    try:
        dev = resolve_device(device)
        return dev, resolve_dtype(dtype, dev)
    except ValueError as err:
        parser.error(str(err.as_flags() if isinstance(err, NamesArguments) else err))
