"""generate / resume / CLI end to end (tiny random-weight model, CPU): bit-identical resume after a crash or
Ctrl-C, previews after every chunk, final files only when complete, the catalogue of bad inputs."""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex

import pytest
import torch

from streamt2v.cli import main
from streamt2v.io.video import read_video
from streamt2v.memory import move_modules, offloaded, resolve_device, resolve_dtype
from streamt2v.pipeline.generate import GenerateConfig, generate, resume_generate
from streamt2v.pipeline.model_loading import recommended_sampler
from streamt2v.pipeline.stream import StreamConfig


@pytest.fixture(scope="module")
def model():
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)


@pytest.fixture(scope="module")
def model32():
    """The tiny preset at 32x32 frames, for the stage-3 runs: the embedded refiner is then the shipped one
    (64x64) instead of a random-weight 128x128 stand-in, a quarter of the pixels in every UNet call."""
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)


# Stage 3 as the stand-in runs it (EnhanceConfig's defaults) instead of the shipped refiner's recommended
# single DDIM step without CFG: a multistep sampler, whose history a resume must restore, and CFG.
STAGE3 = dict(start_step=600, scheduler="dpmpp-2m-sde", guidance_scale=7.5)


def cfg_for(tmp_path, name, n=40, **kw):
    return GenerateConfig(
        output=str(tmp_path / f"{name}.mp4"),
        stream=StreamConfig(num_frames=n, seed=7, steps=2, init_steps=2),
        prompt="a red circle",
        run_dir=str(tmp_path / f"run-{name}"),
        **kw,
    )


class Crash(Exception):
    pass


def test_run_config_saved_before_init_eta_resumes_with_the_eta_it_used():
    saved = GenerateConfig(
        output="out.mp4", prompt="a cat", stream=StreamConfig(num_frames=4, eta=0.3, init_eta=0.7)
    ).to_dict()
    assert GenerateConfig.from_dict(saved).stream.init_eta == 0.7
    del saved["stream"]["init_eta"]  # a run dir written before the field existed
    assert GenerateConfig.from_dict(saved).stream.init_eta == 0.3


