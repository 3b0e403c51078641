"""Optical-flow backends (paper §5.1: flow at 720×720) on a rigid translation with a known answer."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import torch

from streamt2v.metrics.flow import as_uint8_frames, compute_flows, resize_frames


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
    with pytest.raises(ValueError, match="uint8 array"):
        as_uint8_frames(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="unknown flow backend 'lk'"):
        compute_flows(np.zeros((2, 8, 8, 3), np.uint8), backend="lk", size=None)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        as_uint8_frames("missing.mp4")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_raft_without_torchvision_says_how_to_get_it():
    with pytest.raises(RuntimeError, match="torchvision"):
        compute_flows(np.zeros((2, 16, 16, 3), np.uint8), backend="raft", size=None)
