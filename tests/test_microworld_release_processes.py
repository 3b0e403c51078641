"""train_all trains each run in a process of its own, and stops the runs when it is stopped or one fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streamt2v.io import locks
from streamt2v.train import microworld_release as release
from streamt2v.train import release_processes as processes
from streamt2v.train.microworld_settings import RecipeRun
from streamt2v.train.run_folder import RUN_LOCK

_TINY_VAE = {"size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4, "scaling_samples": 1}
_SETTINGS = {"batch_size": 2, "ema_decay": None, "cpu": True}


def test_a_failed_run_stops_the_release_with_its_error(tmp_path: Path) -> None:
    """Its process's error line (in OUT/NAME.log, as at 2 cores) is named with its exit."""
    runs = {"broken": RecipeRun("vae", {**_TINY_VAE, "bogus": 1}, {**_SETTINGS, "steps": 1})}
    with pytest.raises(RuntimeError) as caught:
        release.train_all(tmp_path, cores=1, poll_s=0.2, runs=runs)
    said = str(caught.value)
    assert said.startswith("training 'broken' failed (exit 2): recipe 'vae' takes no bogus"), said
    assert said.endswith(f"; see {tmp_path / 'broken.log'}"), said


def test_a_run_whose_prerequisite_is_neither_done_nor_trained_is_refused_up_front(tmp_path: Path) -> None:
    """At one core it was refused by the process started for it ("training 'lonely' failed (exit 2)")."""
    runs = {"lonely": RecipeRun("vae", _TINY_VAE, {"steps": 1, "cpu": True}, needs=("missing",))}
    missing = tmp_path / "missing"
    with pytest.raises(RuntimeError, match=rf"^run 'lonely' needs the finished 'missing' run in {missing}$"):
        release.train_all(tmp_path, cores=1, runs=runs)
    assert not any(tmp_path.iterdir())  # no process, no log


def test_ended_says_a_signal_as_a_signal() -> None:
    assert processes.ended(-9) == "killed by signal 9"
    assert processes.ended(2) == "failed (exit 2)"
    # a run that took a Ctrl-C or SIGTERM sent to it alone (exit_status's exits) did not fail
    assert processes.ended(130) == "was interrupted (exit 130: a Ctrl-C sent to it)"
    assert processes.ended(143) == "was stopped (exit 143: a SIGTERM)"


def test_a_failed_run_names_the_runs_its_failure_stopped(tmp_path: Path) -> None:
    """The error named the failed run alone: the other runs it stopped were not said to be stopped."""
    settings = {**_SETTINGS, "steps": 100_000, "checkpoint_every": 2}
    runs = {
        "long": RecipeRun("vae", _TINY_VAE, settings),
        "broken": RecipeRun("vae", {**_TINY_VAE, "bogus": 1}, {**_SETTINGS, "steps": 1}),
    }
    with pytest.raises(RuntimeError) as caught:
        release.train_all(tmp_path, cores=2, poll_s=0.2, runs=runs)
    said = str(caught.value)
    assert said.startswith("training 'broken' failed (exit 2): recipe 'vae' takes no bogus"), said
    assert said.endswith(
        f"; see {tmp_path / 'broken.log'}; stopped run long; a rerun resumes it from its latest checkpoint"
    ), said


def test_another_error_names_the_runs_it_stopped(tmp_path: Path) -> None:
    """An error other than a run's failure (the second run's log cannot be opened) stopped the first run,
    which its bare error did not say."""
    runs = {
        "long": RecipeRun("vae", _TINY_VAE, {**_SETTINGS, "steps": 100_000, "checkpoint_every": 2}),
        "blocked": RecipeRun("vae", _TINY_VAE, {**_SETTINGS, "steps": 1}),
    }
    (tmp_path / "blocked.log").mkdir()  # its log cannot be opened, once the long run has started
    with pytest.raises(RuntimeError) as caught:
        release.train_all(tmp_path, cores=2, poll_s=0.2, runs=runs)
    assert str(caught.value) == (
        f"[Errno 21] Is a directory: {str(tmp_path / 'blocked.log')!r}; stopped run long; a rerun resumes it "
        "from its latest checkpoint"
    )
    assert isinstance(caught.value.__cause__, IsADirectoryError)  # the error itself, as its cause


