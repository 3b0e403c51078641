"""Stage 3 enhancer (paper §4.3): SDEdit start, batched == sequential, modes, pad crop, refiner, CLI."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from diffusers import UNet3DConditionModel

from streamt2v.io.output_paths import OutputInUseError, check_output_path
from streamt2v.io.video import read_video, write_video
from streamt2v.models.denoiser import Denoiser
from streamt2v.pipeline.chunking import EnhanceSettingError
from streamt2v.pipeline.enhance import (
    EnhanceConfig,
    enhance_latents,
    enhance_video,
    fit_and_pad,
    unet_denoise_fn,
)
from streamt2v.pipeline.refiner import DEFAULT_SCHEDULER_CONFIG, Refiner
from streamt2v.sampling.schedulers import make_scheduler
from streamt2v.sampling.sdedit import sdedit_noise, sdedit_timesteps

SMALL = dict(chunk_frames=6, overlap=2, num_inference_steps=3)


def _tiny_unet(seed: int = 0) -> UNet3DConditionModel:
    torch.manual_seed(seed)
    return UNet3DConditionModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        attention_head_dim=8,
        cross_attention_dim=16,
        norm_num_groups=8,
        sample_size=8,
    ).eval()


def _run(denoise_fn, latents, config, seed=0, scheduler="dpmpp-2m-sde", prediction_type="epsilon"):
    sched = make_scheduler(
        scheduler,
        {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": prediction_type},
        timestep_spacing="trailing",
    )
    return enhance_latents(latents, denoise_fn, sched, config, generator=torch.Generator().manual_seed(seed))


def test_sdedit_start_matches_official_schedule() -> None:
    sched = make_scheduler("dpmpp-2m-sde", DEFAULT_SCHEDULER_CONFIG, timestep_spacing="trailing")
    ts = sdedit_timesteps(sched, 30, 600)
    assert ts.tolist() == list(range(599, 0, -20))  # official: 30 steps from t = 599, trailing spacing
    ddim = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG, timestep_spacing="trailing")
    ts = sdedit_timesteps(ddim, 10, 500)
    assert len(ts) == 10 and int(ts[0]) < 500
    x0, noise = torch.randn(1, 4, 3, 2, 2), torch.randn(1, 4, 3, 2, 2)
    a = ddim.alphas_cumprod[int(ts[0])]
    assert torch.allclose(
        sdedit_noise(ddim, x0, noise, ts), a.sqrt() * x0 + (1 - a).sqrt() * noise, atol=1e-6
    )
    with pytest.raises(ValueError, match="start step must be in 1..1000, got 0"):
        sdedit_timesteps(ddim, 10, 0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_a_final_ddim_step_ends_on_the_clean_sample_only_with_set_alpha_to_one(prediction_type: str) -> None:
    """One DDIM step from t = 0 lands on ᾱ_0 unless ``set_alpha_to_one``: the SDEdit input comes back
    as it went in, noised, whatever the model predicts; with it, the step returns the model's x̂0."""
    latents, wanted = torch.randn(1, 4, 6, 4, 4), torch.randn(1, 4, 6, 4, 4)
    cfg = EnhanceConfig(chunk_frames=6, overlap=0, start_step=1, num_inference_steps=1, scheduler="ddim")
    outs = {}
    for alpha_one in (False, True):
        config = {
            **DEFAULT_SCHEDULER_CONFIG,
            "prediction_type": prediction_type,
            "clip_sample": False,
            "set_alpha_to_one": alpha_one,
        }
        den = Denoiser.from_scheduler(make_scheduler("ddim", config))
        sched = make_scheduler("ddim", config, timestep_spacing="trailing")
        outs[alpha_one] = enhance_latents(
            latents,
            lambda x, t, chunks, den=den: den.from_x0(wanted.expand_as(x), x, t),  # predicts `wanted`
            sched,
            cfg,
            generator=torch.Generator().manual_seed(0),
        )
    a0 = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG).alphas_cumprod[0]
    noise = (outs[False] - a0.sqrt() * latents) / (1 - a0).sqrt()
    assert float(noise.std()) == pytest.approx(1.0, abs=0.15)  # the noised input, the model ignored
    torch.testing.assert_close(outs[True], wanted, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("steps", "start"), [(3, 25), (3, 100), (7, 30), (2, 3)])
def test_sdedit_never_schedules_a_negative_timestep(steps: int, start: int) -> None:
    # trailing spacing with a length that does not divide 1000 ends at t = -1 in diffusers (25/3 did)
    ddim = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG, timestep_spacing="trailing")
    ts = sdedit_timesteps(ddim, steps, start)
    assert len(ts) == steps and int(ts.min()) >= 0 and int(ts.max()) < start
    assert ts.tolist() == sorted(set(ts.tolist()), reverse=True)


