"""Stage 3 enhancer (paper §4.3) on latents: the SDEdit start, batched == sequential, the chunk modes,
per-chunk prompts, a stopped stage 3 continued from its saved state, and the settings and inputs refused
before any work. The state files themselves: ``test_enhance_state_files.py``; ``enhance_video`` on pixel
videos: ``test_enhance_video.py``; the ``enhance`` command: ``test_enhance_cli.py``; refiner folders:
``test_refiner.py``."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers import UNet3DConditionModel

from conftest import SMALL
from streamt2v.models.denoiser import Denoiser
from streamt2v.pipeline.enhance import enhance_latents, enhance_video, unet_denoise_fn
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.refiner import DEFAULT_SCHEDULER_CONFIG, Refiner
from streamt2v.sampling.schedulers import make_scheduler
from streamt2v.sampling.sdedit import sdedit_noise, sdedit_timesteps


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
    cfg = EnhanceConfig(chunk_frames=6, overlap=0, start_step=1, steps=1, scheduler="ddim")
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
    from streamt2v.pipeline.enhance import chunk_plan_for
    from streamt2v.pipeline.enhance_prompts import chunk_prompts
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
    steps = {"steps": 4}
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
        _run(_framewise_fn, torch.randn(1, 4, 1, 3, 3), EnhanceConfig(steps=2))
        _run(
            _framewise_fn,
            torch.randn(1, 4, 20, 3, 3),
            EnhanceConfig(chunk_frames=8, overlap=3, steps=2),
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("enhancing")]
    # was "1 chunk(s) of 1 (overlap 8)", then "1 frame(s)", "2 step(s)"
    assert lines[0].startswith("enhancing 1 frame as one chunk, 2 steps from t=")
    assert lines[1].startswith("enhancing 20 frames in 4 chunks of 8 (overlap 3), mode randomized, 2 steps")


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
    cfg = EnhanceConfig(mode=mode, blend=blend, chunk_frames=6, overlap=2, steps=4)
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
    with pytest.raises(ValueError, match=r"cannot resume stage 3 from 2 steps of a state shaped"):
        enhance_latents(
            latents[:, :, :10],
            fn,
            make_scheduler(scheduler, sched_config, timestep_spacing="trailing"),
            cfg,
            generator=torch.Generator(),
            resume=files[1].load(),
        )


@pytest.mark.parametrize("blend", ["latents", "x0"])
def test_randomized_blending_draws_each_cut_of_eq8(blend: str) -> None:
    """Each chunk's model predicts a clean sample of its own value, so the output tells which chunk each frame
    came from at the last step: always a window that holds the frame, and over seeds every cut of eq. 8,
    {0, …, O}, in every overlap. Before, x0 blending at fixed cuts (the naive modes' O // 2) passed."""
    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    den = Denoiser.from_scheduler(sched)

    def fn(x: torch.Tensor, t: torch.Tensor, chunks: range) -> torch.Tensor:
        k = torch.tensor([float(i) for i in chunks]).repeat_interleave(x.shape[0] // len(chunks))
        return den.from_x0((0.5 * k - 0.75).view(-1, 1, 1, 1, 1).expand_as(x), x, t)

    cfg = EnhanceConfig(mode="randomized", blend=blend, chunk_frames=6, overlap=2, steps=2)
    firsts = set()  # the first frame of chunks 1 and 2 (windows [0, 6), [4, 10), [8, 14))
    # each cut is drawn with probability 1/3 per seed: missing one by chance takes (2/3)**40, 1e-7
    for seed in range(40):
        out = _run(fn, torch.zeros(1, 1, 14, 1, 1), cfg, seed=seed, scheduler="ddim").flatten()
        chunk = ((out + 0.75) / 0.5).round().long().tolist()
        assert chunk == sorted(chunk) and set(chunk) == {0, 1, 2}, chunk
        firsts.add((chunk.index(1), chunk.index(2)))
    assert {a for a, _ in firsts} == {4, 5, 6} and {b for _, b in firsts} == {8, 9, 10}, firsts


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
    for name in ("guidance", "guidance_rescale", "fps"):
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"{name} must be a finite number"):
                EnhanceConfig(**{name: bad})
    for bad in (0.0, -1.0, 1e-9):
        with pytest.raises(ValueError, match="fps must be a finite number between"):
            EnhanceConfig(fps=bad)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"scheduler": "foo"}, "unknown scheduler 'foo'; choose one of"),
        ({"timestep_spacing": "x"}, "unknown timestep_spacing 'x'; choose one of"),
        (
            {"start_step": 5, "steps": 50},
            r"steps \(50\) must be <= start_step \(5\)",
        ),
        ({"steps": 2.5}, "steps must be an integer, got 2.5"),
        ({"chunk_frames": 16.0}, "chunk_frames must be an integer, got 16.0"),
        ({"overlap": True}, "overlap must be an integer, got True"),
        ({"start_step": True}, "start_step must be an integer, got True"),
        ({"guidance": "7"}, "guidance must be a finite number, got '7'"),
        ({"mode": None}, "mode must be a string, got None"),
        ({"pad_to_aspect": 1}, "pad_to_aspect must be true or false, got 1"),
        ({"fps": True}, "fps must be a number, got True"),
        ({"fps": "8"}, "fps must be a number, got '8'"),  # was taken as 8.0
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
    cfg = EnhanceConfig(resolution=[64, 96], guidance=7)  # as read back from a run's config.json
    assert cfg.resolution == (64, 96) and cfg.guidance == 7.0 and type(cfg.guidance) is float
    assert EnhanceConfig(start_step=5, steps=5).steps == 5


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
    past = EnhanceConfig(start_step=5000, steps=2)
    match = "start_step=5000 is past the refiner's noise schedule of 1000 training timesteps"
    with pytest.raises(ValueError, match=match):
        enhance_video(video, "a", guarded, past, progress=False)
    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG)
    with pytest.raises(ValueError, match=match):
        enhance_latents(torch.zeros(1, 4, 4, 2, 2), _framewise_fn, sched, past, generator=torch.Generator())
    # a limit of this scheduler's spacing (DPM linspace ends at t = 999: 5 steps do not fit below 5)
    tight = EnhanceConfig(start_step=5, steps=5, timestep_spacing="linspace")
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
        ({"video": one_nan}, ValueError, r"video has 1 NaN or infinite value of 3072"),
        ({"prompt": None}, TypeError, "prompt must be a string or a PromptSchedule, got NoneType"),
        ({"prompt": "0: a; 16: b"}, ValueError, "entry at frame 16 is past the end of the video"),
        ({"seed": -1}, ValueError, r"seed must be an integer in \[0, 2\*\*64\), got -1"),
        ({"seed": 1.7}, ValueError, r"seed must be an integer in \[0, 2\*\*64\), got 1.7"),
        ({"seed": True}, ValueError, r"seed must be an integer in \[0, 2\*\*64\), got True"),
        # torch's generators take no larger seed: it failed with "Overflow when unpacking long long"
        ({"seed": 2**64}, ValueError, r"seed must be an integer in \[0, 2\*\*64\), got 18446744073709551616"),
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
            EnhanceConfig(chunk_frames=6, overlap=2, steps=3),
            generator=torch.Generator().manual_seed(0),
            on_step=saved.append,
        )
    assert saved == []  # a resume would continue from NaN


