"""Behaviour bookkeeping (``microworld/behaviour.py``) and its model-card section: held-out extra seeds,
per-video passes, the seed-spread table and the reachable figures. The figures themselves are tested on
generated videos in ``test_microworld_behaviour.py``."""

from __future__ import annotations

import math

import pytest

from streamt2v.microworld import behaviour as bh
from streamt2v.microworld.dataset import EVAL_SEED_BASE, TRAIN_SEED_LIMIT
from streamt2v.train.model_card import behaviour_section, reference_lines


def _video(prompt="a red circle bouncing on a blue background", seed=EVAL_SEED_BASE, **figures):
    values = dict(colour_presence=1.0, shape_presence=1.0, colours_first_last=True, background=1.0)
    values.update(jump_ratio=1.5, speed=1.0, implied_speed=1.0, speed_ratio=1.0, ablated_jump_ratio=9.0)
    values.update(figures)
    return bh.VideoBehaviour(prompt=prompt, seed=seed, **values)


def test_more_seeds_are_new_held_out_seeds_of_the_same_prompts():
    tested = bh.behaviour_prompts()
    more = bh.more_seeds(tested, 2)
    assert [p for p, _ in more] == [p for p, _ in tested] * 2
    seeds = [s for _, s in tested + more]
    assert len(set(seeds)) == len(seeds)  # no video measured twice
    assert all(TRAIN_SEED_LIMIT <= s < 2**32 for s in seeds)  # never a training scene
    assert bh.more_seeds(tested, 0) == []
    with pytest.raises(
        TypeError, match=r"^repeats must be an int ≥ 0, got float 1.5$"
    ):  # was range()'s error
        bh.more_seeds(tested, 1.5)
    with pytest.raises(ValueError, match="repeats must be ≥ 0, got -1"):
        bh.more_seeds(tested, -1)


def test_video_passes_apply_the_thresholds_and_fail_untracked_objects():
    assert all(bh.video_passes(_video()).values())
    at_limits = _video(colour_presence=0.9, jump_ratio=3.0, speed_ratio=0.5)
    assert all(bh.video_passes(at_limits).values())
    failing = bh.video_passes(_video(colour_presence=0.89, jump_ratio=math.nan, speed_ratio=math.nan))
    assert not failing["colour_presence"] and not failing["jump_ratio"] and not failing["speed_ratio"]
    assert failing["shape_presence"] and failing["background"]


def test_cam_ablation_gain_compares_with_the_ablations_own_reference():
    plain = [_video(jump_ratio=1.5, ablated_jump_ratio=6.0), _video(jump_ratio=2.0, ablated_jump_ratio=2.0)]
    assert bh.cam_ablation_gain(plain) == pytest.approx(2.0)  # geometric mean of 4 and 1
    # sampled with cond_replacement: the ablation's reference is the video sampled with the CAM alone
    held = _video(jump_ratio=1.0, cam_jump_ratio=3.0, ablated_jump_ratio=6.0)
    assert bh.cam_ablation_gain([held]) == pytest.approx(2.0)
    assert math.isnan(bh.cam_ablation_gain([_video(cam_jump_ratio=math.nan)]))  # untracked: no gain
    row = next(line for line in behaviour_section([held.as_dict()]) if line.startswith("| a red circle"))
    assert "| 1.00 | 6.00 (vs 3.00 with the CAM alone) |" in row


def test_ablation_runs_cam_only_when_the_sampler_hands_frames_over_otherwise():
    assert not bh.bypasses_cam({}) and not bh.bypasses_cam({"steps": 10, **bh.CAM_ONLY})
    assert bh.bypasses_cam({"cond_replacement": True})
    assert bh.bypasses_cam({"chunk_strength": 0.8})


def test_card_counts_passing_videos_over_all_seeds():
    tested = [_video(seed=EVAL_SEED_BASE + i).as_dict() for i in range(2)]
    more = [
        _video(jump_ratio=3.4).as_dict(),
        _video(jump_ratio=math.nan, colour_presence=0.5).as_dict(),
        _video().as_dict(),
        _video(colours_first_last=False).as_dict(),
    ]
    text = "\n".join(behaviour_section(tested, more))
    assert "2 more held-out seeds each" in text and "6 videos in all" in text
    assert "| boundary / inside-chunk object displacement (CAM) | ≤ 3 | inf | 4 of 6 |" in text
    assert "| prompted colours present (fraction of frames, worst object) | ≥ 0.9 | 0.500 | 5 of 6 |" in text
    assert "| prompted colours in the first and last frame | all | | 5 of 6 |" in text
    assert "Seed spread" not in "\n".join(behaviour_section(tested))  # tested videos only: no table


def test_card_reachable_table_counts_rendered_and_round_trip_videos_separately():
    rendered = [_video().as_dict(), _video(shape_presence=0.8, colours_first_last=False).as_dict()]
    through_vae = [_video(shape_presence=0.4).as_dict(), _video(shape_presence=0.7).as_dict()]
    text = "\n".join(reference_lines(rendered, through_vae))
    assert "the same 2 (prompt, seed) pairs" in text
    shapes = "| prompted shapes present (fraction of frames, worst object) | ≥ 0.9 |"
    assert f"{shapes} 0.800 | 1 of 2 | 0.400 | 0 of 2 |" in text
    assert "| prompted colours in the first and last frame | all | | 1 of 2 | | 2 of 2 |" in text
    assert (
        "| boundary / inside-chunk object displacement (CAM) | ≤ 3 | 1.500 | 2 of 2 | 1.500 | 2 of 2 |"
        in text
    )
    assert "jump ratio without CAM" not in text  # no ablation on the ground truth
    assert reference_lines([], []) == []  # not measured: no section


