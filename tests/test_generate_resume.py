"""Resuming a generate run (tiny random-weight model, CPU): bit-identical after a crash, Ctrl-C or kill -9,
without its input files, from another folder, on another dtype; a completed resume keeps no error of the
stop, a run still going is not taken, a stop on NaN offers no futile resume, and ``generate --resume``
names the flags it ignores and a folder that holds no run."""

from __future__ import annotations

import dataclasses
import json
import shlex

import pytest
import torch

from conftest import FAST_CLI, Crash, cfg_for
from streamt2v.cli import main
from streamt2v.io.video import read_video
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.resume import resume_generate
from streamt2v.pipeline.stream import StreamConfig


@pytest.mark.parametrize("crash_after,exc", [(1, Crash), (2, KeyboardInterrupt)])
def test_resume_is_bit_identical(tmp_path, model, crash_after, exc):
    ref = generate(cfg_for(tmp_path, "ref", png_dir=str(tmp_path / "ref-png")), model=model)
    cfg = cfg_for(tmp_path, "b", png_dir=str(tmp_path / "b-png"))

    def on_chunk(chunk):
        if chunk.index + 1 == crash_after:
            raise exc()

    with pytest.raises(exc):
        generate(cfg, model=model, on_chunk=on_chunk)
    assert not (tmp_path / "b.mp4").exists()
    manifest = json.loads((tmp_path / "run-b" / "manifest.json").read_text())
    assert len(manifest["chunks"]) == crash_after
    assert manifest["status"] == ("interrupted" if exc is KeyboardInterrupt else "failed")
    res = resume_generate(tmp_path / "run-b", model=model)
    assert res.num_frames == 40
    # Frames are bit-identical (PNG output), and so is the mp4 file.
    for name in sorted(p.name for p in (tmp_path / "ref-png").iterdir()):
        assert (tmp_path / "b-png" / name).read_bytes() == (tmp_path / "ref-png" / name).read_bytes()
    assert len(list((tmp_path / "b-png").iterdir())) == 40
    assert (tmp_path / "b.mp4").read_bytes() == ref.output.read_bytes()


def test_completed_resume_drops_the_stop_error(tmp_path, model, monkeypatch):
    """A run stopped by Ctrl-C records ``error: KeyboardInterrupt()``; once resumed and complete the manifest
    read ``status: complete`` with that error still beside it. The run is given opened, as the command line
    opens it to read its settings: it is not opened again (which hashed every chunk file a second time)."""
    from streamt2v.pipeline.rundir import RunDir

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=stop)
    manifest = tmp_path / "run-b" / "manifest.json"
    assert json.loads(manifest.read_text())["error"] == "KeyboardInterrupt()"
    run = RunDir.open(tmp_path / "run-b")
    monkeypatch.setattr(RunDir, "open", None)  # a second opening fails
    resume_generate(run, model=model)
    done = json.loads(manifest.read_text())
    assert done["status"] == "complete"
    assert "error" not in done


def test_resume_needs_no_input_files_once_a_chunk_is_finished(tmp_path, model):
    """The finished chunks hold the input frames and the anchor, so a resume works after the input video and
    anchor image were moved (it was refused: --init-video file not found); before any chunk it needs them."""
    from streamt2v.io.video import write_video

    src = write_video(
        tmp_path / "in.mp4", read_video(generate(cfg_for(tmp_path, "src", n=16), model=model).output)[0], 8
    )
    anchor = write_video(tmp_path / "anchor", torch.zeros(1, 3, 1, 32, 32), 8) / "frame_000000.png"
    inputs = {"init_video": str(src), "anchor": str(anchor)}
    ref = generate(cfg_for(tmp_path, "ref", n=32, **inputs), model=model)

    def crash(chunk):
        raise Crash()

    for name in ("b", "c"):
        with pytest.raises(Crash):
            generate(cfg_for(tmp_path, name, n=32, **inputs), model=model, on_chunk=crash)
    src.rename(tmp_path / "in-moved.mp4")
    anchor.rename(tmp_path / "anchor-moved.png")
    res = resume_generate(tmp_path / "run-b", model=model)
    assert res.output.read_bytes() == ref.output.read_bytes()
    # a run that finished nothing starts over from its inputs, so it still needs them
    (tmp_path / "run-c" / "chunks").mkdir(exist_ok=True)
    for f in (tmp_path / "run-c" / "chunks").iterdir():
        f.unlink()
    m = tmp_path / "run-c" / "manifest.json"
    manifest = json.loads(m.read_text())
    manifest["chunks"] = []
    m.write_text(json.dumps(manifest))
    with pytest.raises(FileNotFoundError, match="^init_video file not found"):
        resume_generate(tmp_path / "run-c", model=model)
    (tmp_path / "in-moved.mp4").rename(src)
    with pytest.raises(FileNotFoundError, match="^anchor file not found"):
        resume_generate(tmp_path / "run-c", model=model)


