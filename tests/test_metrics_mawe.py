"""MAWE (paper §5.1, appendix) against the official reference vectors and analytic cases."""

from __future__ import annotations

import json
import logging
import math
import re

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from conftest import reference_cases
from streamt2v.metrics.mawe import forward_warp, mawe, mawe_from_flows

CASES = [p for p in reference_cases() if (p / "mawe_reference.safetensors").is_file()]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_reproduces_official_reference(case):
    ref = load_file(str(case / "mawe_reference.safetensors"))
    video = ref["video"]  # (T, H, W, 3) uint8
    flows = ref["flows"].astype(np.float32)
    for i in range(flows.shape[0]):
        warped, unknown = forward_warp(
            torch.from_numpy(video[i]).permute(2, 0, 1), torch.from_numpy(flows[i])
        )
        np.testing.assert_array_equal(warped.numpy(), ref["warped"][i].astype(np.float32))
        np.testing.assert_array_equal(unknown.numpy(), ref["unknown_mask"][i].astype(bool))
    r95 = mawe_from_flows(video, flows, coeff=9.5)
    r10 = mawe_from_flows(video, flows, coeff=1.0)
    assert _rel(r95.warp_errors, ref["warp_errors"]) <= 1e-4
    assert _rel(r95.motions, ref["motions"]) <= 1e-4
    assert _rel(r95.mawe, ref["mawe_coeff_9_5"][0]) <= 1e-4
    assert _rel(r10.mawe, ref["mawe_coeff_1_0"][0]) <= 1e-4
    meta = json.loads((case / "mawe_reference.json").read_text())
    assert _rel(r95.mawe, meta["mawe_coeff_9.5"]) <= 1e-4


def test_reference_cases_found():
    assert CASES, "no mawe_reference.* found under ../shared/reference/official_modelscope*"


def _textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_rigid_integer_translation_has_zero_warp_error():
    big = _textured(40, 60)
    dx, dy = 2, 1
    # the crop window moves up-left by (dx, dy) each frame → the content moves by (+dx, +dy)
    frames = np.stack([big[10 - t * dy : 34 - t * dy, 30 - t * dx : 54 - t * dx] for t in range(5)])
    flows = np.zeros((4, 2, 24, 24), np.float32)
    flows[:, 0], flows[:, 1] = dx, dy
    res = mawe_from_flows(frames, flows)
    assert np.all(res.warp_errors < 1e-6)
    assert res.motions == pytest.approx([math.hypot(dx, dy)] * 4)
    # a wrong flow gives a clearly non-zero error (so the test can fail)
    wrong = mawe_from_flows(frames, np.ones_like(flows))
    assert np.all(wrong.warp_errors > 100)


def test_paper_definition_and_static_video():
    frames = np.stack([_textured(16, 16, s) for s in range(4)])
    flows = np.full((3, 2, 16, 16), 0.5, np.float32)
    off = mawe_from_flows(frames, flows)
    pap = mawe_from_flows(frames, flows, definition="paper")
    ofs = 0.5  # |(0.5, 0.5)|² = 0.5
    assert pap.mawe == pytest.approx(float(np.mean(off.warp_errors)) / ofs, rel=1e-5)
    assert off.mawe == pytest.approx(float(np.mean(off.warp_errors / (9.5 * math.sqrt(0.5)))), rel=1e-5)
    static = np.repeat(frames[:1], 6, axis=0)
    assert mawe(static, flow="dis", flow_size=None).mawe == math.inf
    assert mawe_from_flows(static, np.zeros((5, 2, 16, 16), np.float32), definition="paper").mawe == math.inf


def test_bad_inputs():
    frames = np.stack([_textured(16, 16, s) for s in range(3)])
    with pytest.raises(ValueError, match="at least 2"):
        mawe(frames[:1], flow_size=None)
    with pytest.raises(ValueError, match="T-1"):
        mawe_from_flows(frames, np.zeros((3, 2, 16, 16), np.float32))
    with pytest.raises(ValueError, match="definition"):
        mawe_from_flows(frames, np.zeros((2, 2, 16, 16), np.float32), definition="v3")
    with pytest.raises(ValueError, match="0 frame"):
        mawe(np.zeros((0, 16, 16, 3), np.uint8), flow_size=None)


def test_tensor_input_and_flow_resize():
    t = torch.rand(1, 3, 4, 20, 20) * 2 - 1
    res = mawe(t, flow="farneback", flow_size=32)
    assert res.warp_errors.shape == (3,) and np.isfinite(res.mawe)


def test_streamed_flow_path_equals_precomputed_flows():
    from streamt2v.metrics.flow import compute_flows

    frames = np.stack([_textured(24, 24, 0)[:, (t % 3) :][:, :20] for t in range(5)])
    small, flows = compute_flows(frames, backend="farneback", size=32)
    for definition in ("official", "paper"):
        a = mawe(frames, flow="farneback", flow_size=32, definition=definition)
        b = mawe_from_flows(small, flows, definition=definition)
        assert a.mawe == pytest.approx(b.mawe, rel=1e-6) and np.isfinite(a.mawe)


