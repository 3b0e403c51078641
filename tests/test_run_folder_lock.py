"""One training process per run folder (``--out``): its lock, and a folder holding only the lock counts as empty."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest

from streamt2v.io import locks
from streamt2v.train.run_folder import RUN_LOCK, RunFolderInUseError, check_out_dir, lock_run_folder

RECIPE = SimpleNamespace(name="vae")


def test_second_process_on_the_same_out_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "runs" / "vae"  # made by the lock, before anything is read there
    held = lock_run_folder(out)
    try:
        assert (out / RUN_LOCK).is_file()
        # flock is per open file: a second take in this process conflicts as another process's would
        with pytest.raises(
            RunFolderInUseError,
            match=rf"^out_dir '{out}' is in use by another training process \(pid {os.getpid()}\)",
        ) as caught:
            lock_run_folder(out)
        # named as the caller spells it: --out on the command line (it said --out to Python callers too)
        assert str(caught.value).endswith("or give another out_dir")
        assert str(caught.value.as_flags()).startswith(f"--out '{out}' is in use")
    finally:
        locks.release(held)
    locks.release(
        lock_run_folder(out)
    )  # free again once released (a killed holder's too: the system frees it)


def test_a_folder_holding_only_the_lock_is_an_empty_one(tmp_path, caplog):
    out = tmp_path / "vae"
    locks.release(lock_run_folder(out))  # the lock file a killed run leaves, free again
    assert (out / RUN_LOCK).is_file()
    check_out_dir(out, RECIPE, resume=False)  # a new run there: not "not empty"
    with caplog.at_level(logging.WARNING):
        check_out_dir(out, RECIPE, resume=True)  # a preempted job's first launch with --resume
    assert "holds no run yet: nothing to resume, starting a new run there" in caplog.text
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty"):
        check_out_dir(out, RECIPE, resume=False)


@pytest.mark.parametrize("left", ["notes.txt", "config.json"])
@pytest.mark.parametrize("resume", [False, True])
def test_an_out_another_run_holds_is_refused_as_in_use_before_its_contents_are_judged(tmp_path, left, resume):
    """A second train --out DIR while the first still ran was told 'DIR is not empty; pass --resume' (or 'holds
    a run stopped before its first checkpoint'): advice leading only to the lock's refusal."""
    out = tmp_path / "vae"
    held = lock_run_folder(out)
    try:
        (out / left).write_text('{"recipe": "vae"}')
        with pytest.raises(RunFolderInUseError, match=rf"'{out}' is in use by another training process"):
            check_out_dir(out, RECIPE, resume=resume)
    finally:
        locks.release(held)


def test_train_refuses_an_out_another_run_holds_and_leaves_a_folder_it_refused_as_it_was(tmp_path):
    """Two runs started on one --out (a job relaunched with --resume while the first still ran) both trained,
    duplicating loss-log rows and failing on each other's checkpoint temporaries."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.vae_recipe import VAERecipe

    def tiny_vae() -> VAERecipe:
        return VAERecipe(
            size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2
        )

    cfg = TrainConfig(steps=1, batch_size=2, checkpoint_every=5, ema_decay=None)
    out = tmp_path / "run"
    held = lock_run_folder(out)  # the other run
    try:
        with pytest.raises(RunFolderInUseError, match="in use by another training process"):
            train(tiny_vae(), cfg, out, resume=True, progress=False, export=False)
    finally:
        locks.release(held)
    assert not (out / "loss.jsonl").exists()
    train(tiny_vae(), cfg, out, resume=True, progress=False, export=False)  # free once the other ended
    assert (out / "loss.jsonl").is_file()
    afile = tmp_path / "notes.txt"  # a file as --out is refused by name, not by mkdir's errno
    afile.write_text("keep")
    with pytest.raises(FileExistsError, match=r"^out_dir '.*notes.txt' is a file, not a run folder"):
        train(tiny_vae(), cfg, afile, progress=False)
    assert afile.read_text() == "keep"
    mine = tmp_path / "mine"  # a folder refused as not a run's: no lock file is left in it
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty"):
        train(tiny_vae(), cfg, mine, progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