@pytest.mark.parametrize(
    ("mode", "blend", "prediction_type"),
    [
        ("randomized", "latents", "epsilon"),
        ("randomized", "x0", "v_prediction"),
        ("shared-noise", "latents", "epsilon"),
        ("independent", "latents", "v_prediction"),
    ],
)
def test_batched_equals_sequential(mode: str, blend: str, prediction_type: str) -> None:
    unet = _tiny_unet()
    sched = make_scheduler("dpmpp-2m-sde", {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": prediction_type})
    cond, uncond = torch.randn(1, 5, 16), torch.randn(1, 5, 16)
    fn = unet_denoise_fn(unet, Denoiser.from_scheduler(sched), cond, uncond, 7.5, 0.2)
    latents = torch.randn(1, 4, 14, 8, 8)  # 4 chunks of 6, last end-aligned
    outs = []
    for cap in (1, 3, 8):
        cfg = EnhanceConfig(mode=mode, blend=blend, max_batch_chunks=cap, **SMALL)
        outs.append(_run(fn, latents, cfg, seed=3, prediction_type=prediction_type))
    for out in outs[1:]:
        # equal up to float32 kernel differences between batch sizes (observed ≤ 2e-5)
        assert torch.allclose(out, outs[0], rtol=1e-5, atol=1e-4), (out - outs[0]).abs().max()
    assert outs[0].shape == latents.shape and torch.isfinite(outs[0]).all()
    # same seed ⇒ same output; another seed ⇒ another output
    cfg = EnhanceConfig(mode=mode, blend=blend, **SMALL)
    assert torch.equal(_run(fn, latents, cfg, seed=3, prediction_type=prediction_type), outs[2])
    assert not torch.allclose(_run(fn, latents, cfg, seed=4, prediction_type=prediction_type), outs[2])


def test_per_chunk_prompts_condition_their_own_chunks() -> None:
    from streamt2v.pipeline.enhance import chunk_plan_for, chunk_prompts
    from streamt2v.pipeline.prompts import PromptSchedule

    plan = chunk_plan_for(14, EnhanceConfig(**SMALL))  # windows [0, 6), [4, 10), [8, 14)
    schedule = PromptSchedule(((0, "a"), (7, "b"), (11, "c")))
    assert chunk_prompts(schedule, plan) == ["a", "b", "c"]  # the prompt at each chunk's middle frame
    assert chunk_prompts("a", plan) == ["a"] * 3

    unet = _tiny_unet()
    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    den = Denoiser.from_scheduler(sched)
    conds = torch.randn(3, 5, 16)
    fn = unet_denoise_fn(unet, den, conds, None, 1.0)
    latents = torch.randn(2, 4, 14, 8, 8)
    cfg = EnhanceConfig(mode="independent", **SMALL)
    outs = [
        _run(fn, latents, EnhanceConfig(mode="independent", max_batch_chunks=cap, **SMALL), scheduler="ddim")
        for cap in (1, 3)
    ]
    assert torch.allclose(outs[0], outs[1], rtol=1e-5, atol=1e-4)
    # each chunk sees its own embedding: the first chunk's own frames match a run with conds[0]
    # everywhere, the last chunk's own frames do not
    same = _run(unet_denoise_fn(unet, den, conds[:1], None, 1.0), latents, cfg, scheduler="ddim")
    assert torch.allclose(outs[0][:, :, :4], same[:, :, :4], rtol=1e-5, atol=1e-4)
    assert not torch.allclose(outs[0][:, :, -4:], same[:, :, -4:], atol=1e-3)


def _framewise_fn(x: torch.Tensor, t: torch.Tensor, chunks: range) -> torch.Tensor:
    """A denoiser without temporal mixing: chunks that share noise evolve identically on shared frames."""
    return 0.3 * torch.tanh(x) + 0.01 * x.mean(dim=(1, 3, 4), keepdim=True)


def test_shared_noise_modes_agree_with_one_chunk_and_independent_differs() -> None:
    latents = torch.randn(1, 4, 20, 3, 3)
    steps = {"num_inference_steps": 4}
    # DPM++ 2M SDE: initial and per-step noise shared ⇒ overlapping frames identical in every chunk
    single = _run(_framewise_fn, latents, EnhanceConfig(mode="shared-noise", chunk_frames=64, **steps))
    shared = _run(
        _framewise_fn, latents, EnhanceConfig(mode="shared-noise", chunk_frames=8, overlap=3, **steps)
    )
    assert torch.allclose(shared, single, atol=1e-5)
    indep = _run(
        _framewise_fn, latents, EnhanceConfig(mode="independent", chunk_frames=8, overlap=3, **steps)
    )
    assert not torch.allclose(indep, shared, atol=1e-3)
    # deterministic DDIM: randomized blending (latents or x0) changes nothing for frame-wise predictions
    ref = _run(_framewise_fn, latents, EnhanceConfig(chunk_frames=64, **steps), scheduler="ddim")
    for blend in ("latents", "x0"):
        cfg = EnhanceConfig(mode="randomized", blend=blend, chunk_frames=8, overlap=3, **steps)
        assert torch.allclose(_run(_framewise_fn, latents, cfg, scheduler="ddim"), ref, atol=1e-4)


def test_the_log_names_chunks_and_overlap_only_when_there_are_several(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.enhance"):
        _run(_framewise_fn, torch.randn(1, 4, 1, 3, 3), EnhanceConfig(num_inference_steps=2))
        _run(
            _framewise_fn,
            torch.randn(1, 4, 20, 3, 3),
            EnhanceConfig(chunk_frames=8, overlap=3, num_inference_steps=2),
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("enhancing")]
    assert lines[0].startswith(
        "enhancing 1 frame(s) as one chunk, 2 step(s)"
    )  # was "1 chunk(s) of 1 (overlap 8)"
    assert lines[1].startswith(
        "enhancing 20 frame(s) in 4 chunks of 8 (overlap 3), mode randomized, 2 step(s)"
    )


@pytest.mark.parametrize("mode", ["randomized", "shared-noise", "independent"])
def test_batched_equals_sequential_exactly_for_a_batch_invariant_model(mode: str) -> None:
    latents = torch.randn(1, 4, 23, 3, 3)
    outs = [
        _run(_framewise_fn, latents, EnhanceConfig(mode=mode, max_batch_chunks=cap, **SMALL), seed=7)
        for cap in (1, 2, 100)
    ]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


@pytest.mark.parametrize(
    "scheduler,mode,blend",
    [
        ("dpmpp-2m-sde", "randomized", "latents"),  # a multistep solver's history and shared step noise
        ("dpmpp-2m-sde", "randomized", "x0"),  # the whole-video state
        ("dpm-multistep", "shared-noise", "latents"),
        ("ddpm", "randomized", "latents"),  # step noise from the generator
        ("euler", "independent", "latents"),
        ("ddim", "randomized", "latents"),
    ],
)
def test_stage3_continued_from_any_saved_step_equals_the_uninterrupted_run(
    scheduler: str, mode: str, blend: str, tmp_path
) -> None:
    from streamt2v.pipeline.enhance_state import EnhanceStateFile

    unet = _tiny_unet()
    sched_config = {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": "v_prediction"}
    fn = unet_denoise_fn(
        unet,
        Denoiser.from_scheduler(make_scheduler(scheduler, sched_config)),
        torch.randn(1, 5, 16),
        None,
        1.0,
    )
    latents = torch.randn(1, 4, 14, 8, 8)  # 4 chunks of 6, last end-aligned
    cfg = EnhanceConfig(mode=mode, blend=blend, chunk_frames=6, overlap=2, num_inference_steps=4)
    files = []

    def keep(progress) -> None:  # every step's state, each through a file as a stopped run leaves it
        files.append(EnhanceStateFile(tmp_path / f"step{progress.steps_done}.pt", "k"))
        files[-1].save(progress)

    def run(resume=None, on_step=None, seed=5):
        sched = make_scheduler(scheduler, sched_config, timestep_spacing="trailing")
        gen = torch.Generator().manual_seed(seed)
        return enhance_latents(latents, fn, sched, cfg, generator=gen, resume=resume, on_step=on_step)

    whole = run(on_step=keep)
    assert [f.load().steps_done for f in files] == [1, 2, 3, 4]
    for f in files:  # the generator's state comes from the file: the seed given to the rerun is not used
        assert torch.equal(run(resume=f.load(), seed=99), whole), f.path.name
    assert not torch.equal(run(seed=99), whole)
    with pytest.raises(ValueError, match=r"cannot resume stage 3 from 2 step\(s\) of a state shaped"):
        enhance_latents(
            latents[:, :, :10],
            fn,
            make_scheduler(scheduler, sched_config, timestep_spacing="trailing"),
            cfg,
            generator=torch.Generator(),
            resume=files[1].load(),
        )


def test_a_stage3_state_of_another_run_is_set_aside_and_an_unreadable_one_ignored(tmp_path, caplog) -> None:
    from streamt2v.pipeline.enhance_state import EnhanceProgress, EnhanceStateFile, remove_state_file

    path = tmp_path / "s.pt"
    EnhanceStateFile(path, "a").save(EnhanceProgress(1, torch.zeros(2), torch.Generator().get_state(), {}))
    assert EnhanceStateFile(path, "a").load().steps_done == 1
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "b").load() is None
    assert "is of another video, prompt, seed or setting" in caplog.text
    assert not path.exists() and (tmp_path / "s.pt.stale").is_file()
    path.write_bytes(b"cut short")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert EnhanceStateFile(path, "b").load() is None
    assert "cannot read its saved state" in caplog.text
    remove_state_file(path)
    assert list(tmp_path.iterdir()) == []


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


def test_randomized_differs_from_shared_noise_with_a_temporal_model() -> None:
    unet = _tiny_unet()
    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    fn = unet_denoise_fn(unet, Denoiser.from_scheduler(sched), torch.randn(1, 5, 16), None, 1.0)
    latents = torch.randn(1, 4, 10, 8, 8)
    a = _run(fn, latents, EnhanceConfig(mode="randomized", **SMALL), scheduler="ddim")
    b = _run(fn, latents, EnhanceConfig(mode="shared-noise", **SMALL), scheduler="ddim")
    assert not torch.allclose(a, b, atol=1e-4)


def test_config_errors_name_values() -> None:
    with pytest.raises(ValueError, match=r"chunk_frames \(8\) must be larger than overlap \(8\)"):
        EnhanceConfig(chunk_frames=8, overlap=8)
    with pytest.raises(ValueError, match="'naive'"):
        EnhanceConfig(mode="naive")
    with pytest.raises(ValueError, match="max_batch_chunks must be >= 1, got 0"):
        EnhanceConfig(max_batch_chunks=0)
    for name in ("guidance_scale", "guidance_rescale", "fps"):
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"{name} must be a finite number"):
                EnhanceConfig(**{name: bad})
    for bad in (0.0, -1.0, 1e-9):
        with pytest.raises(ValueError, match="fps must be a finite number between"):
            EnhanceConfig(fps=bad)


def test_fit_and_pad_box() -> None:
    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    out, box = fit_and_pad(video, (32, 64), pad=True)
    assert out.shape[-2:] == (32, 64) and box == (0, 16, 32, 32)
    assert torch.all(out[..., :16] == -1) and torch.all(out[..., 48:] == -1)  # black bars


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    return Refiner.random((32, 32), seed=0)


def test_enhance_video_frames_size_pad_crop_and_seed(refiner: Refiner) -> None:
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(**SMALL)
    out = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    assert out.shape == (1, 3, 9, 32, 32) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False))
    padded = EnhanceConfig(resolution=(32, 64), pad_to_aspect=True, **SMALL)
    out = enhance_video(video, "a red circle", refiner, padded, seed=1, progress=False)
    assert out.shape == (1, 3, 9, 32, 32)  # the 32×64 canvas' pad is cropped again
    short = enhance_video(video[:, :, :2], "x", refiner, cfg, seed=1, progress=False)  # < one chunk
    assert short.shape == (1, 3, 2, 32, 32)


