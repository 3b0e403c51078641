"""``streamt2v assemble``: model and refiner folders from training runs, used by generate and enhance."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from streamt2v.cli import main
from streamt2v.io.video import read_video
from streamt2v.train.assemble import assemble_model, assemble_refiner
from streamt2v.train.clip_recipe import ClipRecipe
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe


@pytest.fixture(scope="module")
def runs(tmp_path_factory, encoders) -> Path:
    """base, stream (after that base) and refiner runs of one step each on the tiny encoders."""
    vae, clip = encoders
    root = tmp_path_factory.mktemp("runs")
    common = dict(vae=vae, clip=clip, num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=1, lr=1e-4)
    train(make_recipe("base", size=16, **common), cfg, root / "base", progress=False)
    base_unet = str(root / "base" / "final" / "unet")
    train(make_recipe("stream", size=16, base_unet=base_unet, **common), cfg, root / "stream", progress=False)
    train(make_recipe("refiner", size=32, **common), cfg, root / "refiner", progress=False)
    return root


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in module.state_dict().items()}


def test_assembled_runs_generate_and_enhance_from_the_command_line(tmp_path, runs, encoders):
    """Only the UNets are named: the stage-1 UNet, VAE and CLIP come from what the runs recorded. The
    folders hold the runs' weights (fp16 when asked), the given sampler and enhancer settings, and
    ``generate --model`` / ``enhance --model`` make videos of the trained sizes with them."""
    from diffusers import UNet3DConditionModel

    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.models.unet import StreamingUNet
    from streamt2v.pipeline.refiner import Refiner

    model_dir, refiner_dir = tmp_path / "model", tmp_path / "refiner"
    sampler = {"steps": 2, "init_steps": 2, "guidance": 1.0, "init_guidance": 2.0}
    args = ["assemble", "model", str(model_dir), "--unet", str(runs / "stream" / "final" / "unet")]
    assert main([*args, "--dtype", "fp16", "--sampler", json.dumps(sampler)]) == 0
    enhance = {"start_step": 50, "steps": 2, "scheduler": "ddim", "guidance": 1.0}
    args = ["assemble", "refiner", str(refiner_dir), "--unet", str(runs / "refiner" / "final" / "unet")]
    assert main([*args, "--enhance", json.dumps(enhance), "--scheduler-option", "set_alpha_to_one=true"]) == 0

    model = StreamingT2VModel.from_pretrained(model_dir, torch_dtype=torch.float16)
    assert model.sampler == sampler and model.config.frame_size == 16
    stream = StreamingUNet.from_pretrained(runs / "stream" / "final" / "unet")
    base = UNet3DConditionModel.from_pretrained(runs / "base" / "final" / "unet")
    for assembled, trained in ((model.unet, stream), (model.init_unet, base)):
        want = {k: v.half() for k, v in trained.state_dict().items()}
        assert all(torch.equal(v, want[k]) for k, v in assembled.state_dict().items())
    assert (
        model.scheduler_config["prediction_type"]
        == json.loads((runs / "stream" / "final" / "scheduler" / "scheduler_config.json").read_text())[
            "prediction_type"
        ]
    )
    refiner = Refiner.from_pretrained(refiner_dir)
    assert refiner.recommended == enhance and refiner.frame_size == (32, 32)
    assert refiner.scheduler_config["set_alpha_to_one"] is True
    trained = UNet3DConditionModel.from_pretrained(runs / "refiner" / "final" / "unet")
    assert all(torch.equal(v, _state(trained)[k]) for k, v in _state(refiner.unet).items())

    video = tmp_path / "v.mp4"
    gen = ["generate", "a red circle bouncing on a blue background", "--model", str(model_dir)]
    gen += ["--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert main([*gen, "--frames", "16", "--seed", "1", "-o", str(video)]) == 0
    frames, _ = read_video(video)
    assert frames.shape[2:] == (16, 16, 16)  # (1, 3, T, H, W)
    enhanced = tmp_path / "e.mp4"
    enh = [
        "enhance",
        str(video),
        "--prompt",
        "a red circle",
        "--model",
        str(refiner_dir),
        "-o",
        str(enhanced),
    ]
    assert main([*enh, "--no-progress"]) == 0
    assert read_video(enhanced)[0].shape[2:] == (16, 32, 32)


def test_every_path_argument_takes_a_leading_tilde_as_the_home_folder(tmp_path, runs, encoders, monkeypatch):
    """assemble_model("~/models/m", unet="~/runs/stream/final/unet") looked for the UNet in a folder named ~
    in the working one: the Python API takes ~ as the command line's path flags do."""
    home, work = tmp_path.parent, tmp_path / "work"  # the runs' and encoders' temporary folders are beside
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)

    def tilde(path: str | Path) -> str:
        return "~/" + os.path.relpath(path, home)

    vae, clip = (tilde(p) for p in encoders)
    model = assemble_model(
        tilde(tmp_path / "model"),
        unet=tilde(runs / "stream" / "final" / "unet"),
        init_unet=tilde(runs / "base" / "final" / "unet"),
        vae=vae,
        clip=clip,
        scheduler=tilde(runs / "stream" / "final" / "scheduler"),
    )
    refiner = assemble_refiner(
        tilde(tmp_path / "refiner"),
        unet=tilde(runs / "refiner" / "final" / "unet"),
        vae=vae,
        clip=clip,
        scheduler=tilde(runs / "refiner" / "final" / "scheduler"),
    )
    assert (model, refiner) == (tmp_path / "model", tmp_path / "refiner")
    assert (model / "model_index.json").is_file() and not (work / "~").exists()


