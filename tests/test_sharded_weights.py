"""Sharded weights (``diffusion_pytorch_model-00001-of-00002.safetensors`` + its index) in a conversion's
--init-unet folder: the fp16 variant's shards are read as such, and a shard the index names but the folder
lacks (an interrupted download) is named before the checkpoint is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet3DConditionModel

from conftest import first_reference_case, garbage_checkpoint, reference_config, stage1_folder
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.io.weight_files import check_weight_files
from streamt2v.models.bundle import StreamingT2VModel


def _sharded(ms: Path, variant: str | None) -> list[Path]:
    """Re-save ``ms``'s UNet in shards (of ``variant``); the shard files, in order."""
    unet = UNet3DConditionModel.from_pretrained(ms / "unet")
    for f in (ms / "unet").glob("*.safetensors"):
        f.unlink()
    if variant == "fp16":
        unet = unet.half()
    unet.save_pretrained(ms / "unet", max_shard_size="5MB", variant=variant)
    shards = sorted((ms / "unet").glob("*-of-*.safetensors"))
    assert len(shards) > 1
    return shards


def test_the_fp16_variant_in_shards_is_converted(tmp_path: Path) -> None:
    """diffusers names them diffusion_pytorch_model.fp16-00001-of-0000N.safetensors: the folder was taken for
    a full-precision one and failed after the checkpoint was read ('no file named diffusion_pytorch_model.bin')."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    ms = stage1_folder(tmp_path / "ms", cfg)
    assert _sharded(ms, "fp16")[0].name.startswith("diffusion_pytorch_model.fp16-00001-of-")
    src = case / "tiny_state_dict.safetensors"
    convert_official_checkpoint(src, tmp_path / "out", cfg, init_unet=ms, strict=False, head_width=head_width)
    want = UNet3DConditionModel.from_pretrained(ms / "unet", variant="fp16").state_dict()
    ours = StreamingT2VModel.from_pretrained(tmp_path / "out").init_unet.state_dict()
    assert all(torch.equal(ours[k], t.float()) for k, t in want.items())


@pytest.mark.parametrize("variant", [None, "fp16"])
def test_a_missing_shard_is_named_before_the_checkpoint_is_read(tmp_path: Path, variant: str | None) -> None:
    cfg, head_width = reference_config(first_reference_case())
    ms = stage1_folder(tmp_path / "ms", cfg)
    lost = _sharded(ms, variant)[-1]
    lost.unlink()
    with pytest.raises(FileNotFoundError) as info:  # the checkpoint is a file that is never read
        convert_official_checkpoint(
            garbage_checkpoint(tmp_path), tmp_path / "out", cfg, init_unet=ms, head_width=head_width
        )
    msg = str(info.value)
    assert msg.startswith(f"init_unet UNet weight file {str(lost)!r} named in ")
    assert "is missing" in msg and "download the folder again" in msg
    assert not (tmp_path / "out").exists()


def test_many_missing_shards_are_named_by_the_first_few_and_a_count(tmp_path: Path) -> None:
    """They were listed as 'a, b, c, ...' where a checkpoint's missing shards are 'a, b, c and 2 more'."""
    names = [f"diffusion_pytorch_model-{k:05d}-of-00005.safetensors" for k in range(1, 6)]
    index = tmp_path / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {f"w{k}": name for k, name in enumerate(names)}}))
    with pytest.raises(FileNotFoundError) as info:
        check_weight_files(tmp_path, None, "UNet weight file")
    listed = ", ".join(repr(str(tmp_path / name)) for name in names[:3])
    assert str(info.value).startswith(
        f"UNet weight file {listed} and 2 more named in {str(index)!r} are missing"
    )