def test_slice_by_slice_upscale_encode_decode_equal_the_whole_video(refiner: Refiner) -> None:
    """Stage 3 upscales, encodes, decodes and converts a slice of frames at a time (the canvas-sized float
    video of a long 720p output would be the largest tensor); the values are those of the whole video."""
    from streamt2v.io.video import to_uint8_frames
    from streamt2v.models.autoencoder import VideoAutoencoder
    from streamt2v.pipeline.enhance import _decode_and_crop, _upscale_and_encode, crop

    video = torch.rand(2, 3, 11, 12, 20) * 2 - 1  # 11 frames: a last slice shorter than the others
    vae = VideoAutoencoder(refiner.vae.vae, frames_per_slice=4)
    whole, box = fit_and_pad(video, (32, 64), pad=True)
    latents, sliced_box = _upscale_and_encode(video, vae, (32, 64), pad=True)
    assert sliced_box == box and torch.equal(latents, vae.encode(whole).float())
    decoder = VideoAutoencoder(refiner.vae.vae, frames_per_slice=3)
    frames = crop(decoder.decode(latents).float(), box)
    assert torch.equal(_decode_and_crop(latents, decoder, box, as_uint8=False), frames)
    frames_u8 = _decode_and_crop(latents, decoder, box, as_uint8=True)
    assert frames_u8.dtype == np.uint8 and frames_u8.shape == (2, 11, *frames.shape[-2:], 3)
    for i in range(2):
        np.testing.assert_array_equal(frames_u8[i], to_uint8_frames(frames[i]))


def test_enhance_video_as_uint8_gives_the_float_output_converted(refiner: Refiner) -> None:
    from streamt2v.io.video import to_uint8_frames

    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(resolution=(32, 64), pad_to_aspect=True, decode_frames_per_slice=4, **SMALL)
    floats = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    frames = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False, as_uint8=True)
    assert frames.shape == (1, 9, 32, 32, 3)
    np.testing.assert_array_equal(frames[0], to_uint8_frames(floats))


