"""Behaviour of the stage-2 network (paper §4) at the ``tiny`` preset, and the full-size build on meta."""

from __future__ import annotations

import pytest
import torch

from conftest import reference_cases
from streamt2v.config import PRESETS
from streamt2v.io.official_unet_keys import map_official_unet_key
from streamt2v.models.apm import APMAttnProcessor
from streamt2v.models.unet import StreamingUNet, build_video_unet

TINY = PRESETS["tiny"]
S = TINY.streaming
D = TINY.unet.cross_attention_dim


def _randomize(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    """Perturb every parameter, so that zero-initialized layers (temporal conv4, ...) matter too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _inputs(batch: int = 2, latent: int = 8, frames: int = S.num_frames, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    k = 2 ** (len(S.cond_embedding_channels) - 1)
    return {
        "sample": torch.randn(batch, TINY.unet.in_channels, frames, latent, latent, generator=g),
        "timestep": torch.tensor([10, 700])[:batch],
        "text_embeds": torch.randn(batch, S.num_text_tokens, D, generator=g),
        "image_tokens": torch.randn(batch, S.num_image_tokens, D, generator=g),
        "cond_frames": torch.rand(batch, 3, S.num_cond_frames, k * latent, k * latent, generator=g) * 2 - 1,
    }


@pytest.fixture(scope="module")
def base() -> torch.nn.Module:
    torch.manual_seed(0)
    unet = build_video_unet(TINY.unet).eval()
    _randomize(unet, seed=3)
    return unet


@pytest.fixture(scope="module")
def trained(base) -> StreamingUNet:
    """A streaming UNet whose every weight (incl. zero-inits, alpha) is non-trivial."""
    model = StreamingUNet.from_base(base, S).eval()
    _randomize(model, seed=4)
    return model


def _base_out(base, x: dict) -> torch.Tensor:
    return base(x["sample"], x["timestep"], encoder_hidden_states=x["text_embeds"]).sample


def test_fresh_streaming_unet_is_exactly_the_base(base) -> None:
    """Zero-initialized mergers/E_cond/alpha (paper §4.1-4.2): stage-2 init reproduces the base UNet."""
    model = StreamingUNet.from_base(base, S).eval()
    x = _inputs()
    with torch.no_grad():
        ref = _base_out(base, x)
        out = model(**x)
    assert torch.equal(out, ref)
    for name in ("conv_in", "time_embedding", "transformer_in", "down_blocks", "mid_block"):
        ours, theirs = getattr(model.cam, name).state_dict(), getattr(base, name).state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_cam_and_apm_change_the_output_once_trained(trained) -> None:
    x = _inputs()
    with torch.no_grad():
        full = trained(**x)
        no_cam = trained(**{**x, "cond_frames": None})
        no_apm = trained(**{**x, "image_tokens": None})
    assert (full - no_cam).abs().max() > 1e-3
    assert (full - no_apm).abs().max() > 1e-3


@pytest.mark.parametrize("latent", [8, 5])  # 5: odd size, the up blocks need forced upsample sizes
def test_without_cam_and_apm_equals_the_diffusers_forward(trained, latent: int) -> None:
    """Our forward re-implements diffusers' UNet3DConditionModel.forward exactly when CAM/APM are off."""
    x = _inputs(latent=latent)
    with torch.no_grad():
        out = trained(x["sample"], x["timestep"], x["text_embeds"])
        ref = _base_out(trained.base, x)
    assert torch.equal(out, ref)


def test_alpha_zero_makes_image_tokens_inert(trained) -> None:
    x = _inputs()
    apm = [p for p in trained.base.attn_processors.values() if isinstance(p, APMAttnProcessor)]
    n_cross = sum(len(getattr(b, "attentions", [])) for b in trained.base.down_blocks)
    n_cross += sum(len(getattr(b, "attentions", [])) for b in trained.base.up_blocks)
    assert len(apm) == n_cross + len(trained.base.mid_block.attentions)
    saved = [p.alpha.detach().clone() for p in apm]
    try:
        with torch.no_grad():
            for p in apm:
                p.alpha.zero_()
            with_tokens = trained(**x)
            without = trained(**{**x, "image_tokens": None})
    finally:
        with torch.no_grad():
            for p, a in zip(apm, saved, strict=True):
                p.alpha.copy_(a)
    assert torch.equal(with_tokens, without)


def test_timestep_forms_agree(trained) -> None:
    x = _inputs(batch=1)
    with torch.no_grad():
        outs = [trained(**{**x, "timestep": t}) for t in (10, torch.tensor(10), torch.tensor([10]))]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_cam_sees_only_the_first_cond_frames(trained) -> None:
    x = _inputs()
    n = S.num_cond_frames
    with torch.no_grad():
        skips, mid = trained.cam(x["sample"][:, :, :n], x["timestep"], x["text_embeds"], x["cond_frames"])
    assert skips[0].shape == (2, TINY.unet.block_out_channels[0], n, 8, 8)
    assert len(skips) == len(trained.down_mergers)
    assert mid.shape[2] == n


def test_image_tokens_shape(trained) -> None:
    e = torch.randn(3, S.image_embed_dim)
    assert trained.image_tokens(e).shape == (3, S.num_image_tokens, D)
    # (B, F, E): the mean over frames, as the official resampler
    torch.testing.assert_close(trained.image_tokens(torch.stack([e, e], 1)), trained.image_tokens(e))


@pytest.mark.parametrize(
    ("name", "change", "needle"),
    [
        ("cond_frames", lambda t: t[:, :, :3], f"expected {S.num_cond_frames} conditioning frames.*got 3"),
        ("cond_frames", lambda t: t[..., :32, :32], "must be 64x64.*8x8 latent.*got 32x32"),
        ("text_embeds", lambda t: t[:, :5], f"num_text_tokens={S.num_text_tokens}.*got \\(2, 5, {D}\\)"),
        ("image_tokens", lambda t: t[:, :2], f"num_image_tokens={S.num_image_tokens}.*got \\(2, 2, {D}\\)"),
        ("image_tokens", lambda t: t[:1], "image_tokens must have shape.*got \\(1, "),
    ],
    ids=["cond-frame-count", "cond-resolution", "text-tokens", "image-tokens", "image-batch"],
)
def test_bad_inputs_raise_naming_the_value(trained, name: str, change, needle: str) -> None:
    x = _inputs()
    with pytest.raises(ValueError, match=needle):
        trained(**{**x, name: change(x[name])})


def _official_totals() -> int | None:
    cases = reference_cases()
    if not cases:
        return None
    total = 0
    for line in (cases[0] / "keys_full.tsv").read_text().splitlines()[1:]:
        key, _, _, numel, _ = line.split("\t")
        if map_official_unet_key(key) is not None:
            total += int(numel)
    return total


def test_full_size_builds_on_meta_without_allocating() -> None:
    """The modelscope-1.7b stage-2 network (base + CAM + resampler) is built on the meta device."""
    preset = PRESETS["modelscope-1.7b"]
    with torch.device("meta"):
        model = StreamingUNet.from_config_objects(preset.unet, preset.streaming)
    tensors = list(model.parameters()) + list(model.buffers())
    assert tensors and all(t.is_meta for t in tensors)
    assert len(model.down_mergers) == 12
    n_params = sum(p.numel() for p in model.parameters())
    expected = _official_totals()
    if expected is None:
        pytest.skip("no official key manifest beside the checkout")
    assert n_params == expected


def test_xformers_switch_cannot_drop_the_apm_processors(trained) -> None:
    with pytest.raises(ValueError, match="APM"):
        trained.enable_xformers_memory_efficient_attention()
    assert any(isinstance(p, APMAttnProcessor) for p in trained.base.attn_processors.values())
