"""Chunk plans (paper §4): exactly N frames, documented N → chunks mapping, conditioning indices, seeds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamt2v.pipeline.chunking import chunk_seed, cond_frame_indices, num_chunks, plan_chunks


@pytest.mark.parametrize(
    "n,chunks", [(1, 1), (16, 1), (17, 2), (24, 2), (25, 3), (80, 9), (81, 10), (240, 29), (1200, 149)]
)
def test_documented_mapping(n, chunks):
    assert num_chunks(n) == chunks


def test_default_plan_shape():
    plan = plan_chunks(33)
    assert [(c.stage, c.start, c.stop, c.keep_offset) for c in plan] == [
        (1, 0, 16, 0),
        (2, 16, 24, 8),
        (2, 24, 32, 8),
        (2, 32, 33, 8),
    ]


@given(
    n=st.integers(1, 600),
    cond=st.integers(1, 12),
    extra=st.integers(1, 12),
    prefix=st.integers(0, 40),
)
def test_plan_covers_exactly_n_frames(n, cond, extra, prefix):
    f = cond + extra
    if prefix and n <= prefix:
        with pytest.raises(ValueError, match="must exceed"):
            plan_chunks(n, chunk_frames=f, cond_frames=cond, prefix_frames=prefix)
        return
    plan = plan_chunks(n, chunk_frames=f, cond_frames=cond, prefix_frames=prefix)
    assert plan[0].start == 0 and plan[-1].stop == n
    for a, b in zip(plan, plan[1:]):
        assert a.stop == b.start
    assert all(c.index == i for i, c in enumerate(plan))
    assert all(c.stage == 2 and 1 <= c.num_new <= extra and c.keep_offset == cond for c in plan[1:])
    first = prefix if prefix else min(n, f)
    assert plan[0].num_new == first and plan[0].stage == (0 if prefix else 1)
    assert len(plan) == 1 + math.ceil(max(0, n - first) / extra)


def test_bad_sizes():
    with pytest.raises(ValueError, match=r"chunk_frames \(8\) must be greater than cond_frames \(8\)"):
        plan_chunks(20, chunk_frames=8, cond_frames=8)
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1, got 0"):
        plan_chunks(0)
    with pytest.raises(ValueError, match="-5"):
        plan_chunks(-5)


def test_cond_indices_pad_with_first_frame():
    assert cond_frame_indices(1, 4) == [0, 0, 0, 0]
    assert cond_frame_indices(3, 4) == [0, 0, 1, 2]
    assert cond_frame_indices(20, 4) == [16, 17, 18, 19]


def test_chunk_seed_depends_on_seed_and_index_only():
    seeds = {chunk_seed(s, i) for s in range(5) for i in range(50)}
    assert len(seeds) == 250
    assert chunk_seed(3, 7) == chunk_seed(3, 7)
    assert all(0 <= x < 2**63 for x in seeds)


@pytest.mark.parametrize(
    "n, prefix, match",
    [
        (1, 1, r"num_frames \(1\) must exceed the 1 input frame: .* so 2 or more"),
        (
            5,
            12,
            r"num_frames \(5\) must exceed the 12 input frames: it counts the whole output, .* so 13 or more",
        ),
    ],
)
def test_a_length_the_input_already_fills_names_the_least_length(n, prefix, match):
    with pytest.raises(ValueError, match=match):
        plan_chunks(n, prefix_frames=prefix)