def test_enhance_video_follows_a_prompt_schedule(refiner: Refiner) -> None:
    from streamt2v.pipeline.prompts import PromptSchedule

    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(mode="independent", **SMALL)  # windows [0, 6), [3, 9)
    const = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    same = PromptSchedule(((0, "a red circle"),))
    assert torch.equal(enhance_video(video, same, refiner, cfg, seed=1, progress=False), const)
    switch = PromptSchedule(((0, "a red circle"), (5, "a blue square")))
    out = enhance_video(video, switch, refiner, cfg, seed=1, progress=False)
    assert torch.allclose(out[:, :, :3], const[:, :, :3], atol=1e-5)  # first chunk: first prompt
    assert not torch.allclose(out[:, :, -3:], const[:, :, -3:], atol=1e-3)  # last chunk: the second


def test_refiner_folder_roundtrip(refiner: Refiner, tmp_path) -> None:
    refiner.save_pretrained(tmp_path / "ref")
    loaded = Refiner.from_pretrained(tmp_path / "ref")
    assert loaded.frame_size == (32, 32) and loaded.prediction_type == "epsilon"
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    cfg = EnhanceConfig(chunk_frames=4, overlap=1, num_inference_steps=2)
    a = enhance_video(video, "blue", refiner, cfg, seed=0, progress=False)
    b = enhance_video(video, "blue", loaded, cfg, seed=0, progress=False)
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="'.*missing' does not exist"):
        Refiner.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no unet/"):
        Refiner.from_pretrained(tmp_path / "empty")


def test_a_refiner_folder_with_only_fp16_weights_loads(refiner: Refiner, tmp_path, monkeypatch) -> None:
    """ModelScope T2V ships its UNet as the fp16 variant only; from_pretrained failed with diffusers'
    "no file named diffusion_pytorch_model.bin" after a warning about unsafe serialization."""
    folder = refiner.save_pretrained(tmp_path / "ref")
    for part, name in (("unet", "diffusion_pytorch_model"), ("text_encoder", "model")):
        (folder / part / f"{name}.safetensors").rename(folder / part / f"{name}.fp16.safetensors")
    loaded = Refiner.from_pretrained(folder)
    for a, b in zip(loaded.unet.state_dict().values(), refiner.unet.state_dict().values()):
        assert torch.equal(a, b)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"refiner vae folder '.*vae' has no weights .*found: config.json\)$"
    ):
        Refiner.from_pretrained(folder)  # before the other parts' weights are read
    # a hub id is not downloaded for the refiner: the message says how to fetch it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"if 'owner/zeroscope' is a hub repo, fetch it .* pass DIR$"):
        Refiner.from_pretrained("owner/zeroscope")


def test_cli_enhance_reports_the_output_size_width_x_height(tmp_path, capsys) -> None:
    """A 48-wide, 32-high output was reported as '32x48'."""
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 16, 24) * 2 - 1, fps=8)
    folder = Refiner.random((32, 48), seed=0).save_pretrained(tmp_path / "wide")
    out = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--model", str(folder)]
    assert main([*args, "--steps", "1", "--chunk-frames", "2", "--overlap", "0", "--no-progress"]) == 0
    assert read_video(out)[0].shape[3:] == (32, 48)
    assert "(2 frames, 48x32 width x height)" in capsys.readouterr().out


def test_cli_enhance_end_to_end(refiner: Refiner, tmp_path, caplog) -> None:
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    out = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--steps", "2"]
    args += ["--chunk-frames", "4", "--overlap", "1", "--seed", "0", "--no-progress"]
    assert main([*args, "--model", str(folder)]) == 0
    video, fps = read_video(out)
    assert video.shape[1:] == (3, 7, 32, 32) and fps == pytest.approx(8)
    # no --model: the embedded default at twice the input resolution; the shipped refiner works at 64x64,
    # so for this 16x16 input a random-weight one stands in, and says so
    out2 = tmp_path / "out2.mp4"
    with caplog.at_level(logging.WARNING):
        assert main([*args[:5], str(out2), *args[6:]]) == 0
    assert "random" in caplog.text.lower()
    assert (
        "the shipped refiner makes 64x64 frames from 32x32 ones (width x height); this input is 16x16"
        in caplog.text
    )
    assert read_video(out2)[0].shape[1:] == (3, 7, 32, 32)


def test_cli_enhance_stopped_then_run_again_continues_after_its_last_step(refiner: Refiner, tmp_path, capsys):
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--steps", "3"]
    args += ["--chunk-frames", "8", "--overlap", "1", "--no-progress"]  # one chunk: one UNet call a step
    assert main([*args, "-o", str(tmp_path / "ref.mp4")]) == 0
    calls = []
    out, state = tmp_path / "out.mp4", tmp_path / ".out.mp4.stage3.pt"

    def count(module, inputs, output):
        if isinstance(module, UNet3DConditionModel):
            calls.append(1)
            # the output (and so the state beside it) is this run's until it is written
            with pytest.raises(OutputInUseError, match="is being written by another process"):
                check_output_path(out, overwrite=True)
            if stop_at and len(calls) == stop_at:
                raise KeyboardInterrupt

    hook = register_module_forward_hook(count)
    try:
        stop_at = 3  # Ctrl-C in step 3: steps 1 and 2 are kept
        assert main([*args, "-o", str(out)]) == 130
        assert "its last finished step is kept in" in capsys.readouterr().err
        assert state.is_file() and not out.exists()
        calls.clear()
        killed_save = tmp_path / f".{state.name}.tmp-4194304"  # what a kill during a save leaves
        killed_save.write_bytes(b"cut short")
        stop_at = None
        assert main([*args, "-o", str(out)]) == 0
    finally:
        hook.remove()
    assert len(calls) == 1  # step 3 only
    assert out.read_bytes() == (tmp_path / "ref.mp4").read_bytes() and not state.exists()
    assert not killed_save.exists()
    check_output_path(out, overwrite=True)  # released


