"""The training objective's options of the video-UNet recipes (base, stream, refiner): what a step draws
(noise correlation, timesteps, latents' precision), restoration training, joint images, conditioning
augmentation and foreground loss weights; on tiny configs."""

from __future__ import annotations

import pytest
import torch

from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe
from streamt2v.train.stream_recipe import colour_shift
from streamt2v.train.video_recipes import foreground_weights


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
    from streamt2v.pixels import resize_video
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
    # the caption of the clip shown, beside it: the folder of samples named no prompt
    caption = recipe.sample_inputs().items[0]["caption"]
    assert (tmp_path / "samples" / "refiner-00000002.txt").read_text() == caption + "\n"


def test_restoration_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="degrade_scale must be 0 \\(off\\) or an integer ≥ 2, got 1"):
        make_recipe("refiner", degrade_scale=1)
    with pytest.raises(ValueError, match="^size=64 is not divisible by degrade_scale=3$"):
        make_recipe("refiner", degrade_scale=3)
    with pytest.raises(ValueError, match="degrade_vae='v' needs degrade_scale ≥ 2"):
        make_recipe("refiner", degrade_vae="v")
    with pytest.raises(ValueError, match="latent_cache=8 keeps only latents"):
        make_recipe("refiner", degrade_scale=2, latent_cache=8)
    with pytest.raises(FileNotFoundError, match=r"^degrade_vae='\S+none' does not exist: pass the stage-1/2"):
        make_recipe("refiner", degrade_scale=2, degrade_vae=str(tmp_path / "none")).build()
    # a folder holding no VAE is named as degrade_vae (it was named vae, --vae on the command line), on the
    # command line as the option's --set
    with pytest.raises(
        ValueError,
        match=r"^the degradation VAE \(degrade_vae\) folder \S+ holds no diffusers model .*; it takes an AutoencoderKL",
    ) as err:
        make_recipe("refiner", degrade_scale=2, degrade_vae=str(tmp_path)).build()
    assert str(err.value.as_flags()).startswith("the degradation VAE (--set degrade_vae) folder ")


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
    # made directly, a text value was Python's "'<' not supported between instances of 'str' and 'int'"
    from streamt2v.train.stream_recipe import StreamRecipe
    from streamt2v.train.video_recipes import BaseRecipe

    with pytest.raises(
        ValueError, match=r"^base option foreground_weight must be a finite number ≥ 0 .*, got '1'$"
    ):
        BaseRecipe(foreground_weight="1")
    with pytest.raises(
        ValueError, match=r"^stream option cond_noise_aug must be a finite number ≥ 0 .*, got '0.1'$"
    ):
        StreamRecipe(cond_noise_aug="0.1")


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
