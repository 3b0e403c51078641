"""The command line in real environments: SIGTERM, logs that are not terminals, flag placement, version,
existing results files, interrupted and misplaced training runs."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy
import pytest
import torch

from conftest import wait_for
from streamt2v.cli import main
from streamt2v.io.video import read_video, write_video

TINY_VAE = ["--size", "16", "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4"]
TINY_VAE += ["--set", "scaling_samples=1", "--set", "frames_per_sample=1", "--batch-size", "2"]


def _start(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as f:  # a file, as under docker/systemd/Slurm: not a terminal
        return subprocess.Popen(
            [sys.executable, "-m", "streamt2v", *argv], cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT
        )


def _stop(proc: subprocess.Popen, sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_stops_generate_like_ctrl_c_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    argv = ["generate", "a red circle", "--model", "tiny", "--frames", "80", "--steps", "6"]
    argv += ["--init-steps", "6", "-o", "out.mp4", "--run-dir", "run"]
    log = tmp_path / "log.txt"
    proc = _start(argv, tmp_path, log)
    wait_for(run / "chunks" / "chunk_000000.safetensors", proc)
    # a second run writing the same output is refused before any work while the first one writes it
    monkeypatch.chdir(tmp_path)
    assert main([*argv[:-1], "run2", "--overwrite", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"output 'out.mp4' is being written by another process (pid {proc.pid})" in err, err
    assert not (tmp_path / "run2").exists()
    rc = _stop(proc, signal.SIGTERM)
    text = log.read_text()
    assert rc == 143, text  # before: killed by the signal (-15), no message
    assert (
        "interrupted (SIGTERM)" in text
        and f"continue with: streamt2v generate --resume {run.resolve()}" in text
    )
    assert "\r" not in text  # the log is a file: no progress bar
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and 1 <= len(manifest["chunks"]) < 9
    # the writers' temporaries are gone; only the documented preview out.partial.mp4 stays
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert leftovers == [] and not (tmp_path / "out.mp4").exists()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 80


def test_sigterm_stops_train_with_the_resume_command_and_the_steps_it_repeats(tmp_path):
    out = tmp_path / "vae run"  # a space: the printed command is quoted for a shell
    argv = ["train", "vae", "--out", str(out), *TINY_VAE, "--steps", "100000", "--checkpoint-every", "3"]
    log = tmp_path / "log.txt"
    proc = _start(argv, tmp_path, log)
    wait_for(out / "checkpoints" / "latest", proc)
    rc = _stop(proc, signal.SIGTERM)
    text = log.read_text()
    assert rc == 143, text
    line = next(x for x in text.splitlines() if x.startswith("interrupted"))
    found = re.fullmatch(
        r"interrupted \(SIGTERM\): at step (\d+); (?:a resume repeats the (\d+) steps? since|nothing to "
        r"repeat: a resume continues from) the checkpoint at step (\d+); continue with: (.+)",
        line,
    )
    assert found, line
    step, lost, saved = (int(found[i] or 0) for i in (1, 2, 3))
    assert saved >= 3 and saved % 3 == 0 and step - saved == lost and 0 <= lost < 3
    command = shlex.split(found[4])
    assert command == ["streamt2v", *argv, "--resume"]
    # the printed command resumes the run (here stopped one step later)
    assert main([*command[1:], "--steps", str(saved + 1), "--no-progress"]) == 0
    assert json.loads((out / "loss.jsonl").read_text().splitlines()[-1])["step"] == saved + 1


def test_a_train_run_stopped_before_any_checkpoint_says_a_resume_repeats_all_its_steps(tmp_path, capsys):
    from streamt2v.train.loop import TrainConfig, TrainInterrupted, train
    from streamt2v.train.vae_recipe import VAERecipe

    recipe = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=1)
    data = recipe.dataset(0)

    class StopAtSample:  # Ctrl-C while the 3rd step's batch is read
        def __len__(self):
            return len(data)

        def __getitem__(self, i):
            if i == 4:
                raise KeyboardInterrupt
            return data[i]

    cfg = TrainConfig(steps=10, batch_size=2, checkpoint_every=5)
    with pytest.raises(TrainInterrupted) as err:
        train(recipe, cfg, tmp_path / "run", dataset=StopAtSample(), progress=False)
    assert (err.value.step, err.value.checkpoint_step) == (2, 0)
    assert str(err.value) == "at step 2; a resume repeats the 2 steps since the start (no checkpoint yet)"
    # stopped right after a checkpoint: it said "a resume repeats the 0 steps since ..."
    said = "at step 6; nothing to repeat: a resume continues from the checkpoint at step 6"
    assert str(TrainInterrupted(6, 6)) == said


@pytest.mark.parametrize("kind", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_a_checkpoint_write_waits_for_the_write(tmp_path, monkeypatch, kind):
    import streamt2v.train.loop as loop
    from streamt2v.train.checkpoint import latest_checkpoint
    from streamt2v.train.vae_recipe import VAERecipe

    # SIGTERM as the command line handles it: turned into Ctrl-C's KeyboardInterrupt
    def as_ctrl_c(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, as_ctrl_c)
    real_save = loop.save_checkpoint

    def save_after_a_signal(*args, **kwargs):  # the signal arrives as the write starts
        signal.raise_signal(kind)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", save_after_a_signal)
    recipe = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=1)
    cfg = loop.TrainConfig(steps=10, batch_size=2, checkpoint_every=3)
    try:
        with pytest.raises(loop.TrainInterrupted) as err:
            loop.train(recipe, cfg, tmp_path / "run", progress=False)
        # before: the interrupt cut the write, and the 3 steps were reported lost
        assert (err.value.step, err.value.checkpoint_step) == (3, 3)
        latest = latest_checkpoint(tmp_path / "run" / "checkpoints")
        assert json.loads((latest / "state.json").read_text())["step"] == 3
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is as_ctrl_c
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_train_out_under_a_file_names_the_folder(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("")
    assert main(["train", "vae", "--out", str(tmp_path / "f.txt" / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: cannot write --out")
        and f"'{tmp_path / 'f.txt'}' is a file, not a folder" in err
    )
    assert len(err.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_out_under_a_read_only_folder_names_the_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    assert main(["train", "vae", "--out", str(ro / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"cannot create files in folder '{ro}'" in err


def _evaluated_video(tmp_path: Path) -> Path:
    return write_video(
        tmp_path / "v.mp4", torch.rand(1, 3, 12, 32, 32, generator=torch.Generator().manual_seed(0)), 8
    )


def test_a_stdout_that_cannot_encode_the_table_gets_it_escaped_and_the_results_file_first(
    tmp_path, monkeypatch
):
    """A non-UTF-8 stdout (LANG=C, a Windows code page) failed on the table's "SCuts↓" once the videos were
    scored; the program's stdout escapes what it cannot encode, as stderr does."""
    import io

    from streamt2v.cli import _run

    video = _evaluated_video(tmp_path)
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    out = tmp_path / "r.json"
    argv = ["evaluate", str(video), "--metrics", "scuts", "--out", str(out), "--no-progress"]
    assert _run(argv, as_program=True) == 0
    sys.stdout.flush()
    text = raw.getvalue().decode("ascii")
    assert "SCuts\\u2193" in text and text.rstrip().endswith(f"wrote {out}")
    assert json.loads(out.read_text())


