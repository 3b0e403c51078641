"""Text/image encoders: the open_clip → transformers conversion reproduces the official APM encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionModelWithProjection

from conftest import first_reference_case, reference_cases
from streamt2v.models.encoders import (
    ImageEncoder,
    TextEncoder,
    convert_open_clip_visual,
    resize_antialiased_bicubic,
)
from streamt2v.models.tokenizers import byte_level_clip_tokenizer

CASES = reference_cases()
PREFIX = "image_encoder.model.visual."


def _head_width(case: Path) -> int:
    """open_clip ``vision_cfg.head_width`` as recorded in the case's tiny_config.json."""
    cfg = json.loads((case / "tiny_config.json").read_text())
    for key, value in cfg.items():
        if key.startswith("image_encoder"):
            for k2, v2 in value.items():
                if k2.startswith("open_clip_model_config"):
                    return int(v2["vision_cfg"]["head_width"])
    raise AssertionError(f"no open_clip vision_cfg.head_width in {case / 'tiny_config.json'}")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))


def _reference_encoder(case: Path) -> ImageEncoder:
    sd = {
        k: v.to(torch.float64)
        for k, v in load_file(case / "tiny_state_dict.safetensors").items()
        if k.startswith(PREFIX)
    }
    config, hf = convert_open_clip_visual(sd, PREFIX, head_width=_head_width(case))
    model = CLIPVisionModelWithProjection(config).to(torch.float64).eval()
    missing, unexpected = model.load_state_dict(hf, strict=False)
    assert not unexpected
    assert not [k for k in missing if "position_ids" not in k]
    return ImageEncoder(model)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_image_encoder_matches_official_modules(case: Path) -> None:
    enc = _reference_encoder(case)
    mods = load_file(case / "tiny_modules.safetensors")
    x = mods["image_encoder.in"].to(torch.float64)
    pre = enc.preprocess(x)
    assert pre.shape == mods["image_encoder.mid_preprocess"].shape
    assert _rel(pre, mods["image_encoder.mid_preprocess"]) <= 1e-4
    assert _rel(enc.encode(x), mods["image_encoder.out"]) <= 1e-4


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_image_encoder_matches_official_step_embeddings(case: Path) -> None:
    enc = _reference_encoder(case)
    io = load_file(case / "tiny_io.safetensors")
    anchor = io["in.anchor_frame"].to(torch.float64).flatten(0, 1)  # (B F) C H W
    assert _rel(enc.encode(anchor), io["out.image_emb"]) <= 1e-4
    assert _rel(enc.encode(torch.zeros_like(anchor)), io["out.image_emb_uncond"]) <= 1e-4


def test_convert_open_clip_visual_infers_config_and_rejects_bad_head_width() -> None:
    case = first_reference_case()
    sd = load_file(case / "tiny_state_dict.safetensors")
    config, hf = convert_open_clip_visual(sd, PREFIX, head_width=_head_width(case))
    width = sd[PREFIX + "conv1.weight"].shape[0]
    assert config.hidden_size == width
    assert config.num_attention_heads == width // _head_width(case)
    assert config.projection_dim == sd[PREFIX + "proj"].shape[1]
    assert torch.equal(hf["visual_projection.weight"], sd[PREFIX + "proj"].t())
    with pytest.raises(ValueError, match="head_width"):
        convert_open_clip_visual(sd, PREFIX, head_width=width + 1)
    with pytest.raises(ValueError, match="conv1"):  # one readable line on the command line, not a traceback
        convert_open_clip_visual(sd, "nope.")


def test_resize_downscale_blurs_and_upscale_is_plain_bicubic() -> None:
    x = torch.rand(1, 3, 40, 40, dtype=torch.float64) * 2 - 1
    up = resize_antialiased_bicubic(x, (56, 56))
    assert torch.equal(up, F.interpolate(x, size=(56, 56), mode="bicubic", align_corners=True))
    const = torch.full((1, 3, 64, 64), 0.25, dtype=torch.float64)
    assert torch.allclose(
        resize_antialiased_bicubic(const, (16, 16)), torch.full((1, 3, 16, 16), 0.25, dtype=torch.float64)
    )
    # A checkerboard is aliased by plain resizing but averaged out by the antialiasing blur.
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None]) % 2).to(torch.float64)[None, None]
    down = resize_antialiased_bicubic(checker, (16, 16))
    plain = F.interpolate(checker, size=(16, 16), mode="bicubic", align_corners=True)
    assert (down - 0.5).abs().max() < (plain - 0.5).abs().max()


def test_image_encoder_rejects_bad_shape() -> None:
    enc = _reference_encoder(first_reference_case())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        enc.encode(torch.zeros(1, 4, 8, 8))


def _tiny_text_encoder(max_length: int = 16) -> TextEncoder:
    tok = byte_level_clip_tokenizer(max_length)
    cfg = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return TextEncoder(tok, CLIPTextModel(cfg).eval())


def test_text_encoder_pads_batches_and_is_deterministic() -> None:
    enc = _tiny_text_encoder()
    out = enc.encode(["a red circle", "", "a much longer prompt that will be truncated at sixteen"])
    assert out.shape == (3, 16, 32)
    single = enc.encode(["a red circle"])
    assert torch.allclose(out[:1], single, atol=1e-6)
    assert not torch.allclose(out[0], out[1])
    assert torch.allclose(enc.encode(""), out[1:2], atol=1e-6)
    with pytest.raises(ValueError, match="non-empty list"):
        enc.encode([])
    with pytest.raises(ValueError, match="max_length"):
        TextEncoder(enc.tokenizer, enc.model, max_length=100)
