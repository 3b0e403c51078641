"""``streamt2v train`` command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from conftest import WriteCalls, sigterm_when, two_process_launch
from streamt2v.cli import main


def test_cli_trains_and_resumes_vae(tmp_path, capsys):
    args = [
        "train",
        "vae",
        "--out",
        str(tmp_path),
        "--size",
        "16",
        "--set",
        "block_out_channels=[8,16]",
        "--set",
        "norm_num_groups=4",
        "--set",
        "scaling_samples=1",
        "--set",
        "frames_per_sample=1",
        "--batch-size",
        "2",
        "--lr-schedule",
        "cosine",
        "--checkpoint-every",
        "1",
        "--no-progress",
    ]
    assert main(args + ["--steps", "1"]) == 0
    # resumed with the step compiled (aot_eager_decomp_partition: inductor's tracing and decompositions,
    # without its C++ build)
    assert main(args + ["--steps", "2", "--resume", "--compile", "aot_eager_decomp_partition"]) == 0
    assert "step 2" in capsys.readouterr().out
    lines = (tmp_path / "loss.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    assert (tmp_path / "final" / "vae" / "config.json").exists()
    train_config = json.loads((tmp_path / "config.json").read_text())["train"]
    assert train_config["lr_schedule"] == "cosine" and train_config["compile"] == "aot_eager_decomp_partition"


def test_cli_unknown_recipe_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "unet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'unet'" in err and "vae" in err


def test_recipe_option_errors_name_the_flag_as_typed(tmp_path, capsys):
    """A recipe option is named on the command line as it was typed (its flag, or --set KEY=VALUE), with the
    recipes that take an option the recipe lacks; to Python as the recipe's field. They said
    'ClipSpec max_start' and "recipe 'vae' has no option(s) ['base_unet']" to both."""
    from streamt2v.cli.train import _RECIPE_FIELDS
    from streamt2v.train.recipes import FLAGGED_OPTIONS, make_recipe

    assert FLAGGED_OPTIONS == _RECIPE_FIELDS  # the options errors name by a flag of their own have one
    out = str(tmp_path / "run")
    cases = [
        (
            ["vae", "--base-unet", "b"],
            "recipe 'vae' takes no --base-unet (an option of the stream recipe); its options: --data, "
            "--captions, --size, and by --set KEY=VALUE block_out_channels, decoder_only_from",
        ),
        # an option with a flag given by --set is named as given (it was named --size 18, --num-frames abc)
        (
            ["vae", "--set", "size=18"],
            "error: vae --set size=18 must be a multiple of the VAE's downsampling",
        ),
        (["base", "--set", "num_frames=abc"], "error: recipe 'base' option --set num_frames=abc must be"),
        (
            ["vae", "--set", "max_start=3"],
            "takes no --set max_start (an option of the base, stream and refiner recipes)",
        ),
        (["clip", "--set", "nope=1"], "takes no --set nope (no recipe's option)"),
        # a misspelling is pointed to the option it is close to, by its flag (or --set) as typed
        (["vae", "--set", "kl_wieght=0.01"], "recipe 'vae' takes no --set kl_wieght (--set kl_weight?); "),
        (["vae", "--set", "szie=16"], "recipe 'vae' takes no --set szie (--size?); "),
        (["base", "--set", "max_start=-1"], "error: --set max_start must be an integer ≥ 0, got -1"),
        (
            ["base", "--set", "max_start=1.5"],
            "error: recipe 'base' option --set max_start=1.5 must be an integer",
        ),
        (
            ["stream", "--set", "text_drop=0.95"],
            "error: --set text_drop, --set anchor_drop and --set both_drop",
        ),
        (
            ["refiner", "--set", "degrade_scale=2", "--set", "latent_cache=3"],
            "error: --set degrade_scale=2 needs every clip in pixels; --set latent_cache=3 keeps only "
            "latents (use --set latent_cache=0)",
        ),
    ]
    for args, said in cases:
        assert main(["train", *args, "--out", out, "--steps", "1"]) == 2
        assert said in capsys.readouterr().err
    with pytest.raises(
        ValueError,
        match=r"^recipe 'vae' takes no base_unet \(an option of the stream recipe\); "
        "its options: block_out_channels, captions, data, decoder_only_from,",
    ):
        make_recipe("vae", base_unet="b")
    with pytest.raises(ValueError, match=r"^recipe 'vae' takes no kl_wieght \(kl_weight\?\); its options: "):
        make_recipe("vae", kl_wieght=0.01)
    with pytest.raises(ValueError, match=r"^max_start must be an integer ≥ 0, got -1$"):
        make_recipe("base", max_start=-1)


def test_python_dash_m_runs_the_command_for_launchers():
    """``python -m streamt2v`` is the command (``accelerate launch -m streamt2v train ...``)."""
    run = subprocess.run(
        [sys.executable, "-m", "streamt2v", "train", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "vae | clip | base | stream | refiner" in run.stdout


def test_cli_refuses_settings_that_would_train_the_wrong_thing_before_writing(tmp_path, capsys):
    """``--captions`` without ``--data`` (the run would quietly train on the microworld) and a VAE size
    that is not a multiple of its downsampling factor (a shape error at step 1, leaving a folder that
    then needs ``--resume``) are one-line errors before anything is written."""
    from streamt2v.train.recipes import make_recipe

    out = tmp_path / "run"
    caps = tmp_path / "caps.csv"
    caps.write_text("file,caption\na.mp4,red\n")
    assert main(["train", "vae", "--out", str(out), "--captions", str(caps), "--steps", "1"]) == 2
    # quoted as every path a message names (it was bare)
    assert (
        f"--captions {str(caps)!r} needs --data, the folder of the videos it captions"
        in capsys.readouterr().err
    )
    with pytest.raises(
        ValueError, match=rf"^captions='{caps}' needs data, the folder of the videos it captions$"
    ):
        make_recipe("vae", captions=str(caps)).dataset(0)  # the Python caller's parameters, no flags
    args = ["train", "vae", "--out", str(out), "--size", "18", "--set", "block_out_channels=[8,16,16]"]
    assert main([*args, "--set", "norm_num_groups=4", "--steps", "1", "--batch-size", "1"]) == 2
    err = capsys.readouterr().err
    # the channels as --set takes them (was the Python tuple "--set block_out_channels (8, 16, 16)")
    assert (
        "vae --size 18 must be a multiple of the VAE's downsampling factor 4 (--set block_out_channels=[8,16,16])"
        in err
    )
    assert err.count("\n") == 1 and not out.exists()
    # clip sizes are named as given, not by the internal class holding them
    assert main(["train", "vae", "--out", str(out), "--set", "size=0", "--steps", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: --set size must be an int ≥ 4, got 0")
    for recipe in ("vae", "clip"):  # their option, not the video recipes' --num-frames, which they refuse
        assert main(["train", recipe, "--out", str(out), "--set", "frames_per_sample=0", "--steps", "1"]) == 2
        said = "error: --set frames_per_sample must be an int ≥ 1, got 0"
        assert capsys.readouterr().err.strip().endswith(said)
    # a negative seed: numpy's draws would take it modulo 2**32 (the data of another seed)
    # one at 2**31 or above: the data's seed (+ an offset for joint images) must stay under 2**32
    for seed in ("-1", "2147483648"):
        with pytest.raises(SystemExit) as stop:
            main(["train", "vae", "--out", str(out), "--seed", seed, "--steps", "1"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert f"argument --seed: expected an integer from 0 to 2147483647, got '{seed}'" in err
    # the optimisation settings by their flags (they said ema_decay, lr: the Python API's names), their values
    # as typed (the config's refusal wrote back the float: '-1' as -1.0, '1e999' as inf)
    for flag, value, said in [
        ("--ema-decay", "1.5", "expected a finite number in [0, 1) (0: no EMA), got '1.5'"),
        ("--ema-decay", "1", "expected a finite number in [0, 1) (0: no EMA), got '1'"),
        ("--lr", "1e999", "expected a finite number > 0, got '1e999'"),
        ("--lr", "0", "expected a finite number > 0, got '0'"),
        ("--weight-decay", "-1", "expected a finite number >= 0, got '-1'"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(["train", "vae", "--out", str(out), f"{flag}={value}", "--steps", "1"])
        assert stop.value.code == 2
        assert capsys.readouterr().err.strip().endswith(f"error: argument {flag}: {said}")
    assert not out.exists()


def test_a_refused_run_leaves_no_parent_of_out_it_made(tmp_path, capsys):
    """``train vae --out typo_dir/run --captions x.csv`` was refused (exit 2) yet left ``typo_dir/`` behind,
    empty; the parents that were there, and a made folder something else was put in, stay."""
    videos = tmp_path / "videos"
    videos.mkdir()
    out = tmp_path / "typo_dir" / "deeper" / "run"
    argv = ["train", "vae", "--data", str(videos), "--captions", str(tmp_path / "x.csv"), "--steps", "1"]
    assert main([*argv, "--out", str(out)]) == 2
    assert "error: --captions " in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos"]
    from streamt2v.train.run_folder import make_run_folder, remove_made_folders

    made = make_run_folder(out)
    assert made == [out, out.parent, out.parent.parent] and out.is_dir()
    (out.parent / "notes.txt").write_text("put there meanwhile")
    remove_made_folders(made)
    assert not out.exists() and (out.parent / "notes.txt").exists()


def test_a_refused_run_leaves_the_empty_folder_the_user_had(tmp_path, monkeypatch, capsys):
    """``mkdir run; train vae ... --out typo/../run`` (refused) removed the user's empty ``run`` and left
    ``typo/``: the folders to remove were guessed from the path before ``typo`` was made, which made
    ``typo/../run`` the user's ``run``. Those made are now the ones this process's mkdir made."""
    (tmp_path / "videos").mkdir()
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = ["train", "vae", "--data", "videos", "--captions", "x.csv", "--steps", "1", "--out", "typo/../run"]
    assert main(argv) == 2
    assert "error: --captions 'x.csv' does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "videos"]
    assert list((tmp_path / "run").iterdir()) == []


def test_the_assemble_hint_of_a_stream_on_own_videos_gives_their_frame_rate(tmp_path, capsys, encoders):
    """`assemble --fps` defaults to the microworld's 8: the hint printed after a stream run on a folder of
    24 fps videos gave no --fps, so the folder it led to played them at a third of their speed. The hint is
    runnable as printed: a run folder with a space ("my runs/stream") was printed unquoted, and pasted
    it gave assemble the two arguments 'my' and 'runs/stream/final/unet'. A resume of the finished run prints
    it too, also once the videos are gone: with the frame rate the run recorded in its config.json."""
    import shlex

    import numpy as np

    from streamt2v.io.video import from_uint8_frames, write_video

    vae, clip = encoders
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, fps in [("a.mp4", 24), ("b.mp4", 24), ("c.mp4", 30)]:
        frames = np.zeros((12, 16, 16, 3), np.uint8)
        frames[:, :, :8] = (200, 30, 30)
        write_video(videos / name, from_uint8_frames(frames), fps)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\nc.mp4,red\n")
    common = ["--data", str(videos), "--captions", str(tmp_path / "caps.csv"), "--size", "16"]
    common += ["--num-frames", "12", "--vae", vae, "--clip", clip, "--steps", "1", "--batch-size", "1"]
    common += ["--no-progress"]
    assert main(["train", "base", "--out", str(tmp_path / "base"), *common]) == 0
    unet = tmp_path / "base" / "final" / "unet"
    stream = tmp_path / "my runs" / "stream"
    assert main(["train", "stream", "--out", str(stream), "--base-unet", str(unet), *common]) == 0
    hint = capsys.readouterr().out.splitlines()[-1]
    assert hint.startswith("loadable folder: streamt2v assemble model OUT_DIR --unet ")
    command = hint.split(": ", 1)[1]
    assert shlex.split(command) == [
        *("streamt2v", "assemble", "model", "OUT_DIR", "--unet", str(stream / "final" / "unet")),
        *("--fps", "24"),
    ]
    # resumed once finished: the "already finished" line dropped the hint; the run config keeps its record of
    # the videos (the resume reads none)
    config = (stream / "config.json").read_text()
    assert main(["train", "stream", "--out", str(stream), "--base-unet", str(unet), *common, "--resume"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "already finished at step 1" in printed[0] and printed[1:] == [hint], printed
    assert (stream / "config.json").read_text() == config
    assert json.loads(config)["fps"] == 24  # recorded when the run made its dataset
    # the videos moved away since: the resume of the finished run still ends well (it reads no video; the
    # hint's frame rate did, and its error ended the command with exit 2), and its hint gives the frame rate
    # the run recorded (it said "--fps FPS (...)": the videos it read it from were gone)
    videos.rename(tmp_path / "moved")
    assert main(["train", "stream", "--out", str(stream), "--base-unet", str(unet), *common, "--resume"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "already finished at step 1" in printed[0] and printed[1:] == [hint], printed
    assert (stream / "config.json").read_text() == config
    # a run recorded before runs recorded the frame rate: the hint reads the videos, saying what to fill in
    # when they cannot be read
    for state in (stream / "checkpoints").glob("step-*/state.json"):
        old = json.loads(state.read_text())
        del old["config"]["fps"]
        state.write_text(json.dumps(old))
    assert main(["train", "stream", "--out", str(stream), "--base-unet", str(unet), *common, "--resume"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "already finished at step 1" in printed[0] and "rewrote config.json" in printed[0], printed
    assert printed[1].startswith(
        hint.removesuffix("--fps 24") + "--fps FPS (FPS: the training videos' frame rate"
    )
    (tmp_path / "moved").rename(videos)
    assert main(["train", "stream", "--out", str(stream), "--base-unet", str(unet), *common, "--resume"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [hint]


def test_no_log_line_names_the_temporary_final_folder(tmp_path, capsys, caplog):
    # "vae exported to runs/vae/.final.tmp-2c6601a3/vae": a folder that is gone once the run ends
    caplog.set_level("INFO")
    args = [
        "train",
        "vae",
        "--out",
        str(tmp_path / "run"),
        "--size",
        "16",
        "--steps",
        "1",
        "--batch-size",
        "1",
    ]
    args += ["--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4", "--set", "scaling_samples=1"]
    assert main([*args, "--set", "frames_per_sample=1", "--no-progress"]) == 0
    logged = [r.getMessage() for r in caplog.records]
    assert any("scaling_factor" in m for m in logged), logged
    assert not [m for m in logged if ".final.tmp" in m]
    assert str(tmp_path / "run" / "final") in capsys.readouterr().out  # where the models are


def test_help_gives_the_default_of_every_option_that_has_one():
    # --sample-every, --num-workers, --size, --num-frames and --preset said nothing of what an unset flag means
    import argparse

    from streamt2v.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    unsaid = []
    for action in sub.choices["train"]._actions:
        takes_value = action.nargs != 0 and action.option_strings and action.dest not in ("help", "options")
        paths = ("out", "data", "captions", "vae", "clip", "base_unet", "compile")  # no default to give
        if takes_value and action.dest not in paths and "default" not in (action.help or ""):
            unsaid.append(action.option_strings[-1])
    assert unsaid == [], unsaid


def test_the_loop_settings_named_by_their_flags_have_one():
    """A resume's changes name these settings by their flags on the command line (--grad-accum 1 -> 4)."""
    import argparse
    from dataclasses import fields

    from streamt2v.cli import build_parser
    from streamt2v.train.train_config import FLAGGED_SETTINGS, TrainConfig

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {flag for action in sub.choices["train"]._actions for flag in action.option_strings}
    named = {f"--{f.name.replace('_', '-')}": f.name in FLAGGED_SETTINGS for f in fields(TrainConfig)}
    assert {flag: flag in flags for flag in named} == named


