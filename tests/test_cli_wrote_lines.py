"""The lines naming what a command wrote, one form for every command (README, "Command line"): ``wrote``,
then what, and the absolute path ending the line, whatever path was typed."""

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


def test_assemble_names_the_folder_it_wrote_absolute_then_how_to_use_it(tmp_path, monkeypatch, capsys):
    """It printed ``model folder m: streamt2v generate PROMPT --model m``, the path as typed, where every
    other command's wrote line ends with the absolute path. (The assembly itself: test_train_assemble.py.)"""
    import shlex
    from pathlib import Path

    import streamt2v.cli.assemble as assemble

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(assemble, "_assemble", lambda args: Path(args.out_dir))  # the folder it would write
    for kind, use in (("model", "generate PROMPT"), ("refiner", "enhance VIDEO --prompt PROMPT")):
        assert main(["assemble", kind, f"my {kind}s", "--unet", "runs/x/final/unet"]) == 0
        folder = tmp_path / f"my {kind}s"
        assert capsys.readouterr().out.splitlines() == [
            f"wrote {kind} folder {folder}",
            f"use it: streamt2v {use} --model {shlex.quote(str(folder))}",
        ]
