"""Stages 1–2 as a generator (paper §4) on the tiny random-weight model: exact frame counts, seeds, every
override reaching its stage, extend / image modes, prompt schedules, resume state."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest
import torch

from streamt2v.pipeline.generate import StreamingT2VPipeline
from streamt2v.pipeline.prompts import PromptSchedule, parse_schedule
from streamt2v.pipeline.stream import StreamConfig, StreamState, continuation_latents, stream
from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING

FAST = dict(steps=2, init_steps=2)


@pytest.fixture(scope="module")
def model():
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)


def video(model, n, prompt="a red circle", **kw):
    return torch.cat(
        [c.frames for c in stream(model, prompt, StreamConfig(num_frames=n, **{**FAST, **kw}))], 2
    )


@pytest.mark.parametrize("n", [1, 16, 17, 24, 81])
def test_exact_frame_counts(model, n):
    chunks = list(stream(model, "a cat", StreamConfig(num_frames=n, steps=1 if n > 24 else 2, init_steps=1)))
    v = torch.cat([c.frames for c in chunks], 2)
    assert v.shape == (1, 3, n, 64, 64) and v.device.type == "cpu" and v.dtype == torch.float32
    assert [c.start for c in chunks] == [0] + [c.stop for c in chunks[:-1]]
    assert all(c.num_chunks == len(chunks) for c in chunks)
    assert torch.isfinite(v).all() and v.abs().max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("n", [80, 240])
def test_exact_frame_counts_long(model, n):
    total, peak = 0, 0
    for c in stream(model, "a cat", StreamConfig(num_frames=n, steps=1, init_steps=1)):
        total += c.frames.shape[2]
        peak = max(peak, c.tail.shape[2])
    assert total == n and peak == 8  # state carried between chunks never grows


def test_seed_determinism(model):
    a, b, c = video(model, 24, seed=1), video(model, 24, seed=1), video(model, 24, seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a[:, :, 16:], c[:, :, 16:]) and not torch.equal(a[:, :, :16], c[:, :, :16])


@pytest.mark.parametrize(
    "change",
    [
        dict(steps=3),
        dict(guidance=2.0),
        dict(guidance_rescale=0.7),
        dict(scheduler="euler"),
        dict(eta=0.0),
        dict(negative_prompt="blurry"),
        dict(noise_correlation=0.5),
        dict(cond_replacement=True),
        dict(anchor_colour_match=0.5),
        dict(chunk_strength=0.8),
    ],
)
def test_stage2_overrides_reach_stage2(model, change):
    base, other = video(model, 24, seed=5), video(model, 24, seed=5, **change)
    if "negative_prompt" not in change:
        assert torch.equal(base[:, :, :16], other[:, :, :16])  # stage 1 untouched
    assert not torch.equal(base[:, :, 16:], other[:, :, 16:])


@pytest.mark.parametrize(
    "change",
    [
        dict(init_steps=3),
        dict(init_guidance=2.0),
        dict(init_guidance_rescale=0.7),
        dict(init_scheduler="ddim"),
        dict(init_noise_correlation=0.5),
    ],
)
def test_stage1_overrides_reach_stage1(model, change):
    assert not torch.equal(video(model, 16, seed=5), video(model, 16, seed=5, **change))


def test_each_stage_has_its_own_ddim_eta(model):
    ddim = dict(scheduler="ddim", init_scheduler="ddim", seed=5)
    base = video(model, 24, eta=0.0, init_eta=0.0, **ddim)
    stage2 = video(model, 24, eta=1.0, init_eta=0.0, **ddim)
    stage1 = video(model, 24, eta=0.0, init_eta=1.0, **ddim)
    assert torch.equal(base[:, :, :16], stage2[:, :, :16]) and not torch.equal(
        base[:, :, 16:], stage2[:, :, 16:]
    )
    assert not torch.equal(base[:, :, :16], stage1[:, :, :16])


@pytest.mark.parametrize("colour_match", [0.0, 0.5])
def test_resume_state_reproduces(model, colour_match):
    cfg = StreamConfig(num_frames=40, anchor_colour_match=colour_match, **FAST)
    full = list(stream(model, "a cat", cfg))
    k = 2
    state = StreamState(k, full[k - 1].tail, full[k - 1].anchor, full[k - 1].anchor_prompt)
    rest = list(stream(model, "a cat", cfg, resume=state))
    assert [c.index for c in rest] == [c.index for c in full[k:]]
    for a, b in zip(rest, full[k:]):
        assert torch.equal(a.frames, b.frames)
    # a schedule made in Python keeps its prompts' spaces, and so do its chunks' states: resumed the same
    spaced = PromptSchedule(((0, " a cat "),))
    full = list(stream(model, spaced, cfg))
    state = StreamState(k, full[k - 1].tail, full[k - 1].anchor, full[k - 1].anchor_prompt)
    again = list(stream(model, spaced, cfg, resume=state))
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(again, full[k:]))


def test_anchor_colour_match_pulls_streamed_chunks_to_the_anchor_colours(model):
    def distance_to_anchor(v):  # per-channel mean colour of the streamed frames against the anchor's
        return (v[:, :, 16:].mean(dim=(2, 3, 4)) - v[:, :, :1].mean(dim=(2, 3, 4))).abs().max().item()

    plain, matched = video(model, 40, seed=4), video(model, 40, seed=4, anchor_colour_match=1.0)
    assert torch.equal(plain[:, :, :16], matched[:, :, :16])  # stage 1 is the anchor's chunk: untouched
    assert distance_to_anchor(matched) < 0.5 * distance_to_anchor(plain)


def test_low_chunk_strength_starts_new_frames_at_the_last_conditioning_frame():
    # The shipped microworld model: the tiny preset's random VAE decoder turns small latent changes into
    # large pixel changes. The reference is the last conditioning frame's round trip through the VAE,
    # what a chunk returns when its new frames stay at the start a low strength gives them.
    from streamt2v.assets import microworld_model_dir
    from streamt2v.models.bundle import StreamingT2VModel

    model = StreamingT2VModel.from_pretrained(microworld_model_dir(), torch_dtype=torch.float32)
    # the official settings but the strength (the model's recommended ones would act on the frames too)
    options = {
        **OFFICIAL_SAMPLING,
        "init_steps": 4,
        "init_scheduler": "ddim",
        "scheduler": "ddim",
        "steps": 1,
    }
    del options["chunk_strength"]
    first = video(model, 16, seed=6, **options)
    last = model.vae.decode(model.vae.encode(first[:, :, -1:]))

    def new_frames(**kw):
        return video(model, 24, seed=6, **options, **kw)[:, :, 16:]

    near, free = new_frames(chunk_strength=0.02), new_frames(chunk_strength=1.0)
    # a setting left None is the model's recommended one (the shipped model's 0.9), 1 its official default
    assert torch.equal(new_frames(), new_frames(chunk_strength=model.sampler["chunk_strength"]))
    assert not torch.equal(free, new_frames())
    assert (near - last).abs().mean() < 0.2 * (free - last).abs().mean()


def test_continuation_latents_repeat_the_last_conditioning_latent():
    z = torch.arange(3.0).view(1, 1, 3, 1, 1).expand(2, 4, 3, 2, 2)
    start = continuation_latents(z, 5)
    assert start.shape == (2, 4, 5, 2, 2)
    assert start[0, 0, :, 0, 0].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="3 conditioning latents do not leave new frames in a 3-frame chunk"):
        continuation_latents(z, 3)


def test_extend_keeps_input_frames(model):
    g = torch.Generator().manual_seed(0)
    given = torch.rand(1, 3, 12, 64, 64, generator=g) * 2 - 1
    chunks = list(stream(model, "a cat", StreamConfig(num_frames=30, **FAST), init_video=given))
    assert chunks[0].stage == 0 and torch.equal(chunks[0].frames, given)
    assert torch.cat([c.frames for c in chunks], 2).shape[2] == 30
    assert torch.equal(chunks[0].anchor, given[:, :, :1])


def test_extend_resizes_with_warning_and_custom_anchor(model, caplog):
    given = torch.zeros(1, 3, 3, 32, 48)
    anchor = torch.ones(1, 3, 64, 64) * 0.5
    chunks = list(
        stream(model, "x", StreamConfig(num_frames=5, **FAST), init_video=given, anchor_image=anchor)
    )
    assert "init_video is 48x32; resizing to the model's 64x64, stretching it 48:32 -> 1:1" in caplog.text
    assert "anchor_image is 64x64" not in caplog.text  # already the model's size
    assert chunks[0].frames.shape == (1, 3, 3, 64, 64)
    assert torch.equal(chunks[-1].anchor, anchor[:, :, None])


def test_guidance_gives_the_anchors_apm_tokens_to_the_conditional_branch_and_a_zero_images_to_the_other(
    model,
):
    """§10.1: a streaming chunk's unconditional branch sees the APM tokens of an all-zero image. The tiny
    model's APM alpha is 0 (image tokens inert), so no video showed which tokens went where: the anchor's
    tokens in both branches passed every test."""
    seen = []
    hook = model.unet.register_forward_hook(
        lambda _m, _a, kwargs, _o: seen.append(kwargs["image_tokens"].clone()), with_kwargs=True
    )
    try:
        chunks = list(stream(model, "a cat", StreamConfig(num_frames=24, steps=1, init_steps=1)))
    finally:
        hook.remove()
    anchor = chunks[-1].anchor[:, :, 0]
    with torch.no_grad():
        zero, own = (model.unet.image_tokens(model.image_encoder.encode(x)) for x in (anchor * 0, anchor))
    assert not torch.equal(zero, own)
    assert len(seen) == 1 and torch.equal(seen[0][:1], zero) and torch.equal(seen[0][1:], own)


def test_init_image_is_first_frame_and_anchor(model):
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    chunks = list(stream(model, "x", StreamConfig(num_frames=10, **FAST), init_image=img))
    v = torch.cat([c.frames for c in chunks], 2)
    assert v.shape[2] == 10 and torch.equal(v[:, :, 0], img) and torch.equal(chunks[-1].anchor[:, :, 0], img)


def test_prompt_schedule_and_reanchor(model):
    sched = parse_schedule("0: a cat; 24: a dog")
    cfg = StreamConfig(num_frames=40, **FAST)
    chunks = list(stream(model, sched, cfg))
    assert [c.prompt for c in chunks] == ["a cat", "a cat", "a dog", "a dog"]
    assert all(torch.equal(c.anchor, chunks[0].frames[:, :, :1]) for c in chunks)
    re = list(stream(model, sched, replace(cfg, reanchor=True)))
    # the last frame of the first chunk under the new prompt: its first ones still show the old scene
    assert torch.equal(re[2].anchor, re[2].frames[:, :, -1:]) and re[2].anchor_prompt == "a dog"
    assert torch.equal(re[3].anchor, re[2].frames[:, :, -1:])
    with pytest.raises(ValueError, match="past the end"):
        list(stream(model, sched, replace(cfg, num_frames=20)))


def test_reanchor_that_no_chunk_uses_is_named(model, caplog):
    """--reanchor with one prompt (or a change no streaming chunk starts under) did nothing, silently; so did
    one whose only new anchor is made by the last chunk: no chunk after it is conditioned on it (a resumed run
    has the same length, so none ever is)."""
    caplog.set_level(logging.INFO)
    cfg = StreamConfig(num_frames=24, reanchor=True, steps=1, init_steps=1)
    for prompt in ("a cat", "0: a cat; 20: a cat"):
        caplog.clear()
        stream(model, prompt, cfg)  # warned when the stream is set up, before any sampling
        assert "reanchor is not used: no streaming chunk starts under a new prompt" in caplog.text, prompt
    caplog.clear()
    chunks = list(
        stream(model, "0: a cat; 8: a dog", cfg)
    )  # re-anchors at the streaming chunk at 16, the last
    assert [c.anchor_prompt for c in chunks] == [
        "a cat",
        "a dog",
    ]  # the new anchor leaves with the last chunk
    assert (
        "reanchor is not used: only the last of the 2 chunks, at frame 16, starts under a new prompt"
        in caplog.text
    )
    assert (
        "re-anchoring" not in caplog.text
    )  # it said it re-anchored there, after the warning it was not used
    caplog.clear()
    list(stream(model, "0: a cat; 8: a dog", replace(cfg, num_frames=32)))  # the chunk at 24 uses it
    assert "re-anchoring at frame 23 for 'a dog'" in caplog.text  # the last of the chunk at 16
    assert "reanchor is not used" not in caplog.text
    caplog.clear()
    stream(model, "0: a cat; 8: a dog", replace(cfg, num_frames=32))  # the chunk at 24: the anchor from 16
    stream(model, "0: a cat; 16: a dog; 24: a bird", replace(cfg, num_frames=32))  # the last one moves it
    stream(model, "a cat", replace(cfg, reanchor=False))
    assert "reanchor" not in caplog.text


def test_only_chunks_under_the_anchors_prompt_are_colour_matched(model):
    # The chunk that starts a new prompt becomes the new anchor: it is not pulled to the old anchor's
    # colours (which the new anchor would then hand on); the chunks after it are matched to the new anchor.
    sched = parse_schedule("0: a cat; 16: a dog")
    cfg = StreamConfig(num_frames=32, reanchor=True, **FAST)
    plain = list(stream(model, sched, cfg))
    matched = list(stream(model, sched, replace(cfg, anchor_colour_match=1.0)))
    assert torch.equal(matched[1].frames, plain[1].frames)
    assert torch.equal(matched[1].anchor, plain[1].frames[:, :, -1:]) and matched[1].anchor_prompt == "a dog"
    assert not torch.equal(matched[2].frames, plain[2].frames)  # matching goes on from the new anchor
    # Without reanchor the anchor stays, and chunks under another prompt are not matched to it (they were:
    # a new prompt's colours were pulled back to the old scene's); back under the anchor's prompt they are.
    sched = parse_schedule("0: a cat; 16: a dog; 24: a cat")
    plain = list(stream(model, sched, replace(cfg, reanchor=False)))
    kept = list(stream(model, sched, replace(cfg, reanchor=False, anchor_colour_match=1.0)))
    assert [c.anchor_prompt for c in kept] == ["a cat"] * 3 and torch.equal(kept[1].frames, plain[1].frames)
    assert not torch.equal(kept[2].frames, plain[2].frames)


def test_pipeline_api(model):
    pipe = StreamingT2VPipeline(model)
    v = pipe("a cat", num_frames=20, seed=3, **FAST)
    assert v.shape == (1, 3, 20, 64, 64)
    assert torch.equal(v, torch.cat([c.frames for c in pipe.stream("a cat", 20, seed=3, **FAST)], 2))
    assert pipe("0: a cat; 16: a dog", num_frames=20, seed=3, **FAST).shape[2] == 20


def test_bad_stream_inputs(model):
    with pytest.raises(ValueError, match="non-empty"):
        list(stream(model, "", StreamConfig(num_frames=4)))
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1, got 0"):
        StreamConfig(num_frames=0)
    with pytest.raises(ValueError, match="unknown scheduler 'nope'"):
        StreamConfig(num_frames=4, scheduler="nope")
    with pytest.raises(ValueError, match="must be greater than cond_frames"):
        StreamConfig(num_frames=4, chunk_frames=8, cond_frames=8)
    with pytest.raises(ValueError, match=r"init_noise_correlation must be in \[0, 1\), got 1.0"):
        StreamConfig(num_frames=4, init_noise_correlation=1.0)
    with pytest.raises(ValueError, match=r"noise_correlation must be in \[0, 1\), got -0.1"):
        StreamConfig(num_frames=4, noise_correlation=-0.1)
    with pytest.raises(ValueError, match=r"init_guidance_rescale must be in \[0, 1\] \(0 = off\), got 1.5"):
        StreamConfig(num_frames=4, init_guidance_rescale=1.5)
    with pytest.raises(ValueError, match=r"guidance_rescale must be in \[0, 1\] \(0 = off\), got -0.2"):
        StreamConfig(num_frames=4, guidance_rescale=-0.2)
    for name in ("eta", "init_eta"):  # above 1, DDIM's step variance goes negative and the video is NaN
        for bad in (-1, 1.5):
            with pytest.raises(
                ValueError, match=rf"^{name} must be in \[0, 1\] \(0 = deterministic DDIM\), got {bad}"
            ):
                StreamConfig(num_frames=4, **{name: bad})
    with pytest.raises(ValueError, match=r"anchor_colour_match must be in \[0, 1\] \(0 = off\), got 2"):
        StreamConfig(num_frames=4, anchor_colour_match=2)
    for bad in (0.0, 1.5):
        with pytest.raises(
            ValueError, match=rf"chunk_strength must be in \(0, 1\] \(1 = pure noise\), got {bad}"
        ):
            StreamConfig(num_frames=4, chunk_strength=bad)
    with pytest.raises(ValueError, match="chunk_strength 0.001 starts stage 2 at step 1 of 1000, too close"):
        list(stream(model, "x", StreamConfig(num_frames=24, steps=2, init_steps=1, chunk_strength=0.001)))
    with pytest.raises(ValueError, match="cond_replacement must be true or false, got 1"):
        StreamConfig(num_frames=4, cond_replacement=1)
    with pytest.raises(ValueError, match="does not match the model's CAM"):
        list(stream(model, "x", StreamConfig(num_frames=20, chunk_frames=16, cond_frames=4)))


def test_stream_checks_its_inputs_when_called_and_refuses_non_finite_settings(model):
    # bad settings raise at the call, before any chunk is sampled (no list() needed)
    with pytest.raises(ValueError, match="does not match the model's CAM"):
        stream(model, "x", StreamConfig(num_frames=20, chunk_frames=16, cond_frames=4))
    with pytest.raises(ValueError, match="too close to the end for steps=2"):
        stream(model, "x", StreamConfig(num_frames=24, steps=2, init_steps=1, chunk_strength=0.001))
    stream(model, "x", StreamConfig(num_frames=16, steps=2, init_steps=1, chunk_strength=0.001))  # no stage 2
    for name in ("guidance", "init_guidance", "eta", "init_eta", "guidance_rescale", "chunk_strength"):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
                StreamConfig(num_frames=4, **{name: bad})


def test_a_model_without_stage_1_is_refused_at_the_call_unless_a_prefix_is_given(model):
    import copy

    no_init = copy.copy(model)
    no_init.init_unet = None
    with pytest.raises(ValueError, match=r"no stage-1 \(init_unet\) weights.*convert .*--init-unet"):
        stream(no_init, "x", StreamConfig(num_frames=24, steps=1))
    out = torch.cat(
        [
            c.frames
            for c in stream(
                no_init, "x", StreamConfig(num_frames=12, steps=1), init_video=torch.zeros(1, 3, 8, 16, 16)
            )
        ],
        dim=2,
    )
    assert out.shape[2] == 12  # the prefix stands in for stage 1


@pytest.mark.parametrize("stage, unet", [(1, "init_unet"), (2, "unet")])
def test_a_unet_that_produces_nan_stops_at_its_chunk_instead_of_writing_black_frames(stage, unet):
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.sampling.schedulers import NonFiniteLatentsError

    broken = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    with torch.no_grad():  # one infinite weight, as a damaged file or a float16 overflow leaves
        next(p for n, p in getattr(broken, unet).named_parameters() if n.endswith("conv_in.weight"))[0] = (
            float("inf")
        )
    chunks = stream(broken, "a red circle", StreamConfig(num_frames=24, **FAST))
    if stage == 2:
        assert torch.isfinite(next(chunks).frames).all()  # stage 1 does not use the stream UNet
    # chunks counted from 1, as the progress bar and the log count them
    where = "stage 1, chunk 1 (frames 0-15)" if stage == 1 else "stage 2, chunk 2 (frames 16-23)"
    with pytest.raises(
        NonFiniteLatentsError, match=rf"^{re.escape(where)}: sampling produced \d+ NaN or infinite"
    ):
        next(chunks)


def test_the_non_finite_error_suggests_another_dtype_only_for_float16():
    from streamt2v.sampling.schedulers import NonFiniteLatentsError, check_finite_latents

    x = torch.zeros(1, 4, 2, 2, 2)
    check_finite_latents(x, "here")
    x[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLatentsError, match=r"^here: .* 1 NaN .* of 32 \(UNet dtype float32\)$"):
        check_finite_latents(x, "here")
    with pytest.raises(
        NonFiniteLatentsError, match=r"UNet dtype float16\); float16 overflows .* bf16 or fp32 \(dtype\)$"
    ) as info:
        check_finite_latents(x, "here", torch.float16)
    assert str(info.value.as_flags()).endswith("bf16 or fp32 (--dtype)")  # the command line's spelling