def test_cli_enhance_checks_everything_before_reading_or_loading(
    refiner: Refiner, tmp_path, monkeypatch, capsys
):
    import streamt2v.pipeline.enhance as enh
    import streamt2v.pipeline.refiner as ref
    from streamt2v.cli import main

    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=8)
    (tmp_path / "taken.mp4").write_bytes(b"mine")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("x")
    monkeypatch.setattr(enh, "enhance_video", lambda *a, **k: pytest.fail("enhanced despite a bad setting"))
    monkeypatch.setattr(ref, "load_refiner", lambda *a, **k: pytest.fail("loaded despite a bad setting"))
    cuda = torch.cuda.is_available()
    for argv, match in [
        (["--guidance-scale", "nan"], "--guidance-scale must be a finite number, got nan"),
        # valid alone, but not with the start step the refiner recommends (was refused after the loading)
        (["--steps", "5", "--model", "microworld"], "--steps (5) must be <= --start-step (1)"),
        (["--fps", "0"], "fps must be a finite number between"),
        (["--fps", "-1"], "fps must be a finite number between"),
        (["--prompt", ""], "--prompt must be a non-empty text"),
        (["--model", "/nonexistent"], "refiner folder '/nonexistent' does not exist"),
        (["-o", "e.txt"], "unknown suffix"),
        (["-o", "taken.mp4"], "'taken.mp4' already exists; pass --overwrite"),
        (["-o", "docs"], "thesis.txt"),
        (["-o", "/proc/x.mp4"], "cannot write output '/proc/x.mp4'"),
        (["-o", "in.mp4", "--overwrite"], "-o 'in.mp4' would replace the input 'in.mp4'; write the enhanced"),
        (["-o", "e.gif", "--fps", "60"], "--fps 60.0 is too high for a GIF"),
        (
            ["--resolution", "100000x100000"],
            "resolution must be at most 8192 pixels a side, got 100000x100000",
        ),
        *([] if cuda else [(["--device", "cuda"], "CUDA is not available")]),
    ]:
        args = ["enhance", "in.mp4", "--prompt", "a cat", "-o", "out.mp4", "--no-progress", *argv]
        assert main(args) == 2, argv
        err = capsys.readouterr().err
        assert match in err and err.count("error:") == 1, (argv, err)
    # a GIF at the input's rate, when a GIF cannot play it: before the work, not when the result is written
    write_video(tmp_path / "in60.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=60)
    assert main(["enhance", "in60.mp4", "--prompt", "a cat", "-o", "e.gif", "--no-progress"]) == 2
    assert "the input's frame rate 60.0 is too high for a GIF" in capsys.readouterr().err
    assert (tmp_path / "taken.mp4").read_bytes() == b"mine" and (tmp_path / "docs" / "thesis.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "in.mp4", "in60.mp4", "taken.mp4"]


def test_cli_enhance_checks_the_settings_over_the_refiners_recommendation(tmp_path, capsys) -> None:
    """``--chunk-frames 2`` for a refiner that recommends overlap 1 was refused against the official overlap
    8 ('chunk_frames (2) must be larger than overlap (8)'): the settings were first checked alone."""
    from dataclasses import replace

    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=8)
    folder = replace(Refiner.random((32, 32), seed=0), recommended={"overlap": 1}).save_pretrained(
        tmp_path / "r"
    )
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--no-progress"]
    assert main([*args, "--steps", "1", "--chunk-frames", "2", "-o", str(tmp_path / "out.mp4")]) == 0
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 3
    capsys.readouterr()
    assert main([*args, "--steps", "1", "--chunk-frames", "1", "-o", str(tmp_path / "no.mp4")]) == 2
    assert capsys.readouterr().err == (
        "error: --chunk-frames (1) must be larger than --overlap (1); --overlap 1 is the recommendation of the "
        "refiner 'r' (set --overlap to change it)\n"
    )


def test_cli_enhance_overwrite_and_auto_device(refiner: Refiner, tmp_path, caplog) -> None:
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    args = ["enhance", str(src), "--prompt", "a cat", "-o", str(out), "--model", str(folder), "--no-progress"]
    args += ["--steps", "1", "--chunk-frames", "4", "--overlap", "1", "--device", "auto", "--overwrite"]
    with caplog.at_level(logging.INFO):
        assert main(args) == 0
    assert read_video(out)[0].shape[2] == 3
    assert "1 step(s) from t=" in caplog.text and "SDEdit start t'=" in caplog.text


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"scheduler": "foo"}, "unknown scheduler 'foo'; choose one of"),
        ({"timestep_spacing": "x"}, "unknown timestep_spacing 'x'; choose one of"),
        (
            {"start_step": 5, "num_inference_steps": 50},
            r"num_inference_steps \(50\) must be <= start_step \(5\)",
        ),
        ({"num_inference_steps": 2.5}, "num_inference_steps must be an integer, got 2.5"),
        ({"chunk_frames": 16.0}, "chunk_frames must be an integer, got 16.0"),
        ({"overlap": True}, "overlap must be an integer, got True"),
        ({"start_step": True}, "start_step must be an integer, got True"),
        ({"guidance_scale": "7"}, "guidance_scale must be a finite number, got '7'"),
        ({"mode": None}, "mode must be a string, got None"),
        ({"pad_to_aspect": 1}, "pad_to_aspect must be true or false, got 1"),
        ({"fps": True}, "fps must be a number, got True"),
        (
            {"resolution": (64.0, 64)},
            r"resolution must be \(H, W\) with positive integer sizes, got \(64.0, 64\)",
        ),
    ],
)
def test_config_refuses_bad_names_types_and_step_counts(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EnhanceConfig(**settings)


def test_config_normalizes_json_values() -> None:
    cfg = EnhanceConfig(resolution=[64, 96], guidance_scale=7)  # as read back from a run's config.json
    assert cfg.resolution == (64, 96) and cfg.guidance_scale == 7.0 and type(cfg.guidance_scale) is float
    assert EnhanceConfig(start_step=5, num_inference_steps=5).num_inference_steps == 5


class _NoEncodeVAE:
    """A VAE stand-in that fails if enhance_video gets as far as encoding: every check must come first."""

    scale_factor = 4
    dtype = torch.float32

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the video was encoded before a bad setting was refused")


def test_schedule_limits_fail_before_the_video_is_encoded(refiner: Refiner, tmp_path) -> None:
    from dataclasses import replace

    from streamt2v.pipeline.refiner import check_refiner_folder

    guarded = replace(refiner, vae=_NoEncodeVAE())
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    past = EnhanceConfig(start_step=5000, num_inference_steps=2)
    match = "start_step 5000 is past the refiner's noise schedule of 1000 training steps"
    with pytest.raises(ValueError, match=match):
        enhance_video(video, "a", guarded, past, progress=False)
    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    with pytest.raises(ValueError, match=match):
        enhance_latents(torch.zeros(1, 4, 4, 2, 2), _framewise_fn, sched, past, generator=torch.Generator())
    # a limit of this scheduler's spacing (DPM linspace ends at t = 999: 5 steps do not fit below 5)
    tight = EnhanceConfig(start_step=5, num_inference_steps=5, timestep_spacing="linspace")
    with pytest.raises(ValueError, match="cannot place 5 steps below start step 5"):
        enhance_video(video, "a", guarded, tight, progress=False)
    # the folder check knows the schedule too (generate / the CLI can refuse before stages 1-2)
    folder = refiner.save_pretrained(tmp_path / "ref")
    with pytest.raises(ValueError, match=match):
        check_refiner_folder(folder, past)
    assert check_refiner_folder(folder, EnhanceConfig()) == folder


def test_enhance_video_refuses_bad_inputs_before_encoding(refiner: Refiner) -> None:
    from dataclasses import replace
    from types import SimpleNamespace

    guarded = replace(refiner, vae=_NoEncodeVAE())
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    one_nan = video.clone()
    one_nan[0, 1, 2, 3, 4] = float("nan")
    for kwargs, error, match in [
        ({"video": video[:, :, :0]}, ValueError, r"video has 0 frames \(shape \(1, 3, 0, 16, 16\)\)"),
        ({"video": (video * 127.5 + 127.5).to(torch.uint8)}, ValueError, "video has dtype torch.uint8"),
        ({"video": video * 127.5 + 127.5}, ValueError, "video has values in .*; pixels are in"),
        ({"video": one_nan}, ValueError, r"video has 1 NaN or infinite value\(s\) of 3072"),
        ({"prompt": None}, TypeError, "prompt must be a string or a PromptSchedule, got NoneType"),
        ({"prompt": "0: a; 16: b"}, ValueError, "entry at frame 16 is past the end of the video"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
        ({"seed": 1.7}, ValueError, "seed must be an integer >= 0, got 1.7"),
        ({"seed": True}, ValueError, "seed must be an integer >= 0, got True"),
        ({"seed": 3, "generator": torch.Generator()}, ValueError, "give either seed or generator, not both"),
        # was an AttributeError once the work had begun
        (
            {"generator": 7},
            ValueError,
            r"generator must be a CPU torch.Generator \(or pass seed=\), got int$",
        ),
        ({"config": {"steps": 2}}, TypeError, "config must be an EnhanceConfig or None, got dict"),
        # what a StreamingT2VModel has, but not a frame size
        (
            {"refiner": SimpleNamespace(unet=None, vae=None, text_encoder=None, scheduler_config={})},
            TypeError,
            "refiner must be a Refiner .* got SimpleNamespace without frame_size, device",
        ),
    ]:
        args = {"video": video, "prompt": "a", "refiner": guarded, "config": EnhanceConfig(**SMALL)}
        with pytest.raises(error, match=match):
            enhance_video(**{**args, **kwargs}, progress=False)


def test_an_inline_schedule_string_is_a_schedule(refiner: Refiner) -> None:
    from streamt2v.pipeline.enhance import prompt_schedule
    from streamt2v.pipeline.prompts import PromptSchedule

    switch = PromptSchedule(((0, "a red circle"), (5, "a blue square")))
    assert prompt_schedule("0: a red circle; 5: a blue square", 9) == switch  # as StreamingT2VPipeline
    assert prompt_schedule(" a red circle ", 9) == PromptSchedule.constant("a red circle")
    assert prompt_schedule("3 red circles: bouncing", 9).is_constant  # a prompt with a colon, not a schedule
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(mode="independent", **SMALL)
    text = enhance_video(video, "0: a red circle; 5: a blue square", refiner, cfg, seed=1, progress=False)
    assert torch.equal(text, enhance_video(video, switch, refiner, cfg, seed=1, progress=False))


def test_a_stretched_aspect_ratio_is_warned_about(refiner: Refiner, caplog) -> None:
    video = torch.rand(1, 3, 3, 16, 24) * 2 - 1
    cfg = EnhanceConfig(chunk_frames=3, overlap=1, num_inference_steps=1)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        out = enhance_video(video, "a", refiner, cfg, progress=False)
    assert out.shape[-2:] == (32, 32)
    assert "input frames are 16x24 but the enhancer canvas is 32x32" in caplog.text
    assert "pad_to_aspect" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        padded = EnhanceConfig(chunk_frames=3, overlap=1, num_inference_steps=1, pad_to_aspect=True)
        enhance_video(video, "a", refiner, padded, progress=False)
        enhance_video(video[..., :16], "a", refiner, cfg, progress=False)  # same aspect: no warning
    assert "stretched" not in caplog.text


def test_a_streamingt2v_model_folder_is_not_a_refiner(refiner: Refiner, tmp_path) -> None:
    import json
    import shutil

    from streamt2v.assets import microworld_model_dir
    from streamt2v.pipeline.refiner import check_refiner_folder

    model = microworld_model_dir()
    match = "is a StreamingT2VModel folder .*model_index.json names StreamingT2VModel.*, not a refiner"
    with pytest.raises(ValueError, match=match):
        check_refiner_folder(model)
    with pytest.raises(ValueError, match=match):
        Refiner.from_pretrained(model)
    # without its model_index, the StreamingUNet config still tells
    folder = refiner.save_pretrained(tmp_path / "ref")
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "model_index.json").unlink()
    (copy / "unet" / "config.json").write_text(json.dumps({"_class_name": "StreamingUNet"}))
    with pytest.raises(ValueError, match="unet/config.json names StreamingUNet"):
        check_refiner_folder(copy)
    # another pipeline's folder (zeroscope: TextToVideoSDPipeline) still loads
    index = folder / "model_index.json"
    meta = json.loads(index.read_text())
    index.write_text(json.dumps({**meta, "_class_name": "TextToVideoSDPipeline"}))
    assert Refiner.from_pretrained(folder).frame_size == (32, 32)


def test_refiner_device_auto_dtype_positional_and_cpu_half_refused(refiner: Refiner, tmp_path) -> None:
    from streamt2v.memory import resolve_device

    folder = refiner.save_pretrained(tmp_path / "ref")
    loaded = Refiner.from_pretrained(folder, device="auto")
    assert loaded.device.type == resolve_device("auto").type
    loaded.to("cpu")
    assert loaded.to(torch.bfloat16) is loaded  # a dtype alone, positionally, as torch modules take it
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.vae.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.text_encoder.parameters()} == {torch.bfloat16}
    with pytest.raises(ValueError, match="dtype fp16 is not supported on device cpu"):
        loaded.to(torch.float16)
    with pytest.raises(TypeError, match="to\\(\\) got two dtypes"):
        loaded.to(torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="dtype fp16 is not supported on device cpu"):
        Refiner.from_pretrained(folder, device="cpu", dtype=torch.float16)


