"""A command whose reader went away (``streamt2v ... | head -1``, ``| true``): it ends as coreutils do, with
no error line, exit status 141 (128 + SIGPIPE), its outputs whole."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest
import torch

from streamt2v.cli import READER_GONE, _run
from streamt2v.io.video import write_video


def _stdout_into_a_closed_pipe(monkeypatch):
    """``sys.stdout`` writing into a pipe whose reader is gone, line-buffered (as under PYTHONUNBUFFERED or a
    launcher: the first print fails, not the last flush). Set in the test itself: capsys replaces a stdout
    set by a fixture when the test starts."""
    read, write = os.pipe()
    os.close(read)
    stdout = open(write, "w", buffering=1)  # noqa: SIM115 (closed at the test's end)
    monkeypatch.setattr(sys, "stdout", stdout)
    return stdout


@pytest.mark.parametrize("as_program", [False, True])
def test_evaluate_into_a_closed_pipe_exits_141_quietly_with_its_results_whole(
    tmp_path, monkeypatch, capsys, as_program
):
    """It said "error: [Errno 32] Broken pipe" and exited 2 (with -v, or a buffered stdout, a traceback or
    "Exception ignored" and 120), and left --out's partial file, which the next run asked to --resume."""
    video = write_video(
        tmp_path / "v.mp4", torch.rand(1, 3, 12, 32, 32, generator=torch.Generator().manual_seed(0)), 8
    )
    out = tmp_path / "r.json"
    stdout = _stdout_into_a_closed_pipe(monkeypatch)
    argv = ["evaluate", str(video), "--metrics", "scuts", "--out", str(out), "--no-progress"]
    assert _run(argv, as_program=as_program) == READER_GONE == 141
    assert capsys.readouterr().err == ""
    assert json.loads(out.read_text())["records"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "v.mp4"]  # no r.json.partial
    if as_program:  # the file now leads nowhere: the interpreter's last flush cannot fail (exit 120)
        stdout.write("more\n")
        stdout.flush()
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):  # main's caller keeps its files: the table is still held
        stdout.close()


def test_evaluate_scoring_none_into_a_closed_pipe_still_fails_with_its_line(tmp_path, monkeypatch, capsys):
    """No video scored is exit 1 with an error line; with stdout's reader gone its wrote line's broken pipe
    made it 141 without the error."""
    junk = tmp_path / "bad.mp4"
    junk.write_text("not a video")
    stdout = _stdout_into_a_closed_pipe(monkeypatch)
    argv = ["evaluate", str(junk), "--metrics", "scuts", "--out", str(tmp_path / "r.json"), "--no-progress"]
    assert _run(argv, as_program=False) == 1
    assert "error: the video could not be scored" in capsys.readouterr().err
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):
        stdout.close()


def test_the_program_points_a_stdout_whose_reader_is_gone_at_the_null_device_however_it_ended(
    tmp_path, monkeypatch, capsys
):
    """A command that failed after its stdout's reader went away (evaluate scoring none: its wrote line's
    broken pipe is no news then) left stdout leading into the closed pipe: the interpreter's last flush
    failed ("Exception ignored ... BrokenPipeError") and the exit status became 120. ``entry`` points it at
    the null device whatever the command's end."""
    from streamt2v.cli import entry

    junk = tmp_path / "bad.mp4"
    junk.write_text("not a video")
    read, write = os.pipe()
    os.close(read)
    stdout = open(write, "w")  # noqa: SIM115 (block-buffered, as a pipe's is; closed below)
    monkeypatch.setattr(sys, "stdout", stdout)
    out = str(tmp_path / "r.json")
    monkeypatch.setattr(sys, "argv", ["streamt2v", "evaluate", str(junk), "--out", out, "--no-progress"])
    assert entry() == 1
    assert "error: the video could not be scored" in capsys.readouterr().err
    stdout.write("what the interpreter flushes at exit\n")
    stdout.flush()  # into the null device: no BrokenPipeError
    monkeypatch.undo()
    stdout.close()
