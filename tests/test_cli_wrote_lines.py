"""The lines naming what a command wrote, one form for every command (README, "Command line"): ``wrote``,
then what, and the absolute path ending the line, whatever path was typed. (assemble's, on folders it
assembles for real: test_train_assemble.py.)"""

from __future__ import annotations

import torch

from streamt2v.cli import main
from streamt2v.io.video import write_video


def test_evaluate_names_its_results_file_absolute(tmp_path, monkeypatch, capsys):
    """``--out r.json`` printed ``wrote r.json``, where generate and enhance print absolute paths."""
    monkeypatch.chdir(tmp_path)
    write_video(
        tmp_path / "v.mp4", torch.rand(1, 3, 12, 32, 32, generator=torch.Generator().manual_seed(0)), 8
    )
    assert main(["evaluate", "v.mp4", "--metrics", "scuts", "-o", "r.json", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {(tmp_path / 'r.json').resolve()}"