def test_refiner_parts_that_do_not_fit_are_refused_before_any_weights(refiner: Refiner, tmp_path) -> None:
    """A text encoder of another width copied into a refiner folder failed in the middle of stage 3 with
    'mat1 and mat2 shapes cannot be multiplied'; it is named when the folder is checked."""
    import json

    from streamt2v.pipeline.refiner import check_refiner_folder

    folder = refiner.save_pretrained(tmp_path / "ref")
    check_refiner_folder(folder)
    config = folder / "text_encoder" / "config.json"
    text = json.loads(config.read_text())
    config.write_text(json.dumps({**text, "hidden_size": text["hidden_size"] + 16}))
    width = text["hidden_size"]
    match = rf"do not fit together .*unet/ attends to text of width {width}, text_encoder/ gives {width + 16}"
    with pytest.raises(ValueError, match=match):
        check_refiner_folder(folder)
    with pytest.raises(ValueError, match=match):
        Refiner.from_pretrained(folder)
    config.write_text(json.dumps(text))
    vae = folder / "vae" / "config.json"
    vae_config = json.loads(vae.read_text())
    vae.write_text(json.dumps({**vae_config, "latent_channels": vae_config["latent_channels"] + 1}))
    with pytest.raises(ValueError, match=r"unet/ has \d+ in / \d+ out channels, vae/ \d+ latent channels"):
        Refiner.from_pretrained(folder)


