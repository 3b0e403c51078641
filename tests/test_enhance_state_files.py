"""Stage 3's saved state files (``EnhanceStateFile``): a state of another run set aside under its own name
and taken back by its run, damaged or changed bytes not continued, states of earlier versions, a kill while
a state is taken back, and the key that tells runs apart. A stopped stage 3 continued from these states:
``test_enhance.py``."""

from __future__ import annotations

import logging

import pytest
import torch

from streamt2v.pipeline.refiner import DEFAULT_SCHEDULER_CONFIG
from streamt2v.sampling.schedulers import make_scheduler


def test_a_stage3_state_of_another_run_is_set_aside_and_an_unreadable_one_ignored(tmp_path, caplog) -> None:
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile, remove_state_file

    path = tmp_path / "s.pt"
    EnhanceStateFile(path, "a").save(EnhanceProgress(1, torch.zeros(2), torch.Generator().get_state(), {}))
    assert EnhanceStateFile(path, "a").load().steps_done == 1
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "b").load() is None
    assert (
        "is of another video, prompt, seed or setting (after 1 step); it is kept as s.pt.stale-a"
        in caplog.text
    )
    assert not path.exists() and (tmp_path / "s.pt.stale-a").is_file()
    path.write_bytes(b"cut short")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "b").load() is None
    assert "cannot read its saved state" in caplog.text
    assert remove_state_file(path) == [tmp_path / "s.pt.stale-a"]  # run a's steps are not b's to remove
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt.stale-a"]


def test_a_stage3_state_whose_bytes_changed_is_not_continued(tmp_path, caplog) -> None:
    """torch.load checks no checksum: a flipped bit in the saved latents would go on into the video unseen."""
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile

    path = tmp_path / "s.pt"
    x = torch.arange(64, dtype=torch.float32)
    progress = EnhanceProgress(1, x, torch.Generator().get_state(), {"model_outputs": [x.clone(), None]})
    EnhanceStateFile(path, "a").save(progress)
    assert torch.equal(EnhanceStateFile(path, "a").load().x, x)
    data = bytearray(path.read_bytes())
    at = data.find(torch.tensor([40.0]).numpy().tobytes())
    data[at + 2] ^= 1  # 40.0 becomes 40.5: still a readable file of the same size
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "a").load() is None
    assert "cannot read its saved state" in caplog.text and "changed or damaged" in caplog.text


def test_the_states_kept_of_other_runs_are_named_in_their_absolute_folder(
    tmp_path, caplog, monkeypatch
) -> None:
    from streamt2v.pipeline.enhance_state import remove_state_file

    monkeypatch.chdir(tmp_path)  # an output in the working folder: its states' folder was "."
    (tmp_path / "s.pt.stale-a").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        remove_state_file("s.pt")
    assert f"kept 1 stage-3 state of other runs set aside in {tmp_path} (s.pt.stale-a)" in caplog.text


def test_a_stage3_state_of_another_scheduler_names_the_attributes_as_words() -> None:
    from streamt2v.pipeline.enhance_state import restore_scheduler_state

    scheduler = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    with pytest.raises(ValueError, match=r"attributes a, b, this DDIMScheduler has \w+, \w+"):
        restore_scheduler_state(scheduler, {"b": 1, "a": 2}, torch.device("cpu"))


def test_a_stage3_state_saved_before_digests_is_continued(tmp_path) -> None:
    from streamt2v.pipeline.enhance_state import EnhanceStateFile

    path = tmp_path / "s.pt"
    x = torch.arange(8, dtype=torch.float32)
    state = {"key": "a", "steps_done": 2, "x": x, "generator_state": torch.Generator().get_state()}
    torch.save({**state, "scheduler_state": {}}, path)
    assert torch.equal(EnhanceStateFile(path, "a").load().x, x)


