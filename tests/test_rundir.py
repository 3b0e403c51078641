"""Run directories: chunk files before manifest, atomic manifest, exact state round trip, clear errors.
Runs killed (kill -9) mid-write or locked by another process: ``test_rundir_processes.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from streamt2v.pipeline.run_chunks import StoredChunk
from streamt2v.pipeline.run_folders import default_run_dir
from streamt2v.pipeline.rundir import STAGE3_STATE, RunDir


def _save(run, i, g):
    frames = torch.rand(1, 3, 4, 8, 8, generator=g) * 2 - 1
    tail = torch.randn(1, 3, 2, 8, 8, generator=g)
    anchor = torch.randn(1, 3, 1, 8, 8, generator=g)
    run.save_chunk(StoredChunk(i, 1 if i == 0 else 2, 4 * i, 4 * i + 4, f"p{i}", frames, tail, anchor, "p0"))
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


def test_a_stage3_state_temporary_a_killed_run_left_is_removed_when_the_run_is_taken(tmp_path):

    run = RunDir.create(tmp_path / "r", {"a": 1}, num_chunks=1)
    run.unlock()
    left = tmp_path / "r" / f".{STAGE3_STATE}.tmp-4242"  # EnhanceStateFile.save's temporary, killed mid-write
    left.write_bytes(b"half")
    kept = tmp_path / "r" / STAGE3_STATE
    kept.write_bytes(b"the last finished step")
    RunDir.open(tmp_path / "r").lock().unlock()
    assert not left.exists() and kept.read_bytes() == b"the last finished step"


def test_errors(tmp_path):
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=3)
    with pytest.raises(FileExistsError, match=r"continue it with resume_generate\('.*/r'\)") as err:
        RunDir.create(tmp_path / "r", {}, num_chunks=3)
    assert f"continue it with --resume {tmp_path / 'r'} or choose another --run-dir" in str(
        err.value.as_flags()
    )
    with pytest.raises(ValueError, match="out of order"):
        _save(run, 1, g)
    _save(run, 0, g)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunDir.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a streamt2v run directory"):
        RunDir.open(tmp_path / "empty")


@pytest.mark.parametrize("damage", ["cut short", "missing"])
def test_a_run_goes_on_from_the_chunks_before_a_damaged_or_missing_chunk_file(tmp_path, damage):
    """A chunk file cut short or missing (a copy of the run stopped half way) made the run one that could
    not be resumed at all; each chunk file holds what the next chunk needs, so the run goes on from the
    chunks before it. Opening it changes nothing; with the lock held the later chunk files, and stage 3's
    state made from them, are dropped and the manifest says so."""
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=4)
    for i in range(3):
        _save(run, i, g)
    run.unlock()
    (tmp_path / "r" / STAGE3_STATE).write_bytes(b"made from the chunks")
    file = tmp_path / "r" / "chunks" / "chunk_000001.safetensors"
    if damage == "missing":
        file.unlink()
    else:
        file.write_bytes(file.read_bytes()[:100])
    manifest = (tmp_path / "r" / "manifest.json").read_bytes()
    opened = RunDir.open(tmp_path / "r")
    assert opened.num_finished == 1 and opened.damaged[0] == 1
    assert (tmp_path / "r" / "manifest.json").read_bytes() == manifest  # opened, not changed
    said = opened.lock().drop_damaged_chunks()
    assert said.startswith(
        f"chunk file {str(file)!r} of the run is {'damaged (' if damage != 'missing' else 'missing'}"
    )
    assert said.endswith("the run goes on from its 1 finished chunk before it, making the later ones again")
    assert sorted(p.name for p in (tmp_path / "r" / "chunks").iterdir()) == ["chunk_000000.safetensors"]
    assert not (tmp_path / "r" / STAGE3_STATE).exists()
    opened.unlock()
    again = RunDir.open(tmp_path / "r")
    assert again.num_finished == 1 and again.damaged is None and again.lock().drop_damaged_chunks() is None
    again.unlock()


def test_a_run_copied_without_its_chunks_folder_starts_again_from_its_first_chunk(tmp_path):
    """A copy stopped before it reached chunks/: every chunk goes, and the folder is there again for the
    first chunk made (without it the resume made chunk 0, failed to save it, and advised the same resume)."""
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=3)
    _save(run, 0, g)
    run.unlock()
    shutil.rmtree(tmp_path / "r" / "chunks")
    opened = RunDir.open(tmp_path / "r").lock()
    said = opened.drop_damaged_chunks()
    assert said.endswith("of the run is missing: the run starts again from its first chunk"), said
    assert opened.num_finished == 0 and list((tmp_path / "r" / "chunks").iterdir()) == []
    _save(opened, 0, g)
    assert RunDir.open(tmp_path / "r").num_finished == 1


def test_a_chunk_file_damaged_after_the_run_was_opened_is_named(tmp_path):
    from safetensors.torch import save_file

    from streamt2v.pipeline.run_chunks import DamagedChunkError

    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=3)
    _save(run, 0, g)
    file = tmp_path / "r" / "chunks" / "chunk_000000.safetensors"
    opened = RunDir.open(tmp_path / "r")
    save_file({"frames": torch.zeros(1)}, str(file), metadata={"index": "0"})  # replaced after it was opened
    with pytest.raises(DamagedChunkError, match=r"damaged \(it holds no tail, anchor, stage, start"):
        opened.load_chunk(0)


def _flip_data_bytes(file, at=0.5):
    """Flip a few bytes inside ``file``'s tensor data (past its header), the size unchanged: bits changed on
    the disk or in a copy, which a check of the header cannot see. Returns the file's bytes before."""
    data = file.read_bytes()
    start = 8 + int.from_bytes(data[:8], "little")  # safetensors: header length, header, then the data
    k = start + int((len(data) - start) * at)
    file.write_bytes(data[:k] + bytes(b ^ 0xFF for b in data[k : k + 3]) + data[k + 3 :])
    return data