def test_resume_after_kill_mid_chunk(tmp_path, model):
    """kill -9 while a chunk is being sampled: the manifest says 'running', a stray temp file may exist."""
    generate(cfg_for(tmp_path, "ref", n=24, png_dir=str(tmp_path / "ref-png")), model=model)
    cfg = cfg_for(tmp_path, "k", n=24, png_dir=str(tmp_path / "k-png"))

    def on_chunk(chunk):
        raise Crash()

    with pytest.raises(Crash):
        generate(cfg, model=model, on_chunk=on_chunk)
    m = tmp_path / "run-k" / "manifest.json"
    m.write_text(m.read_text().replace('"failed"', '"running"'))
    (tmp_path / "run-k" / "chunks" / ".chunk_000001.tmp-1.safetensors").write_bytes(b"half")
    resume_generate(tmp_path / "run-k", model=model)
    for name in sorted(p.name for p in (tmp_path / "ref-png").iterdir()):
        assert (tmp_path / "k-png" / name).read_bytes() == (tmp_path / "ref-png" / name).read_bytes()


def test_resuming_a_run_that_is_still_going_is_refused_and_harms_nothing(tmp_path, model):
    from streamt2v.pipeline.run_folders import RunInUseError

    ref = generate(cfg_for(tmp_path, "ref", n=24), model=model)
    refused = []

    def on_chunk(chunk):  # a second process (here: a second call) resumes the live run
        with pytest.raises(RunInUseError, match=r"is in use by another process \(pid \d+\); wait for it"):
            resume_generate(tmp_path / "run-live", model=model)
        refused.append(chunk.index)

    res = generate(cfg_for(tmp_path, "live", n=24), model=model, on_chunk=on_chunk)
    assert refused == [0, 1]
    assert res.output.read_bytes() == ref.output.read_bytes()
    resume_generate(tmp_path / "run-live", model=model)  # once it has ended, the run can be taken again


def test_a_resume_goes_on_from_the_run_as_another_resume_left_it_before_the_lock(tmp_path, model, caplog):
    """A resume opened the run (the command line does, to read its settings), and another resume, started a
    moment earlier, finished it in bf16 before this one took the lock: this one went on from the run as it
    had opened it, made the chunks the other had finished again, and took the dtype it was asked for as a
    change from fp32. It goes on from the run as the lock finds it: nothing is left to make."""
    import logging

    from streamt2v.pipeline.rundir import RunDir

    def crash(chunk):
        raise Crash()

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=crash)
    opened = RunDir.open(tmp_path / "run-b")
    resume_generate(tmp_path / "run-b", model=model, dtype="bf16")  # the other resume
    chunks = {p.name: p.read_bytes() for p in (tmp_path / "run-b" / "chunks").iterdir()}
    steps = []
    with caplog.at_level(logging.INFO):
        resume_generate(opened, model=model, dtype="bf16", on_step=lambda *step: steps.append(step))
    assert steps == [] and "instead of" not in caplog.text
    assert {p.name: p.read_bytes() for p in (tmp_path / "run-b" / "chunks").iterdir()} == chunks


