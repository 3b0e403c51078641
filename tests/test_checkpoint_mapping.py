"""Official checkpoint keys onto our model: the full key manifest of the 1.7B release, the tiny reference
converted end to end, and the tensors that do not fit (shape mismatches, a wrong preset, nothing that fits,
missing image-encoder tensors, a wrong or non-positive head width) named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import (
    first_reference_case,
    garbage_checkpoint,
    reference_cases,
    reference_config,
    tiny_reference_sd,
    tokenizer_folder,
)
from streamt2v.config import get_preset
from streamt2v.io.checkpoints import (
    IGNORED_OFFICIAL_KEYS,
    check_converted,
    convert_official_checkpoint,
    convert_state_dict,
)
from streamt2v.io.conversion_report import CheckpointMismatchError, ConversionReport
from streamt2v.io.official_unet_keys import map_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel

CASES = reference_cases()


def _manifest(case: Path) -> dict[str, torch.Tensor]:
    sd = {}
    for line in (case / "keys_full.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")[:2]
        dims = () if shape == "scalar" else tuple(int(x) for x in shape.split("x"))
        sd[key] = torch.empty(dims, device="meta")
    return sd


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_official_key_maps_to_exactly_one_tensor_of_ours(case: Path) -> None:
    sd = _manifest(case)
    converted = convert_state_dict(sd)  # raises if two official keys map to one tensor
    assert converted.unmapped == []
    assert sorted(k for k, _ in converted.ignored) == sorted(IGNORED_OFFICIAL_KEYS)
    model = StreamingT2VModel.from_preset("modelscope-1.7b", device="meta", with_init_unet=False)
    modules = model.modules()
    assert converted.vision_config.to_dict() | {"transformers_version": None} == (
        modules["image_encoder"].config.to_dict() | {"transformers_version": None}
    )
    report = ConversionReport(source=str(case))
    check_converted(converted, modules, report)
    assert report.ok, report.problems()
    n_ours = sum(len(m.state_dict()) for m in modules.values())
    assert sum(report.mapped.values()) == n_ours  # every tensor of ours is covered
    n_visual = sum(1 for k in sd if k.startswith("image_encoder.model.visual."))
    n_official = sum(report.mapped.values()) - len(converted.tensors["image_encoder"]) + n_visual
    assert n_official + len(IGNORED_OFFICIAL_KEYS) == len(sd)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_convert_tiny_reference_end_to_end(case: Path, tmp_path: Path) -> None:
    cfg, head_width = reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    with pytest.raises(CheckpointMismatchError, match="absent"):  # no text_encoder./vae. in the tiny file
        convert_official_checkpoint(
            src,
            tmp_path / "strict",
            cfg,
            head_width=head_width,
            tokenizer=tokenizer_folder(tmp_path / "tok", cfg),
        )
    assert not (tmp_path / "strict").exists()
    report = convert_official_checkpoint(src, tmp_path / "out", cfg, strict=False, head_width=head_width)
    assert sorted(report.random_components) == ["text_encoder", "vae"]
    assert not report.unmapped and not report.missing and not report.mismatched
    # the notes advise init_unet to a Python caller, --init-unet on the command line
    (note,) = [n for n in report.notes if "stage-1 model" in n]
    assert "pass init_unet with" in note and "--" not in note
    assert "pass --init-unet with" in note.spelled(flags=True)
    assert "note: no tokenizer in the official checkpoint: pass --tokenizer (" in report.format(flags=True)
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    ref = load_file(src)
    ours = model.unet.state_dict()
    for key, t in ref.items():
        if (mapped := map_official_unet_key(key)) is not None:
            assert torch.equal(ours[mapped], t.float()), key
    mods = load_file(case / "tiny_modules.safetensors")
    out = model.image_encoder.encode(mods["image_encoder.in"].float())
    torch.testing.assert_close(out, mods["image_encoder.out"].float(), rtol=1e-4, atol=1e-4)
    assert model.config == cfg
    assert "tokenizer" not in [p.name for p in (tmp_path / "out").iterdir()]
    with pytest.raises(RuntimeError, match="no tokenizer"):
        model.text_encoder.encode(["a prompt"])


def test_mismatched_checkpoint_names_the_offending_keys(tmp_path: Path) -> None:
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = {k: v.float() for k, v in load_file(case / "tiny_state_dict.safetensors").items()}
    sd["base_model.conv_in.weight"] = sd["base_model.conv_in.weight"][:, :3]
    sd["base_model.not_a_layer.weight"] = torch.zeros(2)
    del sd["resampler.context_embedding.0.bias"]
    ckpt = tmp_path / "bad.ckpt"
    torch.save({"state_dict": sd, "optimizer_states": [{"step": torch.tensor(1)}], "epoch": 3}, ckpt)
    with pytest.raises(CheckpointMismatchError) as info:
        convert_official_checkpoint(
            ckpt,
            tmp_path / "out",
            cfg,
            head_width=head_width,
            tokenizer=tokenizer_folder(tmp_path / "tok", cfg),
        )
    msg = str(info.value)
    assert "(pass strict=False to convert anyway)\n" in msg and "--no-strict" not in msg
    assert "base_model.conv_in.weight" in msg and "(64, 3, 3, 3)" in msg
    assert "base_model.not_a_layer.weight" in msg
    assert "resampler.context_embedding.0.bias" in msg
    assert not (tmp_path / "out").exists()
    report = info.value.report
    assert [m[0] for m in report.mismatched] == ["base_model.conv_in.weight"]
    # one of each, in the singular ("1 shape mismatches"); the mismatched tensor is not counted as mapped
    assert report.summary() == (
        "1 shape mismatch; 1 checkpoint key with no place in the model; 1 model tensor not in the checkpoint; "
        "components absent from the checkpoint: text_encoder, vae"
    )
    assert report.problems().splitlines()[0] == "1 shape mismatch:"
    fitting = sum(1 for k in sd if map_official_unet_key(k) is not None) - 2  # the mismatched, the unknown
    assert report.mapped["unet"] == report.fitting["unet"] == fitting


def test_preset_mismatch_is_reported(tmp_path: Path) -> None:
    """When most tensors do not fit, the advice was '--no-strict to convert anyway': a folder of zeros."""
    src = first_reference_case() / "tiny_state_dict.safetensors"
    with pytest.raises(CheckpointMismatchError, match="does not match the 'modelscope-1.7b'") as info:
        convert_official_checkpoint(
            src,
            tmp_path / "out",
            get_preset("modelscope-1.7b"),
            head_width=16,
            tokenizer=tokenizer_folder(tmp_path / "tok", "modelscope-1.7b"),
        )
    assert re.search(  # the Python API's arguments (the command line names its flags: test_convert_cli)
        r"\(only \d+ of its 1191 tensors fit: is it the right checkpoint, and the right preset\? strict=False "
        r"would save the others as zeros\)$",
        info.value.headline,
    )
    assert "convert anyway" not in str(info.value)


def test_a_checkpoint_of_which_nothing_fits_is_refused_even_when_not_strict(tmp_path: Path) -> None:
    """--no-strict with no tensor that fits would write a folder of random weights: refused."""
    from safetensors.torch import save_file

    src = tmp_path / "other.safetensors"
    save_file({"model.layer.weight": torch.zeros(3), "vae.not_a_layer": torch.zeros(2)}, src)
    for strict in (True, False):
        with pytest.raises(CheckpointMismatchError, match=r"'.*other\.safetensors' .*none of its 2 tensors"):
            convert_official_checkpoint(
                src, tmp_path / "out", "tiny", strict=strict, tokenizer=tokenizer_folder(tmp_path / "tok")
            )
    assert not (tmp_path / "out").exists()


def test_missing_image_encoder_tensors_are_reported_and_saved_position_ids_ignored(tmp_path: Path) -> None:
    """A missing open_clip tensor was a KeyError (a traceback on the command line), and a missing tensor of
    a later block made a shallower image encoder; older transformers' saved text position ids are ignored."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
    visual = "image_encoder.model.visual."
    del sd[visual + "ln_post.weight"]
    del sd[visual + "transformer.resblocks.1.ln_1.weight"]
    sd["text_encoder.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    ckpt = tmp_path / "holes.ckpt"
    torch.save({"state_dict": sd}, ckpt)
    with pytest.raises(CheckpointMismatchError, match="2 model tensors not in the checkpoint") as info:
        convert_official_checkpoint(
            ckpt,
            tmp_path / "strict",
            cfg,
            head_width=head_width,
            tokenizer=tokenizer_folder(tmp_path / "tok", cfg),
        )
    missing = {(c, k) for c, k, _ in info.value.report.missing}
    assert missing >= {
        ("image_encoder", "vision_model.post_layernorm.weight"),
        ("image_encoder", "vision_model.encoder.layers.1.layer_norm1.weight"),
    }
    assert not info.value.report.unmapped  # the position ids are not a problem
    assert "text_encoder.text_model.embeddings.position_ids" in [k for k, _ in info.value.report.ignored]
    report = convert_official_checkpoint(ckpt, tmp_path / "out", cfg, strict=False, head_width=head_width)
    assert len(report.missing) == 2
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    assert model.image_encoder.model.config.num_hidden_layers == 2
    # a missing norm scale is the identity (1), not 0, which silenced the layer
    vision = model.image_encoder.model.vision_model
    assert torch.equal(vision.post_layernorm.weight, torch.ones(32))
    assert torch.equal(vision.encoder.layers[1].layer_norm1.weight, torch.ones(32))
    assert torch.equal(vision.post_layernorm.bias, sd[visual + "ln_post.bias"])


def test_wrong_head_width_names_the_flag(tmp_path: Path) -> None:
    src = first_reference_case() / "tiny_state_dict.safetensors"
    cfg, _ = reference_config(first_reference_case())
    with pytest.raises(ValueError, match=r"width 32 is not divisible by head_width=80 \(open_clip's") as info:
        convert_official_checkpoint(
            src, tmp_path / "out", cfg, tokenizer=tokenizer_folder(tmp_path / "tok", cfg)
        )
    assert "--" not in str(info.value)  # the Python argument; the command line's flag with its value
    assert "is not divisible by --head-width 80 (open_clip's" in str(info.value.as_flags())


def test_a_checkpoint_of_another_size_is_asked_its_preset_before_its_head_width(tmp_path: Path) -> None:
    """The tiny checkpoint with the default preset was told only that head_width=80 does not divide its image
    encoder's width 32; after --head-width 16, that only 107 of its tensors fit the preset."""
    src = first_reference_case() / "tiny_state_dict.safetensors"
    with pytest.raises(CheckpointMismatchError) as info:
        convert_official_checkpoint(
            src, tmp_path / "out", tokenizer=tokenizer_folder(tmp_path / "tok", "modelscope-1.7b")
        )
    headline = info.value.as_flags().headline
    assert headline.startswith(f"checkpoint {str(src)!r} does not match the 'modelscope-1.7b' architecture: ")
    assert re.search(
        r"\(only \d+ of its 1191 tensors fit: is it the right checkpoint, and the right --preset\?\)",
        headline,
    )
    assert headline.endswith(
        "; and the image encoder's width 32 is not divisible by --head-width 80 (open_clip's per-head width, 80 "
        "for ViT-H-14, 64 for ViT-L/B); nothing was written"
    )
    # the image encoder, not converted, is not called absent from the checkpoint
    assert "image_encoder" not in info.value.report.random_components
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("width", [0, -16])
def test_a_head_width_that_is_not_positive_is_refused_before_the_checkpoint_is_read(
    tmp_path: Path, width: int
) -> None:
    """--head-width 0 was a ZeroDivisionError; -16 wrote a folder whose image encoder had -2 heads."""
    with pytest.raises(ValueError, match=rf"^head_width must be a positive .* got {width} \(open_clip's"):
        convert_official_checkpoint(garbage_checkpoint(tmp_path), tmp_path / "out", "tiny", head_width=width)
    assert not (tmp_path / "out").exists()