def test_preview_after_each_chunk_and_final_only_at_end(tmp_path, model):
    cfg = cfg_for(tmp_path, "a", n=30, png_dir=str(tmp_path / "pngs"), gif=str(tmp_path / "a.gif"))
    seen = []

    def on_chunk(chunk):
        assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.gif").exists()
        seen.append(read_video(tmp_path / "a.partial.mp4")[0].shape[2])

    res = generate(cfg, model=model, on_chunk=on_chunk)
    assert seen == [16, 24, 30]
    assert read_video(res.output)[0].shape[2] == 30
    assert read_video(tmp_path / "a.gif")[0].shape[2] == 30 and len(list((tmp_path / "pngs").iterdir())) == 30
    assert not (tmp_path / "a.partial.mp4").exists()
    manifest = json.loads((res.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["chunks"]) == 3


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
    with pytest.raises(FileNotFoundError, match="--init-video file not found"):
        resume_generate(tmp_path / "run-c", model=model)
    (tmp_path / "in-moved.mp4").rename(src)
    with pytest.raises(FileNotFoundError, match="--anchor file not found"):
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
    from streamt2v.pipeline.rundir import RunInUseError

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


def test_extend_mode_keeps_input_frames(tmp_path, model):
    first = generate(cfg_for(tmp_path, "src", n=16), model=model)
    src, _ = read_video(first.output)
    res = generate(cfg_for(tmp_path, "ext", n=30, init_video=str(first.output)), model=model)
    out, _ = read_video(res.output)
    assert out.shape[2] == 30
    # The input frames are re-encoded from exactly the decoded input: H.264 at crf 18 keeps them close.
    assert (out[:, :, :16] - src).abs().mean() < 0.03


def test_an_init_video_at_another_rate_is_warned_about_without_fps(tmp_path, model, caplog):
    """The output plays at the model's rate unless --fps: a 24 fps input's frames played 3x slower in it."""
    from streamt2v.io.video import write_video

    write_video(tmp_path / "in24.mp4", torch.zeros(3, 16, 64, 64), fps=24)
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        generate(cfg_for(tmp_path, "a", n=24, init_video=str(tmp_path / "in24.mp4")), model=model)
    assert (
        "plays at 24 fps and the output at the model's 8 fps, so its 16 frames play 3x slower" in caplog.text
    )
    assert "pass --fps 24 to keep the input's rate" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        generate(cfg_for(tmp_path, "b", n=24, init_video=str(tmp_path / "in24.mp4"), fps=24), model=model)
    assert "plays at" not in caplog.text  # the rate the user chose
    # a GIF among the outputs: the closest rate a GIF plays, not an --fps the same run refuses
    write_video(tmp_path / "in60.mp4", torch.zeros(3, 16, 64, 64), fps=60)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        config = cfg_for(
            tmp_path, "c", n=24, init_video=str(tmp_path / "in60.mp4"), gif=str(tmp_path / "c.gif")
        )
        generate(config, model=model)
    assert "a GIF plays at most 50 fps, so --fps 50 comes closest" in caplog.text
    assert "pass --fps 60" not in caplog.text


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
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0  # complete run: rewrites outputs
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 20
    assert "is already finished; writing its outputs again from its frames" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,match",
    [
        (["", "--frames", "8"], "non-empty"),
        # stage-1/2 settings are named by the flags typed, not by their StreamConfig fields
        (
            ["x", "--frames", "2000000"],
            "error: --frames must be at most 1,000,000",
        ),  # --frames 0: test_cli_env
        (
            ["x", "--chunk-frames", "8", "--cond-frames", "8"],
            "--chunk-frames (8) must be greater than --cond-frames",
        ),
        (["x", "--init-video", "bad.mp4"], "cannot read video"),
        (["x", "--init-video", "missing.mp4"], "not found"),
        (["x", "--model", "no/such/folder"], "does not exist"),
        (["x", "--scheduler", "heun"], "unknown --scheduler 'heun'"),
        (["x", "--guidance-rescale", "2"], "error: --guidance-rescale must be in [0, 1] (0 = off), got 2.0"),
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
        (
            ["x", "--init-video", "v3.mp4", "--frames", "3"],
            "error: --frames (3) must exceed the 3 input frames",
        ),
        (["x", "--dtype", "fp16", "--device", "cpu"], "dtype fp16 is not supported on device cpu"),
        (["x", "--device", "tpu"], "device"),
        (["x", "-o", "out.xyz"], "unknown suffix"),
        (["--frames", "20", "--prompt-schedule", "5: late"], "start at frame 0"),
        (["--frames", "20", "--prompt-schedule", "0: a; 30: b"], "past the end"),
        (["x", "--prompt-schedule", "0: a"], "give either a PROMPT or --prompt-schedule, not both"),
        (
            ["--prompt-schedule", "schedule_missing.txt"],
            "prompt schedule file 'schedule_missing.txt' not found",
        ),
        (["x", "--init-guidance", "nan"], "error: --init-guidance must be a finite number, got nan"),
        (["x", "--guidance", "nan"], "error: --guidance must be a finite number, got nan"),
        (["x", "--eta", "inf"], "error: --eta must be a finite number, got inf"),
        (["x", "--fps", "inf"], "--fps must be a finite number"),
        (["x", "--fps", "nan"], "--fps must be a finite number"),
        (["x", "--fps", "1e-9"], "--fps must be a finite number"),
        (["x", "--fps", "0"], "--fps must be a finite number"),
        (["x", "--fps", "60", "-o", "out.gif"], "--fps 60.0 is too high for a GIF"),
        (["x", "--fps", "51", "--gif", "side.gif"], "--fps 51.0 is too high for a GIF"),
        (["x", "--enhance", "--refiner", "/nonexistent"], "refiner folder '/nonexistent' does not exist"),
        (["x", "--enhance", "--refiner", "models/mine-hr"], "refiner folder 'models/mine-hr' does not exist"),
        (["x", "--model", "/nonexistent"], "does not exist"),
        (["x", "--init-image", "."], "is a folder"),
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


def test_memory_policy():
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    if not torch.cuda.is_available():  # a Python caller is told the argument, not only the CLI flag
        with pytest.raises(ValueError, match=r"use device 'cpu' or 'auto' \(--device on the command line\)"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", torch.device("cpu"))
    lin = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="boom"), offloaded([lin], torch.device("cpu")):
        assert lin.weight.device.type == "cpu"
        raise RuntimeError("boom")
    assert lin.weight.device.type == "cpu"


def test_describe_machine_names_the_threads_only_when_asked():
    from streamt2v.memory import describe_machine

    n = torch.get_num_threads()
    assert describe_machine().endswith(f"torch {torch.__version__}, {n} thread{'' if n == 1 else 's'}")
    assert describe_machine(threads=False).endswith(f"torch {torch.__version__}")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_machine().endswith(", 1 thread")  # not "1 threads"
    finally:
        torch.set_num_threads(before)


def test_move_modules_passes_only_the_given_settings():
    import logging

    from diffusers import AutoencoderKL

    vae = AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=2)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # diffusers' loggers do not propagate to pytest's caplog
    logging.getLogger("diffusers").addHandler(handler)
    try:
        move_modules([vae], device="cpu")  # no dtype: diffusers must not warn about casting
        assert vae.dtype == torch.float32 and not records
        move_modules([vae, torch.nn.Linear(2, 2)])  # nothing given: nothing moves
        move_modules([vae], dtype=torch.float64)
        assert vae.dtype == torch.float64
    finally:
        logging.getLogger("diffusers").removeHandler(handler)


def test_enhance_runs_stage_3_and_keeps_the_lowres_video(tmp_path, model32):
    """``generate --enhance``: the output is the stage-3 video (2x the base size, same frame count); the
    stage-2 video stays beside it as ``<stem>.lowres.mp4``; extra outputs are the enhanced frames."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.io.output_paths import OutputInUseError, check_output_path

    enhance = dict(STAGE3, num_inference_steps=2, chunk_frames=16, overlap=4)
    cfg = cfg_for(tmp_path, "e", n=24, enhance=enhance, png_dir=str(tmp_path / "e-png"))
    in_use, hooks = [], []

    def try_other_writers(module, args, output):  # during stage 3, the final outputs are held
        if isinstance(module, UNet3DConditionModel) and not in_use:
            for path in (cfg.output, cfg.png_dir):
                with pytest.raises(OutputInUseError, match="is being written by another process"):
                    check_output_path(path, overwrite=True)
                in_use.append(path)

    def on_chunk(chunk):  # the last chunk is finished: every UNet call from here on is stage 3's
        if chunk.index == 1:
            hooks.append(register_module_forward_hook(try_other_writers))

    try:
        res = generate(cfg, model=model32, on_chunk=on_chunk)
    finally:
        for hook in hooks:
            hook.remove()
    assert in_use == [cfg.output, cfg.png_dir]
    check_output_path(cfg.output, overwrite=True)  # released at the end
    hi, _ = read_video(res.output)
    lo, _ = read_video(tmp_path / "e.lowres.mp4")
    assert hi.shape[2] == lo.shape[2] == 24
    assert hi.shape[-2:] == (2 * lo.shape[-2], 2 * lo.shape[-1])
    assert len(list((tmp_path / "e-png").iterdir())) == 24
    assert not (tmp_path / "e.partial.mp4").exists() and not (tmp_path / "e.lowres.partial.mp4").exists()


def test_enhance_into_a_png_folder_keeps_the_lowres_frames_beside_it(tmp_path, model):
    """``-o frames --enhance``: was refused before any work ('frames.lowres': unknown suffix '.lowres')."""
    from streamt2v.io.video import read_image

    cfg = cfg_for(tmp_path, "f", n=17, enhance=dict(num_inference_steps=1, chunk_frames=16, overlap=4))
    cfg = dataclasses.replace(cfg, output=str(tmp_path / "frames"))
    res = generate(cfg, model=model)
    assert res.output == tmp_path / "frames"
    hi = sorted((tmp_path / "frames").iterdir())
    lo = sorted((tmp_path / "frames-lowres").iterdir())
    assert len(hi) == len(lo) == 17
    assert read_image(hi[0]).shape[-2:] == tuple(2 * n for n in read_image(lo[0]).shape[-2:])


def test_a_run_stopped_in_stage_3_continues_from_its_last_finished_step(tmp_path, model32):
    """Stage 3 keeps its state after each step in the run directory; ``--resume`` continues from there (the
    same output, bit for bit) and removes it once the outputs are written."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.pipeline.rundir import STAGE3_STATE

    enhance = dict(
        STAGE3, num_inference_steps=3, chunk_frames=16, overlap=4
    )  # 2 chunks: one UNet call a step
    ref = generate(cfg_for(tmp_path, "ref", n=24, enhance=enhance), model=model32)
    calls, hooks = [], []

    def stop_in_the_second_step(module, args, output):
        if isinstance(module, UNet3DConditionModel):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt

    def on_chunk(chunk):  # the last chunk is finished: every UNet call from here on is stage 3's
        if chunk.index == 1:
            hooks.append(register_module_forward_hook(stop_in_the_second_step))

    try:
        with pytest.raises(KeyboardInterrupt):
            generate(cfg_for(tmp_path, "s", n=24, enhance=enhance), model=model32, on_chunk=on_chunk)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(calls) == 2 and not (tmp_path / "s.mp4").exists()
    state = tmp_path / "run-s" / STAGE3_STATE
    assert torch.load(state, weights_only=True)["steps_done"] == 1
    calls.clear()
    count = register_module_forward_hook(
        lambda module, args, output: calls.append(1) if isinstance(module, UNet3DConditionModel) else None
    )
    try:
        res = resume_generate(tmp_path / "run-s", model=model32)
    finally:
        count.remove()
    assert len(calls) == 2  # steps 2 and 3 only
    assert res.output.read_bytes() == ref.output.read_bytes()
    assert not state.exists() and not state.with_name(state.name + ".stale").exists()


def test_a_model_without_tokenizer_is_refused_before_loading(tmp_path, model):
    """A folder converted without a tokenizer ("tokenizer": null) cannot read prompts: refused before any
    weights are read (here its UNet is even missing), and a model object without one before any sampling."""
    import copy
    import shutil

    no_tok = copy.deepcopy(model)
    no_tok.text_encoder.tokenizer = None
    folder = no_tok.save_pretrained(tmp_path / "no-tok")
    shutil.rmtree(folder / "unet")
    message = r"has no tokenizer, so it cannot read prompts: convert .* again with --tokenizer"
    with pytest.raises(ValueError, match=rf"model folder '.*no-tok' \(\"tokenizer\": null .*\) {message}"):
        generate(cfg_for(tmp_path, "a", model=str(folder)))
    with pytest.raises(ValueError, match=rf"the model given {message}"):
        generate(cfg_for(tmp_path, "b"), model=no_tok)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-tok"]  # no run directory, no output


def test_bad_enhance_settings_fail_before_loading_a_model(tmp_path):
    from streamt2v.assets import microworld_refiner_dir

    cfg = cfg_for(tmp_path, "bad", enhance=dict(chunk_frames=8, overlap=8))
    with pytest.raises(
        ValueError, match="^stage 3: chunk_frames \\(8\\) must be larger than overlap \\(8\\)"
    ):
        generate(cfg)
    # the start step against the refiner's schedule (embedded refiner, or a folder's), before stage 1
    for refiner in (None, str(microworld_refiner_dir())):
        cfg = cfg_for(tmp_path, "bad", enhance=dict(start_step=5000), refiner=refiner)
        with pytest.raises(ValueError, match="start_step 5000 is past the refiner's noise schedule of 1000"):
            generate(cfg)
    # a setting that only clashes with the shipped refiner's recommended start step (1): also before stage 1
    cfg = cfg_for(tmp_path, "bad", enhance=dict(num_inference_steps=8))
    with pytest.raises(
        ValueError,
        match=r"num_inference_steps \(8\) must be <= start_step \(1\).*; start_step 1 is the recommendation "
        r"of the refiner 'microworld-refiner' \(set start_step to change it\)$",
    ):
        generate(cfg)
    # a misspelt setting is named with the settings there are (was EnhanceConfig's raw TypeError)
    with pytest.raises(
        ValueError, match=r"^stage 3: enhance setting\(s\) \['stepz'\] unknown; the settings: blend,"
    ):
        generate(cfg_for(tmp_path, "bad", enhance=dict(stepz=3)))
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


# ----------------------------------------------------------------------------- outputs and run directories
FAST_CLI = ["--model", "tiny", "--steps", "1", "--init-steps", "1", "--no-progress"]


def test_cli_never_deletes_user_folders_and_needs_overwrite_for_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("x")
    for argv in (["-o", "mydocs"], ["-o", "o.mp4", "--png-dir", "mydocs"]):
        assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, *argv]) == 2
        err = capsys.readouterr().err
        assert "'mydocs'" in err and "thesis.txt" in err, err
    assert (docs / "thesis.txt").read_text() == "x" and not (tmp_path / "runs").exists()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--png-dir", "frames"]) == 0
    before = (tmp_path / "o.mp4").read_bytes()
    capsys.readouterr()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--seed", "5"]) == 2
    assert "'o.mp4' already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "o.mp4").read_bytes() == before
    argv = [
        "generate",
        "a cat",
        "--frames",
        "8",
        *FAST_CLI,
        "-o",
        "o.mp4",
        "--png-dir",
        "frames",
        "--overwrite",
    ]
    assert main([*argv, "--seed", "5"]) == 0
    assert (tmp_path / "o.mp4").read_bytes() != before
    # a resumed run replaces its own outputs, but not a file the user put into its PNG folder
    run = sorted((tmp_path / "runs").iterdir())[-1]
    (tmp_path / "frames" / "mine.txt").write_text("keep")
    capsys.readouterr()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 2
    assert "mine.txt" in capsys.readouterr().err
    assert (tmp_path / "frames" / "mine.txt").read_text() == "keep"
    (tmp_path / "frames" / "mine.txt").unlink()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0


