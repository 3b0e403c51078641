"""What a resumed generate run may write over: only what its run left at its outputs and previews (the
manifest records it); a file another run or the user put there since, or anything where a run of an earlier
version (which recorded nothing) writes, is refused unless ``overwrite``."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import FAST_CLI, cfg_for
from streamt2v.cli import main
from streamt2v.io.folders import ExistingOutputError
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate, run_config
from streamt2v.pipeline.run_writing import check_replaces_its_own, consume
from streamt2v.pipeline.rundir import RunDir


def test_a_resume_replaces_its_own_output_but_not_one_written_since(tmp_path, model):
    run = generate(cfg_for(tmp_path, "b", n=16), model=model).run_dir
    resume_generate(run, model=model)  # its own output (a complete run writes it again)
    out = tmp_path / "b.mp4"
    out.write_bytes(b"another run's video")
    with pytest.raises(ExistingOutputError) as refused:
        resume_generate(run, model=model)
    assert str(refused.value) == (
        f"output {str(out)!r} is not what this run last left there (another run, or someone, may have written it "
        "since); pass overwrite=True to replace it"
    )
    assert out.read_bytes() == b"another run's video"
    assert resume_generate(run, model=model, overwrite=True).num_frames == 16
    assert out.read_bytes() != b"another run's video"


def test_a_run_of_an_earlier_version_takes_what_is_no_newer_than_its_manifest(tmp_path, model, capsys):
    """A run of an earlier version recorded nothing: a preview newer than its manifest may be a later run's, so
    it is refused unless --overwrite (the command line's spelling); one no newer is the run's own (a run
    stopped by Ctrl-C wrote its manifest after its last preview) and is written over."""

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=stop)
    manifest_file = tmp_path / "run-b" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    preview = tmp_path / "b.partial.mp4"
    assert list(manifest.pop("outputs")) == [str(preview)]  # recorded after the chunk was appended
    written = preview.stat().st_mtime_ns
    manifest_file.write_text(json.dumps(manifest))
    # put there since with the run's old time, as `cp -p` or `mv` keep it: its change time is now (a tick of
    # the file system's clock later than the manifest's)
    time.sleep(0.05)
    os.utime(preview, ns=(written, written))
    before = preview.read_bytes()
    assert main(["generate", "--resume", str(tmp_path / "run-b"), *FAST_CLI[-1:]]) == 2
    assert capsys.readouterr().err.endswith(
        f"error: the preview {str(preview)!r} of output {str(tmp_path / 'b.mp4')!r} exists, is newer than the "
        "run's manifest, and this run, made by an earlier version of streamt2v, recorded nothing of what it "
        "wrote; if it is this run's, pass --overwrite to replace it\n"
    )
    assert preview.read_bytes() == before
    time.sleep(0.05)
    manifest_file.write_text(json.dumps(manifest))  # as a stop writes it, after the run's last preview
    assert resume_generate(tmp_path / "run-b", model=model).num_frames == 24


def test_a_run_started_with_overwrite_is_resumed_without_it(tmp_path, model):
    """A run told to overwrite an output, a GIF and another run's previews, stopped before its first chunk,
    resumes without overwrite: what was there when it began was its to replace (recorded then)."""

    def stop(chunk, step, steps):
        raise KeyboardInterrupt

    cfg = cfg_for(tmp_path, "b", n=16, gif=str(tmp_path / "b.gif"), overwrite=True)
    for name in ("b.mp4", "b.gif", "b.partial.mp4", "b.partial.gif"):
        (tmp_path / name).write_bytes(b"an earlier video")
    with pytest.raises(KeyboardInterrupt):
        generate(cfg, model=model, on_step=stop)
    assert resume_generate(tmp_path / "run-b", model=model).num_frames == 16
    assert (tmp_path / "b.mp4").read_bytes() != b"an earlier video"


def test_what_a_resume_of_an_earlier_version_took_as_its_own_stays_its_own(tmp_path, model, monkeypatch):
    """A complete run of an earlier version (no record) whose output a resume took as its own, stopped by
    Ctrl-C as it encodes the video again (the preview recorded, not the output): the next resume takes the
    output too, as the first did. (Its GIF is removed: a complete run with its outputs there writes nothing.)"""
    run = generate(cfg_for(tmp_path, "b", n=16, gif=str(tmp_path / "b.gif")), model=model).run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["outputs"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "b.gif").unlink()
    append = StreamingVideoWriter.append

    def stopped_after_the_first_append(self, frames):
        append(self, frames)
        raise KeyboardInterrupt

    monkeypatch.setattr(StreamingVideoWriter, "append", stopped_after_the_first_append)
    with pytest.raises(KeyboardInterrupt):
        resume_generate(run, model=model)
    monkeypatch.undo()
    assert resume_generate(run, model=model).num_frames == 16


class Killed(Exception):
    """A ``kill -9`` at a chosen point: the test puts the manifest back as it was then (no handler runs)."""


def test_a_run_killed_between_its_writers_or_while_a_resume_encodes_again_finds_its_previews(
    tmp_path, model, monkeypatch
):
    """Killed after the mp4 preview took a chunk and before the GIF's did, and then a resume killed after
    its first stored chunk was encoded again into a new preview: each preview is recorded once written, so
    the next resume takes them as the run's own."""
    run, kept = tmp_path / "run-b", {}
    manifest = run / "manifest.json"
    append = StreamingVideoWriter.append

    def killed_in_the_gifs_second_append(self, frames):
        if self.kind == "gif" and self.num_frames:
            kept["manifest"] = manifest.read_bytes()
            raise Killed
        append(self, frames)

    monkeypatch.setattr(StreamingVideoWriter, "append", killed_in_the_gifs_second_append)
    with pytest.raises(Killed):
        generate(cfg_for(tmp_path, "b", n=40, gif=str(tmp_path / "b.gif")), model=model)
    manifest.write_bytes(kept["manifest"])

    def killed_in_the_second_append(self, frames):  # the GIF's, after the mp4 preview was made anew
        if self.kind == "gif":
            kept["manifest"] = manifest.read_bytes()
            raise Killed
        append(self, frames)

    monkeypatch.setattr(StreamingVideoWriter, "append", killed_in_the_second_append)
    with pytest.raises(Killed):
        resume_generate(run, model=model)
    manifest.write_bytes(kept["manifest"])
    monkeypatch.undo()
    assert resume_generate(run, model=model).num_frames == 40


def test_a_run_stopped_as_its_outputs_are_renamed_finds_them(tmp_path, model, monkeypatch):
    """Killed once both previews were renamed to the outputs, before the GIF's was recorded; Ctrl-C as the GIF
    is finished, after the mp4 was: the resume takes the outputs as the run's own (an output is its preview
    renamed, which keeps its size and time)."""
    finish, kept = StreamingVideoWriter.finish, {}

    def killed_after_the_gifs_finish(self):
        path = finish(self)
        if self.kind == "gif":
            kept["manifest"] = (tmp_path / "run-b" / "manifest.json").read_bytes()
            raise Killed
        return path

    def ctrl_c_at_the_gifs_finish(self):
        if self.kind == "gif":
            raise KeyboardInterrupt
        return finish(self)

    monkeypatch.setattr(StreamingVideoWriter, "finish", killed_after_the_gifs_finish)
    with pytest.raises(Killed):
        generate(cfg_for(tmp_path, "b", n=16, gif=str(tmp_path / "b.gif")), model=model)
    (tmp_path / "run-b" / "manifest.json").write_bytes(kept["manifest"])
    monkeypatch.setattr(StreamingVideoWriter, "finish", ctrl_c_at_the_gifs_finish)
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "c", n=16, gif=str(tmp_path / "c.gif")), model=model)
    monkeypatch.undo()
    for name in ("b", "c"):
        assert resume_generate(tmp_path / f"run-{name}", model=model).num_frames == 16


