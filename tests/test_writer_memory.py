"""The writers' memory on a long video: a video file is encoded a frame at a time, with no converted copy of
every frame beside the frames given (at 1200 frames of 720x1280 such a copy is 1.7 GB of yuv420p frames)."""

from __future__ import annotations

import gc

import numpy as np
import torch

from streamt2v.io.video import DEFAULT_CRF, encode_video, read_video, to_uint8_frames
from test_video_io import smooth_video


def _live_video_frames() -> int:
    import av

    return sum(type(o) is av.VideoFrame for o in gc.get_objects())


class _CountingFrames:
    """uint8 frames ``(T, H, W, 3)`` that note, as each is handed out, how many PyAV frames are alive."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames, self.shape, self.alive = frames, frames.shape, []

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self):
        for frame in self.frames:
            self.alive.append(_live_video_frames())
            yield frame


def test_a_video_file_is_encoded_a_frame_at_a_time(tmp_path):
    frames = to_uint8_frames(smooth_video(t=12))
    counting = _CountingFrames(frames)
    before = _live_video_frames()
    encode_video(tmp_path / "v.mp4", counting, 8, DEFAULT_CRF)
    assert len(counting.alive) == 12 and max(counting.alive) - before <= 1  # all 12 converted first: 11
    got, _ = read_video(tmp_path / "v.mp4")
    assert got.shape[2] == 12


def _peak_python_bytes(action) -> int:
    """The most memory Python objects (a GIF's bytes among them) took at once while ``action`` ran."""
    import tracemalloc

    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _FileSizes(_CountingFrames):
    """uint8 frames that note, as each is handed out, how large the file at ``path`` is."""

    def __init__(self, frames: np.ndarray, path) -> None:
        super().__init__(frames)
        self.path, self.sizes = path, []

    def __iter__(self):
        for frame in self.frames:
            self.sizes.append(self.path.stat().st_size if self.path.exists() else 0)
            yield frame


def _gif_video() -> torch.Tensor:
    return torch.rand(1, 3, 32, 96, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_a_gif_is_written_as_it_is_encoded(tmp_path):
    """Written at once (stage 3's output), the GIF's bytes were gathered before the file was written (1200
    frames at 720x1280: ~1 GB, and a copy of them)."""
    from streamt2v.io.gif import encode_gif
    from streamt2v.io.video import write_video

    v = _gif_video()
    frames = _FileSizes(to_uint8_frames(v), tmp_path / "at_once.gif")
    encode_gif(frames.path, frames, 8)
    assert frames.sizes[-1] > frames.path.stat().st_size * 0.9  # gathered first: 0
    assert write_video(tmp_path / "v.gif", v, fps=8).read_bytes() == frames.path.read_bytes()


def test_the_gif_preview_is_not_held_between_chunks(tmp_path):
    """The streaming writer kept the GIF's bytes between chunks and copied them twice after each."""
    from streamt2v.io.streaming_writer import StreamingVideoWriter
    from streamt2v.io.video import write_video

    v = _gif_video()
    size = write_video(tmp_path / "at_once.gif", v, fps=8).stat().st_size  # ~0.3 MB
    fresh = StreamingVideoWriter(tmp_path / "fresh.gif", fps=8)
    first = _peak_python_bytes(lambda: fresh.append(v[:, :, 30:32]))
    fresh.abort()
    with StreamingVideoWriter(tmp_path / "s.gif", fps=8) as w:
        for a in range(0, 30, 2):
            w.append(v[:, :, a : a + 2])
        last = _peak_python_bytes(lambda: w.append(v[:, :, 30:32]))
    assert last < first + size / 3  # as the first append's; kept and copied: twice the GIF more
    assert (tmp_path / "s.gif").read_bytes() == (tmp_path / "at_once.gif").read_bytes()