def test_a_stage3_state_set_aside_by_another_run_is_taken_back_by_its_own(tmp_path, caplog) -> None:
    """Run A stopped after 2 steps; the same command with a typo in the prompt (run B) set A's state aside
    (NAME.stale) and was stopped at once; A run again started over from step 0 although its state lay beside
    it, and, had B saved a step, B's state replaced A's in NAME.stale: A's steps (hours at full size) were lost."""
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile

    path, stale = tmp_path / "s.pt", tmp_path / "s.pt.stale-A"

    def progress(steps: int) -> EnhanceProgress:
        return EnhanceProgress(steps, torch.full((2,), float(steps)), torch.Generator().get_state(), {})

    EnhanceStateFile(path, "A").save(progress(2))
    assert EnhanceStateFile(path, "B").load() is None  # B: A's state set aside, B stopped before a step
    assert not path.exists() and stale.is_file()
    with caplog.at_level(logging.WARNING):
        back = EnhanceStateFile(path, "A").load()
    assert back is not None and back.steps_done == 2 and torch.equal(back.x, torch.full((2,), 2.0))
    assert "continues from its own saved state" in caplog.text
    assert path.is_file() and not stale.exists()
    # B again, this time saving a step of its own: A takes its state back and B's is set aside in turn
    assert EnhanceStateFile(path, "B").load() is None
    EnhanceStateFile(path, "B").save(progress(1))
    assert EnhanceStateFile(path, "A").load().steps_done == 2
    assert EnhanceStateFile(path, "B").load().steps_done == 1  # and back again: nothing is lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "s.pt.stale-A"]