def test_a_chunk_file_whose_bytes_changed_is_damaged_and_the_run_goes_on_before_it(tmp_path):
    """A chunk file with bits flipped in its tensors (same size, header intact) was taken as it was: the
    resume used changed frames and CAM/APM state. The manifest records each file's sha256 when the chunk is
    saved; a file that no longer matches it is damaged, as one cut short is, and so is one changed after the
    run was opened (read back at the end of a run, for stage 3)."""
    import hashlib

    from safetensors.torch import load_file

    from streamt2v.pipeline.run_chunks import DamagedChunkError

    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=4)
    for i in range(3):
        _save(run, i, g)
    run.unlock()
    chunks = tmp_path / "r" / "chunks"
    entries = json.loads((tmp_path / "r" / "manifest.json").read_text())["chunks"]
    assert [e["sha256"] for e in entries] == [
        hashlib.sha256((chunks / f"chunk_{i:06d}.safetensors").read_bytes()).hexdigest() for i in range(3)
    ]
    file = chunks / "chunk_000001.safetensors"
    whole = _flip_data_bytes(file)
    assert file.stat().st_size == len(whole) and set(load_file(file)) == {"frames", "tail", "anchor"}
    opened = RunDir.open(tmp_path / "r")
    assert opened.num_finished == 1 and opened.damaged[0] == 1
    said = opened.lock().drop_damaged_chunks()
    assert said == (
        f"chunk file {str(file)!r} of the run is damaged (its content does not match what was written: its "
        "sha256 is not the one in the manifest): the run goes on from its 1 finished chunk before it, making "
        "the later ones again"
    )
    assert sorted(p.name for p in chunks.iterdir()) == ["chunk_000000.safetensors"]
    opened.unlock()
    # changed after the run was opened: named when it is read back
    _save(RunDir.open(tmp_path / "r").lock(), 1, g)
    again = RunDir.open(tmp_path / "r")
    assert again.damaged is None
    _flip_data_bytes(file, at=0.1)
    with pytest.raises(
        DamagedChunkError, match=r"chunk_000001\.safetensors' of the run is damaged \(its content"
    ):
        again.load_chunk(1)


def test_a_manifest_of_an_earlier_version_without_digests_is_opened_as_before(tmp_path):
    """Runs made before the manifest recorded digests resume as they did: their chunks are checked by their
    header alone (a file cut short is still damaged)."""
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=4)
    saved = [_save(run, i, g) for i in range(3)]
    run.unlock()
    path = tmp_path / "r" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert all("sha256" in e for e in manifest["chunks"])  # what this version writes
    for e in manifest["chunks"]:
        del e["sha256"]
    path.write_text(json.dumps(manifest))
    opened = RunDir.open(tmp_path / "r")
    assert opened.num_finished == 3 and opened.damaged is None
    assert torch.equal(opened.load_chunk(2).tail, saved[2][1])
    file = tmp_path / "r" / "chunks" / "chunk_000002.safetensors"
    file.write_bytes(file.read_bytes()[:100])
    assert RunDir.open(tmp_path / "r").damaged[0] == 2


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