def test_a_refusal_under_the_lock_leaves_the_run_as_it_was(tmp_path, model):
    """The check made again once the run is locked (another run may have written since the first): refused,
    the run is left interrupted and unlocked, not marked failed with advice to resume it."""

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=stop)
    run = RunDir.open(tmp_path / "run-b").lock()
    (tmp_path / "b.partial.mp4").write_bytes(b"another run's preview")
    with pytest.raises(ExistingOutputError, match="is not what this run"):
        consume(run_config(run), run, model, iter(()), run.num_finished, None)
    assert json.loads((run.path / "manifest.json").read_text())["status"] == "interrupted"
    RunDir.open(run.path).lock().unlock()


def test_a_run_stopped_as_stage_3_renames_its_outputs_finds_them(tmp_path, model, monkeypatch):
    """Ctrl-C as stage 3 finishes the GIF, after it renamed the mp4 into place: the mp4 is the run's own to a
    resume (the outputs stage 3 changed are recorded as it stops). Stage 3 stands in: only its outputs count."""
    from streamt2v.pipeline import run_writing

    def stage_3_stopped_after_the_mp4(cfg, run, fps, targets, locks, progress):
        targets[0].write_bytes(b"the enhanced video")
        raise KeyboardInterrupt

    monkeypatch.setattr(run_writing, "_enhance_stage", stage_3_stopped_after_the_mp4)
    cfg = cfg_for(tmp_path, "e", n=16, enhance={}, random_refiner=True, gif=str(tmp_path / "e.gif"))
    with pytest.raises(KeyboardInterrupt):
        generate(cfg, model=model)
    run = RunDir.open(tmp_path / "run-e")
    run_writing.check_replaces_its_own(run_config(run), run, overwrite=False)  # refused before
    (tmp_path / "e.gif").write_bytes(b"a file put there since")
    with pytest.raises(ExistingOutputError, match="^gif '.*' is not what this run last left there"):
        run_writing.check_replaces_its_own(run_config(run), run, overwrite=False)


