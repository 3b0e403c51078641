"""Optical-flow backends (paper §5.1: flow at 720×720) on a rigid translation with a known answer."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from streamt2v.cli import main
from streamt2v.io.video import write_video
from streamt2v.metrics.flow import compute_flows, make_flow_fn, resize_frames
from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.metrics.mawe import mawe


def _translation(dx: int, dy: int, t: int = 3, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, size=(size // 4 + 8, size // 4 + 8, 3), dtype=np.uint8)
    big = np.kron(tile, np.ones((4, 4, 1), np.uint8)).astype(np.float32)
    big = cv2.GaussianBlur(big, (5, 5), 1.0).astype(np.uint8)  # smooth enough for the flow solvers
    return np.stack(
        [big[16 - i * dy : 16 - i * dy + size, 16 - i * dx : 16 - i * dx + size] for i in range(t)]
    )


@pytest.mark.parametrize("backend", ["dis", "farneback"])
def test_opencv_backends_recover_a_translation(backend):
    frames, flows = compute_flows(_translation(2, 1), backend=backend, size=None)
    assert flows.shape == (2, 2, 64, 64) and flows.dtype == np.float32
    inner = flows[:, :, 16:-16, 16:-16]
    assert np.median(inner[:, 0]) == pytest.approx(2.0, abs=0.3)
    assert np.median(inner[:, 1]) == pytest.approx(1.0, abs=0.3)


def test_flow_size_resizes_frames():
    frames, flows = compute_flows(_translation(1, 0, t=2, size=32), size=48)
    assert frames.shape == (2, 48, 48, 3) and flows.shape == (1, 2, 48, 48)
    assert resize_frames(frames, (40, 24)).shape == (2, 40, 24, 3)
    with pytest.raises(ValueError, match="at least 8"):
        resize_frames(frames, 4)


def test_input_forms_and_errors():
    x = torch.zeros(1, 3, 2, 8, 8)
    assert as_uint8_frames(x).shape == (2, 8, 8, 3) and as_uint8_frames(x)[0, 0, 0, 0] == 128
    with pytest.raises(ValueError, match="batch of shape"):
        as_uint8_frames(torch.zeros(2, 3, 2, 8, 8))
    with pytest.raises(ValueError, match=r"expected uint8 frames \(T, H, W, 3\), got float32"):
        as_uint8_frames(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="unknown flow backend 'lk'"):
        compute_flows(np.zeros((2, 8, 8, 3), np.uint8), backend="lk", size=None)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        as_uint8_frames("missing.mp4")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_raft_without_torchvision_says_how_to_get_it(tmp_path, capsys):
    """The advice named the command line's --flow to Python callers: each reads its own argument."""
    with pytest.raises(RuntimeError, match="torchvision") as err:
        compute_flows(np.zeros((2, 16, 16, 3), np.uint8), backend="raft", size=None)
    assert str(err.value).endswith("or use backend='dis' or backend='farneback'.")
    with pytest.raises(RuntimeError) as err:
        mawe(np.zeros((2, 16, 16, 3), np.uint8), flow="raft")
    assert str(err.value).endswith("or use flow='dis' or flow='farneback'.")
    video = tmp_path / "v.mp4"
    write_video(video, np.zeros((2, 16, 16, 3), np.uint8), fps=8)
    assert main(["evaluate", str(video), "--metrics", "mawe", "--flow", "raft", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().endswith("or use --flow dis or --flow farneback.")


def test_the_dis_size_advice_names_the_callers_arguments(tmp_path, capsys):
    """DIS refuses frames under 12 pixels a side; the advice said --flow-size / --flow farneback to Python
    callers too."""
    tiny = np.zeros((2, 8, 8, 3), np.uint8)
    good = _translation(1, 0, t=2, size=32)
    cases = [
        (
            lambda: mawe(good, flow_size=8),
            "a flow size",
            "a larger flow size (flow_size) or flow='farneback'",
        ),
        (
            lambda: mawe(tiny, flow_size=None),
            "the video's frames",
            "a larger flow size (flow_size) or flow='farneback'",
        ),
        (
            lambda: compute_flows(good, size=8),
            "a flow size",
            "a larger flow size (size) or backend='farneback'",
        ),
        (
            lambda: compute_flows(tiny, size=None),
            "the video's frames",
            "a larger flow size (size) or backend='farneback'",
        ),
        (lambda: make_flow_fn("dis")(tiny[0], tiny[1]), "frames", "larger frames or backend='farneback'"),
    ]
    for call, where, advice in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == (
            f"DIS optical flow needs {where} with a side of at least 12 pixels, got 8x8 (WxH); use {advice}"
        )
    video = tmp_path / "v.mp4"
    write_video(video, good, fps=8)
    assert main(["evaluate", str(video), "--metrics", "mawe", "--flow-size", "8", "--no-progress"]) == 2
    assert (
        capsys.readouterr().err.strip().endswith("use a larger flow size (--flow-size) or --flow farneback")
    )


def test_uint8_tensor_is_read_as_0_255_not_clamped_to_white():
    # QA: a uint8 (1, 3, T, H, W) tensor was clamped as if in [-1, 1] (all white; MAWE inf)
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    u = ((x + 1) * 127.5).round().to(torch.uint8)
    expected = u[0].permute(1, 2, 3, 0).numpy()
    assert np.array_equal(as_uint8_frames(u), expected)
    assert np.array_equal(as_uint8_frames(u[0]), expected)  # (3, T, H, W) too
    assert np.array_equal(as_uint8_frames(x), expected)  # and the float form agrees
    # frames (T, H, W, 3) as a tensor, as write_video takes them: 3 frames, not a video 3 pixels wide
    assert np.array_equal(as_uint8_frames(torch.from_numpy(expected)), expected)


def test_float_tensors_go_through_check_pixels():
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    with pytest.raises(ValueError, match=r"video has values in \[.*255.*\]; pixels are in \[-1, 1\]"):
        as_uint8_frames(((x + 1) * 127.5).round())  # 0-255 floats
    nan = x.clone()
    nan[0, :, 1] = float("nan")
    with pytest.raises(ValueError, match="video has 768 NaN or infinite value"):
        as_uint8_frames(nan)
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_uint8_frames(x.masked_fill(x > 0.9, float("inf")))
    with pytest.raises(ValueError, match=r"dtype torch.int64; give floats in \[-1, 1\] or uint8"):
        as_uint8_frames(torch.zeros(3, 2, 8, 8, dtype=torch.int64))
    # a small overshoot (decoded frames) is clamped, not refused
    assert as_uint8_frames(x.clamp(-1, 1) * 1.02).max() == 255


@pytest.mark.parametrize("size", [64.0, "64", (64, 48.0), (64,), True])
def test_flow_size_must_be_ints(size):
    frames = _translation(1, 0, t=2, size=32)
    # each names its own argument: size= (it said flow_size, which they do not take)
    message = rf"size must be an int, a \(height, width\) pair of ints or None, got {re.escape(repr(size))}"
    with pytest.raises(TypeError, match="^" + message):
        resize_frames(frames, size)
    with pytest.raises(TypeError, match="^size must be an int"):
        compute_flows(frames, size=size)


def test_a_huge_flow_size_is_refused_naming_it_before_any_frame_is_read(tmp_path):
    # was an OpenCV "Insufficient memory ... 30000000000 bytes" error after the video was decoded
    message = "^size must be at most 8192×8192 pixels, got 100000×100000"
    with pytest.raises(ValueError, match=message):
        compute_flows(_translation(1, 0, t=2, size=32), size=100000)
    with pytest.raises(ValueError, match="got 720×9000"):
        mawe(tmp_path / "not-read.mp4", flow_size=(720, 9000))
    assert resize_frames(_translation(1, 0, t=2, size=32), (8192, 8)).shape == (2, 8192, 8, 3)


def test_flow_size_accepts_numpy_ints_and_lists():
    frames = _translation(1, 0, t=2, size=32)
    assert resize_frames(frames, np.int64(16)).shape == (2, 16, 16, 3)
    assert resize_frames(frames, [16, 24]).shape == (2, 16, 24, 3)


_PEAK_SCRIPT = """
import resource, sys
import torch
torch.set_num_threads(1)
from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.io.decoding import decode_frames
decode_frames(sys.argv[1], max_frames=1)  # the decoder's libraries and buffers, before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
frames = as_uint8_frames(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(frames.nbytes, (after - before) * 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_a_video_file_is_read_as_uint8_without_a_float_copy(tmp_path):
    """The metrics read a file as uint8 frames straight from the decoder: through a float32 video (4 bytes a
    value, then a float temporary per step of the conversion back) a 20-frame 4K file peaked at 8.3 GB."""
    from streamt2v.io.video import write_video

    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, 720, 1280, 3), dtype=np.uint8), 24, axis=0)
    path = write_video(tmp_path / "v.mp4", frames, 8)
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    nbytes, grown = map(int, out.stdout.split())
    assert nbytes == frames.nbytes
    assert grown < 4 * nbytes, f"reading {nbytes / 1e6:.0f} MB of frames took {grown / 1e6:.0f} MB more"


def test_a_wrong_layout_is_named_as_given_with_the_permute_to_use():
    """A (1, 1, T, H, W) tensor was reported as (1, T, H, W), the shape after the batch was dropped."""
    with pytest.raises(ValueError, match=re.escape("got (1, 1, 4, 16, 16)")):
        as_uint8_frames(torch.zeros(1, 1, 4, 16, 16))
    batched = "got (1, 4, 16, 16, 3); frames (1, T, H, W, 3) are x[0].permute(3, 0, 1, 2)"
    with pytest.raises(ValueError, match=re.escape(batched)):
        as_uint8_frames(torch.zeros(1, 4, 16, 16, 3))
    # uint8 frames are taken as they are: a batch of one needs only its index (the permute was wrong advice)
    with pytest.raises(
        ValueError, match=re.escape("got (1, 4, 16, 16, 3); frames (1, T, H, W, 3) are x[0]") + "$"
    ):
        as_uint8_frames(torch.zeros(1, 4, 16, 16, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=re.escape("got (4, 3, 16, 16); frames (T, 3, H, W) are")):
        as_uint8_frames(torch.zeros(4, 3, 16, 16, dtype=torch.uint8))


def _bilinear_by_hand(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear, half-pixel centres, no antialiasing, in float64, rounded half to even: what the official
    ``F.resize(uint8 video, [720, 720], antialias=False)`` computes (float interpolation, then round)."""

    def taps(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    y0, y1, fy = taps(frame.shape[0], h)
    x0, x1, fx = taps(frame.shape[1], w)
    f = frame.astype(np.float64)
    top = f[y0][:, x0] * (1 - fx)[None, :, None] + f[y0][:, x1] * fx[None, :, None]
    bottom = f[y1][:, x0] * (1 - fx)[None, :, None] + f[y1][:, x1] * fx[None, :, None]
    return np.round(top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]).astype(np.uint8)


def test_resize_computes_bilinear_in_float_and_rounds_like_the_official_resize():
    """Frames were resized with OpenCV's fixed-point INTER_LINEAR, one level off the official resize on ~11% of
    the values (MAWE moved by ~0.5%). Factors of 2 keep every weight a power of two: float32, float64 and
    the hand computation agree exactly, ties (x.5) included."""
    frames = np.random.default_rng(1).integers(0, 256, (2, 20, 16, 3), dtype=np.uint8)
    for h, w in [(40, 32), (10, 8), (40, 8)]:
        out = resize_frames(frames, (h, w))
        for i in range(2):
            np.testing.assert_array_equal(out[i], _bilinear_by_hand(frames[i], h, w))


def test_resize_rounds_the_exact_bilinear_value_half_to_even():
    """The float32 resize (``F.interpolate``) rounded the many exact ties (x.5) of the weights k/(2·size)
    either way, depending on the torch thread count: MAWE changed with it. The resize is exact now, at any
    thread count: checked against rational arithmetic, ties included."""
    from fractions import Fraction

    def taps(n_in, n_out):
        out = []
        for d in range(n_out):
            src = max(Fraction(2 * d + 1, 2 * n_out) * n_in - Fraction(1, 2), Fraction(0))
            lo = min(int(src), n_in - 1)
            out.append((lo, min(lo + 1, n_in - 1), src - lo if lo < n_in - 1 else Fraction(0)))
        return out

    frame = np.random.default_rng(3).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    h, w = 12, 18  # 3/2 of the size: weights in sixths, with ties
    want, ties = np.empty((h, w, 3), np.uint8), 0
    for i, (y0, y1, fy) in enumerate(taps(8, h)):
        for j, (x0, x1, fx) in enumerate(taps(12, w)):
            for c in range(3):
                p = [[int(frame[y, x, c]) for x in (x0, x1)] for y in (y0, y1)]
                v = (1 - fy) * ((1 - fx) * p[0][0] + fx * p[0][1]) + fy * ((1 - fx) * p[1][0] + fx * p[1][1])
                ties += v.denominator == 2
                want[i, j, c] = round(v)  # a Fraction rounds half to even
    assert ties >= 10  # the case the float resize got wrong is there
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            np.testing.assert_array_equal(resize_frames(frame[None], (h, w))[0], want)
    finally:
        torch.set_num_threads(saved)
