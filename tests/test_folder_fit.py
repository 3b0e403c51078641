"""A model folder's parts checked against each other from their configs (models/folder_parts.fit_problems),
before any weights are read: on a copy of the shipped microworld folder's configs alone (no weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from streamt2v.assets import microworld_model_dir
from streamt2v.models.bundle import StreamingT2VModel


def configs_only(tmp_path: Path) -> Path:
    """The shipped model folder without its weight files: a fit refusal comes before they are looked for."""
    src = microworld_model_dir()
    return Path(shutil.copytree(src, tmp_path / "model", ignore=shutil.ignore_patterns("*.safetensors")))


def edit(file: Path, change) -> None:
    config = json.loads(file.read_text())
    change(config)
    file.write_text(json.dumps(config))


ADVICE = (
    "; put back the part the folder was saved with, or save the folder again from parts made together "
    "(save_pretrained, or streamt2v assemble for trained runs)"
)


def refusal(folder: Path) -> str:
    """The problems of the fit refusal, without the advice every one ends with."""
    with pytest.raises(ValueError, match="do not fit together") as info:
        StreamingT2VModel.from_pretrained(folder)
    assert str(info.value).endswith(ADVICE)
    return str(info.value).removesuffix(ADVICE)


def test_a_vae_of_another_scale_factor_than_the_index_is_refused(tmp_path):
    """A factor-8 VAE in the factor-4 microworld folder ran: the latents are sized by model_index.json's
    vae_scale_factor, so its 32x32 model wrote 64x64 frames."""
    folder = configs_only(tmp_path)

    def one_level_more(vae: dict) -> None:
        vae["block_out_channels"] = [*vae["block_out_channels"], 64]
        vae["down_block_types"] = [*vae["down_block_types"], "DownEncoderBlock2D"]
        vae["up_block_types"] = [*vae["up_block_types"], "UpDecoderBlock2D"]

    edit(folder / "vae" / "config.json", one_level_more)
    assert refusal(folder).endswith(
        ": vae/ scales frames by 8 (block_out_channels in vae/config.json has 4 levels), model_index.json's "
        "streamt2v.model_config.vae_scale_factor is 4 (its 32-pixel frames would come out at 64)"
    )


def test_a_whole_clip_model_config_as_image_encoder_names_the_width_its_file_says(tmp_path):
    """A whole CLIPModel's config saved in image_encoder/ is refused (the vision model reads the vision_config
    section's projection_dim, 512 by default), but the message named only that 512, not the 64 the user's
    file holds at its top level, nor why that one is not read."""
    folder = configs_only(tmp_path)
    file = folder / "image_encoder" / "config.json"
    vision = json.loads(file.read_text())
    vision.pop("projection_dim")
    file.write_text(json.dumps({"model_type": "clip", "projection_dim": 64, "vision_config": vision}))
    assert refusal(folder).endswith(
        ": unet/ takes image embeddings of width 64, image_encoder/ gives 512 (its config.json is a whole "
        "CLIPModel's: projection_dim 64 at its top level is the CLIP model's, the vision model reads "
        "vision_config, which leaves projection_dim out (default 512); set vision_config.projection_dim to 64 "
        "there)"
    )