def test_a_run_removed_as_empty_is_never_seen_half_deleted(tmp_path, monkeypatch):
    """A run stopped before its first chunk removes its folder. It gave its lock back first, then deleted
    config.json and manifest.json: a --resume of the folder starting between the two took the lock, opened
    a whole run and lost its files under it. The files now go while the lock is held; a resume that takes
    the lock as it is given back (simulated here, at that moment) finds no run."""
    from streamt2v.io import locks

    path = tmp_path / "r"
    run = RunDir.create(path, {"a": 1}, num_chunks=2)
    seen = []
    release = locks.release

    def release_then_resume(fh, **kwargs):
        assert not (path / "chunks").exists()  # gone under the lock: a new run made here keeps its own
        release(fh, **kwargs)
        try:
            seen.append(RunDir.open(path))
        except (FileNotFoundError, ValueError) as err:
            seen.append(err)

    monkeypatch.setattr(locks, "release", release_then_resume)
    assert run.remove_if_empty() and not path.exists()
    assert len(seen) == 1 and not isinstance(seen[0], RunDir), seen


def test_a_resume_that_opened_a_run_removed_before_its_lock_finds_no_run(tmp_path):
    """A resume opens the run, then locks it: a run removed as empty in between (by its holder) was
    resumed without its config, manifest and chunks (the lock made a new lock file), or failed on the lock
    file with a bare FileNotFoundError when the folder was gone. Both say there is nothing to resume."""
    path = tmp_path / "r"
    run = RunDir.create(path, {"a": 1}, num_chunks=2)
    opened = RunDir.open(path)
    assert run.remove_if_empty() and not path.exists()
    with pytest.raises(
        FileNotFoundError, match=r"'.*r' was removed while it was opened: .* nothing to resume"
    ):
        opened.lock()
    # the folder still there (another process's lock file kept it), its run files gone
    run = RunDir.create(path, {"a": 1}, num_chunks=2)
    opened = RunDir.open(path)
    run.unlock()
    for name in ("config.json", "manifest.json"):
        (path / name).unlink()
    with pytest.raises(FileNotFoundError, match="was removed while it was opened"):
        opened.lock()
    assert not (path / ".lock").exists() and opened._lock is None


def test_a_run_another_process_changed_between_open_and_lock_is_taken_as_it_is_now(tmp_path):
    """open() reads the run without its lock, and lock() did not read it again: when another process (a second
    --resume started a moment earlier) held the run in between, the resume went on from the state opened. It
    made the chunks the other had finished again, and drop_damaged_chunks removed the other's fresh chunk
    files as damaged; the settings the other changed (its dtype) were not seen either."""
    g = torch.Generator().manual_seed(0)
    path = tmp_path / "r"
    run = RunDir.create(path, {"dtype": "float16"}, num_chunks=3)
    for i in range(2):
        _save(run, i, g)
    run.unlock()
    damaged = path / "chunks" / "chunk_000001.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])
    stale = RunDir.open(path)
    assert stale.num_finished == 1 and stale.damaged[0] == 1
    other = RunDir.open(path).lock()  # took the run first, and finished it
    other.drop_damaged_chunks()
    other.save_config({"dtype": "bfloat16"})
    for i in (1, 2):
        _save(other, i, g)
    other.set_status("complete")
    other.unlock()
    chunks = {p.name: p.read_bytes() for p in (path / "chunks").iterdir()}
    stale.lock()
    assert (stale.num_finished, stale.status, stale.damaged) == (3, "complete", None)
    assert stale.config == {"dtype": "bfloat16"} and stale.manifest == other.manifest
    assert stale.drop_damaged_chunks() is None
    assert {p.name: p.read_bytes() for p in (path / "chunks").iterdir()} == chunks
    stale.unlock()
    # the settings alone changed (a resume in another dtype stopped before its first chunk)
    stale = RunDir.open(path)
    other = RunDir.open(path).lock()
    other.save_config({"dtype": "float32"})
    other.unlock()
    assert stale.lock().config == {"dtype": "float32"} and stale.num_finished == 3
    stale.unlock()