def test_a_bugs_error_keeps_its_kind_and_traceback_with_the_runs_it_stopped_as_a_note(tmp_path: Path) -> None:
    """Only an OSError (a run that cannot be started) becomes a RuntimeError naming the runs it stopped; a
    bug's TypeError or KeyError became one too, printed as one line without the traceback that finds it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    log = open(tmp_path / "long.log", "w")  # noqa: SIM115 (closed by stop_runs)
    bug = KeyError("chunks")
    assert processes.stop_runs_for(bug, {"long": (proc, log)}) is None  # the caller raises it as it is
    assert proc.poll() is not None
    assert bug.__notes__ == ["stopped run long; a rerun resumes it from its latest checkpoint"]


def _interrupted_while_stopping(tmp_path: Path, stop) -> processes.ReleaseInterrupted:
    """``stop({"stubborn": (proc, log)})`` for a run that ignores SIGTERM, a Ctrl-C (SIGINT) coming a second
    into the grace: what it raised, once the run's process is killed."""
    ignores_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    code = f"{ignores_sigterm}; print('ready', flush=True); time.sleep(60)"
    log = open(tmp_path / "stubborn.log", "w")  # noqa: SIM115 (closed by stop_runs)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    interrupt = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    try:
        assert proc.stdout.readline() == "ready\n"
        interrupt.start()
        with pytest.raises(processes.ReleaseInterrupted) as caught:
            stop({"stubborn": (proc, log)})
    finally:
        interrupt.cancel()
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and log.closed
    return caught.value


def test_an_interrupt_while_the_runs_stop_kills_them_and_says_so(tmp_path: Path) -> None:
    """A second Ctrl-C while stop_runs waited out the grace raised a bare KeyboardInterrupt ("interrupted")
    and left the runs it had not waited for yet running: the ones left are killed and named."""
    said = _interrupted_while_stopping(tmp_path, lambda running: processes.stop_runs(running, grace_s=30))
    assert str(said) == (
        "stopped run stubborn; a rerun resumes it from its latest checkpoint (an interrupt while it stopped "
        "killed stubborn at once: the steps after that checkpoint are lost)"
    )


def test_an_interrupt_while_the_runs_stop_after_a_failure_keeps_the_failure(tmp_path: Path) -> None:
    """A Ctrl-C while the runs a failed run stopped waited out the grace said the interrupt alone: the
    failure, why the release ended, was lost."""
    failed = processes.RunFailed("training 'broken' failed (exit 2): recipe 'vae' takes no bogus; see b.log")
    said = _interrupted_while_stopping(tmp_path, lambda running: processes.stop_runs_for(failed, running))
    assert str(said) == (
        f"{failed}; stopped run stubborn; a rerun resumes it from its latest checkpoint (an interrupt while it "
        "stopped killed stubborn at once: the steps after that checkpoint are lost)"
    )