def test_resume_from_another_folder_writes_where_the_run_began(tmp_path, monkeypatch, model, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.chdir(a)
    cfg = GenerateConfig(
        output="out.mp4",
        stream=StreamConfig(num_frames=24, seed=7, steps=1, init_steps=1),
        prompt="a red circle",
        run_dir="run",
        gif="out.gif",
    )

    def on_chunk(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg, model=model, on_chunk=on_chunk)
    assert json.loads((a / "run" / "config.json").read_text())["output"] == str(a / "out.mp4")
    stale = a / ".out.mp4.segments-dead"
    stale.mkdir()
    (stale / "seg_000000.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    res = resume_generate("a/run", model=model)
    # the run's path absolute, as generate's result gives it (it was 'a/run', as given)
    assert res.run_dir == a / "run" and res.run_dir.is_absolute()
    assert res.output == a / "out.mp4" and read_video(a / "out.mp4")[0].shape[2] == 24
    assert (a / "out.gif").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    assert sorted(p.name for p in a.iterdir()) == ["out.gif", "out.mp4", "run"]
    # a config written with relative paths (older runs) still resolves them from the current folder
    old = json.loads((a / "run" / "config.json").read_text())
    assert GenerateConfig.from_dict({**old, "output": "rel.mp4"}).output == "rel.mp4"


def test_cli_resume_warns_about_ignored_flags(tmp_path, monkeypatch, capsys, model):
    monkeypatch.chdir(tmp_path)
    generate(cfg_for(tmp_path, "w", n=8, model="tiny"), model=model)  # the resume loads the same preset
    argv = ["generate", "--resume", str(tmp_path / "run-w"), "--no-progress"]
    # each flag named as typed: the aliases were named by the first name (--frames, --guidance)
    assert main([*argv, "--num-frames", "99", "--guidance-scale", "3", "--neg=x"]) == 0
    assert "ignoring --num-frames, --negative-prompt, --guidance-scale\n" in capsys.readouterr().err
    # a typed value equal to the default is ignored as well, and said so (it was not named)
    argv = [
        "-v",
        "generate",
        "--resume",
        str(tmp_path / "run-w"),
        "--frames=80",
        "--seed",
        "33",
        "--no-progress",
    ]
    assert main([*argv, "-o", "output.mp4", "--overwrite"]) == 0
    assert "ignoring --frames, --seed, -o\n" in capsys.readouterr().err
    # "-" is ignored as any other value: refused as standard output, it was the one flag a resume checked
    assert main([*argv, "--out", "-", "--run-dir", "-"]) == 0
    assert "ignoring --frames, --seed, --out, --run-dir\n" in capsys.readouterr().err
    assert main(["generate", "--resume", str(tmp_path / "run-w"), "--overwrite", "--no-progress"]) == 0
    assert "ignoring" not in capsys.readouterr().err


def test_interrupt_reports_the_frames_saved_in_the_run_directory(tmp_path, monkeypatch, model, caplog):
    from streamt2v.io.streaming_writer import StreamingVideoWriter

    calls = []
    append = StreamingVideoWriter.append

    def slow_append(self, chunk):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C while the second chunk is written: it is already in the run directory
            raise KeyboardInterrupt
        append(self, chunk)

    monkeypatch.setattr(StreamingVideoWriter, "append", slow_append)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        generate(dataclasses.replace(cfg_for(tmp_path, "i", n=32), run_dir="my run"), model=model)
    assert "stopped after 2 finished chunks (24 frames saved in the run directory)" in caplog.text
    # a Python caller is told the call (it was told the command line's command), the run absolute
    printed = caplog.text.split("continue with: ", 1)[1].splitlines()[0]
    assert printed == f"resume_generate({str(tmp_path / 'my run')!r})"
    # the command line: the command as printed, pasted into a shell, names the run (quoted) from anywhere
    caplog.clear()
    calls.clear()
    argv = ["generate", "a red circle", "--frames", "32", "-o", "c.mp4", "--run-dir", "cli run", *FAST_CLI]
    assert main(argv) == 130
    printed = caplog.text.split("continue with: ", 1)[1].splitlines()[0]
    assert shlex.split(printed) == ["streamt2v", "generate", "--resume", str(tmp_path / "cli run")]


def test_a_run_stopped_by_nan_keeps_its_chunks_and_does_not_offer_a_futile_resume(tmp_path, caplog):
    import logging

    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.rundir import RunDir
    from streamt2v.sampling.schedulers import NonFiniteLatentsError

    broken = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    with torch.no_grad():  # the stream UNet gives NaN: stage 1 finishes, the first streaming chunk does not
        broken.unet.base.conv_in.weight[0] = float("inf")
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(NonFiniteLatentsError, match=r"^stage 2, chunk 2 \(frames 16-23\)"),
    ):
        generate(cfg_for(tmp_path, "nan", n=24), model=broken)
    run = RunDir.open(tmp_path / "run-nan")
    assert run.num_finished == 1 and run.status == "failed"
    assert "a resume would stop at the same chunk; run again with other settings" in caplog.text
    assert "continue with" not in caplog.text
    assert not (tmp_path / "nan.mp4").exists()


def test_after_nan_a_float16_run_is_told_to_continue_in_another_precision(tmp_path):
    """Told as each caller continues it: a Python caller was told the command line's ``--dtype bf16``."""
    from streamt2v.arguments import spelled
    from streamt2v.pipeline.run_writing import advice_after_nan

    f32, f16, b16 = torch.float32, torch.float16, torch.bfloat16
    run = tmp_path / "my run"
    cuda = advice_after_nan(run, f16, [f32, f16, b16])
    assert spelled(cuda, flags=True).endswith(f"--resume '{run}' --dtype bf16 (or --dtype fp32)")
    assert spelled(cuda, flags=False).endswith(f"resume_generate('{run}', dtype='bf16') (or dtype='fp32')")
    no_bf16 = advice_after_nan(run, f16, [f32, f16])  # MPS
    assert spelled(no_bf16, flags=True).endswith(f"--resume '{run}' --dtype fp32")
    assert spelled(no_bf16, flags=False).endswith(f"resume_generate('{run}', dtype='fp32')")
    # in fp32 or bf16 the run's settings make the NaN: a resume would stop at the same chunk
    said = spelled(advice_after_nan(run, b16, [f32, f16, b16]), flags=False)
    assert said.startswith("a resume would stop at the same chunk")


@pytest.mark.parametrize("on_the_cpu", [["--device", "cpu"], ["--cpu"]], ids=["device", "cpu"])
def test_a_resume_may_continue_on_another_dtype_and_records_it(
    tmp_path, monkeypatch, capsys, caplog, model, on_the_cpu
):
    """``--cpu`` is ``--device cpu`` for a resume too (not a stored setting it ignores)."""
    import logging

    monkeypatch.chdir(tmp_path)
    ref = generate(
        cfg_for(tmp_path, "ref", n=24, model="tiny", png_dir=str(tmp_path / "ref-png")), model=model
    )

    def crash(chunk):
        raise Crash()

    with pytest.raises(Crash):  # stopped after stage 1: the streaming chunk comes in bf16
        generate(
            cfg_for(tmp_path, "h", n=24, model="tiny", png_dir=str(tmp_path / "h-png")),
            model=model,
            on_chunk=crash,
        )
    with caplog.at_level(logging.INFO):
        assert main(["generate", "--resume", "run-h", "--dtype", "bf16", *on_the_cpu, "--no-progress"]) == 0
    assert "ignoring" not in capsys.readouterr().err
    assert "with device cpu instead of auto, dtype bf16 instead of fp32 from chunk 2 on" in caplog.text
    assert json.loads((tmp_path / "run-h" / "config.json").read_text())["dtype"] == "bf16"
    frames = sorted(p.name for p in (tmp_path / "ref-png").iterdir())
    same = [(tmp_path / "h-png" / f).read_bytes() == (tmp_path / "ref-png" / f).read_bytes() for f in frames]
    assert same[:16] == [True] * 16 and not all(same[16:])  # stage 1 as it was, then bf16's rounding
    assert read_video(tmp_path / "h.mp4")[0].shape[2] == ref.num_frames == 24
    with pytest.raises(ValueError, match="fp16"):  # checked like a new run's before anything is loaded
        resume_generate(tmp_path / "run-h", dtype="fp16")
    assert json.loads((tmp_path / "run-h" / "config.json").read_text())["dtype"] == "bf16"
    caplog.clear()
    (tmp_path / "h.mp4").unlink()  # a finished run with an output to write: no chunk is left to continue from
    with caplog.at_level(logging.INFO):
        resume_generate(tmp_path / "run-h", dtype="fp32")
    assert "with dtype fp32 instead of bf16 (all its chunks were finished before)" in caplog.text
    assert "from chunk" not in caplog.text


def test_a_resume_may_drop_the_runs_compile(tmp_path, monkeypatch, capsys, caplog, model):
    """A run compiled with inductor on a GPU machine, resumed where no C++ compiler is: --compile was ignored
    with --resume, so the resume failed asking to run without compile, which it could not."""
    import logging

    monkeypatch.chdir(tmp_path)

    def crash(chunk):
        raise Crash()

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "c", n=24, model="tiny"), model=model, on_chunk=crash)
    config = json.loads((tmp_path / "run-c" / "config.json").read_text())
    (tmp_path / "run-c" / "config.json").write_text(json.dumps({**config, "compile": "inductor"}))
    monkeypatch.setenv("CXX", str(tmp_path / "no-compiler"))  # the machine it is resumed on has none
    monkeypatch.delenv("TORCH_INDUCTOR_INSTALL_GXX", raising=False)
    assert main(["generate", "--resume", "run-c", "--device", "cpu", "--no-progress"]) == 2
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith("or run without compile; to continue it without compiling, pass --no-compile")
    )
    with pytest.raises(ValueError, match="to continue it without compiling, pass compile=False$"):
        resume_generate(tmp_path / "run-c", device="cpu")
    # a backend typed now is named as such, not as the one the run was compiled with (QA)
    assert (
        main(["generate", "--resume", "run-c", "--compile", "nope", "--device", "cpu", "--no-progress"]) == 2
    )
    assert capsys.readouterr().err.startswith("error: --compile nope: unknown torch.compile backend 'nope'")
    with pytest.raises(ValueError, match=r"^compile='nope': unknown torch.compile backend 'nope'"):
        resume_generate(tmp_path / "run-c", device="cpu", compile="nope")
    with caplog.at_level(logging.INFO):
        assert (
            main(["generate", "--resume", "run-c", "--no-compile", "--device", "cpu", "--no-progress"]) == 0
        )
    assert "ignoring" not in capsys.readouterr().err
    assert "with device cpu instead of auto, compile off instead of inductor from chunk 2 on" in caplog.text
    assert json.loads((tmp_path / "run-c" / "config.json").read_text())["compile"] is None


