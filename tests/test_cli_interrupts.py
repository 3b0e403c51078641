"""SIGTERM where CPython would lose its KeyboardInterrupt (``streamt2v.cli.interrupts``): inside code run
from a string, and inside a ``__del__``, each in its own ``python -m`` process, the way ``python -m streamt2v``
and ``accelerate launch -m streamt2v`` run the command; and a command failing after a SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamt2v.cli import main

# A module that sends itself SIGTERM inside ``trigger`` (this test's part), then sleeps: the
# KeyboardInterrupt must stop the sleep and the exit code must be the command line's 143.
STOPPED = """
import os, signal, sys, time

from streamt2v.cli import sigterm_as_interrupt

{setup}
with sigterm_as_interrupt() as terminated:
    try:
        {trigger}
        print("went on", flush=True)
        time.sleep(60)
        code = 0
    except KeyboardInterrupt:
        code = 143 if terminated() else 130
print("exit", code, flush=True)
sys.exit(code)
"""


def _run_module(tmp_path: Path, setup: str, trigger: str) -> subprocess.CompletedProcess:
    (tmp_path / "stopped.py").write_text(STOPPED.format(setup=textwrap.dedent(setup), trigger=trigger))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "stopped"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )


def test_a_sigterm_inside_code_run_from_a_string_still_exits_143(tmp_path):
    # the signal lands while exec runs text (as dataclasses does while a library is imported)
    done = _run_module(
        tmp_path,
        "",
        'exec("import os, signal\\nos.kill(os.getpid(), signal.SIGTERM)\\nfor _ in range(10**5): pass")',
    )
    # before: the command caught it and exited 143, and CPython then ended the process by SIGINT (-2)
    assert done.returncode == 143, (done.returncode, done.stdout, done.stderr)
    # raised once the text had run, not inside it
    assert done.stdout.splitlines() == ["went on", "exit 143"], done.stdout
    assert done.stderr == ""


def test_a_sigterm_lost_inside_a_del_is_raised_again(tmp_path):
    setup = """
        class Dropped:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(10**5):
                    pass
        """
    try:
        done = _run_module(tmp_path, setup, "Dropped()")
    except subprocess.TimeoutExpired as err:  # before: "Exception ignored in ... __del__", the sleep ran on
        pytest.fail(f"the SIGTERM was lost: {err.stderr!r}")
    assert done.returncode == 143, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.splitlines() == ["went on", "exit 143"], done.stdout
    assert "Exception ignored" not in done.stderr, done.stderr


def test_a_command_that_fails_after_a_swallowed_sigterm_reports_the_stop(monkeypatch, capsys):
    """A SIGTERM inside an import can be caught by the library being imported, which is left half imported
    and fails on its next use: the command line says the stop came and exits 143, not 2."""
    import streamt2v.cli.convert as convert

    def run(args):
        with contextlib.suppress(KeyboardInterrupt):  # the library's import swallowed it
            signal.raise_signal(signal.SIGTERM)
        raise RuntimeError("cannot load module more than once per process")

    monkeypatch.setattr(convert, "run", run)
    assert main(["convert", "a.ckpt", "out"]) == 143
    err = capsys.readouterr().err
    assert (
        err
        == "interrupted (SIGTERM); the command then failed: cannot load module more than once per process\n"
    )
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