def test_a_file_where_the_preview_goes_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys):
    """out.partial.mp4 was replaced by the preview and then renamed to out.mp4: the user's file was gone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.partial.mp4").write_text("mine")
    (tmp_path / "g.partial.gif").write_text("mine too")
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "out.mp4"]) == 2
    err = capsys.readouterr().err
    assert "error: 'out.partial.mp4', where the preview of output 'out.mp4' is written" in err, err
    assert "pass --overwrite" in err
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o2.mp4", "--gif", "g.gif"]) == 2
    assert "'g.partial.gif', where the preview of --gif 'g.gif'" in capsys.readouterr().err
    assert (tmp_path / "out.partial.mp4").read_text() == "mine" and not (tmp_path / "out.mp4").exists()
    assert not (tmp_path / "runs").exists()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "out.mp4", "--overwrite"]) == 0
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 8 and not (tmp_path / "out.partial.mp4").exists()


def test_short_init_video_then_longer_chunks(tmp_path, monkeypatch):
    """A 2-frame H.264 segment followed by 8-frame ones used to fail remuxing ('returned 22')."""
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    write_video("v2.mp4", torch.rand(1, 3, 2, 32, 32) * 2 - 1, fps=8)
    assert (
        main(["generate", "a cat", "--init-video", "v2.mp4", "--frames", "10", "-o", "iv4.mp4", *FAST_CLI])
        == 0
    )
    assert read_video(tmp_path / "iv4.mp4")[0].shape[2] == 10


def test_failed_start_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv, match in [
        (["--cond-frames", "4"], "does not match the model's CAM"),
        (["--chunk-strength", "0.5", "--steps", "1000"], "too close to the end for --steps 1000"),
    ]:
        for _ in range(2):  # a rerun with the same --run-dir gives the same error, not "already holds a run"
            assert main(["generate", "a cat", "--frames", "24", *FAST_CLI, "--run-dir", "r", *argv]) == 2
            assert match in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cli_reads_an_init_video_once_and_its_bar_counts_the_chunks_made(
    tmp_path, monkeypatch, capsys, model
):
    """The bar's total came from reading --init-video a second time, before generate() read it; a resume read
    it again, and counted the chunks of a text-only run when it had moved (3 steps instead of 2)."""
    import streamt2v.cli as cli
    import streamt2v.io.video as video_io
    import streamt2v.pipeline.generate as pipeline_generate
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "stderr_is_terminal", lambda: True)  # progress bars on
    real_read, reads = video_io.read_video, []

    def counted_read(path, *args, **kwargs):
        reads.append(str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(video_io, "read_video", counted_read)
    monkeypatch.setattr(pipeline_generate, "read_video", counted_read)
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


def test_pipeline_names_a_constraint_that_comes_from_the_models_recommended_setting():
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    pipe = StreamingT2VPipeline.from_pretrained(
        device="cpu"
    )  # the shipped model recommends chunk_strength 0.9
    with pytest.raises(ValueError) as err:
        pipe.stream("a red circle", 40, steps=950)
    assert str(err.value) == (
        "chunk_strength 0.9 starts stage 2 at step 900 of 1000, too close to the end for steps=950; lower steps "
        "to 900 or less, or raise chunk_strength to 0.95 or more; chunk_strength 0.9 is the model's recommended "
        "setting (set chunk_strength to change it)"
    )
    with pytest.raises(ValueError) as err:  # given by the caller: no note
        pipe.stream("a red circle", 40, steps=950, chunk_strength=0.9)
    assert str(err.value).endswith("raise chunk_strength to 0.95 or more")
    with pytest.raises(ValueError, match="^steps=1001 is more than the 1000 timesteps"):
        pipe.stream("a red circle", 40, steps=1001, chunk_strength=1.0)
    pipe.stream("a red circle", 16, steps=1001, chunk_strength=1.0)  # one stage-1 chunk: no stage-2 steps


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
    monkeypatch.chdir(b)
    res = resume_generate(a / "run", model=model)
    assert res.output == a / "out.mp4" and read_video(a / "out.mp4")[0].shape[2] == 24
    assert (a / "out.gif").exists() and list(b.iterdir()) == []
    assert sorted(p.name for p in a.iterdir()) == ["out.gif", "out.mp4", "run"]
    # a config written with relative paths (older runs) still resolves them from the current folder
    old = json.loads((a / "run" / "config.json").read_text())
    assert GenerateConfig.from_dict({**old, "output": "rel.mp4"}).output == "rel.mp4"


def test_cli_resume_warns_about_ignored_flags(tmp_path, monkeypatch, capsys, model):
    monkeypatch.chdir(tmp_path)
    generate(cfg_for(tmp_path, "w", n=8, model="tiny"), model=model)  # the resume loads the same preset
    assert main(["generate", "--resume", str(tmp_path / "run-w"), "--frames", "99", "--no-progress"]) == 0
    assert "ignoring --frames" in capsys.readouterr().err
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
    assert "ignoring --frames, --seed, --output" in capsys.readouterr().err
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
    # the command as printed, pasted into a shell, names the run (quoted, absolute) from anywhere
    printed = caplog.text.split("continue with: ", 1)[1].splitlines()[0]
    assert shlex.split(printed) == ["streamt2v", "generate", "--resume", str(tmp_path / "my run")]


def test_silently_ignored_inputs_are_named(tmp_path, monkeypatch, capsys, caplog):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (32, 32), "red").save("a.png")
    assert (
        main(["generate", "a cat", "--frames", "8", *FAST_CLI, "--enhance-steps", "3", "--anchor", "a.png"])
        == 0
    )
    assert "--enhance-steps only apply with --enhance" in capsys.readouterr().err
    assert caplog.text.count("--anchor is not used") == 1
    assert "anchor_image is not used" not in caplog.text  # named once, by its flag


def test_a_prompt_in_the_schedule_form_is_a_schedule_as_in_the_pipeline():
    """``streamt2v generate "0: a red circle; 16: a green square"`` made one literal prompt of it, while
    ``pipe("0: ...")`` read a schedule; both read a schedule now, and a plain prompt with a colon stays one."""
    from streamt2v.pipeline.preflight import check_inputs
    from streamt2v.pipeline.prompts import as_schedule

    def cfg(prompt, n=24):
        return GenerateConfig(output="o.mp4", stream=StreamConfig(num_frames=n), prompt=prompt)

    text = "0: a red circle; 16: a green square"
    assert cfg(text).schedule().entries == ((0, "a red circle"), (16, "a green square"))
    assert cfg(text).schedule().entries == as_schedule(text).entries
    assert cfg("3 red circles: bouncing").schedule().entries == ((0, "3 red circles: bouncing"),)
    with pytest.raises(ValueError, match="16"):
        check_inputs(cfg(text, n=16))  # checked like a --prompt-schedule: 16 is past the end


def test_a_run_stopped_by_nan_keeps_its_chunks_and_does_not_offer_a_futile_resume(tmp_path, caplog):
    import logging

    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.rundir import RunDir
    from streamt2v.sampling.schedulers import NonFiniteLatentsError

    broken = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    with torch.no_grad():  # the stream UNet gives NaN: stage 1 finishes, the first streaming chunk does not
        broken.unet.base.conv_in.weight[0] = float("inf")
    with caplog.at_level(logging.WARNING), pytest.raises(NonFiniteLatentsError, match="^stage 2, chunk 1"):
        generate(cfg_for(tmp_path, "nan", n=24), model=broken)
    run = RunDir.open(tmp_path / "run-nan")
    assert run.num_finished == 1 and run.status == "failed"
    assert "a resume would stop at the same chunk; run again with other settings" in caplog.text
    assert "continue with" not in caplog.text
    assert not (tmp_path / "nan.mp4").exists()


def test_after_nan_a_float16_run_is_told_to_continue_in_another_precision(tmp_path):
    from streamt2v.pipeline.generate import advice_after_nan

    f32, f16, b16 = torch.float32, torch.float16, torch.bfloat16
    run = tmp_path / "my run"
    cuda = advice_after_nan(run, f16, [f32, f16, b16])
    assert cuda.endswith(f"--resume '{run}' --dtype bf16 (or fp32)")
    assert advice_after_nan(run, f16, [f32, f16]).endswith(f"--resume '{run}' --dtype fp32")  # no bf16 (MPS)
    # in fp32 or bf16 the run's settings make the NaN: a resume would stop at the same chunk
    assert advice_after_nan(run, b16, [f32, f16, b16]).startswith("a resume would stop at the same chunk")


def test_a_resume_may_continue_on_another_dtype_and_records_it(tmp_path, monkeypatch, capsys, caplog, model):
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
        assert (
            main(["generate", "--resume", "run-h", "--dtype", "bf16", "--device", "cpu", "--no-progress"])
            == 0
        )
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
    with caplog.at_level(logging.INFO):  # a finished run: no chunk is left to continue from
        resume_generate(tmp_path / "run-h", dtype="fp32")
    assert "with dtype fp32 instead of bf16 (all its chunks were finished before)" in caplog.text
    assert "from chunk" not in caplog.text


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
        "error: 'run-k/config.json' cannot be resumed: unknown stream setting(s) ['stepz'] in the generate config"
    )
    with pytest.raises(ValueError, match=r"'.*run-k/config.json' cannot be resumed: unknown stream setting"):
        resume_generate(tmp_path / "run-k", model=model)


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