def test_cli_resume_of_no_run_names_it_before_the_flags_typed_with_it(tmp_path, monkeypatch, capsys, model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(["generate", "--resume", "runs", "--frames", "40", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'runs' is not a streamt2v run directory" in err and "ignoring" not in err  # only the one line
    generate(cfg_for(tmp_path, "k", n=8, model="tiny"), model=model)
    config = json.loads((tmp_path / "run-k" / "config.json").read_text())
    config["stream"]["stepz"] = 3  # a hand-edited config: named, not StreamConfig's raw TypeError
    (tmp_path / "run-k" / "config.json").write_text(json.dumps(config))
    assert main(["generate", "--resume", "run-k", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: 'run-k/config.json' cannot be resumed: unknown stream setting in the generate config: stepz"
    )
    with pytest.raises(ValueError, match=r"'.*run-k/config.json' cannot be resumed: unknown stream setting"):
        resume_generate(tmp_path / "run-k", model=model)


def test_a_resume_goes_on_from_the_chunks_before_a_damaged_chunk_file_and_makes_the_same_video(
    tmp_path, monkeypatch, capsys, caplog, model
):
    """A chunk file cut short (a copy of the run stopped half way): the resume said the run could not be
    resumed and advised starting it again. Each chunk file holds what the next chunk needs, so it goes on
    from the chunks before the damaged one, saying so, and the video is the uninterrupted run's. Damaged
    once the resume has begun, the run stops naming the file, and its resume goes on the same way."""
    import logging

    from streamt2v.io.streaming_writer import StreamingVideoWriter
    from streamt2v.pipeline.run_chunks import DamagedChunkError

    ref = generate(cfg_for(tmp_path, "ref", n=40, model="tiny"), model=model)

    def crash(chunk):
        if chunk.index == 2:
            raise Crash()

    monkeypatch.chdir(tmp_path)
    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "d", n=40, model="tiny"), model=model, on_chunk=crash)
    chunk = tmp_path / "run-d" / "chunks" / "chunk_000001.safetensors"
    whole = chunk.read_bytes()
    chunk.write_bytes(whole[: len(whole) // 2])
    # damaged once the resume has begun (here as its writer is made, after the run was opened)
    init = StreamingVideoWriter.__init__

    def damaging_init(self, *args, **kwargs):
        chunk.write_bytes(whole[: len(whole) // 2])
        init(self, *args, **kwargs)

    chunk.write_bytes(whole)
    monkeypatch.setattr(StreamingVideoWriter, "__init__", damaging_init)
    with caplog.at_level(logging.WARNING), pytest.raises(DamagedChunkError, match="chunk_000001.safetensors"):
        resume_generate(tmp_path / "run-d", model=model)
    assert "continue with: resume_generate(" in caplog.text  # a Python caller's call
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--resume", "run-d", "--no-progress"]) == 0
    said = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "goes on" in r.getMessage()
    ]
    assert said == [
        "chunk file 'run-d/chunks/chunk_000001.safetensors' of the run is damaged (Error while deserializing "
        "header: incomplete metadata, file not fully covered): the run goes on from its 1 finished chunk "
        "before it, making the later ones again"
    ], caplog.text
    assert (tmp_path / "d.mp4").read_bytes() == ref.output.read_bytes()
    assert json.loads((tmp_path / "run-d" / "manifest.json").read_text())["status"] == "complete"


def _flip_frame_bytes(file):
    """Flip a few bytes of the frames a chunk file holds, the size and header unchanged (bits changed on the
    disk or in a copy)."""
    data = file.read_bytes()
    n = int.from_bytes(data[:8], "little")  # safetensors: header length, JSON header, then the tensors
    begin, end = json.loads(data[8 : 8 + n])["frames"]["data_offsets"]
    k = 8 + n + (begin + end) // 2
    file.write_bytes(data[:k] + bytes(b ^ 0xFF for b in data[k : k + 3]) + data[k + 3 :])


@pytest.mark.parametrize("case", ["bytes changed", "manifest without digests"])
def test_a_chunk_file_whose_bytes_changed_is_made_again_and_the_video_is_the_same(
    tmp_path, caplog, model, case
):
    """A chunk file with bits flipped in its frames, same size: the resume re-encoded the changed frames
    into the video. Its sha256, recorded in the manifest, no longer matches: the resume goes on from the
    chunks before it, saying so, and the video is the uninterrupted run's. A run of an earlier version
    (no digests in its manifest) resumes as before."""
    import logging

    ref = generate(cfg_for(tmp_path, "ref"), model=model)

    def crash(chunk):
        if chunk.index == 2:
            raise Crash()

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "d"), model=model, on_chunk=crash)
    run = tmp_path / "run-d"
    chunk = run / "chunks" / "chunk_000001.safetensors"
    manifest = json.loads((run / "manifest.json").read_text())
    assert all("sha256" in entry for entry in manifest["chunks"])
    if case == "bytes changed":
        _flip_frame_bytes(chunk)
    else:
        for entry in manifest["chunks"]:
            del entry["sha256"]
        (run / "manifest.json").write_text(json.dumps(manifest))
    caplog.clear()  # the crash's own warning
    with caplog.at_level(logging.WARNING):
        assert resume_generate(run, model=model).num_frames == 40
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if case == "bytes changed":
        assert said == [
            f"chunk file {str(chunk)!r} of the run is damaged (its content does not match what was written: "
            "its sha256 is not the one in the manifest): the run goes on from its 1 finished chunk before "
            "it, making the later ones again"
        ]
    else:
        assert said == []
    assert (tmp_path / "d.mp4").read_bytes() == ref.output.read_bytes()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Crash])
def test_a_ctrl_c_during_the_clean_up_does_not_cut_it_short(tmp_path, model, monkeypatch, stop):
    """An impatient user's second Ctrl-C came while the first one's clean-up ran (or a Ctrl-C during a
    failed run's): it cut it short, and the run stayed marked running and locked, with no resume command
    said (and under the console script the process could end by SIGINT). Ctrl-Cs are held until the run is
    marked and unlocked, then the handler is restored and the first one held is delivered to it."""
    import signal

    from streamt2v.io.streaming_writer import StreamingVideoWriter

    abort = StreamingVideoWriter.abort

    def abort_pressed_again(writer):  # the second Ctrl-C comes as the clean-up starts
        signal.raise_signal(signal.SIGINT)
        abort(writer)

    monkeypatch.setattr(StreamingVideoWriter, "abort", abort_pressed_again)
    cfg = cfg_for(tmp_path, "b")

    def on_chunk(chunk):
        if chunk.index == 1:
            raise stop

    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):  # the Ctrl-C held, delivered once the run is marked
        generate(cfg, model=model, on_chunk=on_chunk)
    assert signal.getsignal(signal.SIGINT) is handler
    manifest = json.loads((tmp_path / "run-b" / "manifest.json").read_text())
    assert manifest["status"] == ("interrupted" if stop is KeyboardInterrupt else "failed")
    # the stopped run's preview is kept for its resume; no output lock file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.partial.mp4", "run-b"]
    monkeypatch.undo()
    assert resume_generate(tmp_path / "run-b", model=model).num_frames == 40  # not held by a lost lock


