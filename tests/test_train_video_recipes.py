"""Smoke tests of the video-UNet recipes (base, stream, refiner) on tiny configs: 2 steps each."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from streamt2v.config import get_preset
from streamt2v.train.checkpoint import latest_checkpoint, load_checkpoint
from streamt2v.train.frozen import load_frozen_clip
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe
from streamt2v.train.video_recipes import colour_shift, foreground_weights


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_base_and_stream_recipes_run_two_steps(tmp_path, encoders, preset):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, sample_steps=2, preset=preset)
    cfg = TrainConfig(steps=2, batch_size=2, lr=1e-4, sample_every=2)
    base = make_recipe("base", **common)
    res = train(base, cfg, tmp_path / "base", progress=False)
    assert len(res.losses) == 2 and all(torch.isfinite(torch.tensor(res.losses)))
    assert (tmp_path / "base" / "final" / "unet" / "config.json").exists()
    assert list((tmp_path / "base" / "samples").glob("*.mp4"))

    base_unet = str(tmp_path / "base" / "final" / "unet")
    other = "small" if preset == "tiny" else "tiny"  # the CAM's sizes come from the preset: it must fit
    with pytest.raises(
        ValueError, match=rf"has block channels .* the preset '{other}' .*: pass --preset {preset},"
    ):
        make_recipe("stream", base_unet=base_unet, **{**common, "preset": other}).build()
    stream = make_recipe("stream", base_unet=base_unet, **common)
    res = train(stream, cfg, tmp_path / "stream", progress=False)
    assert len(res.losses) == 2 and all(torch.isfinite(torch.tensor(res.losses)))
    from streamt2v.models.unet import StreamingUNet

    net = StreamingUNet.from_pretrained(tmp_path / "stream" / "final" / "unet")
    assert net.streaming_config.num_text_tokens == 24 and net.streaming_config.image_embed_dim == 32
    assert tuple(net.base.config.block_out_channels) == get_preset(preset).unet.block_out_channels


def test_resume_is_bit_exact_with_dropout(tmp_path, encoders):
    """The UNet's temporal convolutions have dropout, which draws from the global torch RNG: a resumed
    base run still repeats the uninterrupted one (losses and weights), as the loop reseeds that RNG per
    micro-batch (a resume's DataLoader start would otherwise shift the masks)."""
    vae, clip = encoders
    base = make_recipe("base", size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in base.build().modules())
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, checkpoint_every=2)
    full = train(base, cfg, tmp_path / "a", progress=False, export=False)
    part = train(base, replace(cfg, steps=2), tmp_path / "b", progress=False, export=False)
    rest = train(base, cfg, tmp_path / "b", resume=True, progress=False, export=False)
    assert part.losses + rest.losses == full.losses
    a, b = (load_checkpoint(latest_checkpoint(tmp_path / r / "checkpoints"))["model"] for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stream_inputs_of_the_wrong_kind_are_named(tmp_path, encoders):
    """--base-unet given a VAE or a stream UNet, --vae given a run folder or a VAE of other latent
    channels than the base's: each one error naming the folder, before any step."""
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=1)
    train(make_recipe("base", **common), cfg, tmp_path / "base", progress=False)
    base_unet = str(tmp_path / "base" / "final" / "unet")
    train(make_recipe("stream", base_unet=base_unet, **common), cfg, tmp_path / "stream", progress=False)
    for wrong, held in [
        (vae, "holds an AutoencoderKL"),
        (str(tmp_path / "stream" / "final" / "unet"), "holds a StreamingUNet"),
    ]:
        with pytest.raises(ValueError, match=f"base UNet .*{held}, not a UNet3DConditionModel"):
            make_recipe("stream", **{**common, "base_unet": wrong}).build()
    run_dir = str(tmp_path / "base")  # the run folder instead of its final/vae
    with pytest.raises(ValueError, match="VAE .*holds no diffusers model") as err:
        make_recipe("base", **{**common, "vae": run_dir}).build()
    assert "holds one" not in str(err.value)  # a base run holds no VAE
    vae_run = Path(vae).parent.parent  # the vae run's folder: its final/vae is named
    with pytest.raises(ValueError, match=f"VAE .*holds no diffusers model.*; {vae} holds one: pass that$"):
        make_recipe("base", **{**common, "vae": str(vae_run)}).build()
    with pytest.raises(
        ValueError, match=f"init_unet .*holds no diffusers model.*; {base_unet} holds one: pass that$"
    ):
        make_recipe("base", **{**common, "init_unet": str(tmp_path / "base" / "final")}).build()
    other_vae = tmp_path / "vae8"
    train(
        make_recipe(
            "vae",
            size=16,
            latent_channels=8,
            block_out_channels=(8, 16, 16),
            norm_num_groups=4,
            frames_per_sample=1,
            scaling_samples=2,
        ),
        cfg,
        other_vae,
        progress=False,
    )
    with pytest.raises(ValueError, match="takes 4 latent channels, the VAE .* makes 8"):
        make_recipe(
            "stream", **{**common, "vae": str(other_vae / "final" / "vae"), "base_unet": base_unet}
        ).build()


