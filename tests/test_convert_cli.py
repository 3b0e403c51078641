"""``streamt2v convert --preset``: a built-in name or a JSON file of the architecture (the ModelConfig a model
folder's model_index.json holds), from the command line."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from streamt2v.cli import main
from streamt2v.config import PRESETS, get_preset
from streamt2v.io.official_unet_keys import unmap_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel

TINY = get_preset("tiny")
# an architecture no preset has: other channels, merger heads, frame size and latent scale
CUSTOM = replace(
    TINY,
    name="custom-tiny",
    unet=replace(TINY.unet, block_out_channels=(16, 48), norm_num_groups=4, attention_head_dim=4),
    streaming=replace(TINY.streaming, merger_head_dim=16, merger_norm_groups=4, num_cond_frames=4),
    frame_size=32,
    vae_scale_factor=4,
)


@pytest.fixture(scope="module")
def custom_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random official-format checkpoint of ``CUSTOM``: its stage-2 UNet only (no image encoder, text
    encoder or VAE), under the official names."""
    torch.manual_seed(1)
    unet = StreamingT2VModel.from_preset(CUSTOM, with_init_unet=False, seed=1).unet.state_dict()
    path = tmp_path_factory.mktemp("ckpt") / "custom.safetensors"
    save_file({unmap_official_unet_key(k): t.contiguous() for k, t in unet.items()}, path)
    return path, unet


def test_a_json_architecture_converts_from_the_command_line(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert CUSTOM not in PRESETS.values()
    ckpt, unet = custom_checkpoint
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(asdict(CUSTOM), indent=2))  # the form model_index.json stores
    out = tmp_path / "out"
    assert main(["convert", str(ckpt), str(out), "--preset", str(arch), "--no-strict"]) == 0
    printed = capsys.readouterr().out
    assert f"written: {out}" in printed and f"mapped tensors: unet {len(unet)}," in printed
    assert "components absent from the checkpoint: image_encoder, text_encoder, vae" in printed
    model = StreamingT2VModel.from_pretrained(out)
    assert model.config == CUSTOM
    ours = model.unet.state_dict()
    assert ours.keys() == unet.keys() and all(torch.equal(ours[k], t) for k, t in unet.items())
    # a converted folder's model_index.json, or the folder itself, describes the same architecture
    index = json.loads((out / "model_index.json").read_text())
    assert index["streamt2v"]["model_config"] == json.loads(arch.read_text())
    for preset in (out / "model_index.json", out):
        again = tmp_path / f"again-{Path(preset).name}"
        assert main(["convert", str(ckpt), str(again), "--preset", str(preset), "--no-strict"]) == 0
        assert StreamingT2VModel.from_pretrained(again).config == CUSTOM


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_wrong_preset_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    never_read = str(tmp_path / "missing.ckpt")  # the architecture is checked before the checkpoint
    out = str(tmp_path / "out")

    def error(preset: str | Path) -> str:
        return _error(["convert", never_read, out, "--preset", str(preset)], capsys)

    line = error("tiny-ish")
    assert line.startswith("error: unknown model preset 'tiny-ish'; choose one of ")
    assert all(name in line for name in PRESETS) and "JSON file" in line and "model_index.json" in line
    assert error(tmp_path / "missing.json").startswith(
        f"error: --preset file {str(tmp_path / 'missing.json')!r} not found; give a preset name ("
    )

    arch = tmp_path / "arch.json"
    arch.write_text('{"name": "x",')
    assert error(arch) == f"error: --preset file {str(arch)!r} is not valid JSON " + (
        "(Expecting property name enclosed in double quotes: line 1 column 14 (char 13))"
    )
    good = asdict(CUSTOM)

    def field_error(change) -> str:
        data = json.loads(json.dumps(good))
        change(data)
        arch.write_text(json.dumps(data))
        line = error(arch)
        assert line.startswith(f"error: --preset file {str(arch)!r}")
        return line

    assert "unknown field 'unet.block_out_channel' (the fields of unet: in_channels," in field_error(
        lambda d: d["unet"].update(block_out_channel=d["unet"].pop("block_out_channels"))
    )
    assert "field 'streaming.num_frames' is missing" in field_error(
        lambda d: d["streaming"].pop("num_frames")
    )
    assert "field 'frame_size' must be a positive integer, got '32'" in field_error(
        lambda d: d.update(frame_size="32")
    )
    assert "field 'unet.block_out_channels' must be a non-empty list of positive integers, got [16, 0]" in (
        field_error(lambda d: d["unet"].update(block_out_channels=[16, 0]))
    )
    assert "field 'unet.norm_num_groups' 5 does not divide every one of unet.block_out_channels [16, 48]" in (
        field_error(lambda d: d["unet"].update(norm_num_groups=5))
    )
    # what the networks refuse otherwise, in their words
    assert "cannot be built: Must provide the same number of `block_out_channels` as `down_block_types`" in (
        field_error(lambda d: d["unet"].update(block_out_channels=[16, 48, 64]))
    )

    # another kind of model folder's index is named as such
    arch.write_text(
        json.dumps({"_class_name": "TextToVideoSDPipeline", "unet": ["diffusers", "UNet3DConditionModel"]})
    )
    assert "is the index of a TextToVideoSDPipeline folder, with no streamt2v.model_config" in error(arch)
    # a folder without an index
    (tmp_path / "folder").mkdir()
    assert f"--preset folder {str(tmp_path / 'folder')!r} has no model_index.json" in error(
        tmp_path / "folder"
    )