def test_a_damaged_first_chunk_needs_the_inputs_again_and_the_run_changes_only_once_they_are_there(
    tmp_path, model
):
    """With chunk 0's file damaged the run starts again from its inputs, which a resume otherwise no longer
    needs: a moved input was one bare 'file not found' line, after the run's intact later chunks had been
    removed. Now it says why the input is needed, and nothing in the run changes until the resume can go."""
    from PIL import Image

    image = tmp_path / "start.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)

    def crash(chunk):
        if chunk.index == 2:
            raise Crash()

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "d", init_image=str(image)), model=model, on_chunk=crash)
    run = tmp_path / "run-d"
    first = run / "chunks" / "chunk_000000.safetensors"
    first.write_bytes(first.read_bytes()[:100])
    image.rename(tmp_path / "moved.png")
    before = {p: p.read_bytes() for p in [run / "manifest.json", *(run / "chunks").iterdir()]}
    with pytest.raises(FileNotFoundError) as err:
        resume_generate(run, model=model)
    assert str(err.value).startswith(f"chunk file {str(first)!r} of the run is damaged ("), err.value
    assert "so the run makes its first chunk again: " in str(err.value) and "start.png" in str(err.value)
    assert {p: p.read_bytes() for p in [run / "manifest.json", *(run / "chunks").iterdir()]} == before
    (tmp_path / "moved.png").rename(image)
    assert resume_generate(run, model=model).num_frames == 40


def test_the_cli_counts_what_is_left_from_the_run_as_its_lock_finds_it(tmp_path, monkeypatch, capsys):
    """Another resume finished the run between the command's opening of it and its lock: the note and the
    progress bar counted the chunks as opened (1 of 2 finished) instead of as the resume goes on (all)."""
    from streamt2v.pipeline.rundir import RunDir

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), on_chunk=stop)  # the shipped model, which the command loads
    run, opened = tmp_path / "run-b", RunDir.open

    def opened_then_finished_elsewhere(path):
        stale = opened(path)
        resume_generate(opened(path))
        return stale

    monkeypatch.setattr(RunDir, "open", opened_then_finished_elsewhere)
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0
    assert "wrote" not in capsys.readouterr().out  # the run as the lock finds it: finished, nothing to do
