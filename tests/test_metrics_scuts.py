"""SCuts (paper §5.1): AdaptiveDetector cut counts on synthetic clips, in memory and from a file."""

from __future__ import annotations

import re

import numpy as np
import pytest

from streamt2v.io import video as io_video
from streamt2v.metrics.scuts import scene_cuts_from_frames, scuts


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 8, w // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


def _pan(n, h=64, w=64, seed=0, speed=1):
    big = _texture(h, w + n * speed + 8, seed)
    return np.stack([big[:, t * speed : t * speed + w] for t in range(n)])


def write_video(path, frames, fps=8):
    """uint8 (T, H, W, 3) frames -> an H.264 file, through the project's writer."""
    io_video.write_video(path, io_video.from_uint8_frames(frames), fps, crf=10)


def test_hard_cut_at_60_of_120():
    frames = np.concatenate([_pan(60, seed=1), _pan(60, seed=2)])
    cuts = scene_cuts_from_frames(frames)
    assert cuts == [60]
    assert scuts(frames) == 1


def test_smooth_pan_has_no_cut():
    assert scuts(_pan(120, seed=3)) == 0


def test_from_file_matches(tmp_path):
    frames = np.concatenate([_pan(60, seed=1), _pan(60, seed=2)])
    write_video(tmp_path / "cut.mp4", frames)
    assert scuts(tmp_path / "cut.mp4") == 1
    write_video(tmp_path / "pan.mp4", _pan(48, seed=3))
    assert scuts(str(tmp_path / "pan.mp4")) == 0


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="0 frame"):
        scuts(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        scuts(tmp_path / "missing.mp4")


@pytest.mark.parametrize("fps", [float("nan"), float("inf"), 0, -8.0])
def test_fps_must_be_finite_and_positive(fps, tmp_path):
    # QA: nan failed inside scenedetect
    frames = _pan(4)
    with pytest.raises(ValueError, match=re.escape(f"fps must be a finite number > 0, got {fps!r}")):
        scuts(frames, fps=fps)
    with pytest.raises(ValueError, match="fps must be a finite number > 0"):
        scene_cuts_from_frames(frames, fps=fps)
    with pytest.raises(TypeError, match="fps must be a number, got str '8'"):
        scuts(frames, fps="8")


def test_a_folder_of_frames_is_a_video(tmp_path):
    """docs/metrics.md: every metric takes a folder of frames (``generate --png-dir``); scuts said 'video
    file not found' for one."""
    frames = np.concatenate([_pan(60, seed=1), _pan(60, seed=2)])
    io_video.write_pngs(tmp_path, frames)
    assert scuts(tmp_path) == 1
    assert scuts(str(tmp_path)) == 1


def test_an_unreadable_file_is_one_error_naming_it(tmp_path):
    """PySceneDetect's VideoOpenFailure named no file and ended in a newline."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ValueError, match=r"^cannot read video '.*bad\.mp4': [^\n]+$"):
        scuts(bad)