def test_a_run_in_a_folder_named_tilde_is_read_there_not_in_the_home_folder(
    tmp_path, runs, encoders, monkeypatch
):
    """``--unet ./~/s/final/unet`` (a folder named ~ in the working one): assemble looked for its run's
    scheduler in the home folder's ``s/final/scheduler``, and refused it as missing (or took another run's
    schedule there), as the UNet typed lost its ``./`` once a ``Path``."""
    import shutil

    work, home = tmp_path / "work", tmp_path / "home"
    shutil.copytree(runs / "stream", work / "~" / "s")
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    vae, clip = encoders
    unet, init_unet = "./~/s/final/unet", runs / "base" / "final" / "unet"
    model = assemble_model(tmp_path / "model", unet=unet, init_unet=init_unet, vae=vae, clip=clip)
    assert (model / "model_index.json").is_file() and not any(home.iterdir())


def test_the_printed_commands_name_the_assembled_folders_as_the_shell_reads_them(
    tmp_path, runs, monkeypatch, capsys
):
    """``model folder my models/m: streamt2v generate PROMPT --model my models/m``: the folder was printed
    unquoted, so the command as printed gave generate the prompt 'models/m' and no model; and as typed,
    where every other command's wrote line ends with the absolute path (README, "Command line")."""
    import shlex

    monkeypatch.chdir(tmp_path)
    for kind, run, use in (
        ("model", "stream", "generate PROMPT"),
        ("refiner", "refiner", "enhance VIDEO --prompt PROMPT"),
    ):
        typed = f"my models/{kind}"
        assert main(["assemble", kind, typed, "--unet", str(runs / run / "final" / "unet")]) == 0
        folder = (tmp_path / typed).resolve()
        wrote, command = capsys.readouterr().out.splitlines()
        assert wrote == f"wrote {kind} folder {folder}"
        assert command == f"use it: streamt2v {use} --model {shlex.quote(str(folder))}"
        printed = shlex.split(command.split(": ", 1)[1])
        assert printed[:2] == ["streamt2v", use.split()[0]] and printed[-2:] == ["--model", str(folder)]