def test_a_run_killed_between_a_rename_and_its_record_finds_its_file(tmp_path, model, monkeypatch):
    """``kill -9`` once a chunk's preview was renamed into place, before the manifest recorded it: what a
    writer renames to a preview is recorded before the rename, so the next resume takes the preview as the
    run's own (it was refused as 'not what this run last left there')."""
    manifest, kept = tmp_path / "run-b" / "manifest.json", {}
    record_outputs = RunDir.record_outputs

    def killed_at_the_second_chunks_record(self, paths):
        kept["calls"] = kept.get("calls", 0) + 1
        if kept["calls"] == 2:  # chunk 0's preview recorded; chunk 1's renamed into place
            kept["manifest"] = manifest.read_bytes()
            raise Killed
        record_outputs(self, paths)

    monkeypatch.setattr(RunDir, "record_outputs", killed_at_the_second_chunks_record)
    with pytest.raises(Killed):
        generate(cfg_for(tmp_path, "b", n=40), model=model)
    manifest.write_bytes(kept["manifest"])
    monkeypatch.undo()
    assert resume_generate(tmp_path / "run-b", model=model).num_frames == 40


def test_a_run_killed_as_stage_3_renamed_its_outputs_finds_them(tmp_path, monkeypatch):
    """``kill -9`` once stage 3 renamed its outputs into place, before the manifest recorded them: each was
    recorded before its rename, so the resume takes them as the run's own."""
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel

    model32 = StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)
    manifest, kept = tmp_path / "run-e" / "manifest.json", {}
    record_outputs = RunDir.record_outputs

    def killed_at_stage_3s_record(self, paths):
        if paths == [tmp_path / "e.mp4"]:  # what _enhance_stage returned: renamed, not recorded
            kept["manifest"] = manifest.read_bytes()
            raise Killed
        record_outputs(self, paths)

    monkeypatch.setattr(RunDir, "record_outputs", killed_at_stage_3s_record)
    cfg = cfg_for(tmp_path, "e", n=16, enhance=dict(steps=1, chunk_frames=16, overlap=4))
    with pytest.raises(Killed):
        generate(cfg, model=model32)
    manifest.write_bytes(kept["manifest"])
    monkeypatch.undo()
    run = RunDir.open(tmp_path / "run-e")
    check_replaces_its_own(run_config(run), run, overwrite=False)
