"""The project's progress bars at a terminal reporting no size (a pseudo-terminal given none: ``script`` in a
batch job, some CI runners), where tqdm drew nothing: every bar takes $COLUMNS/$LINES, else 80x24; a terminal
reporting its size keeps tqdm's own (a resizing bar still resizes)."""

from __future__ import annotations

import fcntl
import os
import struct
import termios

import pytest

from conftest import stderr_at_a_terminal_of_no_size
from streamt2v.progress_bars import progress_bar


@pytest.fixture
def terminal_of_size():
    """``open(columns, lines)``: a text stream on a pseudo-terminal reporting that size."""
    opened = []

    def open_terminal(columns: int, lines: int):
        main, child_end = os.openpty()
        fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        stream = os.fdopen(child_end, "w")
        opened.append((main, stream))
        return stream

    yield open_terminal
    for main, stream in opened:
        stream.close()
        os.close(main)


@pytest.mark.parametrize(
    "options",
    [{}, {"leave": False}, {"dynamic_ncols": True}],  # the metrics' bars go when done; generate's resizes
)
def test_a_bar_at_a_terminal_of_no_size_is_drawn_80_wide(terminal_of_size, monkeypatch, options):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    bar = progress_bar(range(3), file=terminal_of_size(0, 0), **options)
    assert (bar.ncols, bar.nrows, bool(bar.dynamic_ncols)) == (80, 24, False)
    bar.close()


def test_the_environment_sizes_a_bar_its_terminal_does_not(terminal_of_size, monkeypatch):
    """As shutil.get_terminal_size falls back: $COLUMNS and $LINES first."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "junk")
    bar = progress_bar(range(3), file=terminal_of_size(0, 0))
    assert (bar.ncols, bar.nrows) == (120, 24)
    bar.close()


def test_a_terminal_reporting_its_size_keeps_a_resizing_bar(terminal_of_size):
    """A resizing bar reads columns and lines again at each redraw, so one of 0 lines (which hide a bar
    under tqdm's "more hidden") is given a fixed size; one of a whole size is left as tqdm makes it."""
    bar = progress_bar(range(3), file=terminal_of_size(100, 0), dynamic_ncols=True)
    assert not bar.dynamic_ncols and bar.nrows == 24
    bar.close()
    bar = progress_bar(range(3), file=terminal_of_size(100, 30), dynamic_ncols=True)
    assert bar.dynamic_ncols and (bar.ncols, bar.nrows) == (99, 29)  # tqdm's own reading: one less each
    bar.close()


def test_an_evaluation_shows_its_bar_at_a_terminal_of_no_size(tmp_path):
    """evaluate's bar over the videos, the only one the command shows (and the metrics' inner bars)."""
    shown = stderr_at_a_terminal_of_no_size(
        "import numpy as np\n"
        "from streamt2v.metrics.evaluate import evaluate_videos\n"
        "video = np.zeros((4, 32, 32, 3), np.uint8)\n"
        "evaluate_videos([video, video, video], metrics='scuts', progress=True)\n"
    )
    assert b"evaluate" in shown and b"3/3" in shown, shown


def test_stage_3_shows_its_bars_at_a_terminal_of_no_size():
    """enhance_video's bars over the denoising steps and the frames decoded (a tiny random refiner)."""
    shown = stderr_at_a_terminal_of_no_size(
        "import torch\n"
        "from streamt2v.pipeline.enhance import enhance_video\n"
        "from streamt2v.pipeline.refiner import Refiner\n"
        "refiner = Refiner.random((32, 32))\n"
        "video = torch.rand(1, 3, 4, 16, 16) * 2 - 1\n"
        "enhance_video(video, 'a', refiner, refiner.config(steps=2), seed=0, progress=True)\n"
    )
    assert b"enhance: 100%" in shown and b"2/2" in shown, shown
    assert b"decode: 100%" in shown and b"4/4" in shown, shown
