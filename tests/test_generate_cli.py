"""``streamt2v generate`` on the command line: end to end on the tiny preset and on the shipped default
model, the catalogue of bad inputs (one error line, nothing left behind), an --init-video read once, and
warnings and counts worded by the flags typed."""

from __future__ import annotations

import json
import logging
import re

import pytest
import torch

from conftest import FAST_CLI, Crash
from streamt2v.cli import main
from streamt2v.io.video import read_video
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.model_loading import recommended_sampler
from streamt2v.pipeline.stream import StreamConfig


def test_cli_end_to_end(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    rc = main(
        [
            "generate",
            "--model",
            "tiny",
            "--frames",
            "20",
            "--steps",
            "1",
            "--init-steps",
            "1",
            "-o",
            "out.mp4",
            "--no-progress",
            "--prompt-schedule",
            "0: a cat; 16: a dog",
            "--seed",
            "3",
            "--init-noise-correlation",
            "0.25",
            "--init-guidance-rescale",
            "0.5",
            "--init-eta",
            "0.5",
            "--cond-replacement",
            "--anchor-colour-match",
            "0.5",
            "--chunk-strength",
            "0.8",
        ]
    )
    assert rc == 0
    assert "RANDOM weights" in caplog.text  # a preset name means random weights, and says so
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 20
    run = next((tmp_path / "runs").iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["stream"]["init_noise_correlation"] == 0.25 and config["stream"]["noise_correlation"] == 0
    assert config["stream"]["init_guidance_rescale"] == 0.5 and config["stream"]["guidance_rescale"] == 0
    assert config["stream"]["init_eta"] == 0.5
    assert config["stream"]["cond_replacement"] is True  # the preset recommends none: the flags set them
    assert config["stream"]["anchor_colour_match"] == 0.5 and config["stream"]["chunk_strength"] == 0.8
    assert config["stream"]["seed"] == 3 and config["schedule_entries"] == [[0, "a cat"], [16, "a dog"]]
    assert "wrote 20 frames" in capsys.readouterr().out
    (tmp_path / "out.mp4").unlink()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0  # complete run: writes what is gone
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 20
    assert "wrote 20 frames" in capsys.readouterr().out


def test_a_warning_names_a_setting_left_to_the_model_as_its_recommendation(tmp_path, monkeypatch, caplog):
    """The shipped model's anchor_colour_match, never typed, was named --anchor-colour-match as if typed, and
    the warning did not say that no chunk is under the anchor's prompt, so that nothing is colour-matched."""
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    write_video("v8.mp4", torch.rand(1, 3, 8, 32, 32) * 2 - 1, 8)
    argv = [
        "generate",
        "--prompt-schedule",
        "0: a red circle; 4: a cat",
        "--init-video",
        "v8.mp4",
        "-n",
        "24",
    ]
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        assert main([*argv, "--steps", "1", "--init-steps", "1", "--no-progress", "-o", "o.mp4"]) == 0
    warned = [r.getMessage() for r in caplog.records if r.name == "streamt2v.pipeline.stream"]
    assert [w.split("; it is ")[-1] for w in warned] == [
        "the APM anchor's prompt, which --anchor-colour-match compares each chunk's prompt with, so "
        "--anchor-colour-match matches no chunk; --anchor-colour-match 0.5 is the model's recommended setting "
        "(set --anchor-colour-match to change it)"
    ]


def test_a_short_flag_inside_a_combined_one_is_named_as_typed():
    """``-vn 2000000`` (verbose, then -n) was refused as '--frames must be at most 1,000,000'."""
    with pytest.raises(ValueError, match=r"^-n must be at most 1,000,000"):  # -v: raised with its traceback
        main(["generate", "x", "-vn", "2000000", "--no-progress"])


@pytest.mark.parametrize(
    "argv,match",
    [
        (["", "--frames", "8"], "non-empty"),
        # stage-1/2 settings are named by the flags typed, not by their StreamConfig fields
        (
            ["x", "--frames", "2000000"],
            "error: --frames must be at most 1,000,000",
        ),  # --frames 0: test_cli_env
        # a flag is named as typed: these named --frames and --guidance
        (["x", "-n", "2000000"], "error: -n must be at most 1,000,000"),
        (["x", "--num-frames", "2000000"], "error: --num-frames must be at most 1,000,000"),
        (["x", "--init-video", "v3.mp4", "-n", "3"], "error: -n (3) must exceed the 3 input frames"),
        (
            ["x", "--chunk-frames", "8", "--cond-frames", "8"],
            "--chunk-frames (8) must be greater than --cond-frames",
        ),
        # stage 1 denoised a million frames at once: killed for memory minutes after the run folder was made
        # (257 here: the first refused, which a regression runs in seconds where a million would take 22 GB)
        (
            ["x", "--chunk-frames", "257", "--frames", "16"],
            "error: --chunk-frames must be at most 256, got 257: a chunk's frames are denoised at once",
        ),
        (["x", "--init-video", "bad.mp4"], "cannot read video"),
        (["x", "--init-video", "missing.mp4"], "not found"),
        (["x", "--model", "no/such/folder"], "does not exist"),
        (["x", "--scheduler", "heun"], "unknown --scheduler 'heun'"),
        # a constraint from a setting the user did not type names it as the model's recommendation, by its flag
        (
            ["x", "--steps", "1000000"],
            "--chunk-strength 0.9 starts stage 2 at step 900 of 1000, too close to the end for --steps 1000000; "
            "lower --steps to 900 or less (--chunk-strength 1 allows 1000); --chunk-strength 0.9 is the model's "
            "recommended setting (set --chunk-strength to change it)",
        ),
        (
            ["x", "--chunk-strength", "0.005"],
            "raise --chunk-strength to 0.01 or more; --steps 10 is the model's recommended setting",
        ),
        # more steps than the schedule has: refused before any chunk (was a scheduler's error after chunk 1)
        (["x", "--steps", "2000", "--chunk-strength", "1"], "--steps 2000 is more than the 1000 timesteps"),
        (["x", "--init-steps", "1001"], "--init-steps 1001 is more than the 1000 timesteps"),
        # a counted value reads as one after its flag (was "--init-steps an integer of 25 digits is more ...")
        (
            ["x", "--init-steps", "9" * 25],
            "--init-steps (an integer of 25 digits) is more than the 1000 timesteps",
        ),
        (
            ["x", "--steps", "9" * 25],
            "too close to the end for --steps (an integer of 25 digits); lower --steps to 900 or less",
        ),
        (
            ["x", "--init-video", "v3.mp4", "--frames", "3"],
            "error: --frames (3) must exceed the 3 input frames",
        ),
        (["x", "--dtype", "fp16", "--device", "cpu"], "dtype fp16 is not supported on device cpu"),
        (["x", "--device", "tpu"], "device"),
        (["x", "-o", "out.xyz"], "unknown suffix"),
        (["--frames", "20", "--prompt-schedule", "5: late"], "start at frame 0"),
        (["--frames", "20", "--prompt-schedule", "0: a; 30: b"], "past the end"),
        # Python's int() refused the frame of 5001 digits: "Exceeds the limit (4300 digits) ..."
        (
            ["--prompt-schedule", f"0: a cat; 1{'0' * 5000}: a dog"],
            "error: prompt schedule entry 'a dog' is at a frame of 5001 digits, past the end of any video\n",
        ),
        (["x", "--prompt-schedule", "0: a"], "give either a PROMPT or --prompt-schedule, not both"),
        (
            ["--prompt-schedule", "schedule_missing.txt"],
            "prompt schedule file 'schedule_missing.txt' not found",
        ),
        (["x", "--fps", "60", "-o", "out.gif"], "--fps 60.0 is too high for a GIF"),
        (["x", "--fps", "51", "--gif", "side.gif"], "--fps 51.0 is too high for a GIF"),
        (["x", "--enhance", "--refiner", "/nonexistent"], "error: --refiner '/nonexistent' does not exist"),
        (
            ["x", "--enhance", "--refiner", "models/mine-hr"],
            "error: --refiner 'models/mine-hr' does not exist",
        ),
        # the shipped refiner is for 32x32 frames: a random-weight stand-in wrote noise, after stages 1-2
        (
            [
                "x",
                "--model",
                "tiny",
                "--enhance",
                "--frames",
                "8",
                "--init-steps",
                "1",
                "--enhance-steps",
                "1",
            ],
            "error: the model makes 64x64 frames and the shipped refiner works on 32x32 frames: stage 3 needs a "
            "refiner folder for this size (pass --refiner DIR); --random-refiner lets a random-weight refiner",
        ),
        (
            ["x", "--enhance", "--random-refiner", "--refiner", "microworld"],
            "error: --random-refiner stands in for a refiner folder: give either it or --refiner\n",
        ),
        (["x", "--model", "/nonexistent"], "does not exist"),
        (["x", "--init-image", "."], "is a folder"),
        # a video or a damaged file for an image: refused before the model (here: one that does not exist)
        (
            ["x", "--init-image", "v3.mp4", "--model", "/nonexistent"],
            "error: --init-image: cannot read image 'v3.mp4': cannot identify image file",
        ),
        (["x", "--anchor", "bad.mp4"], "or video is not an image: --init-video continues one (in Python"),
        (["x", "-o", "bad.mp4/out.mp4"], "'bad.mp4/out.mp4': "),
        (["x", "-o", "/proc/out.mp4"], "cannot write output '/proc/out.mp4'"),
        (["x", "-o", "."], "working directory"),
        (["x", "-o", ".."], "working directory"),
        (["x", "-o", "x.mp4", "--gif", "/proc/x.gif"], "cannot write --gif '/proc/x.gif'"),
        (["x", "--run-dir", "bad.mp4"], "run directory 'bad.mp4' is an existing file"),
        (["--frames", "20"], "PROMPT or --prompt-schedule"),
        (["--resume", "nowhere"], "does not exist"),
    ],
)
def test_bad_inputs_catalogue(tmp_path, monkeypatch, capsys, argv, match):
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    write_video("v3.mp4", torch.zeros(3, 3, 32, 32), fps=8)
    assert main(["generate", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert match in err, err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "output.mp4").exists()
    # nothing is left behind: no run directory, no temporary segments
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4", "v3.mp4"]


@pytest.mark.parametrize("frames", [[], ["-n", "80"]])
def test_frames_left_out_is_named_as_its_default(frames, tmp_path, monkeypatch, capsys):
    """An input longer than the 80 frames of --frames left out was refused as if 80 were typed ('--frames (80)
    must exceed the 81 input frames'): it is named as the default; typed, it is named as typed alone."""
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    write_video("v81.mp4", torch.zeros(3, 81, 32, 32), fps=8)
    assert main(["generate", "x", "--init-video", "v81.mp4", *frames, "--no-progress"]) == 2
    err = capsys.readouterr().err
    flag = frames[0] if frames else "--frames"
    assert err.startswith(f"error: {flag} (80) must exceed the 81 input frames: "), err
    note = "; --frames 80 is the default (set --frames to change it)\n"
    assert err.endswith(note) is not bool(frames), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v81.mp4"]


@pytest.mark.parametrize("typed", ["-o", "--out", "--output=", "--png-dir", "--gif", "--run-dir"])
def test_a_dash_for_stdout_is_refused_by_the_flag_as_typed(tmp_path, monkeypatch, capsys, typed):
    """``-o -`` (a command's usual stdout) wrote a folder named '-' (``--gif -`` was refused late, as no .gif):
    refused, it is said in one line, as enhance says it (not after the whole usage), by the flag as typed
    (``--out -`` was named ``-o -``), and before the pipeline's imports of seconds."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "streamt2v.pipeline.generate")
    given = [typed + "-"] if typed.endswith("=") else [typed, "-"]
    assert main(["generate", "a cat", *given, *FAST_CLI]) == 2
    assert "streamt2v.pipeline.generate" not in sys.modules
    example = {"--png-dir": "frames", "--gif": "out.gif", "--run-dir": "runs/r1"}.get(typed, "out.mp4")
    folder = "" if typed == "--gif" else " (or ./- for a folder named '-')"
    assert capsys.readouterr().err == (
        f"error: {typed.rstrip('=')} -: generate writes files, not standard output; give a path such as "
        f"{example}{folder}\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_default_is_the_shipped_model_with_its_recommended_sampler(tmp_path, monkeypatch, caplog):
    """No --model: the shipped microworld model, sampled with the settings its folder recommends; an
    explicit flag still wins."""
    from streamt2v.assets import microworld_model_dir
    from streamt2v.models.bundle import MODEL_INDEX

    recommended = json.loads((microworld_model_dir() / MODEL_INDEX).read_text())["streamt2v"]["sampler"]
    monkeypatch.chdir(tmp_path)
    args = ["generate", "a red circle bouncing on a blue background", "--frames", "17", "--no-progress"]
    assert main([*args, "-o", "out.mp4", "--init-steps", "2"]) == 0
    assert "RANDOM" not in caplog.text
    video, _ = read_video(tmp_path / "out.mp4")
    assert video.shape[2] == 17 and video.shape[-1] == 32  # the microworld's base resolution
    config = json.loads((next((tmp_path / "runs").iterdir()) / "config.json").read_text())["stream"]
    assert config["steps"] == recommended["steps"] and config["guidance"] == recommended["guidance"]
    assert config["init_steps"] == 2
    # --model microworld names it (as evaluate's --clip-model microworld does): the same video
    assert main([*args, "-o", "named.mp4", "--init-steps", "2", "--model", "microworld"]) == 0
    assert (tmp_path / "named.mp4").read_bytes() == (tmp_path / "out.mp4").read_bytes()


def test_cli_no_progress_silences_stage_3_too_and_a_swallowed_prompt_is_explained(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["generate", "a red circle bouncing on a blue background", "--frames", "17", "--init-steps", "2"]
    assert main([*args, "--enhance", "-o", "hi.mp4", "--no-progress"]) == 0
    assert read_video(tmp_path / "hi.mp4")[0].shape[-1] == 64  # stage 3 ran
    assert "enhance" not in capsys.readouterr().err  # no stage-3 bar
    # `--compile PROMPT`: the optional backend argument takes the prompt
    assert main(["generate", "--frames", "8", "--compile", "a red circle", "--no-progress"]) == 2
    assert "--compile took 'a red circle' as its backend and no PROMPT is left" in capsys.readouterr().err


def test_cli_reads_an_init_video_once_and_its_bar_counts_the_chunks_made(
    tmp_path, monkeypatch, capsys, model
):
    """The bar's total came from reading --init-video a second time, before generate() read it; a resume read
    it again, and counted the chunks of a text-only run when it had moved (3 steps instead of 2)."""
    import streamt2v.cli as cli
    import streamt2v.io.video as video_io
    import streamt2v.pipeline.run_inputs as run_inputs
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "stderr_is_terminal", lambda: True)  # progress bars on
    real_read, reads = video_io.read_video, []

    def counted_read(path, *args, **kwargs):
        reads.append(str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(video_io, "read_video", counted_read)
    monkeypatch.setattr(run_inputs, "read_video", counted_read)
    write_video("in.mp4", torch.zeros(3, 10, 64, 64), fps=8)
    argv = [
        "generate",
        "a cat",
        "--init-video",
        "in.mp4",
        "--frames",
        "26",
        "--model",
        "tiny",
        "--steps",
        "1",
    ]
    assert main([*argv, "-o", "a.mp4"]) == 0
    assert reads == ["in.mp4"]
    assert "| 2/2 [" in capsys.readouterr().err  # chunk 0 is the video; chunks 1 and 2 take a step each
    # a run stopped after chunk 1, resumed after its input moved: one chunk, one step left of 2
    cfg = GenerateConfig(
        output=str(tmp_path / "b.mp4"),
        stream=StreamConfig(num_frames=26, steps=1, init_steps=1),
        prompt="a cat",
        model="tiny",
        init_video="in.mp4",
        run_dir=str(tmp_path / "run-b"),
    )

    def crash(chunk):
        if chunk.index == 1:
            raise Crash

    with pytest.raises(Crash):
        generate(cfg, model=model, on_chunk=crash)
    (tmp_path / "in.mp4").rename(tmp_path / "moved.mp4")
    reads.clear()
    assert main(["generate", "--resume", "run-b"]) == 0
    assert reads == [] and "| 2/2 [" in capsys.readouterr().err


def test_cli_warnings_and_counts_read_as_typed(tmp_path, monkeypatch, capsys, caplog, model):
    from streamt2v.io.video import write_video
    from streamt2v.pipeline.stream import stream

    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO)
    assert main(["generate", "a cat", "--frames", "1", *FAST_CLI, "-o", "one.mp4"]) == 0
    assert "wrote 1 frame to" in capsys.readouterr().out
    assert " (1 chunk); continue" in caplog.text  # was "(1 chunks)"
    caplog.clear()
    write_video("small.mp4", torch.zeros(3, 2, 32, 32), fps=8)
    assert main(["generate", "a cat", "--init-video", "small.mp4", "--frames", "4", *FAST_CLI]) == 0
    assert "--init-video is 32x32; resizing to the model's 64x64" in caplog.text, caplog.text
    assert "(2 chunks)" in caplog.text
    # Python callers still read the field names: the command line's wording ends with its run
    caplog.clear()
    stream(model, "a cat", StreamConfig(num_frames=4, steps=1), init_video=torch.zeros(1, 3, 2, 32, 32))
    assert "init_video is 32x32; resizing" in caplog.text and "--init-video" not in caplog.text


def test_silently_ignored_inputs_are_named(tmp_path, monkeypatch, capsys, caplog):
    """Flags given for nothing are named: stage-3 flags without --enhance, --anchor without a streaming
    chunk, and a stage's sampling flags where the run has no such stage (--steps 1000000 on a 16-frame
    video was taken without a word)."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (32, 32), "red").save("a.png")
    assert (
        main(["generate", "a cat", "--frames", "8", *FAST_CLI, "--enhance-steps", "3", "--anchor", "a.png"])
        == 0
    )
    err = capsys.readouterr().err
    assert "--enhance-steps only applies with --enhance; ignoring it" in err
    assert caplog.text.count("--anchor is not used") == 1
    assert "anchor_image is not used" not in caplog.text  # named once, by its flag
    # a stage's sampling flags where the run has no such stage (FAST_CLI gives --steps and --init-steps)
    assert (
        "warning: --steps sets the streaming chunks (stage 2), and a video of 8 frames is one stage-1 chunk "
        "(the --init-* flags set it); ignoring it\n"
    ) in err
    assert (
        main(["generate", "a cat", "--frames", "9", *FAST_CLI, "--init-image", "a.png", "-o", "i.mp4"]) == 0
    )
    err = capsys.readouterr().err
    assert "warning: --init-steps sets stage 1, which --init-image takes the place of; ignoring it\n" in err
    assert "--steps" not in err
    argv = ["generate", "a cat", "--frames", "8", *FAST_CLI, "--guidance", "2", "-o", "g.mp4"]
    assert main(argv) == 0
    assert "warning: --steps, --guidance set the streaming chunks (stage 2), " in capsys.readouterr().err


def test_a_damaged_model_index_is_named_before_any_work(tmp_path, capsys):
    folder = tmp_path / "my model"
    folder.mkdir()
    (folder / "model_index.json").write_text("{bad")
    assert main(["generate", "a red circle", "--model", str(folder), "-o", str(tmp_path / "o.mp4")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: model folder index '{folder / 'model_index.json'}' is not valid JSON")
    (folder / "model_index.json").write_text('{"streamt2v": {"sampler": [10]}}')
    with pytest.raises(ValueError, match=r"streamt2v.sampler must be a JSON object, got \[10\]"):
        recommended_sampler(str(folder))


def test_cli_a_schedule_file_given_as_the_prompt_is_refused(tmp_path, monkeypatch, capsys):
    """`generate schedule.txt` made a video of the prompt 'schedule.txt' (a CLIP model reads it happily)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my schedule.txt").write_text("0: a red circle\n16: a blue square\n")
    assert main(["generate", "my schedule.txt", "-o", "o.mp4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: PROMPT 'my schedule.txt' is a file, not a prompt: a prompt schedule file goes to "
        "--prompt-schedule 'my schedule.txt'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my schedule.txt"]


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_while_the_run_is_marked_complete_still_says_what_it_wrote(
    tmp_path, monkeypatch, capsys, stop
):
    """Ctrl-C (or SIGTERM) is held while a finished run is marked complete, then delivered: one that came
    in that instant made the command exit 130 with no "wrote ..." lines, though the outputs were whole and the
    run complete. It prints them, then exits as stopped (130; 143). A stop before this call marked the run
    (a complete run resumed, stopped before it started) prints none."""
    import signal

    from streamt2v.pipeline.rundir import RunDir

    monkeypatch.chdir(tmp_path)
    code, said = (130, "interrupted") if stop == "SIGINT" else (143, "interrupted (SIGTERM)")
    set_status = RunDir.set_status

    def stopped_as_marked(run, status, **extra):
        set_status(run, status, **extra)
        if status == "complete":
            signal.raise_signal(getattr(signal, stop))  # held until the run is marked and unlocked

    monkeypatch.setattr(RunDir, "set_status", stopped_as_marked)
    assert (
        main(["generate", "a red circle", "--frames", "8", *FAST_CLI, "-o", "out.mp4", "--gif", "o.gif"])
        == code
    )
    out, err = capsys.readouterr()
    (run,) = (tmp_path / "runs").iterdir()
    wrote = [f"wrote 8 frames to {tmp_path / 'out.mp4'}", f"wrote {tmp_path / 'o.gif'}"]
    assert out.splitlines() == [*wrote, f"run directory: {run}"]
    assert f"{said}: once the run was complete; its outputs are whole" in err.splitlines()
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 8
    # its resume, which writes the outputs removed again (a finished run's whole ones it leaves), stopped the
    # same way: the run folder as given
    (tmp_path / "out.mp4").unlink()
    (tmp_path / "o.gif").unlink()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == code
    assert capsys.readouterr().out.splitlines() == [*wrote, f"run directory: {run}"]

    def stopped_before(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "lock", stopped_before)  # the run still says complete: not this call's doing
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 130
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines()[-1] == "interrupted"


def test_the_run_directory_line_names_it_absolute_as_the_wrote_lines(tmp_path, monkeypatch, capsys, caplog):
    """The run directory was printed as typed (``run directory: r``) under ``wrote`` lines with absolute
    paths, and so was it in the log line of a new run; a resume by a relative path as well."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="streamt2v.pipeline.generate")
    assert (
        main(["generate", "a red circle", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--run-dir", "r"]) == 0
    )
    expected = [f"wrote 8 frames to {tmp_path / 'o.mp4'}", f"run directory: {tmp_path / 'r'}"]
    assert capsys.readouterr().out.splitlines() == expected
    assert f"run directory {tmp_path / 'r'} (1 chunk)" in caplog.text
    caplog.set_level(logging.INFO, logger="streamt2v.pipeline.resume")
    (tmp_path / "o.mp4").unlink()
    assert main(["generate", "--resume", "r", "--no-progress"]) == 0  # complete: writes its missing output
    assert capsys.readouterr().out.splitlines() == expected
    assert f"resuming {tmp_path / 'r'}: 1 of 1 chunk already finished" in caplog.text
    assert main(["generate", "--resume", "r", "--no-progress"]) == 0  # complete, its output there: no work
    assert capsys.readouterr().out.splitlines() == expected[1:]
    assert f"run {tmp_path / 'r'} is finished: nothing to resume" in caplog.text


def test_without_a_progress_bar_the_log_says_how_far_the_run_got(tmp_path, monkeypatch, caplog):
    """A batch job (stderr a log file: no bars) said nothing from the model's loading to its last line, for
    the half hour a long video takes; each chunk and each stage-3 step is now a log line."""
    import logging

    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        stage3 = ["--enhance", "--random-refiner", "--enhance-steps", "2"]  # tiny's 64x64: the stand-in
        argv = ["generate", "a cat", "--frames", "24", *FAST_CLI, *stage3]
        assert main([*argv, "-o", "o.mp4"]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    # each with the time so far; none with a time left: no chunk or step of a kind came after the first
    so_far = r" \([\d.]+ (s|min) so far\)"
    chunks = [m for m in said if m.startswith("chunk ")]
    assert len(chunks) == 2 and re.fullmatch(
        r"chunk 1/2 done: frames 0-15, prompt 'a cat'" + so_far, chunks[0]
    )
    assert re.fullmatch(r"chunk 2/2 done: frames 16-23, prompt 'a cat'" + so_far, chunks[1]), chunks
    steps = [m for m in said if m.startswith("stage 3: step")]
    assert len(steps) == 2 and re.fullmatch(r"stage 3: step 1/2 done" + so_far, steps[0])
    assert re.fullmatch(r"stage 3: step 2/2 done" + so_far, steps[1]), steps


def test_stage_3_canvas_warnings_advise_what_generate_s_user_can_run(tmp_path, monkeypatch, caplog):
    """Stage 3's canvas warnings told a ``generate --enhance`` user to 'pass pad_to_aspect=True' or 'e.g.
    resolution=(64, 64)', which generate takes no flag for: its command line names the enhance command that
    takes them, on the run's low-resolution video."""
    from streamt2v.pipeline.refiner import Refiner

    monkeypatch.chdir(tmp_path)
    Refiner.random((16, 24), seed=0).save_pretrained(tmp_path / "ref")  # smaller than tiny's 64x64, wider
    argv = [
        "generate",
        "a cat",
        "--frames",
        "8",
        *FAST_CLI,
        "--enhance",
        "--refiner",
        "ref",
        "--enhance-steps",
        "1",
    ]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "-o", "o.mp4"]) == 0
    said = [r.getMessage() for r in caplog.records if r.name.startswith("streamt2v.pipeline.enhance")]
    assert said == [
        "input frames are 64x64 but the enhancer canvas is 16x24 (HxW): they are stretched to its aspect "
        "ratio; to fit and pad them instead, pass --pad-to-aspect to `streamt2v enhance` on the "
        "low-resolution video o.lowres.mp4",
        "the output frames will be 16x24, smaller than the input's 64x64 (HxW), on the 16x24 canvas (the "
        "refiner's frame size); use a refiner made for at least this size, or pass a larger canvas, e.g. "
        "--resolution 64x64 to `streamt2v enhance` on the low-resolution video o.lowres.mp4",
    ]


def test_refused_refiner_folders_are_named_by_the_flag_as_typed(tmp_path, monkeypatch, capsys):
    """generate --refiner refusals said 'refiner folder ...' or 'refiner ...', never --refiner (enhance names
    its --model so): named by the flag and the value as typed, then as read where a ~ was expanded."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "model_index.json").write_text('{"_class_name": "StreamingT2VModel"}')
    (tmp_path / "afile").write_text("x")
    home = str(tmp_path / "home" / "nothere")
    for refiner, said in [
        ("~/nothere", f"--refiner '~/nothere' ({home!r}) does not exist; the refiner is loaded from a local"),
        ("stage", "--refiner 'stage' is a StreamingT2VModel folder (stages 1-2; model_index.json names"),
        ("afile", "--refiner 'afile' is a file; give a diffusers-format model folder"),
    ]:
        argv = ["generate", "a cat", "--enhance", "--refiner", refiner, "-o", "o.mp4", "--run-dir", "run"]
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith(f"error: {said}"), refiner
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "run").exists()