def test_the_help_of_the_trained_parts_says_where_the_recipes_advice_finds_them():
    """--base-unet's help said 'OUT/final/unet of the base run', --vae's 'of the vae run', where the recipes'
    advice (part_sources.TRAINED_SOURCES) says 'of a base run' and 'of `streamt2v train vae`'."""
    import argparse

    from streamt2v.cli import build_parser
    from streamt2v.train.part_sources import TRAINED_SOURCES, shipped_what

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {action.dest: action.help for action in sub.choices["train"]._actions}
    for dest, recipe in (("vae", ""), ("clip", ""), ("base_unet", "stream")):
        assert f"{TRAINED_SOURCES[dest]})" in helps[dest], helps[dest]
        assert f"'microworld': {shipped_what(dest, recipe)}" in helps[dest], helps[dest]


def test_help_lists_the_presets(capsys):
    """``--preset``'s help ended "(config.PRESETS)", a Python name, where it named two presets of three."""
    from streamt2v.config import PRESETS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = re.search(r"\n  --preset PRESET (.*?)\n  --vae", capsys.readouterr().out, re.S)[1]
    preset = " ".join(help_text.split())
    assert all(name in preset for name in PRESETS) and "config." not in preset, preset


@pytest.mark.parametrize(
    "argv", [["--compile", "vae", "--out", "run"], ["stream", "--out", "run", "--compile", "clip"]]
)
def test_a_recipe_taken_by_compile_is_named(argv, tmp_path, capsys, monkeypatch):
    """``--compile``'s backend is optional, so ``train --compile vae`` took the recipe as the backend and
    argparse said only "required: recipe"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["train", *argv])
    assert stop.value.code == 2
    word = argv[argv.index("--compile") + 1]
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"streamt2v train: error: argument --compile: {word!r} is a recipe, not a torch.compile backend: "
        "give the recipe before --compile, or name the backend (--compile inductor)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_run_stopped_under_a_launcher_says_once_how_to_continue_with_its_batch(tmp_path, caplog):
    """Stopped under ``torch.distributed.run`` (2 processes), each process printed ``continue with:
    streamt2v train ... --resume``; the main process alone now gives the command, which resumes the run on
    one process with the run's samples per step (``--batch-size`` is per process; ``--grad-accum`` not typed
    takes the run's 2 processes × 1) and no change but the lowered ``--steps``. Where ``--grad-accum`` was
    typed, the command gives the one-process ``--grad-accum`` after it, which the resume takes as the same
    steps. The other process printed a bare "interrupted (SIGTERM)" line of its own."""
    import logging
    import shlex
    import shutil

    from streamt2v.cli import build_parser
    from streamt2v.cli.train import _resume_command

    out = tmp_path / "run"
    argv = ["train", "vae", "--out", str(out), "--cpu", "--size", "16", "--set", "block_out_channels=[8,16]"]
    argv += ["--set", "norm_num_groups=4", "--set", "scaling_samples=1", "--set", "frames_per_sample=1"]
    argv += ["--batch-size", "1", "--steps", "100000", "--checkpoint-every", "2", "--no-progress"]
    launch = two_process_launch()
    log = tmp_path / "log.txt"
    sigterm_when(out / "checkpoints" / "latest", [*launch, "-m", "streamt2v", *argv], log)
    lines = [x for x in log.read_text().splitlines() if "continue with:" in x]
    assert len(lines) == 1, log.read_text()
    # nor a bare "interrupted (SIGTERM)" of the other process beside it
    assert [x for x in log.read_text().splitlines() if x.startswith("interrupted")] == lines
    assert (
        "continue with: the same launch (2 processes) with --resume, or on one process (the same steps): "
        in (lines[0])
    )
    command = shlex.split(lines[0].split("(the same steps): ", 1)[1])
    assert command[0] == "streamt2v" and command[-1] == "--resume" and "--grad-accum" not in command
    stopped_at = int(re.search(r"checkpoint at step (\d+)", lines[0])[1])
    command[command.index("--steps") + 1] = str(stopped_at + 1)
    shutil.copytree(out, tmp_path / "copy")

    def changed_settings(argv: list[str]) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.train.resume_settings"):
            assert main(argv) == 0
        return [r.getMessage() for r in caplog.records if "changed training settings" in r.getMessage()]

    [warning] = changed_settings(command[1:])  # --steps was lowered, and nothing else changed
    assert warning.endswith(f"changed training settings: --steps 100000 -> {stopped_at + 1}"), warning
    run = json.loads((out / "config.json").read_text())
    assert run["train"]["batch_size"] * run["train"]["grad_accum"] == 2 and run["processes"] == 1
    # --grad-accum typed: the command gives the one-process one after it, which the resume takes
    copy = [str(tmp_path / "copy") if a == str(out) else a for a in command[1:]]
    args = build_parser().parse_args([*copy, "--grad-accum", "1"])
    args.argv = [*copy, "--grad-accum", "1"]
    printed = _resume_command(args, processes=2).split("(the same steps): ", 1)[1]
    assert shlex.split(printed)[-2:] == ["--grad-accum", "2"], printed
    [warning] = changed_settings(shlex.split(printed)[1:])
    assert warning.endswith(f"changed training settings: --steps 100000 -> {stopped_at + 1}"), warning
    assert json.loads((tmp_path / "copy" / "config.json").read_text())["train"]["grad_accum"] == 2


TINY_VAE = ["--size", "16", "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4"]
TINY_VAE += ["--set", "scaling_samples=1", "--set", "frames_per_sample=1", "--batch-size", "2"]


def _files(folder) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its modification time and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_finished_run_resumed_with_its_steps_says_so_and_writes_nothing(
    tmp_path, capsys, caplog, monkeypatch
):
    """``--resume`` of a finished run with its ``--steps`` exported final/ again (the VAE's scale measured
    again), rewrote config.json and printed "last loss n/a". One line now says the run is finished and where
    its models are (absolute, as every line naming what a command wrote: a relative --out was printed as
    given), and nothing in the folder is written. A larger ``--steps`` still continues the run, and a
    final/ older than the checkpoint at ``--steps`` (the run trained further, then stopped before its
    export) is still exported from that checkpoint."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    args = ["train", "vae", "--out", "run", *TINY_VAE, "--checkpoint-every", "2", "--no-progress"]
    assert main([*args, "--steps", "2"]) == 0
    capsys.readouterr()
    before = _files(out)
    caplog.set_level("INFO")
    assert main([*args, "--steps", "2", "--resume"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"vae: the run in {out} already finished at step 2, its models in {out / 'final'}; nothing to do "
        "(a larger --steps trains it further)"
    ]
    after = _files(out)
    del before[".lock"], after[".lock"]  # the lock a run takes on its folder (rewritten with its pid)
    assert after == before
    assert not [r.getMessage() for r in caplog.records if "scaling_factor" in r.getMessage()]

    assert main([*args, "--steps", "3", "--resume"]) == 0  # more steps continue the run
    assert "wrote the vae run's models (step 3, last loss " in capsys.readouterr().out
    assert [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()] == [1, 2, 3]
    # trained to step 4 without an export, as a run stopped after its last checkpoint: final/ is step 3's
    recipe = make_recipe(
        "vae", size=16, block_out_channels=[8, 16], norm_num_groups=4, scaling_samples=1, frames_per_sample=1
    )
    cfg = TrainConfig(steps=4, batch_size=2, checkpoint_every=2)
    train(recipe, cfg, out, resume=True, progress=False, export=False)
    weights = out / "final" / "vae" / "diffusion_pytorch_model.safetensors"
    step_3 = weights.read_bytes()
    assert main([*args, "--steps", "4", "--resume"]) == 0
    assert f"wrote the vae run's models (step 4, last loss n/a) to {out / 'final'}" in capsys.readouterr().out
    assert weights.read_bytes() != step_3
    assert main([*args, "--steps", "4", "--resume"]) == 0
    assert "already finished at step 4" in capsys.readouterr().out


def test_a_finished_run_whose_loss_log_lacks_its_last_newline_says_it_completed_it(tmp_path, capsys):
    """A kill between a log row and its newline (or a last row left unterminated): the resume of the
    finished run rewrote loss.jsonl, adding the newline, and said "nothing to do" (0 rows dropped). It says
    what it did; a half-written last row (no newline, not a whole entry) is still dropped, and said."""
    from streamt2v.train.run_folder import truncate_log

    out = tmp_path / "run"
    args = ["train", "vae", "--out", str(out), *TINY_VAE, "--checkpoint-every", "2", "--no-progress"]
    assert main([*args, "--steps", "2"]) == 0
    log = out / "loss.jsonl"
    finished = log.read_text()
    head = f"vae: the run in {out} already finished at step 2, its models in {out / 'final'}; "
    tail = " (a larger --steps trains it further)"
    for damage, done in [
        (finished.removesuffix("\n"), "no step taken, but completed the loss log's last line (its newline)"),
        (finished + '{"step": 3, "lo', "no step taken, but dropped the loss log's half-written last row"),
        (finished, "nothing to do"),
    ]:
        log.write_text(damage)
        capsys.readouterr()
        assert main([*args, "--steps", "2", "--resume"]) == 0
        assert capsys.readouterr().out.splitlines() == [head + done + tail]
        assert log.read_text() == finished
    # each change is said: rows past the step (the last one unterminated), a blank line
    log.write_text(finished.replace("\n", "\n\n", 1) + '{"step": 3}\n{"step": 4}')
    assert truncate_log(log, 2) == ["trimmed 2 loss-log rows past step 2", "removed 1 blank loss-log line"]
    assert log.read_text() == finished and truncate_log(log, 2) == []


def test_each_result_line_is_written_in_one_call(tmp_path, monkeypatch):
    """print() wrote a result line and its newline in two calls: on a write-through stdout (a launcher's,
    PYTHONUNBUFFERED) another process's output could land between them, glued to the line. Under
    torch.distributed.run the main process alone prints these; each process's "interrupted" line is main's
    (one call, tests/test_cli_interrupts.py). A trained run's line is a wrote line, as every command's, ending
    with the absolute path of its models (it ended "; models in run/final", the --out as typed)."""

    monkeypatch.chdir(tmp_path)
    args = ["train", "vae", "--out", "run", *TINY_VAE, "--steps", "1", "--no-progress"]
    stdout = WriteCalls()
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(args) == 0
    assert main([*args, "--resume"]) == 0  # finished: the other result line
    assert len(stdout.calls) == 2, stdout.calls
    final = (tmp_path / "run" / "final").resolve()
    assert re.fullmatch(
        rf"wrote the vae run's models \(step 1, last loss \d\.\d{{4}}\) to {re.escape(str(final))}\n",
        stdout.calls[0],
    )
    assert "already finished at step 1" in stdout.calls[1]
    assert all(call.count("\n") == 1 and call.endswith("\n") for call in stdout.calls), stdout.calls


class _StoppedAt(torch.utils.data.Dataset):
    """The recipe's samples, and Ctrl-C when the loop asks for sample ``stop`` (a run stopped there)."""

    def __init__(self, dataset, stop: int) -> None:
        self.dataset, self.stop = dataset, stop

    def __getitem__(self, index: int):
        if index >= self.stop:
            raise KeyboardInterrupt
        return self.dataset[index]


def test_a_finished_run_resumed_after_a_stopped_resume_cuts_its_log_back_to_its_step(tmp_path, capsys):
    """A run finished at step 2, resumed with --steps 1000 and stopped at step 14 before its next checkpoint,
    then resumed with --steps 2: "already finished at step 2", but its loss log kept the rows of steps 3-14
    (of no checkpoint and no final/) and config.json said steps 1000. The finished run's resume does a
    resume's bookkeeping (no step, no export): the log and config.json are those of the finished run."""
    from streamt2v.train.loop import TrainConfig, TrainInterrupted, train
    from streamt2v.train.recipes import make_recipe

    out = tmp_path / "run"
    args = ["train", "vae", "--out", str(out), *TINY_VAE, "--checkpoint-every", "2", "--no-progress"]
    assert main([*args, "--steps", "2"]) == 0
    finished = {name: (out / name).read_text() for name in ("loss.jsonl", "config.json")}
    final = _files(out / "final")
    recipe = make_recipe(
        "vae", size=16, block_out_channels=[8, 16], norm_num_groups=4, scaling_samples=1, frames_per_sample=1
    )
    cfg = TrainConfig(steps=1000, batch_size=2, checkpoint_every=1000)
    stopped = _StoppedAt(recipe.dataset(cfg.seed, progress=False), stop=14 * 2)  # step 15's first sample
    with pytest.raises(TrainInterrupted):
        train(recipe, cfg, out, dataset=stopped, resume=True, progress=False)
    assert [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()] == list(
        range(1, 15)
    )
    capsys.readouterr()
    (out / "checkpoints" / ".latest.0123abcd").write_text("step-00000014\n")  # as a killed writer leaves it

    assert main([*args, "--steps", "2", "--resume"]) == 0
    # it said "nothing to do" while it cut the log and rewrote config.json: it says what it did
    assert capsys.readouterr().out.splitlines() == [
        f"vae: the run in {out} already finished at step 2, its models in {out / 'final'}; no step taken, but "
        "removed 1 leftover of a killed run, trimmed 12 loss-log rows past step 2, rewrote config.json (a larger --steps trains it further)"
    ]
    assert {name: (out / name).read_text() for name in finished} == finished
    assert _files(out / "final") == final  # not exported again
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest", "step-00000002"]
    assert main([*args, "--steps", "2", "--resume"]) == 0  # done once: now nothing to do
    assert "at step 2, its models in " in (said := capsys.readouterr().out) and "; nothing to do (" in said