def test_frozen_encoders_saved_in_fp16_load_as_float32_and_run_under_bf16_autocast():
    """Fine-tuning from the shipped folder (encoders saved in fp16): transformers 5 would keep fp16, which
    the CPU's bf16 autocast refuses in layer_norm; the frozen encoders load as float32."""
    from streamt2v.assets import microworld_model_dir

    root = microworld_model_dir()
    saved = json.loads((root / "text_encoder" / "config.json").read_text())
    assert saved.get("dtype", saved.get("torch_dtype")) == "float16"  # what makes this test bite
    text, image = load_frozen_clip(str(root), image=True)
    assert {p.dtype for p in [*text.parameters(), *image.parameters()]} == {torch.float32}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = text.encode(["a red circle bouncing on a blue background"])
        embeds = image.encode(torch.zeros(1, 3, 32, 32))
    assert torch.isfinite(tokens).all() and torch.isfinite(embeds).all()


def test_mixed_precision_on_the_cpu(tmp_path, encoders):
    """`streamt2v train --mixed-precision bf16 --cpu` trains the base and stream recipes with the fp32
    run's first losses; fp16 on the CPU is refused by name (accelerate would run fp32 while the run
    config said fp16). The CLI runs in its own process: accelerate fixes a process's precision at its
    first Accelerator."""
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=2, lr=1e-4)

    def cli(recipe: str, precision: str, *extra: str) -> subprocess.Popen:
        args = ["train", recipe, "--out", str(tmp_path / f"{recipe}-{precision}"), "--cpu", "--no-progress"]
        args += ["--mixed-precision", precision, "--size", "16", "--num-frames", "12", "--vae", vae]
        args += ["--clip", clip, "--set", "max_start=10", "--steps", "1", "--batch-size", "2", *extra]
        return subprocess.Popen(
            [sys.executable, "-m", "streamt2v", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finished(proc: subprocess.Popen) -> tuple[int, str, str]:
        stdout, stderr = proc.communicate()
        return proc.returncode, stdout, stderr

    def first_loss(run_dir: str) -> float:
        return json.loads((tmp_path / run_dir / "loss.jsonl").read_text().splitlines()[0])["loss"]

    # the processes start first and run beside the fp32 runs here (each is mostly its imports)
    base, fp16 = cli("base", "bf16"), cli("base", "fp16")
    fp32 = [train(make_recipe("base", **common), cfg, tmp_path / "base", progress=False).losses[0]]
    stream = make_recipe("stream", base_unet=str(tmp_path / "base" / "final" / "unet"), **common)
    fp32.append(train(stream, cfg, tmp_path / "stream", progress=False).losses[0])

    code, _, err = finished(base)
    assert code == 0, err[-2000:]
    code, out, err = finished(
        cli("stream", "bf16", "--base-unet", str(tmp_path / "base-bf16" / "final" / "unet"))
    )
    assert code == 0, err[-2000:]
    hint = f"streamt2v assemble model OUT_DIR --unet {tmp_path / 'stream-bf16' / 'final' / 'unet'}"
    assert hint in out  # how to get a folder generate loads
    assert [first_loss("base-bf16"), first_loss("stream-bf16")] == pytest.approx(fp32, rel=0.05)
    code, _, err = finished(fp16)
    assert code != 0 and "mixed_precision='fp16' needs a GPU" in err


def test_stream_freezes_base_temporal_layers(tmp_path, encoders):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12)
    train(make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False)
    module = make_recipe("stream", base_unet=str(tmp_path / "b" / "final" / "unet"), **common).build()
    frozen = [n for n, p in module.net.base.named_parameters() if not p.requires_grad]
    assert frozen and all(any(k in n for k in ("temp_", "transformer_in")) for n in frozen)
    assert all(p.requires_grad for p in module.net.cam.parameters())
    assert not any(p.requires_grad for p in module.vae.parameters())


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="--vae"):
        make_recipe("base").build()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_recipe("base", vae=str(tmp_path / "nowhere")).build()