def test_pad_to_aspect_keeps_even_sizes_so_an_mp4_can_be_written(refiner: Refiner, tmp_path) -> None:
    """A 16x22 video fitted into the 32x32 canvas was 23x32 after the crop: ``enhance -o x.mp4
    --pad-to-aspect`` ran the whole enhancement, then failed with 'H.264 (yuv420p) needs even frame sizes'.
    The fitted size is rounded to even sizes (24x32, the aspect within a pixel)."""
    from streamt2v.cli import main

    video = torch.rand(1, 3, 3, 16, 22) * 2 - 1
    out, box = fit_and_pad(video, (32, 32), pad=True)
    assert box == (4, 0, 24, 32) and torch.all(out[..., :4, :] == -1) and torch.all(out[..., 28:, :] == -1)
    cfg = EnhanceConfig(chunk_frames=4, overlap=1, num_inference_steps=1, pad_to_aspect=True)
    assert enhance_video(video, "a", refiner, cfg, progress=False).shape == (1, 3, 3, 24, 32)
    # the canvas is the limit, and a frame of the canvas' own aspect fills it
    assert fit_and_pad(video[..., :16], (32, 32), pad=True)[1] == (0, 0, 32, 32)
    assert fit_and_pad(torch.zeros(1, 3, 1, 1, 40), (8, 8), pad=True)[1] == (3, 0, 2, 8)

    src = write_video(tmp_path / "in.mp4", video, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    dst = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a", "-o", str(dst), "--model", str(folder), "--pad-to-aspect"]
    assert main([*args, "--steps", "1", "--chunk-frames", "4", "--overlap", "1", "--no-progress"]) == 0
    assert read_video(dst)[0].shape == (1, 3, 3, 24, 32)


def test_a_setting_that_clashes_with_a_recommendation_names_the_recommendation() -> None:
    """``enhance --steps 40`` with the shipped refiner (which recommends start_step=1) said only
    'num_inference_steps (40) must be <= start_step (1)', a start step the user never gave."""
    ref = Refiner.random((32, 32), seed=0)
    ref.recommended = {"start_step": 1, "num_inference_steps": 1, "scheduler": "ddim"}
    with pytest.raises(EnhanceSettingError) as caught:
        ref.config(num_inference_steps=40)
    # only the recommendation the refusal names (the scheduler has no part in it), by its field name
    assert str(caught.value) == (
        "num_inference_steps (40) must be <= start_step (1): SDEdit runs distinct timesteps below the start "
        "step; start_step 1 is the recommendation of this refiner (set start_step to change it)"
    )
    assert caught.value.unset == {"start_step": (1, "the recommendation of this refiner")}
    with pytest.raises(
        ValueError, match=r"\(24\) must be larger than overlap \(30\); chunk_frames 24 is the "
    ):
        ref.config(overlap=30)  # a default, not a recommendation: "the official default"
    assert ref.config(num_inference_steps=40, start_step=600).num_inference_steps == 40
    with pytest.raises(ValueError, match=r"^overlap must be >= 0, got -1$"):  # wrong alone: the plain error
        ref.config(overlap=-1)


def test_a_setting_name_typed_as_a_value_is_not_named_as_unset() -> None:
    """``enhance --scheduler fps`` said "unknown --scheduler 'fps'; ...; --fps None is the official default
    (set --fps to change it)": the search for setting names looked inside the quoted value."""
    ref = Refiner.random((32, 32), seed=0)
    for value in ("fps", "overlap"):
        with pytest.raises(EnhanceSettingError) as caught:
            ref.config(scheduler=value)
        assert caught.value.unset == {}
        assert str(caught.value).startswith(f"unknown scheduler {value!r}; choose one of [")
        assert str(caught.value).endswith("]")


def test_an_unknown_setting_name_lists_the_settings() -> None:
    """``refiner.config(stepz=3)`` raised EnhanceConfig's raw "__init__() got an unexpected keyword argument";
    it now says what ``assemble refiner --enhance`` says of an unknown name (the same helper)."""
    ref = Refiner.random((32, 32), seed=0)
    message = (
        r"^enhance setting\(s\) \['stepz'\] unknown; the settings: blend, .*num_inference_steps, .*start_step"
    )
    with pytest.raises(ValueError, match=message + ", timestep_spacing$"):
        ref.config(stepz=3, start_step=600)
    ref.recommended = {"start_step": 1, "foo": 2}  # a folder's recommendation is named as the folder's
    with pytest.raises(
        ValueError, match=r"^this refiner's recommended enhance setting\(s\) \['foo'\] unknown"
    ):
        ref.config(num_inference_steps=1)


def test_odd_sized_input_without_model_is_one_error_in_width_x_height(caplog):
    """A 33-wide, 47-high input said 'this input is 47x33 (it would need 94x66)' as a warning, then
    'input frames are 47x33' as the error: height first, and two lines for one problem."""
    from streamt2v.pipeline.refiner import default_refiner

    with caplog.at_level(logging.WARNING), pytest.raises(ValueError) as err:
        default_refiner((47, 33))
    assert str(err.value).startswith("input frames are 33x47 (width x height): ")
    assert "both sides must be even" in str(err.value)
    assert caplog.records == []


def test_no_default_refiner_for_large_frames_is_refused_before_the_work(tmp_path, capsys):
    """A 1080p input without --model made a random-weight stand-in at 2160x3840 (CPU-hours in one
    attention call); a size neither the shipped refiner nor the stand-in is for needs a refiner folder."""
    from dataclasses import replace

    from streamt2v.cli import main
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig, generate
    from streamt2v.pipeline.stream import StreamConfig

    src = write_video(tmp_path / "big.mp4", torch.zeros(1, 3, 2, 264, 300), fps=8)
    out = tmp_path / "out.mp4"
    assert main(["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--no-progress"]) == 2
    assert "input frames are 300x264 (width x height)" in capsys.readouterr().err and not out.exists()
    # generate --enhance without --refiner: refused once the model's frame size is known, before sampling
    big = StreamingT2VModel.from_preset(replace(get_preset("tiny"), frame_size=512), device="meta")
    cfg = GenerateConfig(
        output=str(tmp_path / "g.mp4"),
        stream=StreamConfig(num_frames=8, steps=1, init_steps=1),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        enhance={},
    )
    with pytest.raises(ValueError, match="input frames are 512x512"):
        generate(cfg, model=big)
    assert not (tmp_path / "run").exists()


def test_a_unet_that_produces_nan_stops_stage_3_before_its_state_is_saved() -> None:
    from streamt2v.sampling.schedulers import NonFiniteLatentsError

    unet = _tiny_unet()
    with torch.no_grad():  # one infinite weight, as a damaged file or a float16 overflow leaves
        unet.conv_in.weight[0] = float("inf")
    sched_config = {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": "v_prediction"}
    fn = unet_denoise_fn(
        unet, Denoiser.from_scheduler(make_scheduler("ddim", sched_config)), torch.randn(1, 5, 16), None, 1.0
    )
    saved = []
    with pytest.raises(NonFiniteLatentsError, match=r"^stage 3, step 1 of 3: sampling produced \d+ NaN"):
        enhance_latents(
            torch.randn(1, 4, 10, 8, 8),
            fn,
            make_scheduler("ddim", sched_config),
            EnhanceConfig(chunk_frames=6, overlap=2, num_inference_steps=3),
            generator=torch.Generator().manual_seed(0),
            on_step=saved.append,
        )
    assert saved == []  # a resume would continue from NaN


def test_cli_enhance_help_explains_every_option() -> None:
    # `--negative-prompt NEGATIVE_PROMPT` was listed without a word on what it does
    import argparse

    from streamt2v.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    enhance = sub.choices["enhance"]
    bare = [a.option_strings or [a.dest] for a in enhance._actions if not a.help]
    assert bare == [], bare


def test_refiner_from_pretrained_takes_torch_dtype_as_diffusers_names_it(refiner: Refiner, tmp_path) -> None:
    """``torch_dtype=`` (diffusers' name, and StreamingT2VModel.from_pretrained's) was refused as an unexpected
    keyword; a path of another type was Python's 'expected str, bytes or os.PathLike object, not int'."""
    folder = refiner.save_pretrained(tmp_path / "ref")
    assert Refiner.from_pretrained(folder, torch_dtype=torch.bfloat16).unet.dtype == torch.bfloat16
    assert Refiner.from_pretrained(folder, torch_dtype="bf16", dtype="bfloat16").unet.dtype == torch.bfloat16
    with pytest.raises(
        ValueError, match=r"^torch_dtype=torch.bfloat16 and dtype=torch.float32 disagree; give one$"
    ):
        Refiner.from_pretrained(folder, torch_dtype=torch.bfloat16, dtype=torch.float32)
    with pytest.raises(TypeError, match=r"^the refiner must be a folder path, got 3 \(int\)$"):
        Refiner.from_pretrained(3)


def test_a_refiner_cast_prints_no_float32_warning_about_no_module() -> None:
    """diffusers warned on ``refiner.to(torch.bfloat16)`` that its UNet has modules to keep in float32, naming
    none ("should be kept in float32: []"), as it did for StreamingT2VModel.to."""
    messages: list[str] = []

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    diffusers_log = logging.getLogger("diffusers.models.modeling_utils")
    records = Records(logging.DEBUG)
    diffusers_log.addHandler(records)  # diffusers' loggers do not propagate to pytest's
    try:
        cast = Refiner.random((32, 32), seed=0).to(torch.bfloat16)
    finally:
        diffusers_log.removeHandler(records)
    assert cast.unet.dtype == torch.bfloat16 and cast.vae.vae.dtype == torch.bfloat16
    assert messages == []


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234567890\n"


def test_a_refiner_cloned_without_git_lfs_is_named_before_any_weights(refiner: Refiner, tmp_path) -> None:
    """A refiner folder cloned without git-lfs holds pointer text for its weights: loading failed in
    diffusers' words naming no file ('You seem to have cloned a repository without having git-lfs') or,
    for the text encoder, 'header too large'. The file is named with the fix, when the folder is checked."""
    import re

    from streamt2v.pipeline.refiner import check_refiner_folder

    folder = refiner.save_pretrained(tmp_path / "ref")
    for part, name in [("text_encoder", "model"), ("unet", "diffusion_pytorch_model")]:
        weights = folder / part / f"{name}.safetensors"
        whole = weights.read_bytes()
        weights.write_bytes(LFS_POINTER)
        match = (
            rf"^refiner {part} weight file '{re.escape(str(weights))}' is a Git LFS pointer \({len(LFS_POINTER)} bytes "
            r"standing for a "
            r"1\.2 GB file\), not the file itself: the repository was cloned without git-lfs; run `git lfs pull`"
        )
        with pytest.raises(ValueError, match=match):
            check_refiner_folder(folder)
        with pytest.raises(ValueError, match=match):
            Refiner.from_pretrained(folder)
        weights.write_bytes(whole[: len(whole) // 2])  # an interrupted download
        with pytest.raises(
            ValueError, match=rf"^refiner {part} weight file '{re.escape(str(weights))}' is cut short: "
        ):
            Refiner.from_pretrained(folder)
        weights.write_bytes(whole)
    assert Refiner.from_pretrained(folder).frame_size == refiner.frame_size