def test_reserved_run_dirs_never_collide(tmp_path):
    from streamt2v.pipeline.run_folders import reserve_run_dir

    base = tmp_path / "runs" / "20261124-031015-a-cat"
    got = [reserve_run_dir(base) for _ in range(3)]  # as two runs naming the same second would
    assert [p.name for p in got] == [base.name, f"{base.name}-2", f"{base.name}-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in got)


def test_an_interrupted_write_leaves_no_temporary_and_the_last_good_state(tmp_path, monkeypatch):
    import os

    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=3)
    _save(run, 0, g)
    before = (tmp_path / "r" / "manifest.json").read_text()
    real_fsync = os.fsync

    def interrupted(fd):  # Ctrl-C arrives while the data is being flushed to the disk
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _save(run, 1, g)
    with pytest.raises(KeyboardInterrupt):
        run.set_status("interrupted")
    with pytest.raises(KeyboardInterrupt):  # while a new run is created: no run, no run directory
        RunDir.create(tmp_path / "new", {}, num_chunks=3)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert sorted(p.name for p in (tmp_path / "r").rglob(".*")) == [".lock"]
    assert (tmp_path / "r" / "manifest.json").read_text() == before
    assert RunDir.open(tmp_path / "r").num_finished == 1
    assert not (tmp_path / "new").exists()


def test_what_is_no_run_is_named_for_what_it_is(tmp_path, monkeypatch):
    """--resume of a plausible wrong path: a file, a run's own file, a folder inside a run, the runs/ folder, a
    run whose config.json or manifest.json was truncated or hand-edited."""
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        RunDir.create(tmp_path / "runs" / name, {}, num_chunks=2).unlock()
    (tmp_path / "out.mp4").write_bytes(b"video")
    with pytest.raises(NotADirectoryError, match=r"^'out.mp4' is a file, not a run directory$"):
        RunDir.open("out.mp4")
    with pytest.raises(
        NotADirectoryError, match=r"'runs/a/config.json' is a file.*; give its folder 'runs/a'$"
    ):
        RunDir.open("runs/a/config.json")
    with pytest.raises(FileNotFoundError, match=r"it lies inside the run directory '.*runs/a': give that$"):
        RunDir.open("runs/a/chunks")
    with pytest.raises(
        FileNotFoundError, match=r"it holds 2 runs \('runs/a' and 'runs/b'\): give one of them$"
    ):
        RunDir.open("runs")
    (tmp_path / "one").mkdir()
    shutil.copytree(tmp_path / "runs" / "a", tmp_path / "one" / "a")
    with pytest.raises(FileNotFoundError, match=r"it holds the run directory 'one/a': give that$"):
        RunDir.open("one")
    for name in "cdef":
        RunDir.create(tmp_path / "runs" / name, {}, num_chunks=2).unlock()
    with pytest.raises(
        FileNotFoundError,
        match=r"it holds 6 runs \(the last by name: 'runs/d', 'runs/e' and 'runs/f'\): give one of them$",
    ):
        RunDir.open("runs")
    (tmp_path / "runs" / "a" / "config.json").write_text('{"stream": ')  # truncated
    with pytest.raises(ValueError, match=r"^run config 'runs/a/config.json' is not valid JSON \(Expecting"):
        RunDir.open("runs/a")
    (tmp_path / "runs" / "b" / "manifest.json").write_text("[1]")
    with pytest.raises(ValueError, match=r"^run manifest 'runs/b/manifest.json' holds no JSON object$"):
        RunDir.open("runs/b")
    # a manifest without a run's keys is no run's (as evaluate tells a dataset's files from a run), one whose
    # keys hold no values of a run's is a damaged run's
    # (the keys it lacks named: one without chunks said 'no format version and chunks')
    (tmp_path / "runs" / "c" / "manifest.json").write_text('{"status": "running"}')
    with pytest.raises(
        ValueError,
        match=r"^'runs/c/manifest.json' is no streamt2v run's manifest \(it names no format version and chunks\): "
        r"'runs/c' is not a run directory, or its manifest was replaced$",
    ):
        RunDir.open("runs/c")
    (tmp_path / "runs" / "c" / "manifest.json").write_text('{"format_version": 1, "status": "running"}')
    with pytest.raises(
        ValueError, match=r"^'runs/c/manifest.json' is no streamt2v run's manifest \(it names no chunks\): "
    ):
        RunDir.open("runs/c")
    (tmp_path / "runs" / "c" / "manifest.json").write_text(
        '{"format_version": 1, "status": "running", "chunks": null, "num_chunks": 2}'
    )
    with pytest.raises(ValueError, match=r"'runs/c/manifest.json' is damaged: it has no list of chunks"):
        RunDir.open("runs/c")
    # a manifest without its status: refused as damaged (repr and resume read it)
    (tmp_path / "runs" / "d" / "manifest.json").write_text(
        '{"format_version": 1, "chunks": [], "num_chunks": 2}'
    )
    with pytest.raises(
        ValueError, match=r"'runs/d/manifest.json' is damaged: its status is None, not running"
    ):
        RunDir.open("runs/d")


