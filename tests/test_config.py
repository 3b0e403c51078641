import pytest

from streamt2v.config import PRESETS, get_preset


def test_presets_are_consistent():
    for name, cfg in PRESETS.items():
        assert cfg.name == name
        assert (
            len(cfg.unet.block_out_channels) == len(cfg.unet.down_block_types) == len(cfg.unet.up_block_types)
        )
        assert cfg.frame_size % cfg.vae_scale_factor == 0


def test_modelscope_preset_matches_official_unet_config():
    unet = get_preset("modelscope-1.7b").unet
    assert unet.block_out_channels == (320, 640, 1280, 1280)
    assert unet.cross_attention_dim == 1024 and unet.attention_head_dim == 64


def test_unknown_preset_names_the_value():
    with pytest.raises(ValueError, match="'nope'.*modelscope-1.7b"):
        get_preset("nope")
