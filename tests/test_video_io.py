"""io/video.py: uint8 <-> [-1, 1], mp4/gif/png round trips, the streaming writer's preview and atomicity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamt2v.io.video import (
    StreamingVideoWriter,
    from_uint8_frames,
    read_image,
    read_video,
    resize_video,
    to_uint8_frames,
    write_video,
)


def smooth_video(t=6, h=32, w=48, seed=0):
    """A smooth moving gradient (compresses well, so mp4 errors stay small)."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(3, generator=g) * 6
    ys = torch.linspace(0, 1, h)[:, None]
    xs = torch.linspace(0, 1, w)[None, :]
    frames = [
        torch.stack([torch.sin(3 * xs + 2 * ys + phase[c] + 0.3 * i) for c in range(3)]) * 0.8
        for i in range(t)
    ]
    return torch.stack(frames, dim=1)[None]  # (1, 3, T, H, W)


def test_uint8_round_trip_is_exact_on_grid():
    u = np.random.default_rng(0).integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)
    v = from_uint8_frames(u)
    assert v.shape == (1, 3, 3, 5, 7) and v.dtype == torch.float32
    assert v.min() >= -1 and v.max() <= 1
    np.testing.assert_array_equal(to_uint8_frames(v), u)
    np.testing.assert_array_equal(to_uint8_frames(v[0]), u)


@pytest.mark.parametrize("suffix,tol", [(".mp4", 0.06), (".gif", 0.2), ("", 1 / 127.5)])
def test_write_read_round_trip(tmp_path, suffix, tol):
    v = smooth_video()
    out = write_video(tmp_path / f"v{suffix}", v, fps=8)
    r, fps = read_video(out)
    assert r.shape == v.shape
    assert (r - v).abs().mean() < tol
    if suffix == ".mp4":
        assert fps == pytest.approx(8.0)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary files left


def test_read_max_frames_and_errors(tmp_path):
    out = write_video(tmp_path / "v.mp4", smooth_video(t=6), fps=8)
    assert read_video(out, max_frames=4)[0].shape[2] == 4
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="bad.mp4"):
        read_video(bad)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mp4"):
        read_video(empty)
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "v.xyz", smooth_video(), fps=8)
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", smooth_video(h=31), fps=8)
    assert not (tmp_path / "odd.mp4").exists()


def test_read_image(tmp_path):
    v = smooth_video(t=1)
    write_video(tmp_path / "frames", v, fps=8)
    img = read_image(tmp_path / "frames" / "frame_000000.png")
    assert img.shape == (1, 3, 32, 48)
    assert (img - v[:, :, 0]).abs().max() <= 1 / 127.5 + 1e-6
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "nope.png")


def test_resize_video():
    v = smooth_video(t=2, h=32, w=48)
    r = resize_video(v, 16)
    assert r.shape == (1, 3, 2, 16, 16)
    assert resize_video(v, (8, 12)).shape == (1, 3, 2, 8, 12)
    const = torch.full((2, 3, 2, 10, 10), 0.25)
    assert torch.allclose(resize_video(const, (4, 6)), torch.full((2, 3, 2, 4, 6), 0.25))


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_streaming_writer_preview_valid_after_each_chunk(tmp_path, suffix):
    v = smooth_video(t=12)
    final = tmp_path / f"out{suffix}"
    with StreamingVideoWriter(final, fps=8) as w:
        for k in range(3):
            w.append(v[:, :, 4 * k : 4 * (k + 1)])
            assert not final.exists()  # the final file never exists half-written
            r, _ = read_video(w.preview_path)
            assert r.shape[2] == 4 * (k + 1)
    r, _ = read_video(final)
    assert r.shape == v.shape and (r - v).abs().mean() < 0.2
    assert not w.preview_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]


def test_streaming_writer_abort_keeps_final_absent(tmp_path):
    final = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), StreamingVideoWriter(final, fps=8) as w:
        w.append(smooth_video(t=4))
        raise KeyboardInterrupt
    assert not final.exists()
    assert read_video(w.preview_path)[0].shape[2] == 4
    with pytest.raises(RuntimeError, match="closed"):
        w.append(smooth_video(t=4))