def test_refiner_recipe_runs_at_twice_the_size(tmp_path, encoders):
    vae, clip = encoders
    refiner = make_recipe("refiner", size=32, vae=vae, clip=clip, num_frames=4, max_start=4)
    res = train(refiner, TrainConfig(steps=1, batch_size=1), tmp_path, progress=False)
    assert res.step == 1 and torch.isfinite(torch.tensor(res.losses)).all()
    import json

    assert json.loads((tmp_path / "final" / "unet" / "config.json").read_text())["sample_size"] == 8


def test_zero_terminal_snr_schedule_trains_and_exports(tmp_path, encoders):
    import json

    vae, clip = encoders
    opts = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, sample_steps=2)
    zero_snr = dict(rescale_betas_zero_snr=True, timestep_spacing="trailing")
    recipe = make_recipe("base", prediction_type="v_prediction", **zero_snr, **opts)
    res = train(recipe, TrainConfig(steps=2, batch_size=2, sample_every=2), tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(res.losses)))
    assert list((tmp_path / "samples").glob("*.mp4"))  # DDIM sampling from pure noise at t = 999
    sched = json.loads((tmp_path / "final" / "scheduler" / "scheduler_config.json").read_text())
    assert sched["rescale_betas_zero_snr"] is True and sched["timestep_spacing"] == "trailing"
    with pytest.raises(ValueError, match="v_prediction"):
        make_recipe("base", prediction_type="epsilon", **zero_snr, **opts).build()


@pytest.mark.parametrize("recipe", ["base", "stream"])
def test_latent_cache_gives_the_loss_of_fresh_encoding(tmp_path, encoders, recipe, caplog, capsys):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    # v-prediction: the target depends on the clean latents, so the loss tells clips apart
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, prediction_type="v_prediction")
    if recipe == "stream":
        train(
            make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False
        )
        common["base_unet"] = str(tmp_path / "b" / "final" / "unet")
    fresh = make_recipe(recipe, **common)
    cached = make_recipe(recipe, latent_cache=5, **common)
    module = fresh.build().eval()
    clips, cache = fresh.clips(seed=3), cached.dataset(seed=3)
    # same samples, but the stream's CAM was measured to learn less from a cache: the recipe says so
    assert ("prefer latent_cache=0" in caplog.text) == (recipe == "stream")

    # each pass over the cache serves every clip once, in a new order, the same on every call
    passes = [[cache.clip_of(i) for i in range(p * 5, p * 5 + 5)] for p in range(3)]
    assert all(sorted(p) == list(range(5)) for p in passes) and passes[0] != passes[1] != passes[2]
    assert [cached.dataset(seed=3).clip_of(i) for i in range(15)] == sum(passes, [])
    # its bar follows the run's progress setting (train passes it; --no-progress showed the bar)
    assert "caching latents" not in capsys.readouterr().err
    cached.dataset(seed=3, progress=True)
    assert "caching latents" in capsys.readouterr().err
    assert cache[7]["index"] == 7 and cache[7]["latents"].shape[1] == 12

    # the cached sample trains exactly like the clip it was made from, encoded afresh
    idx = [0, 7]
    via_cache = collate([cache[i] for i in idx])
    via_clips = collate([clips[cache.clip_of(i)] for i in idx])
    assert via_cache["caption"] == via_clips["caption"]
    torch.testing.assert_close(via_cache["latents"], module.vae.encode(via_clips["video"]))
    keep = cached.cached_pixel_frames()
    assert via_cache["video"].shape[2] == keep
    torch.testing.assert_close(via_cache["video"], via_clips["video"][:, :, :keep], atol=1e-3, rtol=0)
    with torch.no_grad():
        losses = [module(b, torch.Generator().manual_seed(0))[0] for b in (via_cache, via_clips)]
    torch.testing.assert_close(losses[0], losses[1], atol=1e-4, rtol=1e-4)


