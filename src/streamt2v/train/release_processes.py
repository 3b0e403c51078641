"""The processes of the microworld release's runs (``microworld_release.train_all``): how each ended, in
words, and how the running ones are stopped when the release is stopped or one of them fails; and
:func:`exit_status`, which the release's command line and each run's process end by."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from streamt2v.cli.interrupts import sigterm_as_interrupt
from streamt2v.wording import singular_or_plural

logger = logging.getLogger(__name__)

# How long runs stopped the Ctrl-C way (train_all interrupted, or another run failed) get to write their
# checkpoint and leave before they are killed.
STOP_GRACE_S = 60.0

# The exits of a process that took a Ctrl-C (SIGINT) or a SIGTERM its own way (exit_status): 128 + signal
_INTERRUPTED_EXITS = {
    130: "was interrupted (exit 130: a Ctrl-C sent to it)",
    143: "was stopped (exit 143: a SIGTERM)",
}


class ReleaseInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, in :func:`exit_status`) while :func:`train_all` trained: the runs it had started
    were stopped the Ctrl-C way, each keeping its latest checkpoint, which a rerun resumes."""


class RunFailed(RuntimeError):
    """A run of :func:`train_all` ended with an error (or was killed): its exit, its error line and log."""


def exit_status(work: Callable[[], object]) -> int:
    """Run ``work`` as the command line does: 0; an error (RuntimeError, ValueError, OSError) as one line
    ``error: ...``, 2; Ctrl-C as one line ``interrupted: ...``, 130, and SIGTERM (a supervisor's stop,
    ``timeout``) the same way, 143."""
    with sigterm_as_interrupt() as terminated:
        try:
            work()
        except KeyboardInterrupt as err:
            detail = f": {err}" if str(err) else ""
            print(f"interrupted{' (SIGTERM)' if terminated() else ''}{detail}", file=sys.stderr)
            return 143 if terminated() else 130
        except (RuntimeError, ValueError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


def ended(returncode: int) -> str:
    """How a run's process ended, in words: ``killed by signal 9``, ``failed (exit 2)``, or, for a process
    that took a Ctrl-C or SIGTERM sent to it alone (it runs in a session of its own), ``was interrupted
    (exit 130: ...)``: it did not fail."""
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return _INTERRUPTED_EXITS.get(returncode, f"failed (exit {returncode})")


def last_error(log: Path, start: int = 0) -> str:
    """The last ``error: ...`` line of a run's log from byte ``start`` on (where this attempt's output
    begins: a rerun appends) without its ``error: `` (empty: none)."""
    try:
        with open(log, "rb") as f:
            f.seek(start)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line[len("error: ") :] for line in reversed(lines) if line.startswith("error: ")), "")


def stopped_runs(stopped: list[str]) -> str:
    """``stopped run base; a rerun resumes it from its latest checkpoint`` (``stopped``: their names)."""
    k = len(stopped)
    them, their = singular_or_plural(k, "it", "them"), singular_or_plural(k, "its", "their")
    runs = f"{singular_or_plural(k, 'run')} {', '.join(stopped)}"
    return f"stopped {runs}; a rerun resumes {them} from {their} latest checkpoint"


def stop_runs(
    running: dict[str, tuple[subprocess.Popen, IO[str]]], grace_s: float = STOP_GRACE_S
) -> list[str]:
    """Stop the running runs the Ctrl-C way, wait ``grace_s`` for them, then kill the ones left; the names
    of those that did not end with exit 0 (a run finishing meanwhile was not stopped). SIGTERM, not SIGINT:
    each run's process takes it as its Ctrl-C (:func:`exit_status`: it writes nothing half and keeps its
    checkpoint), and a release started with SIGINT ignored (``cmd &`` in a script) passes that on to its
    runs, which then went on until terminated after the grace. A second SIGTERM is ignored there, so one
    still running after the grace is killed. A Ctrl-C (or SIGTERM) while they stop ends the grace: the
    ones left are killed at once, and :class:`ReleaseInterrupted` names them all (it was a bare
    KeyboardInterrupt, the runs left running)."""
    for proc, _ in running.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    hurried: list[str] = []
    try:
        for name, (proc, _) in running.items():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s: not stopped after %.0f s, killed", name, grace_s)
                proc.kill()
                proc.wait()
    except KeyboardInterrupt:
        hurried = [name for name, (proc, _) in running.items() if proc.poll() is None]
        for name in hurried:
            running[name][0].kill()
            running[name][0].wait()
    finally:
        for _, log in running.values():
            log.close()
    stopped = sorted(name for name, (proc, _) in running.items() if proc.returncode != 0)
    if hurried:
        they = singular_or_plural(len(running), "it", "they")
        raise ReleaseInterrupted(
            f"{stopped_runs(stopped)} (an interrupt while {they} stopped killed {', '.join(sorted(hurried))} "
            "at once: the steps after that checkpoint are lost)"
        )
    return stopped


def stop_runs_for(err: BaseException, running: dict[str, tuple[subprocess.Popen, IO[str]]]) -> None:
    """Stop the running runs (:func:`stop_runs`) because of ``err``, which ended :func:`train_all`'s loop,
    and raise what says so: a Ctrl-C as :class:`ReleaseInterrupted`, a run's failure as :class:`RunFailed`
    and an OSError (starting a run) as a RuntimeError caused by it, each with the runs it stopped after its
    text; any other error (a bug: its traceback is what helps) gets them as a note and returns, as where it
    stopped none (the caller raises ``err``). A second Ctrl-C while they stop is :class:`ReleaseInterrupted`
    after the error's text: it hid the failure."""
    try:
        stopped = stop_runs(running)
    except ReleaseInterrupted as hurried:
        if isinstance(err, KeyboardInterrupt):
            raise
        raise ReleaseInterrupted(f"{err}; {hurried}") from None
    if isinstance(err, KeyboardInterrupt) and stopped:
        raise ReleaseInterrupted(stopped_runs(stopped)) from None
    if isinstance(err, RunFailed) and stopped:  # the runs its failure stopped, which it did not name
        raise RunFailed(f"{err}; {stopped_runs(stopped)}") from None
    if isinstance(err, OSError) and stopped:  # its own kind cannot be rebuilt with more text: its cause
        raise RuntimeError(f"{err}; {stopped_runs(stopped)}") from err
    if stopped:
        err.add_note(stopped_runs(stopped))