def test_assemble_refuses_parts_that_do_not_fit(tmp_path, runs, encoders, capsys):
    vae, _ = encoders
    stream_unet = runs / "stream" / "final" / "unet"
    # a micro-CLIP of another width: both UNets' cross-attention and the APM's text length are named
    other = ClipRecipe(
        size=16, image_size=16, hidden_size=16, num_heads=2, intermediate_size=32, projection_dim=16
    )
    train(other, TrainConfig(steps=1, batch_size=2, lr=1e-3), tmp_path / "clip16", progress=False)
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", unet=stream_unet, clip=tmp_path / "clip16" / "final")
    assert "text of width 32, the text encoder's is 16" in str(err.value)
    assert "image embeddings of width 32, the image encoder's is 16" in str(err.value)
    assert not (tmp_path / "m").exists()

    # the UNet kinds are told apart by their saved class
    with pytest.raises(ValueError, match="holds a UNet3DConditionModel; it takes a StreamingUNet"):
        assemble_model(tmp_path / "m", unet=runs / "base" / "final" / "unet")
    with pytest.raises(ValueError, match="holds a StreamingUNet; it takes a UNet3DConditionModel"):
        assemble_refiner(tmp_path / "r", unet=stream_unet)
    # the run folder or its final/ instead of final/unet: the folder that holds the UNet is named
    # (the run folder was "holds a non-diffusers model", its config.json being the run's)
    for wrong in (runs / "stream", runs / "stream" / "final"):
        with pytest.raises((ValueError, FileNotFoundError), match=f"; {stream_unet} holds one: pass that$"):
            assemble_model(tmp_path / "m", unet=wrong)

    # a folder that does not exist is named as such (was "has no config.json")
    with pytest.raises(FileNotFoundError, match=r"^unet='\S+nope/unet' does not exist: pass OUT/"):
        assemble_model(tmp_path / "m", unet=tmp_path / "nope" / "unet")
    # a UNet outside its run folder records nothing: the missing part's argument is named
    loose = tmp_path / "loose" / "unet"
    shutil.copytree(stream_unet, loose)
    with pytest.raises(ValueError, match="^init_unet is needed"):
        assemble_model(tmp_path / "m", unet=loose, scheduler=stream_unet.parent / "scheduler")

    # settings are checked by name and value before anything is loaded or written
    with pytest.raises(ValueError, match="chunk_strength"):
        assemble_model(tmp_path / "m", unet=stream_unet, sampler={"chunk_strength": 3})
    # an unknown name lists the settings (was StreamConfig's "unexpected keyword argument 'stepz'")
    # (close ones hinted)
    match = r"^unknown sampler setting: stepz \(steps\?\); the settings: anchor_colour_match, .*steps$"
    with pytest.raises(ValueError, match=match):
        assemble_model(tmp_path / "m", unet=stream_unet, sampler={"stepz": 3})
    # the seed is the user's, not a recommendation: a stored one would clash with every --seed
    with pytest.raises(ValueError, match=r"^unknown sampler setting: seed; "):
        assemble_model(tmp_path / "m", unet=stream_unet, sampler={"seed": 3})
    with pytest.raises(
        ValueError,
        match=r"^unknown scheduler_overrides setting: set_alpha_to_1 \(set_alpha_to_one\?\); the settings ",
    ):
        assemble_refiner(
            tmp_path / "r",
            unet=runs / "refiner" / "final" / "unet",
            scheduler_overrides={"set_alpha_to_1": 1},
        )
    # enhance settings by name, as the sampler's (was "EnhanceConfig.__init__() got an unexpected keyword ..."):
    # diffusers' name, which earlier versions took, is refused naming ours
    with pytest.raises(
        ValueError,
        match=r"^unknown enhance setting: num_inference_steps \(use steps\); the settings: ",
    ):
        enhance = {"num_inference_steps": 3}
        assemble_refiner(tmp_path / "r", unet=runs / "refiner" / "final" / "unet", enhance=enhance)
    # and by value: `--scheduler-option set_alpha_to_one=maybe` was stored as the string "maybe"
    for option, message in [
        ({"set_alpha_to_one": "maybe"}, "set_alpha_to_one must be true or false, got 'maybe'"),
        ({"steps_offset": 1.5}, "steps_offset must be an integer, got 1.5"),
        (
            {"timestep_spacing": "trailng"},
            "timestep_spacing must be one of leading, trailing, linspace, got 'trailng'",
        ),
    ]:
        with pytest.raises(ValueError, match=f"^scheduler_overrides=.*: {re.escape(message)}$"):
            assemble_refiner(
                tmp_path / "r", unet=runs / "refiner" / "final" / "unet", scheduler_overrides=option
            )
        assert not (tmp_path / "r").exists()

    # an existing folder is kept unless --overwrite
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep")
    assert main(["assemble", "model", str(existing), "--unet", str(stream_unet), "--vae", vae]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip().splitlines()[-1]
        == f"error: {str(existing)!r} already exists; pass --overwrite to replace it"
    )
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True to replace it$"):
        assemble_model(existing, unet=stream_unet)
    assert (existing / "mine.txt").read_text() == "keep"
    # and even with it when the folder is not a model folder: --overwrite replaced it with the user's files
    assert main(["assemble", "model", str(existing), "--unet", str(stream_unet), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"{str(existing)!r} is not a model folder (no model_index.json) but holds mine.txt" in err
    assert (existing / "mine.txt").read_text() == "keep"
    notes = tmp_path / "notes.txt"  # nor a file: --overwrite replaced it with a model folder
    notes.write_text("precious")
    assert main(["assemble", "model", str(notes), "--unet", str(stream_unet), "--overwrite"]) == 2
    assert f"{str(notes)!r} is a file, not a model folder" in capsys.readouterr().err
    assert notes.read_text() == "precious"
    model = tmp_path / "model"  # a model folder is replaced whole
    assert main(["assemble", "model", str(model), "--unet", str(stream_unet)]) == 0
    (model / "notes.txt").write_text("x")
    assert main(["assemble", "model", str(model), "--unet", str(stream_unet), "--overwrite"]) == 0
    assert not (model / "notes.txt").exists() and (model / "model_index.json").is_file()


def test_a_unet_folder_whose_class_name_is_no_string_holds_no_model(tmp_path):
    """A config.json whose ``_class_name`` is not a string (a hand edit) failed with a TypeError of the
    refusal's own wording; it is a folder holding no diffusers model."""
    unet = tmp_path / "unet"
    unet.mkdir()
    (unet / "config.json").write_text('{"_class_name": ["StreamingUNet"]}')
    with pytest.raises(ValueError, match=r"holds no diffusers model .*; it takes a StreamingUNet"):
        assemble_model(tmp_path / "m", unet=unet)


def test_assemble_names_its_arguments_to_python_and_its_flags_on_the_command_line(
    tmp_path, capsys, monkeypatch
):
    """Its errors named flags (--unet, --init-unet) that a Python caller never typed: ``unet``,
    ``init_unet`` there, and the flags, as before, on the command line."""
    nope = tmp_path / "nope" / "unet"
    # named as the recipes name a folder: with the value as typed (it said "unet folder /abs/nope/unet")
    missing = (
        "{unet} does not exist: pass OUT/final/unet of a stream run, or microworld (the shipped model's stream "
        "UNet)"
    )
    with pytest.raises(FileNotFoundError) as err:
        assemble_model(tmp_path / "m", unet=nope)
    assert str(err.value) == missing.format(unet=f"unet={str(nope)!r}")
    assert main(["assemble", "model", str(tmp_path / "m"), "--unet", str(nope)]) == 2
    assert capsys.readouterr().err.strip() == "error: " + missing.format(unet=f"--unet {str(nope)!r}")
    monkeypatch.chdir(tmp_path)
    assert main(["assemble", "model", "m", "--unet", "my runs/s/final/unet"]) == 2
    assert capsys.readouterr().err.strip() == "error: " + missing.format(unet="--unet 'my runs/s/final/unet'")
    # and so are the later refusals of a folder that is there (they said "--unet folder my runs/e has ...")
    (tmp_path / "my runs" / "e").mkdir(parents=True)
    how = "OUT/final/unet of a stream run, or microworld (the shipped model's stream UNet)"
    assert main(["assemble", "model", "m", "--unet", "my runs/e"]) == 2
    assert capsys.readouterr().err.strip() == f"error: --unet 'my runs/e' has no config.json (pass {how})"
    (tmp_path / "my runs" / "e" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    assert main(["assemble", "model", "m", "--unet", "my runs/e"]) == 2
    holds = f"holds an AutoencoderKL; it takes a StreamingUNet ({how})"
    assert capsys.readouterr().err.strip() == f"error: --unet 'my runs/e' {holds}"
    with pytest.raises(ValueError) as err:
        assemble_model("m", unet="my runs/e")
    assert str(err.value) == f"unet='my runs/e' {holds}"
    # a stream UNet outside a run folder (its config alone: nothing is loaded before the refusal)
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "config.json").write_text(
        json.dumps({"_class_name": "StreamingUNet", "streaming": {"num_frames": 16}})
    )
    needed = "{init_unet} is needed: {unet} is not the final/unet of a run that recorded its base_unet"
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", unet=loose)
    assert str(err.value) == needed.format(init_unet="init_unet", unet=repr(str(loose)))
    assert main(["assemble", "model", str(tmp_path / "m"), "--unet", str(loose)]) == 2
    assert capsys.readouterr().err.strip() == "error: " + needed.format(
        init_unet="--init-unet", unet=repr(str(loose))
    )
    # the run named as typed, then as read (it said the folder as read alone: /home/me/loose)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", unet="~/loose")
    assert str(err.value) == needed.format(init_unet="init_unet", unet=f"'~/loose' ({str(loose)!r})")


def test_assemble_refuses_a_bad_fps_and_sampler_values_of_the_wrong_type(tmp_path, runs, capsys):
    """Checked before anything is loaded or written, as one line naming the setting and its value (a
    zero fps used to be stored and fail only at ``generate``; a string step count failed on a comparison)."""
    stream_unet = runs / "stream" / "final" / "unet"
    for fps in (0, -8, 7.5, True):
        with pytest.raises(ValueError, match=rf"^fps must be an integer > 0, got {fps!r}$"):
            assemble_model(tmp_path / "m", unet=stream_unet, fps=fps)
    # the command line names its flag (the message named the Python argument alone)
    assert main(["assemble", "model", str(tmp_path / "m"), "--unet", str(stream_unet), "--fps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --fps must be an integer > 0, got 0"
    # a whole number written as a float is that number, as the library takes it (argparse's int refused it)
    assert (
        main(["assemble", "model", str(tmp_path / "m24"), "--unet", str(stream_unet), "--fps", "24.0"]) == 0
    )
    assert json.loads((tmp_path / "m24" / "model_index.json").read_text())["streamt2v"]["fps"] == 24
    assert (
        main(["assemble", "model", str(tmp_path / "m"), "--unet", str(stream_unet), "--fps", "23.976"]) == 2
    )
    assert capsys.readouterr().err.strip().endswith("--fps must be an integer > 0, got 23.976")
    wrong = [
        ({"steps": "many"}, "steps must be an integer, got 'many'"),
        ({"init_steps": 2.5}, "init_steps must be an integer, got 2.5"),
        ({"guidance": "high"}, "guidance must be a finite number, got 'high'"),
        ({"eta": float("nan")}, "eta must be a finite number, got nan"),
        ({"reanchor": 1}, "reanchor must be true or false, got 1"),
        ({"scheduler": 3}, "scheduler must be a string, got 3"),
        (
            {"chunk_frames": None},
            "chunk_frames must be an integer, got None (leave chunk_frames out for generate's default)",
        ),
    ]
    for sampler, message in wrong:  # StreamConfig's own words, after the settings given
        with pytest.raises(ValueError) as err:
            assemble_model(tmp_path / "m", unet=stream_unet, sampler=sampler)
        assert str(err.value) == f"sampler={sampler}: {message}"
    args = ["assemble", "model", str(tmp_path / "m"), "--unet", str(stream_unet)]
    assert main([*args, "--sampler", '{"steps": "many"}']) == 2
    assert capsys.readouterr().err.strip() == 'error: --sampler steps must be an integer, got "many"'
    # what generate refuses when it uses the settings (pipeline.step_counts, the CAM's frames): were stored
    refused = [
        (
            {"chunk_strength": 0.5, "steps": 600},
            "chunk_strength 0.5 starts stage 2 at step 500 of 1000, too close to the end for steps=600; "
            "lower steps to 500 or less, or raise chunk_strength to 0.6 or more",
        ),
        ({"init_steps": 1001}, "init_steps=1001 is more than the 1000 timesteps of the noise schedule"),
        ({"cond_frames": 4}, "cond_frames=4 does not match the stream UNet's CAM, which was built for 8"),
    ]
    for sampler, message in refused:
        with pytest.raises(ValueError, match=f"^sampler={re.escape(str(sampler))}: {message}"):
            assemble_model(tmp_path / "m", unet=stream_unet, sampler=sampler)
    assert main([*args, "--sampler", json.dumps(refused[0][0])]) == 2
    typed = shlex.quote(json.dumps(refused[0][0]))  # the JSON as typed on the command line
    assert capsys.readouterr().err.startswith(f"error: --sampler {typed}: {refused[0][1]}")
    assert not (tmp_path / "m").exists()


def test_the_model_runs_at_the_frame_rate_its_stream_run_recorded(tmp_path, runs, capsys, monkeypatch):
    """A run on a folder of videos records their frame rate ('fps' in its config.json); assemble took 8 (the
    microworld's) unless --fps was given, so a model of 24 fps videos played them at a third of their speed.
    A microworld run records none: 8. A recorded value that is no frame rate is named with its file; 24.0
    is one (it was refused as no integer, though a model folder's index may hold it)."""
    run = tmp_path / "stream24"
    shutil.copytree(runs / "stream" / "final", run / "final")
    config = json.loads((runs / "stream" / "config.json").read_text())
    assert "fps" not in config  # a microworld run
    (run / "config.json").write_text(json.dumps({**config, "fps": 24}))

    def fps(folder: Path) -> int:
        return json.loads((folder / "model_index.json").read_text())["streamt2v"]["fps"]

    args = ["assemble", "model", str(tmp_path / "m24"), "--unet", str(run / "final" / "unet")]
    assert main(args) == 0 and fps(tmp_path / "m24") == 24
    assert main([*args, "--fps", "12", "--overwrite"]) == 0 and fps(tmp_path / "m24") == 12
    assert fps(assemble_model(tmp_path / "m8", unet=runs / "stream" / "final" / "unet")) == 8
    # a whole number written as a float (another JSON writer) is that frame rate, as a model folder's is
    (run / "config.json").write_text(json.dumps({**config, "fps": 24.0}))
    assert main([*args, "--overwrite"]) == 0 and repr(fps(tmp_path / "m24")) == "24"
    assert repr(fps(assemble_model(tmp_path / "m12", unet=run / "final" / "unet", fps=12.0))) == "12"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["assemble", "model", "--help"])
    assert "(default: the one the stream run recorded, " in " ".join(capsys.readouterr().out.split())
    (run / "config.json").write_text(json.dumps({**config, "fps": "24"}))
    assert main([*args, "--overwrite"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"error: the frame rate '24' recorded by the run of {str(run / 'final' / 'unet')!r} ('fps' in "
        f"{str(run / 'config.json')!r}) is not an integer > 0; pass --fps to give the videos' frame rate"
    )
    # the run named as typed, then as read (it said the folders as read alone: /home/me/stream24/...)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m24", unet="~/stream24/final/unet", overwrite=True)
    assert str(err.value).startswith(
        f"the frame rate '24' recorded by the run of '~/stream24/final/unet' ({str(run / 'final' / 'unet')!r}) "
        f"('fps' in '~/stream24/config.json' ({str(run / 'config.json')!r})) is not"
    )


def test_assemble_warns_when_a_given_part_is_not_the_one_the_run_recorded(
    tmp_path, runs, encoders, caplog, monkeypatch
):
    """A VAE of the same architecture but other weights (another run, a fine-tuned decoder) is taken, with a
    warning naming both folders; a byte-identical copy of the recorded folder, or the recorded folder itself,
    is not warned about."""
    from safetensors.torch import load_file, save_file

    vae, _ = encoders
    stream_unet = runs / "stream" / "final" / "unet"
    other = tmp_path / "other-vae"
    shutil.copytree(vae, other)
    weights = other / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 0.01 for k, v in load_file(weights).items()}, weights)
    copy = tmp_path / "copied-vae"
    shutil.copytree(vae, copy)

    def warnings(**parts) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.train.assemble"):
            assemble_model(tmp_path / "m", unet=stream_unet, overwrite=True, **parts)
        return [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.assemble"]

    [warning] = warnings(vae=other)
    assert warning.startswith(f"vae='{other}' is not the VAE the UNet's run recorded ({str(vae)!r}")
    assert "holds other weights" in warning
    assert "(fine if it has the recorded VAE's encoder, e.g. a fine-tuned decoder; leave vae out" in warning
    assert (tmp_path / "m" / "model_index.json").is_file()  # a warning, not an error
    # the command line names the flags typed
    caplog.clear()
    args = ["assemble", "model", str(tmp_path / "m"), "--unet", str(stream_unet), "--vae", str(other)]
    with caplog.at_level(logging.WARNING, logger="streamt2v.train.assemble"):
        assert main([*args, "--overwrite"]) == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.assemble"]
    assert warning.startswith(f"--vae {str(other)!r} is not the VAE the UNet's run recorded ({str(vae)!r}")
    assert "; leave --vae out to use the recorded one)" in warning
    # one given with ~ as typed, then as read (it named the expanded folder alone)
    monkeypatch.setenv("HOME", str(tmp_path))
    caplog.clear()
    args[-1] = "~/other-vae"
    with caplog.at_level(logging.WARNING, logger="streamt2v.train.assemble"):
        assert main([*args, "--overwrite"]) == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.assemble"]
    assert warning.startswith(f"--vae '~/other-vae' ('{other}') is not the VAE the UNet's run recorded"), (
        warning
    )
    [warning] = warnings(vae="~/other-vae")
    assert warning.startswith(f"vae='~/other-vae' ('{other}') is not the VAE the UNet's run recorded"), (
        warning
    )
    assert warnings(vae=copy) == []
    assert warnings(vae=vae, clip=encoders[1], init_unet=runs / "base" / "final" / "unet") == []

    # each part's warning says when another one can be right: the VAE's "fine-tuned decoder" was said of all
    other_clip, other_base = tmp_path / "other-clip", tmp_path / "other-base"
    shutil.copytree(encoders[1], other_clip)
    shutil.copytree(runs / "base" / "final" / "unet", other_base)
    for weights in (
        other_clip / "text_encoder" / "model.safetensors",
        next(other_base.glob("*.safetensors")),
    ):
        save_file({k: v + 0.01 for k, v in load_file(weights).items()}, weights)
    stage1, clip = warnings(init_unet=other_base, clip=other_clip)
    assert stage1.startswith(f"init_unet='{other_base}' is not the stage-1 UNet the UNet's run recorded")
    assert "(fine if it is, e.g., the recorded stage-1 UNet trained further; leave init_unet out" in stage1
    assert clip.startswith(f"clip='{other_clip}' is not the CLIP the UNet's run recorded")
    assert "(its embeddings mean little to the UNet unless it is a copy of the recorded CLIP; leave" in clip

    # a part of another kind is refused, without first a warning that it may be fine as a VAE
    caplog.clear()
    not_a_vae = r"folder \S+ holds no diffusers model .*; it takes an AutoencoderKL"
    with (
        caplog.at_level(logging.WARNING, logger="streamt2v.train.assemble"),
        pytest.raises(ValueError, match=not_a_vae),
    ):
        assemble_model(tmp_path / "m", unet=stream_unet, overwrite=True, vae=encoders[1])
    assert [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.assemble"] == []


def test_overwrite_never_replaces_a_folder_that_holds_an_input(tmp_path, runs, capsys):
    """``assemble model runs/stream --unet runs/stream/final/unet --overwrite`` replaced the training run it
    was assembling (checkpoints, loss log, config: all lost) by the model folder; now it is one error, before
    anything is loaded, and the run is untouched. The same for a part found through the run's record."""
    run = tmp_path / "stream"
    shutil.copytree(runs / "stream", run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    args = ["assemble", "model", str(run), "--unet", str(run / "final" / "unet"), "--overwrite"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"error: --unet {str(run / 'final' / 'unet')!r} is inside the output folder {str(run)!r}, which is "
        "written as a whole (--overwrite replaces it); write the model folder somewhere else"
    )
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    # the stage-1 UNet the stream run recorded (not given), inside the output folder
    base = tmp_path / "base"
    shutil.copytree(runs / "base", base)
    config = json.loads((run / "config.json").read_text())
    config["recipe_config"]["base_unet"] = str(base / "final" / "unet")
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"^init_unet '.*base.final.unet' is inside the output folder"):
        assemble_model(base, unet=run / "final" / "unet", overwrite=True)
    assert (base / "final" / "unet" / "config.json").is_file()
    refiner = tmp_path / "refiner"
    shutil.copytree(runs / "refiner", refiner)
    with pytest.raises(
        ValueError,
        match=r"^unet '.*refiner.final.unet' is inside the output folder .*, which is written as a whole "
        r"\(overwrite=True replaces it\)",
    ):
        assemble_refiner(refiner / "final", unet=refiner / "final" / "unet", overwrite=True)
    assert (refiner / "final" / "unet" / "config.json").is_file()


def test_a_damaged_config_is_one_error_naming_the_file(tmp_path, runs, capsys):
    """A cut-short or hand-edited config.json failed with the JSON decoder's words alone ('Expecting property
    name ...'), naming no file; a file given as --unet was called a folder without config.json."""
    run = tmp_path / "stream"
    shutil.copytree(runs / "stream", run)
    unet = run / "final" / "unet"
    args = ["assemble", "model", str(tmp_path / "m"), "--unet", str(unet)]
    for damaged, what in (
        (unet / "config.json", "--unet config"),
        (run / "config.json", "the training run's config"),
        (run / "final" / "scheduler" / "scheduler_config.json", "scheduler config"),
    ):
        good = damaged.read_text()
        damaged.write_text(good[: len(good) // 2])
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"error: {what} {str(damaged)!r} is not valid JSON (")
        damaged.write_text(good)
    assert main(["assemble", "model", str(tmp_path / "m"), "--unet", str(unet / "config.json")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --unet {str(unet / 'config.json')!r} is a file, not a folder: pass OUT/final/unet of a stream "
        "run, or microworld (the shipped model's stream UNet)"
    )
    assert not (tmp_path / "m").exists()


def test_parts_of_an_assembled_folder_keep_the_runs_it_records(tmp_path, runs):
    """Re-assembling from an assembled folder's parts (another fps or sampler) recorded them as 'trained:
    ASSEMBLED/unet', losing the runs the first folder named."""
    from streamt2v.models.bundle import StreamingT2VModel

    first = assemble_model(tmp_path / "first", unet=runs / "stream" / "final" / "unet")
    sources = StreamingT2VModel.from_pretrained(first).sources
    assert sources["unet"] == f"trained: {runs / 'stream' / 'final' / 'unet'}"
    assert sources["init_unet"] == f"trained: {runs / 'base' / 'final' / 'unet'}"
    parts = dict(unet=first / "unet", init_unet=first / "init_unet", vae=first / "vae", clip=first)
    again = assemble_model(tmp_path / "again", fps=24, **parts)
    assert StreamingT2VModel.from_pretrained(again).sources == sources


def test_the_parts_a_folder_records_are_absolute_and_a_refiner_records_them_too(tmp_path, runs, monkeypatch):
    """``--unet runs/stream/final/unet`` was recorded as typed ('trained: runs/stream/...', meaningless from
    another folder) beside the absolute recorded parts; ``assemble refiner`` recorded no sources at all."""
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.refiner import Refiner

    monkeypatch.chdir(runs)
    model = assemble_model(tmp_path / "m", unet=Path("stream", "final", "unet"))
    assert (
        StreamingT2VModel.from_pretrained(model).sources["unet"] == f"trained: {runs / 'stream/final/unet'}"
    )
    refiner = assemble_refiner(tmp_path / "r", unet=Path("refiner", "final", "unet"))
    recorded = json.loads((refiner / "model_index.json").read_text())["streamt2v_sources"]
    vae, clip = recorded_clip_vae(runs / "refiner")
    assert recorded == {
        "unet": f"trained: {runs / 'refiner/final/unet'}",
        "vae": f"trained: {vae}",
        "clip": f"trained: {clip}",
    }
    assert Refiner.from_pretrained(refiner).sources == recorded


def recorded_clip_vae(run: Path) -> tuple[str, str]:
    recipe = json.loads((run / "config.json").read_text())["recipe_config"]
    return recipe["vae"], recipe["clip"]


def test_a_stage1_unet_of_another_schedule_is_warned_of_in_training_and_refused_by_assemble(
    tmp_path, encoders, caplog
):
    """A v-prediction stage-1 UNet (the shipped one's schedule) under an ε stream was trained and assembled
    without a word, into a folder whose one scheduler (ε) read the stage-1 UNet's v as ε: generate drew
    noise. Training from it warns naming the --set options that keep its schedule; assemble refuses."""
    vae, clip = encoders
    common = dict(vae=vae, clip=clip, num_frames=12, max_start=10, size=16)
    v_pred = dict(prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing")
    cfg = TrainConfig(steps=1, batch_size=1, lr=1e-4)
    train(make_recipe("base", **common, **v_pred), cfg, tmp_path / "base", progress=False)
    base_unet = tmp_path / "base" / "final" / "unet"

    caplog.set_level(logging.WARNING, "streamt2v.train.unet_schedules")
    make_recipe("base", init_unet=str(base_unet), **common, **v_pred).build()
    assert not caplog.records  # the same schedule: nothing to say
    make_recipe("base", init_unet=str(base_unet), **common).build()
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        f"init_unet={str(base_unet)!r} was trained with prediction_type='v_prediction', "
        "rescale_betas_zero_snr=True, timestep_spacing='trailing' ("
    )
    assert "this base run trains with prediction_type='epsilon', rescale_betas_zero_snr=False, " in warning
    assert warning.endswith(
        "pass prediction_type='v_prediction' rescale_betas_zero_snr=True timestep_spacing='trailing'"
    )

    caplog.clear()
    out = tmp_path / "stream"
    args = ["train", "stream", "--out", str(out), "--base-unet", str(base_unet), "--steps", "1"]
    args += ["--vae", vae, "--clip", clip, "--size", "16", "--batch-size", "1"]
    args += ["--set", "num_frames=12", "--set", "max_start=10"]
    assert main(args) == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "streamt2v.train.unet_schedules"]
    assert warning.startswith(f"--base-unet {str(base_unet)!r} was trained with prediction_type=")
    assert "so assemble model refuses the pair: to keep the UNet's schedule, pass --set " in warning
    assert warning.endswith(
        "--set prediction_type=v_prediction --set rescale_betas_zero_snr=true --set timestep_spacing=trailing"
    )

    with pytest.raises(ValueError, match="these parts do not make one model: ") as err:
        assemble_model(tmp_path / "model", unet=out / "final" / "unet")
    assert (
        f"the stage-1 UNet {str(base_unet)!r} was trained with prediction_type='v_prediction', "
        "rescale_betas_zero_snr=True, timestep_spacing='trailing' (its scheduler "
        f"{str(base_unet.parent / 'scheduler')!r}), the stream UNet's schedule, the one the model folder "
        "samples both with, has prediction_type='epsilon', rescale_betas_zero_snr=False, "
        "timestep_spacing='leading'"
    ) in str(err.value)
    assert not (tmp_path / "model").exists()
