"""io/frame_seek.py: frames picked by seeking to their timestamps are the frames decoded from the start,
timestamps name frames only where they are evenly spaced, and seeking is refused where they do not
follow the frames (the retry that seeks earlier is tests/test_frame_seek.py)."""

from __future__ import annotations

import numpy as np
import pytest

from streamt2v.io.frame_seek import FrameTimes, frame_times, pick_frames
from streamt2v.io.video import decode_frames
from test_video_io import write_gop_video


def packet_times(path, count: int):
    import av

    with av.open(str(path)) as container:
        stamps = [p.pts for p in container.demux(container.streams.video[0]) if p.size > 0]
    return frame_times(stamps, count)


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mkv", ".mov", ".gif"])
def test_frames_picked_by_seeking_are_the_frames_decoded_from_the_start(tmp_path, suffix, monkeypatch):
    """A training sample seeks to its clip instead of decoding every frame before it: the frames must be
    the same, bit for bit, wherever the clip starts: on a keyframe, inside a GOP, on the last frame of
    one (an H.264 keyframe is decoded before the B-frames shown ahead of it: a seek by decode time
    lands past them), on the first and on the last possible frame."""
    import av

    from streamt2v.io import frame_seek

    path = tmp_path / f"gop{suffix}"
    write_gop_video(path, 60)
    full, _ = decode_frames(path)
    with av.open(str(path)) as container:  # as PyAV converts frames one by one
        assert all(
            np.array_equal(f.to_ndarray(format="rgb24"), full[i])
            for i, f in enumerate(container.decode(container.streams.video[0]))
        )
    times = packet_times(path, 60)
    assert times is not None and times.count == 60
    seeks = []
    real_seek_run = frame_seek._seek_run
    monkeypatch.setattr(frame_seek, "_seek_run", lambda *a: seeks.append(a[3]) or real_seek_run(*a))
    for start in (0, 1, 7, 8, 9, 15, 16, 23, 30, 43, 44):
        picked = pick_frames(path, [3, *range(start, start + 16)], times)
        assert sorted(picked) == sorted({3, *range(start, start + 16)})
        for i, frame in picked.items():
            assert np.array_equal(frame, full[i]), (start, i)
    # frame 0 and the anchor are decoded from the start with the clips near them, a clip further on is
    # sought (GIF: its one keyframe is the first frame, where every seek lands)
    assert seeks == [23, 30, 43, 44]


def test_frame_times_name_frames_only_where_they_are_evenly_spaced():
    """Frame ``i`` is found by its timestamp only where the n-th frame decoded is the one at ``first + n *
    step``: not with a variable frame rate, a dropped frame, two frames at one time or none at all."""
    ms24 = [round(i * 1000 / 24) for i in range(48)]  # Matroska's millisecond timestamps of 24 fps
    times = frame_times(ms24, 40)
    assert times == FrameTimes(0, times.step, 40) and [times.index(p) for p in ms24[:40]] == list(range(40))
    assert times.index(ms24[40]) is None and times.index(20) is None  # past the count; between frames
    b_frames = [0, 3, 1, 2, 4, 7, 5, 6, 8, 11, 9, 10]  # H.264 with B-frames: packets in decode order
    assert frame_times([512 * p for p in b_frames], 8) == FrameTimes(0, 512, 8)
    assert frame_times([512 * p for p in b_frames[:6]], 6) is None  # frame 4's packet not read yet
    assert frame_times([0, 100, 200, 400, 500], 5) is None  # a dropped frame
    assert frame_times([0, 100, 150, 300, 400], 5) is None  # a variable frame rate
    assert frame_times([0, 100, 100, 200], 4) is None
    assert frame_times([0, None, 200], 3) is None
    for start in (0, 5, 11):  # a seek target lies between the frame's timestamp and the next
        target = times.seek_target(start)
        assert ms24[start] <= target < ms24[start + 1]


def test_seeking_is_refused_where_timestamps_do_not_follow_the_frames(tmp_path):
    """AVI stores no presentation times: with B-frames, decoded frames carry their packets' times in
    decode order, which name the wrong frames; pick_frames says so (None) instead of returning them."""
    path = tmp_path / "b.avi"
    write_gop_video(path, 40)
    times = packet_times(path, 40)
    assert times is not None  # the packets' times alone look even
    assert pick_frames(path, range(24, 30), times) is None