def test_latent_cache_rejects_bad_sizes(tmp_path, encoders):
    from streamt2v.train.latent_cache import LatentCache

    with pytest.raises(ValueError, match="num_clips must be ≥ 1, got 0"):
        LatentCache([], None, 0)
    vae, clip = encoders
    with pytest.raises(ValueError, match="latent_cache must be ≥ 0 .*got -3"):
        make_recipe("base", size=16, vae=vae, clip=clip, latent_cache=-3).dataset(seed=0)


def record_training_draws(
    module, monkeypatch, weights=None, calls=None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(noise, t)`` of every training-loss call of a recipe's module (the loss itself still runs); its
    loss weights are appended to ``weights`` and its ``(z0, keyword arguments)`` to ``calls`` when given."""
    seen = []
    loss = module.denoiser.loss

    def recording_loss(model_fn, z0, noise, t, weight=None, **kwargs):
        seen.append((noise, t))
        if weights is not None:
            weights.append(weight)
        if calls is not None:
            calls.append((z0, kwargs))
        return loss(model_fn, z0, noise, t, weight=weight, **kwargs)

    monkeypatch.setattr(module.denoiser, "loss", recording_loss)
    return seen


@pytest.mark.parametrize("recipe_name", ["base", "stream"])
def test_latents_and_noise_stay_float32_under_bf16_autocast(tmp_path, encoders, monkeypatch, recipe_name):
    """Under the loop's bf16 autocast the frozen VAE encodes in bf16; the latents, the training noise and
    so the loss target are kept in float32 (bf16 rounding is ~0.3% of the latent spread), for the clips
    and for joint-training images alike."""
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    if recipe_name == "stream":
        base = make_recipe("base", **common)
        train(base, TrainConfig(steps=1, batch_size=1), tmp_path / "base", progress=False)
        recipe = make_recipe("stream", base_unet=str(tmp_path / "base" / "final" / "unet"), **common)
    else:
        recipe = make_recipe("base", image_batch=1, **common)
    module = recipe.build()
    calls = []
    draws = record_training_draws(module, monkeypatch, calls=calls)
    batch = collate([recipe.dataset(seed=0)[i] for i in range(2)])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = module(batch, torch.Generator().manual_seed(0))
        assert module.vae.encode(batch["video"][:, :, :1]).dtype == torch.bfloat16  # what makes this bite
    assert len(calls) == (1 if recipe_name == "stream" else 2)  # the clips, and the images
    assert {z0.dtype for z0, _ in calls} == {torch.float32}
    assert {noise.dtype for noise, _ in draws} == {torch.float32}
    assert torch.isfinite(loss)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_noise_correlation_reaches_the_training_noise(tmp_path, encoders, monkeypatch, rho):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    recipe = make_recipe("base", size=16, vae=vae, clip=clip, num_frames=12, noise_correlation=rho)
    module = recipe.build()
    seen = record_training_draws(module, monkeypatch)
    clips = recipe.clips(seed=0)
    with torch.no_grad():
        module(collate([clips[i] for i in range(4)]), torch.Generator().manual_seed(0))
    frames = seen[0][0].transpose(0, 2).flatten(1)  # noise as (T, B c h w)
    corr = torch.corrcoef(frames)
    mean_between_frames = (corr.sum() - corr.diagonal().sum()) / (corr.numel() - len(corr))
    assert float(mean_between_frames) == pytest.approx(rho, abs=0.1)


def test_noise_correlation_must_be_below_one(encoders):
    with pytest.raises(ValueError, match=r"noise_correlation must be in \[0, 1\), got 1"):
        make_recipe("base", noise_correlation=1)


@pytest.mark.parametrize("limit", [0, 50])
def test_max_train_timestep_limits_the_training_timesteps(encoders, monkeypatch, limit):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    recipe = make_recipe("refiner", size=16, vae=vae, clip=clip, num_frames=12, max_train_timestep=limit)
    module = recipe.build()
    seen = record_training_draws(module, monkeypatch)
    batch = collate([recipe.clips(seed=0)[i] for i in range(8)])
    with torch.no_grad():
        for k in range(8):
            module(batch, torch.Generator().manual_seed(k))
    t = torch.cat([t for _, t in seen])
    assert int(t.min()) >= 0
    assert int(t.max()) < 50 if limit else int(t.max()) >= 50  # 64 draws over 1000 steps reach past 50
    for bad in (-1, 1001):
        with pytest.raises(ValueError, match=rf"max_train_timestep must be in \[0, 1000\].*got {bad}"):
            make_recipe("refiner", max_train_timestep=bad)


def test_low_resolution_degradation_is_the_enhancers_down_and_up_resize(encoders):
    from streamt2v.io.video import resize_video
    from streamt2v.train.degradation import LowResolutionDegradation
    from streamt2v.train.frozen import load_frozen_vae

    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    out = LowResolutionDegradation(2)(video)
    torch.testing.assert_close(out, resize_video(resize_video(video, 8), 16))
    assert float((out - video).abs().mean()) > 0.1  # pixel noise does not survive half the resolution
    flat = torch.full((1, 3, 2, 16, 16), 0.3)
    torch.testing.assert_close(LowResolutionDegradation(2)(flat), flat)
    vae = load_frozen_vae(encoders[0])
    through_vae = LowResolutionDegradation(2, vae)(video)
    torch.testing.assert_close(through_vae, resize_video(vae.decode(vae.encode(resize_video(video, 8))), 16))
    with pytest.raises(ValueError, match="not divisible by the degradation scale 3"):
        LowResolutionDegradation(3)(video)
    with pytest.raises(ValueError, match="integer ≥ 2, got 1"):
        LowResolutionDegradation(1)


def test_refiner_restoration_training_noises_the_degraded_clip(encoders, monkeypatch):
    """With ``degrade_scale`` the loss gets the clean clip's latents as the target and the degraded
    clip's as the source to noise (``Denoiser.loss``'s tests check what it does with them)."""
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=4, max_start=4, max_train_timestep=50)
    recipe = make_recipe("refiner", degrade_scale=2, degrade_vae=vae, x0_loss=True, **common)
    module = recipe.build()
    calls = []
    record_training_draws(module, monkeypatch, calls=calls)
    batch = collate([recipe.clips(seed=0)[i] for i in range(2)])
    with torch.no_grad():
        module(batch, torch.Generator().manual_seed(0))
    ((z0, kwargs),) = calls
    torch.testing.assert_close(z0, module.vae.encode(batch["video"]))
    torch.testing.assert_close(kwargs["source"], module.vae.encode(module.degradation(batch["video"])))
    assert kwargs["x0_space"] is True
    assert float((kwargs["source"] - z0).abs().mean()) > 1e-3


def test_refiner_restoration_run_trains_and_writes_samples(tmp_path, encoders):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=4, max_start=4, max_train_timestep=50)
    recipe = make_recipe("refiner", degrade_scale=2, x0_loss=True, **common)
    res = train(recipe, TrainConfig(steps=2, batch_size=1, sample_every=2), tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(res.losses)))
    from streamt2v.io.video import read_video

    sample, _ = read_video(next((tmp_path / "samples").glob("refiner-*.mp4")))
    assert sample.shape[-1] == 3 * 16  # the clip, the refiner's input and its output


def test_restoration_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="degrade_scale must be 0 \\(off\\) or an integer ≥ 2, got 1"):
        make_recipe("refiner", degrade_scale=1)
    with pytest.raises(ValueError, match="size 64 is not divisible by degrade_scale 3"):
        make_recipe("refiner", degrade_scale=3)
    with pytest.raises(ValueError, match="degrade_vae='v' needs degrade_scale ≥ 2"):
        make_recipe("refiner", degrade_vae="v")
    with pytest.raises(ValueError, match="latent_cache=8 keeps only latents"):
        make_recipe("refiner", degrade_scale=2, latent_cache=8)
    with pytest.raises(FileNotFoundError, match="degradation VAE"):
        make_recipe("refiner", degrade_scale=2, degrade_vae=str(tmp_path / "none")).build()


def test_stream_continues_from_a_trained_stream_unet(tmp_path, encoders):
    from streamt2v.models.unet import StreamingUNet

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    one = TrainConfig(steps=1, batch_size=1, lr=1e-2)
    train(make_recipe("base", **common), one, tmp_path / "b", progress=False)
    common["base_unet"] = str(tmp_path / "b" / "final" / "unet")
    train(make_recipe("stream", **common), one, tmp_path / "s", progress=False)
    trained = StreamingUNet.from_pretrained(tmp_path / "s" / "final" / "unet").state_dict()

    fresh = make_recipe("stream", **common).build().net.state_dict()
    cont = make_recipe("stream", init_unet=str(tmp_path / "s" / "final" / "unet"), **common).build()
    changed = [k for k in trained if not torch.equal(trained[k], fresh[k])]
    assert changed  # the trained run moved away from the base-initialised stream...
    assert all(torch.equal(v, trained[k]) for k, v in cont.net.state_dict().items())  # ...and is resumed
    assert not any(p.requires_grad for n, p in cont.net.base.named_parameters() if "temp_" in n)
    with pytest.raises(
        ValueError, match="holds a UNet3DConditionModel; the stream recipe continues a StreamingUNet"
    ):
        make_recipe("stream", init_unet=common["base_unet"], **common).build()


def test_joint_images_come_from_other_videos_and_train(tmp_path, encoders, monkeypatch):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, prediction_type="v_prediction")
    recipe = make_recipe("base", image_batch=3, image_loss_weight=0.5, **common)
    data = recipe.dataset(seed=2)
    item, clip0 = data[1], recipe.clips(seed=2)[1]
    torch.testing.assert_close(item["video"], clip0["video"])  # the clip is unchanged
    assert item["images"].shape == (3, 3, 16, 16) and len(item["image_captions"]) == 3
    # every image differs from every frame of its clip and from the other images
    frames = torch.cat([item["video"].transpose(0, 1), item["images"]])
    gaps = (frames[:, None] - frames[None]).abs().flatten(2).amax(-1)
    assert float(gaps[12:, :12].min()) > 0.1 and float(gaps[12:, 12:].fill_diagonal_(1).min()) > 0.1
    torch.testing.assert_close(recipe.dataset(seed=2)[1]["images"], item["images"])  # deterministic

    module = recipe.build()
    seen = record_training_draws(module, monkeypatch)
    batch = collate([data[i] for i in range(2)])
    with torch.no_grad():
        loss, logs = module(batch, torch.Generator().manual_seed(0))
    (video_noise, _), (image_noise, _) = seen
    assert video_noise.shape[2] == 12 and image_noise.shape[:3] == (6, video_noise.shape[1], 1)
    # the total is the clip loss plus the weighted image loss (the clip loss recomputed without images)
    without = {k: v for k, v in batch.items() if k not in ("images", "image_captions")}
    with torch.no_grad():
        clip_loss, clip_logs = module(without, torch.Generator().manual_seed(0))
    assert "image_loss" in logs and "image_loss" not in clip_logs
    torch.testing.assert_close(loss, clip_loss + 0.5 * torch.tensor(logs["image_loss"]))

    res = train(recipe, TrainConfig(steps=2, batch_size=2), tmp_path / "run", progress=False)
    assert all(torch.isfinite(torch.tensor(res.losses)))


def test_joint_images_options_are_checked():
    with pytest.raises(ValueError, match="image_batch must be ≥ 0.*got -1"):
        make_recipe("base", image_batch=-1)
    with pytest.raises(ValueError, match="image_loss_weight must be ≥ 0, got -0.5"):
        make_recipe("refiner", image_loss_weight=-0.5)
    with pytest.raises(ValueError, match="image_batch=2: the stream recipe trains on clips only"):
        make_recipe("stream", image_batch=2)


def test_colour_shift_is_one_offset_per_sample_and_channel_within_range():
    frames = torch.zeros(6, 3, 4, 5, 5)
    frames[:, :, :, 0, 0] = 0.95  # near the top of the range: clamped
    out = colour_shift(frames, 0.2, torch.Generator().manual_seed(0))
    offset = out[:, :, :, 1:, 1:]
    assert torch.equal(offset, offset[:, :, :1, :1, :1].expand_as(offset))  # shared by frames and pixels
    assert float(offset.abs().max()) <= 0.2 and float(offset.std()) > 0.05
    assert float(offset[:, 0].std()) > 0 and not torch.equal(offset[:, 0], offset[:, 1])  # per channel
    assert float(out.max()) <= 1.0 and torch.equal(
        out[:, :, :, 0, 0], (0.95 + offset[:, :, :, 0, 0]).clamp(max=1)
    )


def test_cond_noise_and_colour_aug_change_only_the_cam_frames(tmp_path, encoders, monkeypatch):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    train(make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False)
    common["base_unet"] = str(tmp_path / "b" / "final" / "unet")
    clips = make_recipe("stream", **common).clips(seed=0)
    batch = collate([clips[i] for i in range(16)])
    runs = {}
    for aug in ("off", "noise", "colour"):
        options = {"off": {}, "noise": {"cond_noise_aug": 0.5}, "colour": {"cond_colour_aug": 0.3}}[aug]
        module = make_recipe("stream", **options, **common).build()
        draws = record_training_draws(module, monkeypatch)
        cams = []
        forward = module.net.forward

        def recording(*args, cond_frames=None, _forward=forward, _cams=cams, **kw):
            _cams.append(cond_frames)
            return _forward(*args, cond_frames=cond_frames, **kw)

        monkeypatch.setattr(module.net, "forward", recording)
        with torch.no_grad():
            module(batch, torch.Generator().manual_seed(0))
        runs[aug] = draws[0], cams[0]
    clean = batch["video"][:, :, : runs["off"][1].shape[2]]
    assert torch.equal(runs["off"][1], clean)  # off: the CAM sees the clip's frames
    std = (runs["noise"][1] - clean).flatten(1).std(dim=1)  # per-sample Gaussian noise, std ~ U(0, 0.5)
    assert float(std.max()) <= 0.5 * 1.05 and float(std.max() - std.min()) > 0.2
    assert float(std.mean()) == pytest.approx(0.25, abs=0.1)
    shift = runs["colour"][1] - clean  # one offset per sample and channel where nothing was clamped
    inside = clean.abs() < 0.65
    per_channel = torch.where(inside, shift, float("nan")).flatten(2).nanmedian(dim=2).values
    assert torch.allclose(
        torch.where(inside, shift, 0), torch.where(inside, per_channel[..., None, None, None], 0)
    )
    measured = per_channel[per_channel.isfinite()]  # nan: a channel saturated everywhere (palette colours)
    assert measured.numel() > per_channel.numel() // 2
    assert float(measured.abs().max()) <= 0.3 and float(measured.std()) > 0.05
    for aug in ("noise", "colour"):  # the diffusion noise and timesteps are unchanged
        for a, b in zip(runs["off"][0], runs[aug][0]):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match="cond_noise_aug must be ≥ 0.*got -0.1"):
        make_recipe("stream", cond_noise_aug=-0.1)
    with pytest.raises(ValueError, match="cond_colour_aug must be ≥ 0.*got -0.2"):
        make_recipe("stream", cond_colour_aug=-0.2)


def test_foreground_weights_single_out_objects_whatever_the_contrast():
    z = torch.zeros(1, 4, 2, 8, 8)
    z[:, :, :, 2:4, 5:7] = 1.5  # an object of 4 latent positions per frame on a flat background
    w = foreground_weights(z, 3.0)
    assert w.shape == (1, 1, 2, 8, 8)
    assert torch.allclose(w[..., 2:4, 5:7], torch.tensor(1 + 3 * 64 / 4))  # d / mean d = 16 on the object
    assert float(w.sum() - w[..., 2:4, 5:7].sum()) == pytest.approx(2 * 60)  # weight 1 elsewhere
    assert torch.allclose(foreground_weights(0.1 * z - 2.0, 3.0), w)  # contrast and offset do not matter
    assert torch.equal(foreground_weights(torch.ones(1, 4, 2, 8, 8), 3.0), torch.ones(1, 1, 2, 8, 8))


def test_foreground_weight_reaches_the_base_and_stream_losses(tmp_path, encoders, monkeypatch):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    train(make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False)
    for name, extra in (("base", {}), ("stream", {"base_unet": str(tmp_path / "b" / "final" / "unet")})):
        batch = collate([make_recipe(name, **common, **extra).clips(seed=0)[i] for i in range(2)])
        for strength in (0.0, 2.0):
            module = make_recipe(name, foreground_weight=strength, **common, **extra).build()
            seen = []
            record_training_draws(module, monkeypatch, weights=seen)
            with torch.no_grad():
                module(batch, torch.Generator().manual_seed(0))
            if strength == 0:
                assert seen == [None], name
            else:
                z0 = module.vae.encode(batch["video"])
                assert torch.allclose(seen[0], foreground_weights(z0, strength)), name
    with pytest.raises(ValueError, match="foreground_weight must be ≥ 0.*got -1"):
        make_recipe("base", foreground_weight=-1)


def test_foreground_weights_from_both_also_weigh_objects_only_the_model_drew(encoders):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, foreground_weight=3.0)
    z0 = torch.zeros(1, 4, 2, 8, 8)
    z0[..., 2:4, 5:7] = 1.5  # the clip's object
    drawn = z0.clone()
    drawn[..., 6:8, 0:2] = 1.5  # the model drew a second, spurious object
    target_only = make_recipe("base", **common).build().loss_weight(z0)
    assert torch.equal(target_only, foreground_weights(z0, 3.0))
    both = make_recipe("base", foreground_weight_from="both", **common).build().loss_weight(z0)
    w = both(drawn)
    assert torch.equal(w, torch.maximum(target_only, foreground_weights(drawn, 3.0)))
    assert float(target_only[..., 6:8, 0:2].max()) == 1.0 and float(w[..., 6:8, 0:2].min()) > 4.0
    assert torch.equal(both(z0), target_only)  # a prediction equal to the clip changes nothing
    with pytest.raises(ValueError, match="foreground_weight_from must be one of.*got 'pred'"):
        make_recipe("base", foreground_weight_from="pred")


def test_a_clip_folder_without_tokenizer_vocabulary_is_refused(tmp_path):
    """transformers builds a 2-token tokenizer from a folder without vocabulary, which reads every caption
    as the same ids; `train --clip` refused nothing and trained on that."""
    import shutil

    from streamt2v.assets import microworld_clip_dir, microworld_model_dir

    root = tmp_path / "clip"
    shutil.copytree(microworld_model_dir(), root)
    (root / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"--clip tokenizer folder .*holds no tokenizer vocabulary"):
        load_frozen_clip(str(root))
    whole = shutil.copytree(microworld_clip_dir(), tmp_path / "whole")
    load_frozen_clip(str(whole))  # a whole CLIPModel folder with its tokenizer loads
    (whole / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="--clip CLIPModel folder .*holds no tokenizer vocabulary"):
        load_frozen_clip(str(whole))


def test_a_clip_run_folder_given_as_clip_names_its_final_folder(tmp_path):
    """`--clip runs/clip` (the run, not its final/): its config.json is the run's, so the folder was read as a
    CLIPModel folder and refused for having no tokenizer, which did not say what to pass."""
    import shutil

    from streamt2v.assets import microworld_model_dir

    run = tmp_path / "runs" / "clip"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"recipe": {"name": "clip"}}))
    final = run / "final"
    final.mkdir()
    for part in ("tokenizer", "text_encoder"):
        shutil.copytree(microworld_model_dir() / part, final / part)
    with pytest.raises(
        FileNotFoundError,
        match=rf"^--clip {run} is a micro-CLIP training run.s folder; pass its final/ folder: {final}$",
    ):
        load_frozen_clip(str(run))
    text, _ = load_frozen_clip(str(final))  # what the error names loads
    assert text.encode(["a red circle"]).shape[0] == 1
