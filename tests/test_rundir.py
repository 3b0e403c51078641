"""Run directories: chunk files before manifest, atomic manifest, exact state round trip, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from streamt2v.pipeline.rundir import RunDir, default_run_dir


def _save(run, i, g):
    frames = torch.rand(1, 3, 4, 8, 8, generator=g) * 2 - 1
    tail = torch.randn(1, 3, 2, 8, 8, generator=g)
    anchor = torch.randn(1, 3, 1, 8, 8, generator=g)
    run.save_chunk(
        index=i,
        stage=1 if i == 0 else 2,
        start=4 * i,
        stop=4 * i + 4,
        prompt=f"p{i}",
        frames=frames,
        tail=tail,
        anchor=anchor,
        anchor_prompt="p0",
    )
    return frames, tail, anchor


def test_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {"a": 1}, num_chunks=3)
    saved = [_save(run, i, g) for i in range(2)]
    again = RunDir.open(tmp_path / "r")
    assert again.config == {"a": 1} and again.num_finished == 2 and again.status == "running"
    c = again.load_chunk(1)
    frames, tail, anchor = saved[1]
    assert (c.index, c.stage, c.start, c.stop, c.prompt, c.anchor_prompt) == (1, 2, 4, 8, "p1", "p0")
    assert torch.equal(c.tail, tail) and torch.equal(c.anchor, anchor)  # state stored exactly
    assert (c.frames - frames).abs().max() <= 0.5 / 127.5 + 1e-6  # frames as written to the video (uint8)
    assert [p.name for p in (tmp_path / "r").rglob(".*")] == [".lock"]  # no temporary files left
    again.set_status("complete", output="x.mp4")
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["output"] == "x.mp4"


def test_errors(tmp_path):
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=3)
    with pytest.raises(FileExistsError, match="--resume"):
        RunDir.create(tmp_path / "r", {}, num_chunks=3)
    with pytest.raises(ValueError, match="out of order"):
        _save(run, 1, g)
    _save(run, 0, g)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunDir.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a streamt2v run directory"):
        RunDir.open(tmp_path / "empty")
    (tmp_path / "r" / "chunks" / "chunk_000000.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="damaged"):
        RunDir.open(tmp_path / "r")


def test_default_run_dir_unique(tmp_path):
    a = default_run_dir("A Cat, walking!", root=tmp_path)
    assert a.parent == tmp_path and a.name.endswith("-a-cat-walking")
    a.mkdir()
    assert default_run_dir("A Cat, walking!", root=tmp_path) != a


def test_check_new_and_remove_if_empty(tmp_path):
    (tmp_path / "base.mp4").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="run directory '.*base.mp4' is an existing file"):
        RunDir.check_new(tmp_path / "base.mp4")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        RunDir.check_new(tmp_path / "base.mp4" / "run")
    run = RunDir.create(tmp_path / "r", {"a": 1}, num_chunks=2)
    with pytest.raises(FileExistsError, match="already holds a run"):
        RunDir.check_new(tmp_path / "r")
    assert run.num_frames_saved == 0 and run.remove_if_empty() and not (tmp_path / "r").exists()


def test_reserved_run_dirs_never_collide(tmp_path):
    from streamt2v.pipeline.rundir import reserve_run_dir

    base = tmp_path / "runs" / "20261124-031015-a-cat"
    got = [reserve_run_dir(base) for _ in range(3)]  # as two runs naming the same second would
    assert [p.name for p in got] == [base.name, f"{base.name}-2", f"{base.name}-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in got)
