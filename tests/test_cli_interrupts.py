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

from conftest import WriteCalls
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


def _run_module(
    tmp_path: Path, setup: str, trigger: str, *, as_text: bool = False
) -> subprocess.CompletedProcess:
    """``STOPPED`` run as a module (``python -m``), or as text (``python -c``) with ``as_text``."""
    script = STOPPED.format(setup=textwrap.dedent(setup), trigger=trigger)
    (tmp_path / "stopped.py").write_text(script)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    how = ["-c", script] if as_text else ["-m", "stopped"]
    return subprocess.run(
        [sys.executable, *how], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )


def test_a_sigterm_to_a_command_started_from_python_c_stops_it(tmp_path):
    """Under ``python -c`` the whole command runs below a string's top level, which is not code the
    interrupt must wait for: it was put off again and again, and the command ran on until SIGKILL."""
    try:
        done = _run_module(tmp_path, "", "os.kill(os.getpid(), signal.SIGTERM); time.sleep(60)", as_text=True)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the SIGTERM was put off for good: {err.stdout!r}")
    assert done.returncode == 143, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.splitlines() == ["exit 143"], done.stdout


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


CLEAN_UP = """
import os, signal, sys, time

from streamt2v.cli import sigterm_as_interrupt

class CtrlC:  # a Ctrl-C lost in a __del__ during the clean-up
    def __del__(self):
        raise KeyboardInterrupt

with sigterm_as_interrupt() as terminated:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)
    except KeyboardInterrupt:
        CtrlC()
        time.sleep(0.5)
        print("cleaned up", flush=True)
sys.exit(143 if terminated() else 130)
"""


def test_an_interrupt_lost_during_the_clean_up_does_not_cut_it_short(tmp_path):
    """Only the SIGTERM's own KeyboardInterrupt is raised again when lost: one of a Ctrl-C lost in a
    ``__del__`` during the clean-up was raised into the clean-up, which a repeated signal must not cut."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", CLEAN_UP], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stdout) == (143, "cleaned up\n"), done.stderr
    assert "Exception ignored" in done.stderr  # Python's own report of the lost one, as without the handler


# ``python -m streamt2v`` (its __main__, the console script's entry) stopped by Ctrl-C, then a second Ctrl-C
# while the interpreter shuts down (in an exit handler, as torch's are), during which the process sleeps.
SECOND_CTRL_C = """
import atexit, os, runpy, signal, sys, time

import streamt2v.cli.evaluate as evaluate

def stopped(args):
    raise KeyboardInterrupt

def second_ctrl_c():
    os.kill(os.getpid(), getattr(signal, os.environ["SECOND_SIGNAL"]))
    time.sleep(0.2)

evaluate.run = stopped
atexit.register(second_ctrl_c)
sys.argv = ["streamt2v", "evaluate", "x.mp4"]
runpy.run_module("streamt2v", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("second", ["SIGINT", "SIGTERM"])
def test_a_second_stop_while_the_interrupted_command_exits_is_ignored(tmp_path, second):
    """Once 'interrupted' is printed, a further Ctrl-C during shutdown (10-30 ms later, in torch's exit
    handlers) printed a traceback or ended the process by SIGINT (-2) instead of with the exit code 130; a
    further SIGTERM (a supervisor repeating its stop) ended it by SIGTERM (-15)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env["SECOND_SIGNAL"] = second
    done = subprocess.run(
        [sys.executable, "-c", SECOND_CTRL_C],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (130, "interrupted\n")


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ValueError, KeyError])
def test_the_final_line_is_written_in_one_call(tmp_path, monkeypatch, stop):
    """print() wrote the line and its newline in two calls: under a launcher, whose stderr writes through,
    another process's line could be glued to the resume line or the error."""
    import streamt2v.metrics.video_search as video_search

    def failing(target, also_given=()):
        raise stop("the reason")

    monkeypatch.setattr(video_search, "find_videos", failing)
    out = WriteCalls()
    monkeypatch.setattr(sys, "stderr", out)
    assert main(["evaluate", str(tmp_path)]) == (130 if stop is KeyboardInterrupt else 2)
    assert len(out.calls) == 1 and out.calls[0].endswith("\n") and out.calls[0].count("\n") == 1, out.calls
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a command line given: left alone


def test_main_leaves_ctrl_c_as_it_was_after_an_interrupted_command(monkeypatch, capsys):
    """main() reading sys.argv (a library caller's, or a tool running commands in its own process) left
    SIGINT ignored for the rest of that process after an interrupted command: only the program's entry
    (the streamt2v command, python -m streamt2v) may ignore a further Ctrl-C, as its process is ending."""
    import streamt2v.cli.evaluate as evaluate

    def stopped(args):
        raise KeyboardInterrupt

    def handler(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "run", stopped)
    monkeypatch.setattr(sys, "argv", ["streamt2v", "evaluate", "x.mp4"])
    before = signal.signal(signal.SIGINT, handler)
    try:
        assert main() == 130
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert capsys.readouterr().err == "interrupted\n"


def test_an_interrupt_another_process_says_ends_the_command_without_its_line(monkeypatch, capsys):
    """A training run's other processes under a launcher: the main process says "interrupted ... continue
    with: ..."; each of the others printed a bare "interrupted" line beside it."""
    import streamt2v.cli.evaluate as evaluate
    from streamt2v.cli.interrupts import InterruptSaidElsewhere

    def stopped(args):
        raise InterruptSaidElsewhere

    monkeypatch.setattr(evaluate, "run", stopped)
    assert main(["evaluate", "x.mp4"]) == 130
    assert capsys.readouterr().err == ""


def test_the_console_script_is_the_programs_entry():
    """The streamt2v command runs entry (main would leave the second Ctrl-C to a traceback)."""
    from streamt2v.cli import entry

    tomllib = pytest.importorskip("tomllib")  # Python 3.11

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"] == {"streamt2v": "streamt2v.cli:entry"}
    assert entry.__module__ == "streamt2v.cli"
