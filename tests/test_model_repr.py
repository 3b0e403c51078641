"""repr() of the model and the pipeline: one line a notebook cell shows, with what a user checks first."""

import re

import torch

from streamt2v import StreamingT2VModel, StreamingT2VPipeline


def test_model_repr_is_one_line_naming_geometry_parameters_device_and_dtype():
    model = StreamingT2VModel.from_preset("tiny", with_init_unet=False)
    text = repr(model)
    assert "\n" not in text
    assert text.startswith(
        "StreamingT2VModel('tiny': 64×64 px, 16-frame chunks with 8 conditioning frames, 8 fps;"
    )
    unet = sum(p.numel() for p in model.unet.parameters())
    assert f"unet {unet / 1e6:.3g}M" in text
    assert "init_unet" not in text  # built without one
    assert re.search(r"text_encoder [\d.]+K, image_encoder [\d.]+K, vae [\d.]+K", text)
    assert text.endswith("; cpu, float32)")
    assert repr(model.to(torch.bfloat16)).endswith("; cpu, bfloat16)")


def test_pipeline_repr_shows_its_model(model):
    assert repr(StreamingT2VPipeline(model)) == f"StreamingT2VPipeline(model={model!r})"
    assert "init_unet" in repr(model)


def test_refiner_repr_is_one_line_naming_size_parameters_device_and_dtype():
    """A Refiner printed every module of its UNet, VAE and text encoder (hundreds of lines)."""
    from streamt2v.pipeline.refiner import Refiner

    refiner = Refiner.random((32, 48), seed=0)
    text = repr(refiner)
    assert "\n" not in text
    assert text.startswith("Refiner(48×32 px, epsilon, random weights; parameters: unet ")
    assert re.search(r"vae [\d.]+K, text_encoder [\d.]+K; cpu, float32\)$", text)
