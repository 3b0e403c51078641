"""Window plans, shared noise and randomized blending (paper §4.3, eq. 7–8): pure tensor functions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from streamt2v.pipeline.blending import (
    WindowPlan,
    blend_chunks,
    check_mode,
    chunk_noise,
    draw_cuts,
    fixed_cuts,
    plan_windows,
    split_chunks,
)


@settings(max_examples=300, deadline=None)
@given(
    num_frames=st.integers(1, 1200),
    chunk=st.integers(1, 40),
    overlap=st.integers(0, 39),
)
def test_chunk_plan_covers_everything(num_frames: int, chunk: int, overlap: int) -> None:
    if chunk <= overlap:
        with pytest.raises(ValueError, match=f"chunk_frames \\({chunk}\\).*overlap \\({overlap}\\)"):
            plan_windows(num_frames, chunk, overlap)
        return
    plan = plan_windows(num_frames, chunk, overlap)
    covered = torch.zeros(num_frames, dtype=torch.long)
    for s, e in plan.windows:
        assert 0 <= s < e <= num_frames
        assert e - s == plan.chunk_frames
        covered[s:e] += 1
    assert bool((covered >= 1).all()), "a frame is dropped"
    assert plan.starts[0] == 0 and plan.windows[-1][1] == num_frames  # last window end-aligned
    if num_frames <= chunk:  # a short video is one chunk of its own length
        assert len(plan) == 1 and plan.chunk_frames == num_frames
        return
    assert plan.chunk_frames == chunk
    ov = plan.overlaps
    assert all(o == overlap for o in ov[:-1]), "interior overlaps must be exactly O"
    assert overlap <= ov[-1] < chunk  # the end-aligned last window overlaps at least O
    # no more windows than needed: the regular windows alone do not reach the end
    assert len(plan) == max(1, math.ceil((num_frames - chunk) / (chunk - overlap))) + 1
    # blending with any allowed cuts reconstructs an index ramp exactly (each frame from a window holding it)
    idx = torch.arange(num_frames, dtype=torch.float32).view(1, 1, -1, 1, 1)
    merged = blend_chunks(split_chunks(idx, plan), plan, draw_cuts(plan, generator=torch.Generator()))
    assert torch.equal(merged, idx)


def test_errors_name_the_values() -> None:
    with pytest.raises(ValueError, match=r"chunk_frames \(8\) must be larger than overlap \(8\)"):
        plan_windows(100, 8, 8)
    with pytest.raises(ValueError, match="num_frames must be >= 1, got 0"):
        plan_windows(0, 8, 2)
    with pytest.raises(ValueError, match="'blurry'"):
        check_mode("blurry")
    plan = plan_windows(40, 24, 8)
    with pytest.raises(ValueError, match="cut 9 of chunk 1"):
        blend_chunks(torch.zeros(2, 1, 1, 24, 1, 1), plan, (0, 9))


def left_mask(plan: WindowPlan, cuts: tuple[int, ...]) -> torch.Tensor:
    """``(n_chunks - 1, O)`` bool: True where overlap frame ``f`` (0-based) of the blended region of pair
    ``i`` is taken from the left chunk (``f < f_thr``)."""
    rel = torch.tensor([cut - lo for cut, (lo, _) in zip(cuts[1:], plan.cut_ranges)], dtype=torch.long)
    return torch.arange(plan.overlap)[None, :] < rel[:, None]


@pytest.mark.parametrize("overlap", [1, 4, 8])
def test_cut_distribution_matches_eq8(overlap: int) -> None:
    """P(left chunk at overlap frame f, 1-based) = 1 - f/(O+1); 4000 draws × 9 overlaps per draw.

    Tolerance 0.025: > 5 binomial standard deviations (σ ≤ 0.5/√36000 ≈ 0.0026), yet far below the
    1/(O+1) ≥ 0.11 shift an off-by-one range such as the official {0..O-1} would cause.
    """
    chunk = 3 * overlap
    plan = plan_windows(10 * (chunk - overlap) + overlap, chunk, overlap)
    assert len(plan) == 10 and set(plan.overlaps) == {overlap}
    gen = torch.Generator().manual_seed(1234)
    draws = 4000
    left = torch.zeros(overlap)
    for _ in range(draws):
        left += left_mask(plan, draw_cuts(plan, generator=gen)).float().sum(0)
    frac = left / (draws * (len(plan) - 1))
    f = torch.arange(1, overlap + 1, dtype=torch.float32)
    expected = 1 - f / (overlap + 1)
    assert torch.allclose(frac, expected, atol=0.025), (frac, expected)


def test_cut_distribution_of_end_aligned_last_overlap() -> None:
    plan = plan_windows(30, 24, 8)  # windows [0,24) and [6,30): overlap 18, blended region its last 8
    assert plan.overlaps == [18] and plan.cut_ranges == [(10, 18)]
    gen = torch.Generator().manual_seed(0)
    cuts = torch.tensor([draw_cuts(plan, generator=gen)[1] for _ in range(3000)])
    assert int(cuts.min()) == 10 and int(cuts.max()) == 18
    counts = torch.bincount(cuts - 10, minlength=9).float() / len(cuts)
    assert torch.allclose(counts, torch.full((9,), 1 / 9), atol=0.03)


def test_zero_overlap_is_plain_concatenation() -> None:
    plan = plan_windows(12, 4, 0)
    assert plan.windows == [(0, 4), (4, 8), (8, 12)]
    chunks = torch.randn(3, 2, 3, 4, 5, 5)
    expected = torch.cat(list(chunks), dim=2)
    for cuts in (draw_cuts(plan, generator=torch.Generator().manual_seed(3)), fixed_cuts(plan)):
        assert cuts == (0, 0, 0)
        assert torch.equal(blend_chunks(chunks, plan, cuts), expected)


def test_fixed_cuts_fall_in_the_middle_of_each_blended_region() -> None:
    """The naive modes' cut (Fig. 4a/b) is O // 2 into the blended region, the end-aligned window's too
    (only O = 0, where every cut is 0, was checked)."""
    plan = plan_windows(46, 16, 6)  # windows [0,16), [10,26), [20,36), [30,46): overlaps 6
    assert fixed_cuts(plan) == (0, 3, 3, 3)
    plan = plan_windows(30, 24, 8)  # windows [0,24) and [6,30): overlap 18, blended region its last 8
    assert plan.cut_ranges == [(10, 18)] and fixed_cuts(plan) == (0, 14)


def test_identical_predictions_are_unchanged_by_blending() -> None:
    video = torch.randn(2, 4, 50, 3, 3)
    plan = plan_windows(50, 16, 6)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert torch.equal(
            blend_chunks(split_chunks(video, plan), plan, draw_cuts(plan, generator=gen)), video
        )


def test_blend_takes_left_before_cut_and_right_after() -> None:
    plan = plan_windows(16, 10, 4)  # windows [0,10), [6,16)
    left = torch.zeros(1, 1, 10, 1, 1)
    right = torch.ones(1, 1, 10, 1, 1)
    for cut in range(5):
        out = blend_chunks(torch.stack([left, right]), plan, (0, cut)).flatten()
        assert torch.equal(out[: 6 + cut], torch.zeros(6 + cut))
        assert torch.equal(out[6 + cut :], torch.ones(10 - cut))


def test_same_seed_same_cuts_and_noise() -> None:
    plan = plan_windows(100, 24, 8)
    a = [draw_cuts(plan, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert a[0] == a[1]
    shape = (1, 4, 100, 4, 4)
    n1 = chunk_noise(shape, plan, "randomized", generator=torch.Generator().manual_seed(5))
    n2 = chunk_noise(shape, plan, "randomized", generator=torch.Generator().manual_seed(5))
    assert torch.equal(n1, n2)


def test_shared_noise_is_shared_over_overlaps_independent_is_not() -> None:
    plan = plan_windows(40, 16, 4)
    shape = (1, 4, 40, 2, 2)
    for mode in ("shared-noise", "randomized"):
        noise = chunk_noise(shape, plan, mode, generator=torch.Generator().manual_seed(0))
        assert noise.shape == (len(plan), 1, 4, 16, 2, 2)
        for i, ((s0, _), (s1, _)) in enumerate(zip(plan.windows[:-1], plan.windows[1:])):
            o = plan.overlaps[i]
            assert torch.equal(noise[i, :, :, s1 - s0 :], noise[i + 1, :, :, :o])
    noise = chunk_noise(shape, plan, "independent", generator=torch.Generator().manual_seed(0))
    assert not torch.equal(noise[0, :, :, 12:], noise[1, :, :, :4])