def test_evaluate_writes_its_results_file_before_a_stdout_that_fails(tmp_path, monkeypatch, capsys):
    """The table was printed first: a stdout that failed there (a closed pipe) lost the results file."""
    import io

    video = _evaluated_video(tmp_path)
    closed = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    out = tmp_path / "r.json"
    assert main(["evaluate", str(video), "--metrics", "scuts", "--out", str(out), "--no-progress"]) == 2
    assert json.loads(out.read_text())["records"]
    assert "error: I/O operation on closed file" in capsys.readouterr().err


def test_no_bars_when_stderr_is_not_a_terminal_and_no_progress_silences_library_bars(tmp_path, capsys):
    video = _evaluated_video(tmp_path)
    (tmp_path / "prompts.txt").write_text("a red circle bouncing on a blue background\n")
    argv = ["evaluate", str(video), "--metrics", "clip", "--clip-model", "microworld"]
    argv += ["--prompts", str(tmp_path / "prompts.txt")]
    # capsys: stderr is not a terminal, so no bars by default (the CLIP load had a "Loading weights" bar)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert (
        "\r" not in captured.err and "Loading weights" not in captured.err and "evaluate" not in captured.err
    )
    assert "v.mp4" in captured.out  # the results table is kept
    assert main([*argv, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "Loading weights" not in captured.err
    # the libraries' own switches are as they were (main may run again in this process)
    import diffusers.utils.logging
    import transformers.utils.logging

    assert transformers.utils.logging.is_progress_bar_enabled()
    assert diffusers.utils.logging.is_progress_bar_enabled()


def test_generate_into_a_log_keeps_the_summary_without_bars(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["generate", "a red circle bouncing on a blue background", "--frames", "17", "--init-steps", "2"]
    assert main([*argv, "-o", "out.mp4"]) == 0
    captured = capsys.readouterr()
    assert (
        "\r" not in captured.err and "Loading weights" not in captured.err and "chunk 1" not in captured.err
    )
    assert "wrote 17 frames to" in captured.out and "run directory:" in captured.out


def test_verbose_after_the_subcommand_and_before_it(tmp_path, capsys):
    missing = str(tmp_path / "missing.mp4")
    assert main(["evaluate", missing]) == 2  # one error line
    assert capsys.readouterr().err.startswith("error: ")
    for argv in (
        ["evaluate", missing, "-v"],
        ["-v", "evaluate", missing],
        ["evaluate", "--verbose", missing],
    ):
        with pytest.raises(FileNotFoundError):  # -v: the traceback
            main(argv)
    with pytest.raises(FileNotFoundError):  # a nested subcommand takes it too
        main(["assemble", "model", str(tmp_path / "m"), "--unet", str(tmp_path / "nounet"), "-v"])


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"streamt2v {version('streamt2v')}\n"
    run = subprocess.run([sys.executable, "-m", "streamt2v", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == f"streamt2v {version('streamt2v')}\n"


@pytest.mark.parametrize(
    "argv, flag, bound",
    [
        (["generate", "x", "--frames", "0"], "--frames/-n/--num-frames", ">= 1"),
        (["generate", "x", "--steps", "2.5"], "--steps", ">= 1"),
        (["generate", "x", "--enhance", "--enhance-steps", "0"], "--enhance-steps", ">= 1"),
        (["generate", "x", "--enhance", "--enhance-overlap", "-1"], "--enhance-overlap", ">= 0"),
        (["enhance", "in.mp4", "--prompt", "x", "-o", "o.mp4", "--steps", "0"], "--steps", ">= 1"),
        # torch's generators take 64-bit seeds
        (
            ["enhance", "in.mp4", "--prompt", "x", "-o", "o.mp4", "--seed", "-2"],
            "--seed",
            f"from 0 to {2**64 - 1}",
        ),
        (["train", "vae", "--out", "run", "--steps", "0"], "--steps", ">= 1"),
        (["train", "vae", "--out", "run", "--batch-size", "-1"], "--batch-size", ">= 1"),
        (["train", "vae", "--out", "run", "--grad-accum", "0"], "--grad-accum", ">= 1"),
        (["train", "vae", "--out", "run", "--checkpoint-every", "0"], "--checkpoint-every", ">= 1"),
        (["train", "vae", "--out", "run", "--warmup-steps", "-1"], "--warmup-steps", ">= 0"),
        (["train", "vae", "--out", "run", "--sample-every", "-1"], "--sample-every", ">= 0"),
        (["train", "vae", "--out", "run", "--num-workers", "-1"], "--num-workers", ">= 0"),
    ],
)
def test_integer_flags_out_of_range_are_refused_naming_the_flag(
    argv, flag, bound, tmp_path, capsys, monkeypatch
):
    # the configs they fill name their fields (num_frames, steps: --enhance-steps), not the flags
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert (
        err == f"streamt2v {argv[0]}: error: argument {flag}: expected an integer {bound}, got {argv[-1]!r}"
    )
    assert list(tmp_path.iterdir()) == []


def test_stage_3_settings_of_generate_are_named_as_stage_3s(tmp_path, capsys):
    """--enhance-chunk-frames fills a field also called chunk_frames, as --chunk-frames (stage 2) does: the
    refusal said 'stage 3: chunk_frames (3) must be larger than overlap (8)', neither flag typed, and an
    overlap the user never gave."""
    out = str(tmp_path / "o.mp4")
    refused = {
        ("--enhance-chunk-frames", "3"): "stage 3: --enhance-chunk-frames (3) must be larger than "
        "--enhance-overlap (8); --enhance-overlap 8 is the official default (set --enhance-overlap to change it)",
        (
            "--enhance-overlap",
            "30",
        ): "stage 3: --enhance-chunk-frames (24) must be larger than --enhance-overlap "
        "(30); --enhance-chunk-frames 24 is the official default (set --enhance-chunk-frames to change it)",
        # the shipped refiner recommends start step 1 (one DDIM step at t = 0)
        (
            "--enhance-steps",
            "5",
        ): "stage 3: --enhance-steps (5) must be <= --enhance-start-step (1): SDEdit runs "
        "distinct timesteps below the start step; --enhance-start-step 1 is the recommendation of the refiner "
        "'microworld-refiner' (set --enhance-start-step to change it)",
        ("--enhance-steps", "20", "--enhance-start-step", "10"): "stage 3: --enhance-steps (20) must be <= "
        "--enhance-start-step (10): SDEdit runs distinct timesteps below the start step",
        ("--enhance-start-step", "2000"): "stage 3: --enhance-start-step 2000 is past the refiner's noise "
        "schedule of 1000 training timesteps; use 1..1000",
        ("--refiner", "microworld", "--enhance-start-step", "2000"): "stage 3: --enhance-start-step 2000 is "
        "past the refiner's noise schedule of 1000 training timesteps; use 1..1000",
    }
    for flags, message in refused.items():
        assert main(["generate", "x", "--enhance", *flags, "-o", out]) == 2, flags
        assert capsys.readouterr().err == f"error: {message}\n", flags
    assert list(tmp_path.iterdir()) == []


def test_the_settings_of_enhance_are_named_by_its_flags(tmp_path, capsys):
    """``enhance --chunk-frames 3`` said 'chunk_frames (3) must be larger than overlap (8)', and ``--steps 5``
    'num_inference_steps (5) ...': EnhanceConfig's fields, not the flags of the command typed."""
    src = write_video(tmp_path / "in.mp4", torch.zeros(1, 3, 2, 32, 32), fps=8)
    out = str(tmp_path / "out.mp4")
    shipped = "; --start-step 1 is the recommendation of the refiner 'microworld-refiner' (set --start-step to change it)"
    refused = {
        ("--chunk-frames", "3"): "--chunk-frames (3) must be larger than --overlap (8); --overlap 8 is the "
        "official default (set --overlap to change it)",
        ("--chunk-frames", "3", "--overlap", "3"): "--chunk-frames (3) must be larger than --overlap (3)",
        ("--steps", "5"): "--steps (5) must be <= --start-step (1): SDEdit runs distinct timesteps below the "
        f"start step{shipped}",
        ("--steps", "5", "--model", "microworld"): "--steps (5) must be <= --start-step (1): SDEdit runs "
        f"distinct timesteps below the start step{shipped}",
        ("--start-step", "2000"): "--start-step 2000 is past the refiner's noise schedule of 1000 training "
        "timesteps; use 1..1000",
        ("--scheduler", "heun"): "unknown --scheduler 'heun'; choose one of ddim, dpm-multistep, "
        "dpmpp-2m-sde, euler, ddpm",
        ("--max-batch-chunks", "1", "--resolution", "9000x64"): "--resolution must be at most 8192 pixels a "
        "side, got 9000x64",
    }
    for flags, message in refused.items():
        assert main(["enhance", str(src), "--prompt", "a red circle", *flags, "-o", out]) == 2, flags
        assert capsys.readouterr().err == f"error: {message}\n", flags
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_evaluate_refuses_an_existing_out_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "res.json"
    out.write_text("earlier results")
    # checked before the videos: the missing target is not what fails
    assert main(["evaluate", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {str(out)!r} already exists") and "--overwrite" in err
    assert out.read_text() == "earlier results"
    video = _evaluated_video(tmp_path)
    assert main(["evaluate", str(video), "--metrics", "scuts", "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["records"][0]["path"].endswith("v.mp4")


def test_the_sigterm_handler_is_only_installed_while_a_command_runs(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    assert main(["evaluate", str(tmp_path / "missing.mp4")]) == 2
    assert signal.getsignal(signal.SIGTERM) is before


def test_path_flags_expand_the_home_folder_or_keep_it_for_the_library(tmp_path, monkeypatch):
    """The shell leaves ``~`` in ``--output=~/out.mp4``; the command line expands it (it made a folder named
    ``~`` in the working directory), or keeps it as typed where the library expands it at use, so that its
    messages name the path as typed and as read (``'~/x' ('/home/me/x')``; those messages and the expansion
    are tested with each command: test_home_paths, test_train_home_paths, test_convert_checks_first)."""
    from streamt2v.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    home = str(tmp_path)
    parser = build_parser()

    def parsed(command, flags, *given):
        args = parser.parse_args([command, *given, *(f"--{f}=~/{f}" for f in flags)])
        return {flag: getattr(args, flag.replace("-", "_")) for flag in flags}

    as_typed = [
        "resume",
        "prompt-schedule",
        "output",
        "run-dir",
        "init-video",
        "init-image",
        "anchor",
        "refiner",
        "png-dir",
        "gif",
        "model",
    ]
    assert parsed("generate", as_typed, "p") == {f: f"~/{f}" for f in as_typed}
    args = parser.parse_args(["enhance", "~/in.mp4", "--prompt", "~ p", "--output=~/o.mp4", "--model=~/m"])
    assert (args.input, args.output, args.model) == (f"{home}/in.mp4", f"{home}/o.mp4", "~/m")
    assert args.prompt == "~ p"  # prompts are text, not paths
    args = parser.parse_args(["evaluate", "~/v", "--prompts=~/p.txt", "--out=~/r.json", "--clip-model=~/c"])
    # the videos and --clip-model as typed: the library expands them and names them so (0febefb)
    assert (args.target, args.prompts, args.out, args.clip_model) == (
        "~/v",
        f"{home}/p.txt",
        f"{home}/r.json",
        "~/c",
    )
    assert parser.parse_args(["evaluate", "v", "--clip-model", "microworld"]).clip_model == "microworld"
    as_typed = ["out", "data", "captions", "vae", "clip", "base-unet"]
    assert parsed("train", as_typed, "base") == {f: f"~/{f}" for f in as_typed}
    args = parser.parse_args(
        ["convert", "~/c.ckpt", "~/m", "--init-unet=~/u", "--tokenizer=~/t", "--preset=~/p"]
    )
    assert (args.checkpoint, args.out_dir, args.init_unet, args.tokenizer, args.preset) == (
        "~/c.ckpt",
        "~/m",
        "~/u",
        "~/t",
        "~/p",
    )
    assemble = ["model", "~/o", "--unet=~/u", "--vae=~/v", "--clip=~/c", "--scheduler=~/s", "--init-unet=~/i"]
    args = parser.parse_args(["assemble", *assemble])
    assert (args.out_dir, args.unet, args.vae, args.clip, args.scheduler, args.init_unet) == tuple(
        f"~/{n}" for n in "ouvcsi"
    )


def test_an_unexpected_error_is_one_line_and_verbose_shows_its_traceback(tmp_path, capsys, monkeypatch):
    """Only ValueError/OSError/RuntimeError were one line; anything else printed a whole traceback."""
    import streamt2v.metrics.video_search as video_search

    def broken(target, also_given=()):
        raise KeyError("codec_name")

    # stands for a library failing in an unforeseen way
    monkeypatch.setattr(video_search, "find_videos", broken)
    assert main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: KeyError: 'codec_name' (unexpected; run again with -v for the traceback)\n"
    with pytest.raises(KeyError):
        main(["evaluate", str(tmp_path), "-v"])

    import cv2

    def opencv_fails(target, also_given=()):  # cv2.error is named "error", its message spans lines
        cv2.resize(numpy.zeros((0, 0), numpy.uint8), (4, 4))

    monkeypatch.setattr(video_search, "find_videos", opencv_fails)
    assert main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cv2.error: OpenCV") and err.count("\n") == 1, err


def _finished_tiny_run(tmp_path) -> None:
    """An 8-frame run of the random-weight tiny preset: ``tmp_path/out.mp4`` and its run folder ``run/``."""
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig, generate
    from streamt2v.pipeline.stream import StreamConfig

    cfg = GenerateConfig(
        output=str(tmp_path / "out.mp4"),
        stream=StreamConfig(num_frames=8, seed=7, steps=1, init_steps=1),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        model="tiny",
    )
    generate(cfg, model=StreamingT2VModel.from_preset("tiny", device="cpu", seed=0))


def test_resume_of_a_finished_run_says_it_only_writes_the_outputs_again(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="streamt2v.pipeline.resume")
    _finished_tiny_run(tmp_path)
    (tmp_path / "out.mp4").unlink()
    assert main(["generate", "--resume", str(tmp_path / "run"), "--no-progress"]) == 0
    assert f"writing again what is not there as it left it: {tmp_path / 'out.mp4'}" in caplog.text
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 8


def test_only_the_outputs_streamed_with_a_preview_have_their_preview_path_checked(tmp_path, capsys):
    """With stage 3 only the low-resolution output streams a preview (``out.lowres.partial.mp4``); the final
    outputs are written once. A folder of the user's where a preview goes was found after the first chunk
    ('[Errno 21] Is a directory'); one beside a final output of stage 3 was refused, though never touched."""
    from streamt2v.io.output_paths import check_output_path
    from streamt2v.pipeline.generate import GenerateConfig
    from streamt2v.pipeline.preflight import check_outputs
    from streamt2v.pipeline.stream import StreamConfig

    def cfg(output: str, enhance: dict | None) -> GenerateConfig:
        stream = StreamConfig(num_frames=8)
        return GenerateConfig(output=str(tmp_path / output), stream=stream, prompt="x", enhance=enhance)

    (tmp_path / "out.partial.mp4").mkdir()
    with pytest.raises(
        IsADirectoryError, match=r"out.partial.mp4', where the preview of output .* is a folder"
    ):
        check_output_path(tmp_path / "out.mp4", overwrite=True, preview=True)
    run_dir = str(tmp_path / "run")
    assert (
        main(["generate", "x", "--frames", "8", "-o", str(tmp_path / "out.mp4"), "--run-dir", run_dir]) == 2
    )
    assert "is a folder; move it or choose another output" in capsys.readouterr().err
    check_outputs(cfg("out.mp4", {}), overwrite=False)  # stage 3: out.mp4 is written once, no preview
    # a folder of PNG frames: the same
    (tmp_path / "frames.partial").mkdir()
    (tmp_path / "frames.partial" / "notes.txt").write_text("mine")
    check_outputs(cfg("frames", {}), overwrite=False)
    with pytest.raises(FileExistsError, match=r"preview folder .*frames.partial' already holds files that"):
        check_outputs(cfg("frames", None), overwrite=False)
    # the low-resolution output streams its preview: a file there is the user's
    (tmp_path / "out.lowres.partial.mp4").write_text("mine")
    with pytest.raises(
        FileExistsError, match=r"out.lowres.partial.mp4', where the preview of low-resolution"
    ):
        check_outputs(cfg("out.mp4", {}), overwrite=False)
    check_outputs(cfg("out.mp4", {}), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frames.partial",
        "out.lowres.partial.mp4",
        "out.partial.mp4",
    ]


def test_a_stored_stage_3_setting_refused_on_resume_asks_for_no_flag(tmp_path, capsys):
    """--resume ignores the flags typed with it: a refusal of the run's stored stage-3 settings said 'set
    --enhance-overlap to change it'."""
    _finished_tiny_run(tmp_path)
    config = tmp_path / "run" / "config.json"
    stage3 = {"enhance": {"chunk_frames": 3}, "random_refiner": True}  # the tiny preset makes 64x64 frames
    config.write_text(json.dumps({**json.loads(config.read_text()), **stage3}))
    assert main(["generate", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    assert capsys.readouterr().err.endswith(
        "error: stage 3: --enhance-chunk-frames (3) must be larger than --enhance-overlap (8); --enhance-overlap 8 "
        "is the official default\n"
    )


def test_a_commands_positionals_may_come_after_its_options(tmp_path, monkeypatch):
    """``evaluate a.mp4 --metrics scuts b.mp4`` was "unrecognized arguments: b.mp4" (argparse fills every
    positional at their first run); the other commands parse as they did: generate's ``--compile`` still
    takes the word after it (its own error says so), and ``--`` still ends the options."""
    from streamt2v.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    parser = build_parser()
    args = parser.parse_args(["evaluate", "~/a.mp4", "--metrics", "scuts", "~/b", "-v", "c.mp4"])
    assert (args.target, args.more, args.metrics, args.verbose) == (
        "~/a.mp4",
        ["~/b", "c.mp4"],
        "scuts",
        True,
    )
    args = parser.parse_args(["evaluate", "--flow", "farneback", "--", "-a.mp4", "--b.mp4"])
    assert (args.target, args.more, args.flow) == ("-a.mp4", ["--b.mp4"], "farneback")
    args = parser.parse_args(["generate", "--compile", "a cat", "--frames", "8"])
    assert (args.prompt, args.compile, args.frames) == (None, "a cat", 8)
    args = parser.parse_args(["generate", "a cat", "--compile", "--frames", "8"])
    assert (args.prompt, args.compile) == ("a cat", "inductor")
    assert parser.parse_args(["generate", "--frames", "8", "--", "-a cat"]).prompt == "-a cat"
    args = parser.parse_args(["convert", "c.ckpt", "--tokenizer", "t", "m"])
    assert (args.checkpoint, args.out_dir, args.tokenizer) == ("c.ckpt", "m", "t")
    args = parser.parse_args(["assemble", "model", "--unet", "u", "o"])
    assert (args.out_dir, args.unet) == ("o", "u")


def test_stderr_is_terminal_is_public_and_never_raises(monkeypatch):
    """The check behind the progress-bar default was private, so bench/_common.py kept a copy of it."""
    import io

    from streamt2v.cli import stderr_is_terminal

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    closed = io.StringIO()
    closed.close()
    for stderr, expected in ((Terminal(), True), (io.StringIO(), False), (closed, False), (object(), False)):
        monkeypatch.setattr(sys, "stderr", stderr)
        assert stderr_is_terminal() is expected