def test_diffusers_names_are_refused_naming_ours_and_read_where_an_earlier_version_stored_them() -> None:
    """EnhanceConfig took num_inference_steps and guidance_scale where StreamConfig takes steps and guidance.
    Given now, they are refused naming ours; stored by an earlier version they read; and a stage-3 state's
    key is the one the earlier version computed for the same settings, so its stopped run continues."""
    from streamt2v.pipeline.enhance import state_settings
    from streamt2v.pipeline.enhance_config import read_stored
    from streamt2v.pipeline.enhance_state import state_key

    with pytest.raises(
        TypeError,
        match=r"^EnhanceConfig takes the sampler's settings by StreamConfig's names, not diffusers' "
        r"\(num_inference_steps: pass steps=; guidance_scale: pass guidance=\)$",
    ):
        EnhanceConfig(num_inference_steps=3, guidance_scale=2.0)
    stored = {"num_inference_steps": 3, "overlap": 2, "guidance_scale": 2.0}
    assert read_stored(stored, "f.json") == {"steps": 3, "overlap": 2, "guidance": 2.0}
    with pytest.raises(
        ValueError, match=r"^f.json gives the setting steps twice, as steps and as num_inference_steps \(its"
    ):
        read_stored({"steps": 3, "num_inference_steps": 3}, "f.json")
    # the keys of the code before the rename: state_key of vars(config) without _NOT_IN_STATE_KEY's settings
    assert state_key(state_settings(EnhanceConfig())) == (
        "3c65921440619edafc1184ca7e3980d62f4b2b0e95187bef65f338407ddaa138"
    )
    cfg = EnhanceConfig(steps=3, guidance=2.0, chunk_frames=6, overlap=2, resolution=(64, 96), fps=12.0)
    assert (
        state_key(state_settings(cfg)) == "ae458a35001af7d1b473e646df72e475c0eb7ba96fe749f55c22fd2d41a802df"
    )
