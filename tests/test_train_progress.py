"""A training run without its bar (``--no-progress``, stderr a log file: a batch job) says how far it got in
log lines: the first step, then one a minute, and the last; with the bar, none."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import stderr_at_a_terminal_of_no_size, tiny_vae
from streamt2v.train import progress
from streamt2v.train.loop import TrainConfig, train

LINE = re.compile(
    r"^vae: step (\d+)/4, loss (\d\.\d{4}), (first step [\d.e+-]+ s|[\d.e+-]+ s/step, \d+ s so far"
    r"(, (?:under 1|\d+) s left)?)$"
)


def progress_lines(caplog) -> list[re.Match]:
    records = [r for r in caplog.records if r.name == "streamt2v.train.progress"]
    return [LINE.match(r.getMessage()) for r in records]


def run(tmp_path, caplog, bar: bool):
    cfg = TrainConfig(steps=4, batch_size=2, ema_decay=None, checkpoint_every=100)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.progress"):
        return train(tiny_vae(), cfg, tmp_path, progress=bar, export=False)


def test_without_the_bar_the_first_and_last_steps_are_logged_with_loss_and_time(tmp_path, caplog):
    result = run(tmp_path, caplog, bar=False)
    lines = progress_lines(caplog)
    assert all(lines), [r.getMessage() for r in caplog.records]
    assert [int(m[1]) for m in lines] == [1, 4]  # a step takes milliseconds: no minute passes between
    assert [float(m[2]) for m in lines] == pytest.approx([result.losses[0], result.losses[3]], abs=1e-4)
    # the first step's own time (it carries the start-up), then the time per step after it
    # and the time so far; none left at the last step
    assert lines[0][3].startswith("first step ") and re.search(r" s/step, \d+ s so far$", lines[1][3])


def test_a_line_comes_each_time_the_interval_has_passed(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    run(tmp_path, caplog, bar=False)
    lines = progress_lines(caplog)
    assert [int(m[1]) for m in lines] == [1, 2, 3, 4]
    assert [bool(m[4]) for m in lines] == [False, True, True, False]  # the time left, after the first step


def test_a_line_with_steps_left_never_says_none_is_left(caplog):
    """Steps of a tenth of a second with three left said "0 s left", which reads as done: the time so far
    and left are said as generate's lines say them, "under 1 s left" below a second."""
    now = [0.0]
    steps = progress.StepProgress("vae", 4, 0, bar=False, lines=True, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="streamt2v.train.progress"), pytest.MonkeyPatch.context() as mp:
        mp.setattr(progress, "LINE_SECONDS", 0.0)
        for done in (1, 2):
            now[0] += 0.1
            steps.update(done, 0.5)
    steps.close()
    said = [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.progress"]
    assert said[-1] == "vae: step 2/4, loss 0.5000, 0.1 s/step, 0 s so far, under 1 s left"


def test_a_library_call_draws_no_bar_unasked_and_logs_its_steps(tmp_path, caplog, capfd):
    cfg = TrainConfig(steps=4, batch_size=2, ema_decay=None, checkpoint_every=100)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.progress"):
        train(tiny_vae(), cfg, tmp_path, export=False)
    assert [int(m[1]) for m in progress_lines(caplog)] == [1, 4]
    assert "4/4" not in capfd.readouterr().err  # tqdm's count, as the bar of progress=True draws it


def test_with_the_bar_no_lines(tmp_path, caplog):
    run(tmp_path, caplog, bar=True)
    assert progress_lines(caplog) == []


_BAR_AT_ZERO_COLUMNS = """
from streamt2v.train.progress import StepProgress

steps = StepProgress("vae", 3, 0, bar=True, lines=True)
for done in (1, 2, 3):
    steps.update(done, 0.5)
steps.close()
"""


def test_the_bar_is_drawn_at_a_terminal_of_zero_columns():
    """A pseudo-terminal given no size (``script`` in a batch job) says 0 columns and 0 lines: tqdm drew no
    bar, and the log lines are for runs without one, so a run showed nothing of its steps."""
    shown = stderr_at_a_terminal_of_no_size(_BAR_AT_ZERO_COLUMNS)
    assert b"3/3" in shown and b"loss=0.5000" in shown, shown
