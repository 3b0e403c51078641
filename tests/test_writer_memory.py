"""The writers' memory on a long video: a video file is encoded a frame at a time, with no converted copy of
every frame beside the frames given (at 1200 frames of 720x1280 such a copy is 1.7 GB of yuv420p frames)."""

from __future__ import annotations

import gc

import numpy as np

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
