"""Reading a training checkpoint back: a file that cannot be read now is not a damaged one."""

from __future__ import annotations

import errno

import pytest

import streamt2v.train.checkpoint as checkpoint_module
from streamt2v.train.checkpoint import latest_checkpoint, load_training_checkpoint, resume_checkpoint
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.vae_recipe import VAERecipe


def test_a_checkpoint_that_cannot_be_read_now_is_not_set_aside(tmp_path, monkeypatch):
    """An I/O error (a network file system's hiccup, EIO, EMFILE) while the newest checkpoint was read made
    the resume call it damaged: it was set aside and the run went back to the checkpoint before, losing
    the steps since from the rotation. The error now stops the resume, naming the file, and moves nothing."""
    recipe = VAERecipe(
        size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2
    )
    cfg = {"steps": 4, "batch_size": 1, "checkpoint_every": 2, "sample_every": 0, "ema_decay": 0.9}
    out = tmp_path / "run"
    train(recipe, TrainConfig(**cfg), out, progress=False, export=False)
    root = out / "checkpoints"
    read_file = checkpoint_module.load_file

    def flaky_load_file(path, *args, **kwargs):
        if str(path).endswith("step-00000004/model.safetensors"):
            raise OSError(errno.EIO, "Input/output error")
        return read_file(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "load_file", flaky_load_file)
    with pytest.raises(
        OSError, match=r"step-00000004/model.safetensors could not be read \(\[Errno 5\] Input"
    ):
        resume_checkpoint(root)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000002", "step-00000004"]
    assert latest_checkpoint(root).name == "step-00000004"
    monkeypatch.undo()  # the file reads again: the resume goes on from the newest
    path, ck = resume_checkpoint(root)
    assert path.name == "step-00000004" and ck["state"]["step"] == 4
    assert load_training_checkpoint(path)["state"]["step"] == 4


def test_a_failure_that_is_not_damage_sets_no_checkpoint_aside(tmp_path, monkeypatch):
    """Any exception while a checkpoint was read counted as damage: a MemoryError (or a bug of ours) set a
    good newest checkpoint aside as ``.damaged-`` and resumed from the one before. Only what damage raises
    counts now; anything else stops the resume with its own error, and nothing is moved."""
    recipe = VAERecipe(
        size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2
    )
    cfg = TrainConfig(steps=4, batch_size=1, checkpoint_every=2, sample_every=0, ema_decay=None)
    out = tmp_path / "run"
    train(recipe, cfg, out, progress=False, export=False)
    root = out / "checkpoints"
    read_file = checkpoint_module.load_file

    def short_of_memory(path, *args, **kwargs):
        if str(path).endswith("step-00000004/model.safetensors"):
            raise MemoryError
        return read_file(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "load_file", short_of_memory)
    with pytest.raises(MemoryError):
        resume_checkpoint(root)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-00000002", "step-00000004"]


def test_a_killed_writers_latest_pointers_are_removed_by_the_next_checkpoint(tmp_path):
    """latest is written through io.folders.atomic_write_file (its temporary: .latest.tmp-PID); a pointer
    a killed writer left, of that name or of the earlier .latest.HEX8, goes at the next checkpoint."""
    import torch

    root = tmp_path / "checkpoints"
    root.mkdir()
    for leftover in (".latest.tmp-4321", ".latest.0123abcd"):
        (root / leftover).write_text("step-00000001\n")
    (root / ".latest.notes").write_text("not a pointer's temporary\n")  # not the writer's: left
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    checkpoint_module.save_checkpoint(root, 3, {"w": weight.detach()}, optimizer.state_dict(), {})
    assert sorted(p.name for p in root.iterdir()) == [".latest.notes", "latest", "step-00000003"]
    assert latest_checkpoint(root) == root / "step-00000003"
