"""Microworld renderer, captions and dataset (DESIGN.md §6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from streamt2v.microworld.captions import VOCABULARY, caption_for, parse_caption, tokenize_words
from streamt2v.microworld.dataset import (
    EVAL_PROMPTS,
    EVAL_SEED_BASE,
    TRAIN_SEED_LIMIT,
    ClipSpec,
    MicroworldDataset,
    collate,
    eval_scene,
    scene_seed,
)
from streamt2v.microworld.palette import COLOURS, pattern_shade
from streamt2v.microworld.render import (
    ObjectSpec,
    SceneConstraints,
    SceneSpec,
    render,
    render_with_truth,
    sample_scene,
)


def _nearest_colour(rgb) -> str:
    """The palette colour nearest (Euclidean RGB) to ``rgb`` given in 0-255."""
    return min(COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLOURS[n], rgb)))


def test_render_is_deterministic_and_start_frame_consistent():
    a = render(sample_scene(np.random.default_rng(3)), 20, 32)
    b = render(sample_scene(np.random.default_rng(3)), 20, 32)
    assert torch.equal(a, b)
    assert a.shape == (3, 20, 32, 32) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    tail = render(sample_scene(np.random.default_rng(3)), 5, 32, start_frame=15)
    assert torch.allclose(a[:, 15:], tail, atol=1e-6)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert sample_scene(g1) == sample_scene(g2)
    assert sample_scene(1) != sample_scene(2)


def test_bouncing_keeps_objects_in_frame_and_moving():
    for seed in range(5):
        scene = sample_scene(
            seed,
            num_objects=2,
        )
        video, truth = render_with_truth(scene, 1000, 32)
        c = truth.centres / 32.0
        for k, obj in enumerate(scene.objects):
            assert (c[:, k] >= obj.size - 1e-9).all() and (c[:, k] <= 1 - obj.size + 1e-9).all()
            step = np.linalg.norm(np.diff(c[:, k], axis=0), axis=-1)
            # constant speed except at bounces; never stops
            assert np.median(step) == pytest.approx(obj.speed, rel=1e-6)
            assert (step > 0).all()
        # every object is visible in every frame (bounding box in frame ⇒ mask non-empty unless occluded)
        assert truth.visible[:, -1].sum(axis=(1, 2)).min() > 0


def test_antialiasing_gives_intermediate_values_on_edges():
    scene = SceneSpec(
        background="blue",
        objects=(ObjectSpec("circle", "red", 0.3, (0.5, 0.5), (0.01, 0.013)),),
    )
    frame = render(scene, 1, 32)[:, 0]  # (3, H, W)
    red = (frame[0] + 1) * 127.5
    lo, hi = COLOURS["blue"][0], COLOURS["red"][0]
    between = ((red > lo + 10) & (red < hi - 10)).sum().item()
    assert between >= 8  # a ring of partially covered pixels


def test_palette_colours_present_in_rendered_frames():
    for colour in COLOURS:
        bg = "white" if colour != "white" else "black"
        scene = SceneSpec(
            background=bg,
            pattern="stripes",
            pan=(0.01, 0.0),
            objects=(ObjectSpec("square", colour, 0.2, (0.5, 0.5), (0.02, 0.02)),),
        )
        video, truth = render_with_truth(scene, 3, 32)
        px = ((video[:, 0] + 1) * 127.5).round().permute(1, 2, 0).reshape(-1, 3).numpy()
        assert (np.abs(px - np.array(COLOURS[colour])).max(axis=1) <= 1).sum() > 20
        # background pixels (incl. pattern shade) are nearest to the background colour
        obj = truth.ids[0] > 0
        near = obj.copy()
        for ax in (0, 1):  # 3×3 dilation
            near = near | np.roll(near, 1, axis=ax) | np.roll(near, -1, axis=ax)
        bgpx = px[~near.reshape(-1)]  # away from antialiased object edges
        assert all(_nearest_colour(tuple(p)) == bg for p in bgpx[::7])
        assert _nearest_colour(pattern_shade(colour)) == colour


def test_objects_never_share_the_background_colour():
    for seed in range(200):
        s = sample_scene(seed)
        assert all(o.colour != s.background for o in s.objects)
        assert len({o.colour for o in s.objects}) == len(s.objects)
    with pytest.raises(ValueError, match="background"):
        SceneSpec(background="red", objects=(ObjectSpec("circle", "red", 0.2, (0.5, 0.5), (0, 0)),))


def test_render_speed_240_frames_64px():
    import time

    scene = sample_scene(0, num_objects=2)
    t = time.perf_counter()
    render(scene, 240, 64)
    assert time.perf_counter() - t < 2.0  # generous on a loaded 2-core machine; typical 0.15–0.3 s


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_caption_round_trip(seed):
    scene = sample_scene(seed)
    text = caption_for(scene)
    c = parse_caption(text)
    assert c.matches(scene), (text, c, scene)
    assert all(w in VOCABULARY for w in tokenize_words(text))
    # the constraints regenerate a scene with the same caption
    assert caption_for(sample_scene(seed + 1, c)) == text


def test_plain_caption_form_and_errors():
    c = parse_caption("a red circle bouncing on a blue background")
    assert c == SceneConstraints(
        objects=(("red", "circle"),), background="blue", pattern="plain", speed=None, pan="none"
    )
    c = parse_caption(
        "a red circle and a yellow square bouncing fast on a blue striped background, camera panning left"
    )
    assert c.objects == (("red", "circle"), ("yellow", "square"))
    assert (c.pattern, c.speed, c.pan) == ("stripes", "fast", "left")
    with pytest.raises(ValueError, match="dragon"):
        parse_caption("a red dragon bouncing on a blue background")


def test_dataset_determinism_and_eval_disjoint():
    ds = MicroworldDataset(ClipSpec(num_frames=4, size=16, anchor_frames=16), seed=7)
    a, b = ds[3], MicroworldDataset(ClipSpec(num_frames=4, size=16, anchor_frames=16), seed=7)[3]
    assert torch.equal(a["video"], b["video"]) and a["caption"] == b["caption"]
    assert torch.equal(a["anchor"], b["anchor"]) and a["anchor"].shape == (3, 16, 16)
    it = iter(MicroworldDataset(ClipSpec(num_frames=4, size=16), seed=7, start=3))
    assert next(it)["caption"] == a["caption"]
    batch = collate([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 4, 16, 16) and len(batch["caption"]) == 2
    assert all(0 <= scene_seed(7, i) < TRAIN_SEED_LIMIT for i in range(100))
    for prompt, seed in EVAL_PROMPTS:
        assert seed >= EVAL_SEED_BASE
        assert parse_caption(prompt).matches(eval_scene(prompt, seed))


def test_bad_arguments_raise_one_line_naming_the_value():
    cases = [
        (lambda: sample_scene(-1), "-1"),
        (lambda: eval_scene(EVAL_PROMPTS[0][0], -5), "-5"),
        (lambda: sample_scene(0, num_objects=0), "num_objects must be 1 or 2, got 0"),
        (lambda: sample_scene(0, pan_probability=2.0), "pan_probability must be in \\[0, 1\\], got 2.0"),
        (lambda: render(sample_scene(0), True, 32), "num_frames must be a positive int, got True"),
        (
            lambda: MicroworldDataset(ClipSpec(anchor_frames=-1)),
            "ClipSpec anchor_frames must be an int ≥ 0, got -1",
        ),
        (lambda: MicroworldDataset(ClipSpec(num_frames=0)), "^num_frames must be an int ≥ 1, got 0"),
        (lambda: parse_caption(""), "caption '' has no words"),
        (
            lambda: parse_caption("a red circle and a red square bouncing on a blue background"),
            "distinct colours, got \\['red', 'red'\\]",
        ),
        (
            lambda: SceneSpec(
                background="blue",
                objects=(
                    ObjectSpec("circle", "red", 0.2, (0.3, 0.3), (0.01, 0.01)),
                    ObjectSpec("square", "red", 0.2, (0.7, 0.7), (0.01, 0.01)),
                ),
            ),
            "distinct colours",
        ),
    ]
    for call, pattern in cases:
        with pytest.raises((ValueError, TypeError), match=pattern) as err:
            call()
        assert "\n" not in str(err.value)
    # a negative dataset seed would silently alias seed + 2**32 (only 32 bits reach the scene seed)
    for seed in (-1, 2**32):
        with pytest.raises(
            ValueError, match=f"dataset seed must be an int in \\[0, 2\\*\\*32\\), got {seed}"
        ):
            MicroworldDataset(ClipSpec(num_frames=2, size=8), seed=seed)
    assert MicroworldDataset(ClipSpec(num_frames=2, size=8), seed=2**32 - 1)[0]["video"].shape == (3, 2, 8, 8)


def test_stream_splits_indices_across_dataloader_workers():
    from torch.utils.data import DataLoader

    ds = MicroworldDataset(ClipSpec(num_frames=2, size=8), seed=4, start=5)
    loader = DataLoader(ds.stream(), batch_size=2, num_workers=2, collate_fn=collate)
    it = iter(loader)
    indices = sorted(i for _ in range(4) for i in next(it)["index"])
    assert indices == list(range(5, 13))  # every index once, none repeated by the two workers
    first = next(iter(DataLoader(ds.stream(), batch_size=2, collate_fn=collate)))
    assert first["caption"] == [ds[5]["caption"], ds[6]["caption"]]