def test_measure_long_ends_as_the_command_line_does(tmp_path: Path, capsys) -> None:
    """--measure-long ran outside exit_status: its error (or a Ctrl-C) was a traceback."""
    assert release.main(["--measure-long", "8", "--assets", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "nowhere" in err[-1], err


# train_all in a process of its own with one long run: as main() runs it (under exit_status), or plainly
_RELEASE = """
import sys
from pathlib import Path
from streamt2v.train import microworld_release as release
from streamt2v.train import release_processes as processes
from streamt2v.train.microworld_settings import RecipeRun

runs = {{"long": RecipeRun("vae", {vae!r}, {settings!r})}}
train = lambda: release.train_all(Path(sys.argv[1]), cores=1, poll_s=0.2, runs=runs)
sys.exit(processes.exit_status(train)) if {as_main!r} else train()
"""


def _sigterm_the_release(out: Path, as_main: bool) -> tuple[int, str]:
    """Start the release with SIGINT ignored (as ``cmd &`` in a script does), SIGTERM it once its run has a
    checkpoint, and return its exit code and stderr, failing if the run's process outlives it."""
    settings = {**_SETTINGS, "steps": 100_000, "checkpoint_every": 2}
    script = _RELEASE.format(vae=_TINY_VAE, settings=settings, as_main=as_main)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    run, child = out / "long", None
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "latest").exists():
            assert parent.poll() is None and time.monotonic() < deadline, parent.stderr.read()[-3000:]
            time.sleep(0.2)
        child = int((run / RUN_LOCK).read_text())
        assert child != parent.pid
        parent.send_signal(signal.SIGTERM)
        _, err = parent.communicate(timeout=processes.STOP_GRACE_S - 15)
    finally:
        parent.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the run's process {child} outlived the release")
    log = (out / "long.log").read_text()
    assert "vae: steps 1 to 100000" in log and "interrupted (SIGTERM): at step" in log, log[-3000:]
    locks.release(locks.acquire(run / RUN_LOCK))  # not held
    return parent.returncode, err


def test_a_sigterm_to_the_release_stops_its_run_and_frees_the_run_folder(tmp_path: Path) -> None:
    """Each run trains in a process of its own (at --cores 1 the release's process trained them all, and its
    accelerate state kept the first run's precision: on a GPU refiner-restore's bf16 after the fp32 runs was
    refused). A SIGTERM to the release alone (timeout, kill, docker stop) left that process training with
    PPID 1, holding the run folder (a rerun failed); a Ctrl-C printed two tracebacks then waited for the
    whole run. The run is now stopped the Ctrl-C way (its checkpoint kept) and the release says one line,
    exit 143. With SIGINT ignored (``cmd &`` in a script) the runs inherited that, so the SIGINT the release
    stopped them with did nothing and they trained on for the 60 s grace."""
    returncode, err = _sigterm_the_release(tmp_path, as_main=True)
    assert returncode == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert err.splitlines()[-1] == (
        "interrupted (SIGTERM): stopped run long; a rerun resumes it from its latest checkpoint"
    )


def test_a_sigterm_to_a_python_caller_of_train_all_stops_its_run(tmp_path: Path) -> None:
    """train_all called from Python, outside exit_status: a SIGTERM ended the caller and left the run (in a
    session of its own) training as an orphan. train_all takes it as Ctrl-C while it runs."""
    _, err = _sigterm_the_release(tmp_path, as_main=False)
    assert err.splitlines()[-1].endswith(
        "ReleaseInterrupted: stopped run long; a rerun resumes it from its latest checkpoint"
    ), err[-3000:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_runs_names_only_the_runs_it_stopped(tmp_path: Path) -> None:
    """A run whose process ends with exit 0 during the grace finished: the release said it was stopped."""
    code = {
        "finishing": "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))",
        "training": "import time",
    }
    running = {}
    for name, start in code.items():
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed by stop_runs)
        ready = f"{start}; print('ready', flush=True); time.sleep(60)"
        proc = subprocess.Popen([sys.executable, "-c", ready], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        running[name] = (proc, log)
    assert processes.stop_runs(running, grace_s=30) == ["training"]
    assert [proc.returncode for proc, _ in running.values()] == [0, -signal.SIGTERM]


def test_a_failed_run_is_not_named_with_an_earlier_attempts_error(tmp_path: Path) -> None:
    """The log is appended to by each attempt: its error line of an earlier attempt was named as this one's."""
    (tmp_path / "broken.log").write_text("error: an earlier attempt's failure\n")
    runs = {"broken": RecipeRun("vae", _TINY_VAE, {**_SETTINGS, "steps": 1, "bogus_setting": 1})}
    with pytest.raises(RuntimeError) as caught:
        release.train_all(tmp_path, cores=1, poll_s=0.2, runs=runs)
    said = str(caught.value)
    assert said == f"training 'broken' failed (exit 1); see {tmp_path / 'broken.log'}", said


def test_the_release_makes_its_folder(tmp_path: Path) -> None:
    """From Python into a folder not there yet: the open of the run's log raised FileNotFoundError."""
    out = tmp_path / "not" / "yet"
    runs = {"broken": RecipeRun("vae", {**_TINY_VAE, "bogus": 1}, {**_SETTINGS, "steps": 1})}
    with pytest.raises(RuntimeError, match="^training 'broken' failed"):
        release.train_all(out, cores=1, poll_s=0.2, runs=runs)
    assert (out / "broken.log").is_file()
