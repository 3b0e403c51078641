"""StreamingT2VPipeline as a diffusers user drives it (tiny random-weight model, CPU): what it refuses or warns
about at once, before any chunk is sampled."""

from __future__ import annotations

import pytest

from streamt2v.pipeline.generate import StreamingT2VPipeline


def test_the_pipeline_refuses_what_is_no_model_naming_from_pretrained(tmp_path):
    """``StreamingT2VPipeline("path/to/model")`` (diffusers' habit is ``from_pretrained``) was taken, and the
    first call failed with ``'str' object has no attribute 'sampler'``."""
    for bad, name in ((str(tmp_path), "str"), (tmp_path, "PosixPath"), (None, "NoneType")):
        with pytest.raises(TypeError, match=rf"takes a StreamingT2VModel, got {name}; .*from_pretrained"):
            StreamingT2VPipeline(bad)


def test_a_misspelt_option_or_diffusers_prompt_embeds_is_named_with_the_option_meant(model):
    """``pipe(..., negative_promt="blue")`` said only "unknown sampling option(s) ['negative_promt']; see
    StreamConfig", and diffusers' ``prompt_embeds``/``latents`` had no hint, unlike its other names."""
    pipe = StreamingT2VPipeline(model)
    with pytest.raises(TypeError) as err:
        pipe("a cat", 16, negative_promt="blue", guidence=3.0, init_imag=None, frobnicate=1)
    assert str(err.value) == (
        "unknown sampling options: frobnicate, guidence, init_imag, negative_promt (guidence: did you "
        "mean guidance=?; init_imag: did you mean init_image=?; negative_promt: did you mean negative_prompt=?); "
        "see StreamConfig for the options"
    )
    with pytest.raises(
        TypeError,
        match=r"^unknown sampling options: latents, prompt_embeds \(the initial noise comes from \(seed, ",
    ):
        pipe.stream("a cat", 16, prompt_embeds=None, latents=None)
    with pytest.raises(
        TypeError, match=r"prompts are given as text: pass the prompt \(and negative_prompt=\)\)"
    ):
        pipe.stream("a cat", 16, prompt_embeds=None)


def test_a_generate_config_of_stream_settings_in_a_dict_is_refused_naming_streamconfig():
    """``GenerateConfig(output=..., stream={"num_frames": 16}, ...)`` was taken, and ``generate(cfg)`` failed
    with "'dict' object has no attribute 'num_frames'"; a saved config.json is read by from_dict."""
    from streamt2v.pipeline.generate import GenerateConfig
    from streamt2v.pipeline.stream import StreamConfig

    with pytest.raises(TypeError, match=r"^GenerateConfig's stream must be a StreamConfig, got dict: pass "):
        GenerateConfig(output="o.mp4", stream={"num_frames": 16}, prompt="a cat")
    saved = GenerateConfig(output="o.mp4", stream=StreamConfig(num_frames=16), prompt="a cat").to_dict()
    assert GenerateConfig.from_dict(saved).stream == StreamConfig(num_frames=16)


def test_a_model_on_the_meta_device_is_refused_before_sampling():
    """``from_preset(..., device="meta")`` (shapes only) given to the pipeline failed inside torch at the first
    UNet call (``NotImplementedError`` for nonzero on meta tensors)."""
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.stream import StreamConfig, stream

    meta = StreamingT2VModel.from_preset("tiny", device="meta")
    with pytest.raises(ValueError, match=r"^the model is on the meta device .*from_pretrained"):
        StreamingT2VPipeline(meta)("a red circle", 16)
    with pytest.raises(ValueError, match=r"^the model is on the meta device"):  # the function too, at once
        stream(meta, "a red circle", StreamConfig(num_frames=16, steps=1, init_steps=1))


def test_options_for_a_stage_the_video_has_not_are_named_as_unused(model, caplog):
    """``pipe(prompt, 16, steps=50)`` (a video of one stage-1 chunk) and ``pipe(..., init_image=x,
    init_steps=50)`` (no stage 1) ignored the option without a word, where the command line warns about its
    flags; the model's recommended settings and the options of a stage the video has are not named."""
    import logging

    import torch

    from streamt2v.models.bundle import StreamingT2VModel

    recommending = StreamingT2VModel(
        model.text_encoder,
        model.image_encoder,
        model.vae,
        model.unet,
        model.scheduler_config,
        model.config,
        init_unet=model.init_unet,
        sampler={"steps": 2, "chunk_strength": 0.9, "init_steps": 2},
    )
    pipe = StreamingT2VPipeline(recommending)
    image = torch.zeros(1, 3, model.config.frame_size, model.config.frame_size)

    def warned(*args, **options):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.generate"):
            pipe.stream("a red circle", *args, **options)  # warns at once, before any chunk is sampled
        return [r.getMessage() for r in caplog.records if r.name == "streamt2v.pipeline.generate"]

    # named by the Python arguments as given (docs/generate.md: steps= on a 16-frame video)
    assert warned(16, steps=3, guidance=2.0, init_steps=1, seed=1) == [
        "steps=3, guidance=2.0 set the streaming chunks (stage 2), and a video of 16 frames is one stage-1 "
        "chunk (the init_* options set it); they are not used"
    ]
    assert warned(20, init_image=image, init_steps=1, init_guidance=2.0, steps=1) == [
        "init_steps=1, init_guidance=2.0 set stage 1, which init_image takes the place of; they are not used"
    ]
    assert warned(20, init_video=image[:, :, None], init_eta=0.5) == [
        "init_eta=0.5 sets stage 1, which init_video takes the place of; it is not used"
    ]
    assert warned(16, init_steps=1, negative_prompt="blue") == []
    assert warned(24, steps=1, init_steps=1) == []
    assert warned(16) == [] and warned(20, init_image=image) == []  # recommended: the caller gave none