def test_stage3_states_set_aside_are_kept_until_their_own_run_takes_them_back(tmp_path, caplog) -> None:
    """A stopped, B (another seed) stopped, A run again and finished: A took its state back, said B's was
    set aside 'now', and removing A's state file once its output was written removed B's too. And a third
    run C setting aside B's state while A's lay set aside replaced A's. Every run's state is now kept under
    its own name until that run takes it back; a finished run leaves the others' and names them."""
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile, remove_state_file

    path = tmp_path / "s.pt"

    def progress(steps: int) -> EnhanceProgress:
        return EnhanceProgress(steps, torch.full((2,), float(steps)), torch.Generator().get_state(), {})

    for key, steps in (("A", 2), ("B", 3), ("C", 4)):  # each started, sets the last one aside, stopped
        assert EnhanceStateFile(path, key).load() is None
        EnhanceStateFile(path, key).save(progress(steps))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt", "s.pt.stale-A", "s.pt.stale-B"]
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "A").load().steps_done == 2
    assert "(that run's state is set aside in turn, in s.pt.stale-C)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # A's output written
        kept = remove_state_file(path)
    assert [p.name for p in kept] == ["s.pt.stale-B", "s.pt.stale-C"]
    assert (
        "kept 2 stage-3 states of other runs" in caplog.text and "s.pt.stale-B, s.pt.stale-C" in caplog.text
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt.stale-B", "s.pt.stale-C"]
    for key, steps in (("B", 3), ("C", 4)):  # each continues from its own steps, then finishes
        assert EnhanceStateFile(path, key).load().steps_done == steps
        remove_state_file(path)
    assert list(tmp_path.iterdir()) == []


def test_a_stage3_state_set_aside_by_an_earlier_version_is_taken_back_by_its_own_run(
    tmp_path, caplog
) -> None:
    """Before d6d7d00 a run's state was set aside as NAME.stale (no key); since, states set aside are
    NAME.stale-KEY and nothing read NAME.stale: after an upgrade the stopped run started over, and its state
    was never taken back, removed or named among those kept. It is now renamed to its run's NAME.stale-KEY;
    one that cannot be read stays, and is named among those kept."""
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile, remove_state_file

    path = tmp_path / "s.pt"

    def progress(steps: int) -> EnhanceProgress:
        return EnhanceProgress(steps, torch.full((2,), float(steps)), torch.Generator().get_state(), {})

    EnhanceStateFile(path, "A").save(progress(2))
    path.rename(tmp_path / "s.pt.stale")  # run A's state, set aside by an earlier version
    EnhanceStateFile(path, "B").save(progress(1))  # the run that set it aside, stopped
    assert EnhanceStateFile(path, "C").load() is None  # a third run: A's and B's states kept, each its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.pt.stale-A", "s.pt.stale-B"]
    EnhanceStateFile(path, "C").save(progress(1))
    assert [p.name for p in remove_state_file(path)] == ["s.pt.stale-A", "s.pt.stale-B"]  # C finished
    assert EnhanceStateFile(path, "A").load().steps_done == 2  # A continues from its own steps
    remove_state_file(path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt.stale-B"]
    (tmp_path / "s.pt.stale").write_bytes(b"cut short")
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "B").load().steps_done == 1
    assert "cannot read the stage-3 state" in caplog.text and "s.pt.stale " in caplog.text
    assert remove_state_file(path) == [tmp_path / "s.pt.stale"]


def test_a_run_killed_while_taking_its_state_back_keeps_it(tmp_path, monkeypatch) -> None:
    """Taking A's state back while B's is in place takes more than one rename. Killed after the first, A's
    state lay only under a save's temporary name, which the next run removes; now it stays in its
    NAME.stale-KEY or NAME, so A, run again, still continues from it."""
    from streamt2v.pipeline import enhance_state
    from streamt2v.pipeline.enhance_state import (
        EnhanceProgress,
        EnhanceStateFile,
        remove_stale_state_temporaries,
    )

    path = tmp_path / "s.pt"
    for key, steps in (("A", 2), ("B", 1)):  # A saves, B sets it aside and saves a step of its own
        assert EnhanceStateFile(path, key).load() is None
        EnhanceStateFile(path, key).save(
            EnhanceProgress(steps, torch.zeros(2), torch.Generator().get_state(), {})
        )
    renames, rename = [], enhance_state.os.replace

    def killed_after_the_first(src, dst):
        if renames:
            raise KeyboardInterrupt
        renames.append((src, dst))
        rename(src, dst)

    monkeypatch.setattr(enhance_state.os, "replace", killed_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        EnhanceStateFile(path, "A").load()
    monkeypatch.undo()
    remove_stale_state_temporaries(path)
    assert EnhanceStateFile(path, "A").load().steps_done == 2


def test_the_stage3_key_holds_the_solver_settings_not_diffusers_bookkeeping() -> None:
    """A scheduler built in another process lists the options diffusers defaulted in another order, and
    one built by another diffusers version names that version: neither is another run."""
    from streamt2v.pipeline.enhance_state import scheduler_settings, state_key

    a, b = (make_scheduler("dpmpp-2m-sde", DEFAULT_SCHEDULER_CONFIG) for _ in range(2))
    b.register_to_config(_use_default_values=list(reversed(b.config["_use_default_values"])))
    b.register_to_config(_diffusers_version="0.0.1")
    assert dict(a.config) != dict(b.config)
    assert state_key(scheduler_settings(a)) == state_key(scheduler_settings(b))
    c = make_scheduler("dpmpp-2m-sde", DEFAULT_SCHEDULER_CONFIG, solver_order=1)
    assert state_key(scheduler_settings(a)) != state_key(scheduler_settings(c))


def test_a_stage3_state_that_cannot_be_read_now_is_an_error_and_kept(tmp_path, monkeypatch, caplog) -> None:
    """Every error of reading the state was taken for damage: a permission or I/O error started stage 3 over,
    and its next step replaced the state, losing the run's steps. A file cut short still starts over."""
    import errno

    from streamt2v.pipeline import enhance_state
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile

    path = tmp_path / "s.pt"
    EnhanceStateFile(path, "a").save(EnhanceProgress(3, torch.zeros(2), torch.Generator().get_state(), {}))
    data = path.read_bytes()

    def unreadable(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(enhance_state.torch, "load", unreadable)
    with pytest.raises(OSError, match=r"cannot read stage 3's saved state .*Input/output error: '.*s\.pt'"):
        EnhanceStateFile(path, "a").load()
    assert path.read_bytes() == data  # kept, not set aside or replaced
    monkeypatch.undo()
    assert EnhanceStateFile(path, "a").load().steps_done == 3
    # torch.load: OSError EINVAL (its central directory cut off), RuntimeError, EOFError
    for damaged in (data[:-100], data[: len(data) // 2], b""):
        path.write_bytes(damaged)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert EnhanceStateFile(path, "a").load() is None
        assert "stage 3 starts over: cannot read its saved state" in caplog.text


def test_an_old_state_set_aside_that_cannot_be_read_now_stops_nothing(tmp_path, monkeypatch, caplog) -> None:
    """53126eb made a permission or I/O error reading the state an error; it also stopped the run when the
    file was an earlier version's ``NAME.stale``, which is not this run's state: it is left, with a warning."""
    import errno

    from streamt2v.pipeline import enhance_state
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile

    path = tmp_path / "s.pt"
    EnhanceStateFile(path, "a").save(EnhanceProgress(3, torch.zeros(2), torch.Generator().get_state(), {}))
    (tmp_path / "s.pt.stale").write_bytes(path.read_bytes())
    load = enhance_state.torch.load

    def denied_for_the_old_one(file, *args, **kwargs):
        if str(file).endswith(".stale"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return load(file, *args, **kwargs)

    monkeypatch.setattr(enhance_state.torch, "load", denied_for_the_old_one)
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "a").load().steps_done == 3
    assert "cannot read the stage-3 state" in caplog.text and (tmp_path / "s.pt.stale").exists()