def test_uint8_tensor_gives_the_same_mawe_as_its_float_form():
    # QA: a uint8 tensor was clamped to all-white frames and MAWE was inf (float form: finite)
    x = torch.from_numpy(np.stack([_textured(24, 24, 0)[:, t : t + 20] for t in range(4)])).float()
    x = x.permute(3, 0, 1, 2)[None] / 127.5 - 1  # (1, 3, T, H, W) in [-1, 1]
    u = ((x + 1) * 127.5).round().to(torch.uint8)
    a, b = mawe(u, flow="farneback", flow_size=None), mawe(x, flow="farneback", flow_size=None)
    assert np.isfinite(a.mawe) and a.mawe == pytest.approx(b.mawe, rel=1e-6)


def test_nan_or_0_255_float_frames_are_refused():
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    x[0, :, 1] = float("nan")  # QA: gave MAWE 1064
    with pytest.raises(ValueError, match="NaN or infinite"):
        mawe(x, flow_size=None)
    with pytest.raises(ValueError, match=r"pixels are in \[-1, 1\]"):
        mawe(torch.rand(1, 3, 3, 16, 16) * 255, flow_size=None)


@pytest.mark.parametrize("coeff", [float("inf"), float("nan"), 0.0, -1.0])
def test_coeff_must_be_finite_and_positive(coeff):
    frames = np.stack([_textured(16, 16, s) for s in range(3)])
    message = f"coeff (the MAWE coefficient c) must be a finite number > 0, got {coeff!r}"
    with pytest.raises(ValueError, match=re.escape(message)):  # inf gave MAWE 0.0
        mawe(frames, coeff=coeff, flow_size=None)
    with pytest.raises(ValueError, match=re.escape(message)):
        mawe_from_flows(frames, np.zeros((2, 2, 16, 16), np.float32), coeff=coeff)
    with pytest.raises(TypeError, match=r"^coeff \(the MAWE coefficient c\) must be a number, got str '9.5'"):
        mawe(frames, coeff="9.5", flow_size=None)


@pytest.mark.parametrize("coeff", [1e39, 1e-40])
def test_a_coeff_beyond_float32s_reach_is_refused(coeff):
    """c · m_t is float32, as in the official code: c = 1e39 made the MAWE of a moving video 0, c = 1e-40 inf."""
    frames = np.stack([_textured(16, 16, s) for s in range(3)])
    message = (
        f"coeff (the MAWE coefficient c) must be from 1e-06 to 1e+06 (the paper's is 9.5), got {coeff:g}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        mawe(frames, coeff=coeff, flow_size=None)


def test_bad_flow_size_backend_and_flows():
    frames = np.stack([_textured(16, 16, s) for s in range(3)])
    with pytest.raises(
        TypeError, match="flow_size must be an int, a \\(height, width\\) pair of ints or None, got 64.0"
    ):
        mawe(frames, flow_size=64.0)  # was "cannot unpack non-iterable float"
    with pytest.raises(ValueError, match="unknown flow backend 'lk'"):
        mawe(frames, flow="lk", flow_size=None)
    flows = np.zeros((2, 2, 16, 16), np.float32)
    flows[1, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="flows have 1 NaN or infinite value"):
        mawe_from_flows(frames, flows)


def test_the_info_line_of_an_infinite_mawe_names_the_video(tmp_path, caplog):
    from streamt2v.io.video import write_video

    static = np.repeat(_textured(16, 16)[None], 4, axis=0)
    path = write_video(tmp_path / "still.mp4", static, 8)
    with caplog.at_level(logging.INFO, logger="streamt2v.metrics.mawe"):
        assert mawe(str(path), flow_size=None).mawe == math.inf  # a path names itself
        assert mawe(static, flow_size=None, name="clip 7").mawe == math.inf
        assert mawe_from_flows(static, np.zeros((3, 2, 16, 16), np.float32), name="clip 8").mawe == math.inf
        assert mawe(static, flow_size=None).mawe == math.inf  # nothing to name it by
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert repr(str(path)) in lines[0] and "'clip 7'" in lines[1] and "'clip 8'" in lines[2]
    assert lines[3].startswith("MAWE is inf")


def test_mawe_does_not_depend_on_the_torch_thread_count():
    """QA: one video's MAWE was 0.679 with one torch thread and 0.675 with two. The float32 resize to the
    flow size (``F.interpolate``) differed by ~5e-5 with the thread count, which flipped the rounding of
    some pixels, and DIS flow is sensitive to them; the float32 sums of the warp error moved too."""
    from streamt2v.io.video import video_frames
    from streamt2v.metrics.flow import resize_frames
    from streamt2v.microworld.dataset import eval_scene
    from streamt2v.microworld.render import render

    video = render(eval_scene("a red circle bouncing on a blue background", 1), 4, 32)
    threads, results = torch.get_num_threads(), []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append((resize_frames(video_frames(video), 720), mawe(video)))
    finally:
        torch.set_num_threads(threads)
    (frames_1, one), (frames_2, two) = results
    np.testing.assert_array_equal(frames_1, frames_2)
    np.testing.assert_array_equal(one.warp_errors, two.warp_errors)
    assert np.isfinite(one.mawe) and one.mawe == two.mawe