def test_a_folder_holding_other_files_takes_no_run(tmp_path, monkeypatch):
    """--run-dir . or --run-dir runs (the folder of all runs) made that folder a run, its config.json,
    manifest.json and chunks/ among the user's files; an empty folder, or one a killed creation left, still
    takes one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(
        FileExistsError,
        match=r"^run directory '\.' is a folder holding other files \('notes.txt'\); "
        r".*\(e.g. run_dir='my-run'\)$",
    ) as err:
        RunDir.create(".", {}, num_chunks=2)
    assert str(err.value.as_flags()).endswith("(e.g. --run-dir my-run)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    RunDir.create(tmp_path / "runs" / "a", {}, num_chunks=2).unlock()
    with pytest.raises(
        FileExistsError, match=r"'runs' is a folder holding 1 run; a run keeps its own folder"
    ):
        RunDir.check_new("runs")
    (tmp_path / "runs" / "notes.txt").write_text("mine")
    with pytest.raises(
        FileExistsError, match=r"'runs' is a folder holding 1 run and other files \('notes.txt'\);"
    ):
        RunDir.check_new("runs")
    (tmp_path / "empty").mkdir()
    RunDir.create("empty", {"a": 1}, num_chunks=2).unlock()
    assert RunDir.open("empty").config == {"a": 1}


def test_no_run_is_made_inside_another(tmp_path, monkeypatch):
    """--run-dir RUN/chunks was told to use RUN/chunks/my-run, which put a run among another's files."""
    monkeypatch.chdir(tmp_path)
    RunDir.create("r", {"a": 1}, num_chunks=2).unlock()
    for inner in ("r/chunks", "r/chunks/my-run", "r/new"):
        with pytest.raises(FileExistsError) as err:
            RunDir.check_new(inner)
        assert str(err.value) == (
            f"run directory {inner!r} lies inside the run directory {str(tmp_path / 'r')!r}; choose another "
            "run_dir, outside it"
        )
        assert str(err.value.as_flags()).endswith("choose another --run-dir, outside it")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        ".lock",
        "chunks",
        "config.json",
        "manifest.json",
    ]
    RunDir.check_new("r2/new")  # beside it is fine


def test_a_chunk_saved_out_of_order_names_the_finished_chunks_counted(tmp_path):
    """The count of finished chunks in the out-of-order error, singular and plural (wording.counted)."""
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {}, num_chunks=4)
    for finished, said in enumerate(["0 finished chunks", "1 finished chunk", "2 finished chunks"]):
        with pytest.raises(ValueError) as err:
            _save(run, finished + 1, g)
        assert str(err.value) == f"chunk {finished + 1} saved out of order: the run has {said}"
        _save(run, finished, g)