def test_card_reachable_figures_of_the_tested_seeds_are_said_apart_from_the_table_s():
    """The table's worst is over all seeds; the docs' claim (every check passes after the round trip) holds
    for the tested seeds only, the first pairs: the card says those alone."""
    rendered = [_video().as_dict(), _video().as_dict(), _video(shape_presence=0.8).as_dict()]
    through_vae = [
        _video(shape_presence=0.95).as_dict(),
        _video().as_dict(),
        _video(shape_presence=0.6).as_dict(),
    ]
    text = "\n".join(reference_lines(rendered, through_vae, 2))
    assert "| ≥ 0.9 | 0.800 | 2 of 3 | 0.600 | 2 of 3 |" in text
    assert text.endswith(
        "The first 2 pairs are the per-video table's tested seeds: 2 of 2 pass every threshold rendered, "
        "2 of 2 through the VAE (there, worst: colours 1.000, shapes 0.950, jump ratio 1.500, "
        "speed ratio 1.000)."
    )
    assert "tested seeds" not in "\n".join(reference_lines(rendered, through_vae))  # none named


def test_long_videos_are_measured_per_window_with_the_chunk_boundaries_inside_each():
    """24-frame windows of a 48-frame rendered scene: a jump at frame 32, a chunk start 8 frames into the
    second window, shows in that window and not in the first; with the first window's boundaries (16) it
    would be hidden."""
    import torch

    from streamt2v.microworld.dataset import eval_scene
    from streamt2v.microworld.render import render

    prompt, seed = "a red circle bouncing on a blue background", EVAL_SEED_BASE
    video = render(eval_scene(prompt, seed), 80, 32)[None]
    jumped = torch.cat([video[:, :, :32], video[:, :, 56:72]], dim=2)  # 24 frames skipped at frame 32
    windows = bh.measure_windows(jumped, prompt, seed, window=24)
    assert len(windows) == 2 and windows[0].jump_ratio <= 3 < 6 < windows[1].jump_ratio
    assert bh.measure_video(jumped[:, :, 24:48], prompt, seed, bh.chunk_boundaries(24)).jump_ratio <= 3
    assert len(bh.measure_windows(video, prompt, seed)) == 1  # whole windows only (of 80 by default)
    assert bh.measure_windows(video[:, :, :48], prompt, seed, window=24)[1].jump_ratio <= 3
    with pytest.raises(ValueError, match="window must be in"):
        bh.measure_windows(video[:, :, :40], prompt, seed)


def test_card_long_video_table_counts_passing_videos_per_window():
    from streamt2v.train.model_card import long_video_lines

    def row(seed, *windows):
        return {"prompt": "p", "seed": seed, "num_frames": 160, "window": 80, "windows": list(windows)}

    good, slow = _video().as_dict(), _video(speed_ratio=0.3, colour_presence=0.5).as_dict()
    lines = long_video_lines([row(1, good, good), row(2, good, slow)])
    assert "at 160 frames (stage 1 + 18 streaming chunks" in lines[1]
    assert lines[-2] == "| 0–79 | 1.00 | 2 | 1.00 | 2 | 2 | 2 |"
    assert lines[-1] == "| 80–159 | 0.75 | 1 | 1.00 | 2 | 2 | 1 |"
    assert long_video_lines([]) == []


def test_measure_video_segments_each_frame_once_and_gives_the_probes_figures(monkeypatch):
    """A frame whose background is the prompted one was segmented twice (once on the prompted background,
    once inside probe_video on its own, the same computation); frames on another background still need
    both. The probes' figures are unchanged."""
    import torch

    from streamt2v.metrics import probes as probes_module
    from streamt2v.metrics.probes import probe_video
    from streamt2v.microworld.dataset import eval_scene
    from streamt2v.microworld.render import render

    prompt, seed = "a red circle and a yellow square bouncing fast on a blue background", EVAL_SEED_BASE
    video = render(eval_scene(prompt, seed), 24, 32)[None]
    elsewhere = render(eval_scene(prompt.replace("blue", "green"), seed), 24, 32)[None]
    video = torch.cat([video[:, :, :20], elsewhere[:, :, 20:]], dim=2)  # the last 4 frames on green
    calls = []
    segment_frame = probes_module.segment_frame
    for module in (bh, probes_module):  # wherever it is called from
        monkeypatch.setattr(
            module, "segment_frame", lambda *a, **k: calls.append(1) or segment_frame(*a, **k)
        )
    r = bh.measure_video(video, prompt, seed, [16])
    assert len(calls) == 24 + 4
    monkeypatch.undo()
    probes = probe_video(
        video[0],
        caption=prompt,
        boundaries=[16],
        expected_colours=["red", "yellow"],
        expected_background="blue",
    )
    assert (r.background, r.jump_ratio, r.speed) == (
        probes.background_identity,
        probes.jump_ratio,
        probes.motion,
    )
    assert r.background == 20 / 24 and math.isfinite(r.jump_ratio) and r.speed > 0
