"""``streamt2v generate``'s progress bar: its total counts every chunk's denoising steps (stage 1's for the
first), and a resume's bar starts at the steps of the chunks finished before."""

from __future__ import annotations

import json
import re

import pytest

from conftest import Crash, stderr_at_a_terminal_of_no_size
from streamt2v.cli import main
from streamt2v.cli.generate_progress import StepBar
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.stream import StreamConfig

# 28 frames: chunks of 16, 8 and 4 new frames (the tiny preset's 16-frame chunks, 8 conditioning frames);
# 2 stage-1 steps for the first, 3 stage-2 steps for each later one: 2 + 3 + 3
STREAM = StreamConfig(num_frames=28, steps=3, init_steps=2)
CHUNKS, TOTAL = 3, 8


def _positions(err: str) -> list[str]:
    """The ``n/total`` of each line the bar drew."""
    return re.findall(r"\| (\d+/\d+) \[", err)


@pytest.fixture
def bars_on(tmp_path, monkeypatch):
    import streamt2v.cli as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "stderr_is_terminal", lambda: True)  # as at a terminal: the bar is shown


def test_a_new_runs_bar_counts_every_chunks_steps_from_0(capsys):
    """The bar itself (a new run's through the command line: test_generate_cli's init-video bar test)."""
    bar = StepBar(shown=True)
    bar.start(GenerateConfig(output="a.mp4", stream=STREAM), CHUNKS)  # the steps from STREAM, not its frames
    for index, steps in enumerate([2, 3, 3]):
        for step in range(steps):
            bar.on_step(index, step, steps)
    bar.close()
    shown = _positions(capsys.readouterr().err)
    assert shown[0] == f"0/{TOTAL}" and shown[-1] == f"{TOTAL}/{TOTAL}"


def test_a_resumed_runs_bar_starts_at_the_steps_done_before(bars_on, tmp_path, capsys, model):
    """Stopped after chunk 1 (2 + 3 steps done): the bar drew 0/8 first and counted those 5 steps as this
    process's; it starts at 5/8."""
    cfg = GenerateConfig(
        output=str(tmp_path / "b.mp4"),
        stream=STREAM,
        prompt="a cat",
        model="tiny",
        run_dir=str(tmp_path / "run-b"),
    )

    def crash(chunk):
        if chunk.index == 1:
            raise Crash

    with pytest.raises(Crash):
        generate(cfg, model=model, on_chunk=crash)
    assert json.loads((tmp_path / "run-b" / "manifest.json").read_text())["num_chunks"] == CHUNKS
    assert main(["generate", "--resume", "run-b"]) == 0
    shown = _positions(capsys.readouterr().err)
    assert shown[0] == f"5/{TOTAL}" and shown[-1] == f"{TOTAL}/{TOTAL}"


_BAR_AT_A_TERMINAL_OF_NO_SIZE = """
from streamt2v.cli.generate_progress import StepBar
from streamt2v.pipeline.generate import GenerateConfig
from streamt2v.pipeline.stream import StreamConfig

bar = StepBar(shown=True)
bar.start(GenerateConfig(output="a.mp4", stream=StreamConfig(num_frames=24, steps=3, init_steps=2)), 2)
for index, steps in enumerate([2, 3]):
    for step in range(steps):
        bar.on_step(index, step, steps)
bar.close()
"""


def test_the_bar_is_drawn_at_a_terminal_of_no_size():
    """A pseudo-terminal given no size says 0 columns and 0 lines, where tqdm drew no bar (its dynamic width
    read 0 at every redraw): the run showed nothing of its steps."""
    shown = stderr_at_a_terminal_of_no_size(_BAR_AT_A_TERMINAL_OF_NO_SIZE)
    assert b"5/5" in shown and b"chunk 2" in shown, shown