@pytest.mark.parametrize(
    ("stop_at", "expected"),
    [
        (0, "stopped after 1 finished chunk (16 frames saved in the run directory)"),
        (
            1,
            "stopped in stage 3 after 2 finished chunks (24 frames saved in the run directory; stage 3 had "
            "finished no step yet)",
        ),
        (
            2,
            "stopped in stage 3 after 2 finished chunks (24 frames saved in the run directory; stage 3's last "
            "finished step is kept there too)",
        ),
    ],
)
def test_a_run_stopped_in_stage_3_says_that_stage_3s_last_step_is_kept(tmp_path, caplog, stop_at, expected):
    """``generate --enhance`` stopped in stage 3 said only "stopped after 2 finished chunks (24 frames saved
    ...)": nothing of stage 3's last finished step, kept in the run for the resume (``streamt2v enhance``
    says it). Stopped before stage 3 (``stop_at`` 0: after the first chunk), the message is as it was; in
    stage 3's first step (1), none is kept; in its second (2), the first is."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig, generate
    from streamt2v.pipeline.rundir import STAGE3_STATE
    from streamt2v.pipeline.stream import StreamConfig

    # 32x32 frames: stage 3 is the shipped 64x64 refiner; 2 stage-3 chunks: one UNet call a step
    model = StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)
    cfg = GenerateConfig(
        output=str(tmp_path / "s.mp4"),
        stream=StreamConfig(num_frames=24, seed=7, steps=1, init_steps=1),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        enhance=dict(steps=3, chunk_frames=16, overlap=4, start_step=600, scheduler="ddim"),
    )
    calls, hooks = [], []

    def stop(module, args, output):
        if isinstance(module, UNet3DConditionModel):
            calls.append(1)
            if len(calls) == stop_at:
                raise KeyboardInterrupt

    def on_chunk(chunk):
        if stop_at == 0:
            raise KeyboardInterrupt
        if chunk.index == 1:  # the last chunk is finished: every UNet call from here on is stage 3's
            hooks.append(register_module_forward_hook(stop))

    try:
        with pytest.raises(KeyboardInterrupt):
            generate(cfg, model=model, on_chunk=on_chunk, progress=False)
    finally:
        for hook in hooks:
            hook.remove()
    assert (tmp_path / "run" / STAGE3_STATE).is_file() == (stop_at == 2)
    [said] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped ")]
    assert said == f"{expected}; continue with: resume_generate({str(tmp_path / 'run')!r})"


def test_chunk_files_get_the_usual_permissions(tmp_path):
    """safetensors makes its files 0600: a run's chunk files were unreadable to the group and others, whose
    outputs beside them get the umask's 0644."""
    import os

    old = os.umask(0o022)
    try:
        run = RunDir.create(tmp_path / "r", {}, num_chunks=2)
        _save(run, 0, torch.Generator().manual_seed(0))
    finally:
        os.umask(old)
    modes = {
        p.name: p.stat().st_mode & 0o777
        for p in [*(tmp_path / "r").iterdir(), *(tmp_path / "r" / "chunks").iterdir()]
        if p.is_file()
    }
    assert modes["chunk_000000.safetensors"] == 0o644 and modes["manifest.json"] == 0o644, modes


@pytest.mark.skipif(
    not Path("/proc/self").is_dir(), reason="a folder no file can be created in: Linux's /proc"
)
def test_a_run_directory_where_no_file_can_be_created_says_to_choose_another():
    # the default is runs/ in the working folder: a job started where it may not write was told only that
    with pytest.raises(
        PermissionError,
        match=r"^cannot write run directory '/proc/streamt2v-run': cannot create files in folder '/proc' "
        r"\(its file system takes no new files\); choose another run_dir$",
    ) as err:
        RunDir.check_new("/proc/streamt2v-run")
    assert str(err.value.as_flags()).endswith("; choose another --run-dir")


def test_a_run_directory_under_a_file_says_to_choose_another(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"is a file, not a folder; choose another run_dir$") as err:
        RunDir.check_new(tmp_path / "notes.txt" / "run")
    assert str(err.value.as_flags()).endswith("is a file, not a folder; choose another --run-dir")


def test_a_run_shows_its_folder_and_state(tmp_path):
    g = torch.Generator().manual_seed(0)
    run = RunDir.create(tmp_path / "r", {"a": 1}, num_chunks=3)
    for i in range(2):
        _save(run, i, g)
    path = repr(str(tmp_path / "r"))
    assert repr(run) == (
        f"<RunDir {path}: 2 of 3 chunks finished (8 frames), status 'running', held by this process>"
    )
    run.set_status("complete")
    run.unlock()
    assert repr(run) == f"<RunDir {path}: 2 of 3 chunks finished (8 frames), status 'complete'>"
    (tmp_path / "r" / "chunks" / "chunk_000001.safetensors").unlink()
    assert repr(RunDir.open(tmp_path / "r")) == (
        f"<RunDir {path}: 1 of 3 chunks finished (4 frames), status 'complete', chunk 1 missing or damaged>"
    )
