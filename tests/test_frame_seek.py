"""Seeking to frames by their timestamps (io.frame_seek): frames picked by seeking are the frames decoded from
the start, timestamps name frames only where they are evenly spaced, seeking is refused where they do not
follow the frames, and where a seek lands past the frame it is for, the retry that seeks earlier (on real
files whose seek lands late)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from streamt2v.io.decoding import decode_frames
from streamt2v.io.frame_seek import FrameTimes, frame_times, pick_frames
from test_video_io import write_gop_video, write_noise_video


class SeekLog:
    """A PyAV input container that records the timestamps it is sought to, and is otherwise itself."""

    def __init__(self, container, seeks: list[list[int]]) -> None:
        self._container = container
        self._seeks: list[int] = []
        seeks.append(self._seeks)  # one list per container opened

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def seek(self, offset, *args, **kwargs):
        self._seeks.append(offset)
        return self._container.seek(offset, *args, **kwargs)


def pick_every_clip(path, monkeypatch, clip: int = 6, step=None) -> tuple[np.ndarray, list[list[int]]]:
    """Frame 0 and each ``clip`` frames from every start, picked by seeking; each checked against a full
    decode. Returns the decoded frames and the seek targets of each pick. ``step``: of
    :func:`frame_times`."""
    full, _ = decode_frames(path)
    with av.open(str(path)) as container:
        stamps = [p.pts for p in container.demux(container.streams.video[0]) if p.size > 0]
    times = frame_times(stamps, len(full), step)
    assert times is not None and times.count == len(full)
    seeks: list[list[int]] = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: SeekLog(real_open(*a, **k), seeks))
    for start in range(len(full) - clip + 1):
        want = [0, *range(start, start + clip)]
        picked = pick_frames(path, want, times)
        assert picked is not None, f"frames {start}..{start + clip - 1} of {path.name}: seeking gave up"
        assert sorted(picked) == sorted(set(want))
        for i in want:
            assert np.array_equal(picked[i], full[i]), (start, i)
    return full, seeks


OPEN_GOP = {"g": "8", "keyint_min": "8", "sc_threshold": "0", "bf": "3", "x264-params": "open-gop=1"}


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_seek_that_lands_past_its_frame_seeks_earlier_and_gives_the_frames_decoded_from_the_start(
    tmp_path, suffix, monkeypatch
):
    """H.264 with open GOPs (x264 ``open-gop``, common in broadcast and camera files): the B-frames shown
    just before a keyframe are stored after it. The mp4 index searches decode times, so a seek for one of
    those B-frames lands on the keyframe after it (the first keyframe decoded is past the frame wanted);
    the seek is then retried from before that keyframe's packet, which finds the keyframe before. The
    frames are the same as a full decode's, and without the retry every such clip gave up seeking (the
    sample decoded its video from the start)."""
    path = tmp_path / f"open-gop{suffix}"
    write_noise_video(path, 60, "libx264", OPEN_GOP)
    with av.open(str(path)) as container:
        keys = [p.pts for p in container.demux(container.streams.video[0]) if p.is_keyframe]
    assert len(keys) == 8  # one every 8 frames
    _, seeks = pick_every_clip(path, monkeypatch)
    retried = [s for s in seeks if len(s) > 1]
    assert retried and all(len(s) == 2 for s in retried)  # one retry finds the keyframe before
    assert all(s[1] < s[0] for s in retried)


def test_a_video_without_an_index_is_sought_back_a_whole_keyframe_interval(tmp_path, monkeypatch):
    """MPEG-TS has no index: FFmpeg seeks by a search of packet times, to the packet at the time sought,
    which is seldom a keyframe; the frames up to the next keyframe are skipped, and that keyframe lies
    past the frame wanted. Each retry stepped back by one packet, four times, so in a video with a
    keyframe every 32 frames nearly every clip gave up seeking (and decoded the video from its start);
    the retries now step back twice as far each time, and find the keyframe before."""
    path = tmp_path / "gop32.ts"
    write_noise_video(path, 120, "libx264", {"g": "32", "keyint_min": "32", "sc_threshold": "0", "bf": "3"})
    _, seeks = pick_every_clip(path, monkeypatch)
    assert 1 < max(len(s) for s in seeks) <= 7  # landed late, then found the keyframe before


def write_gif(path, frames: int, fps: float, size: int = 24) -> None:
    """Noise frames (each unlike the others) written by the project's GIF writer at ``fps``: frame ``k``
    at ``round(k * 100 / fps)`` cs."""
    from streamt2v.io.video import write_video

    video = np.stack(
        [np.random.default_rng(i).integers(0, 255, (size, size, 3), np.uint8) for i in range(frames)]
    )
    write_video(path, video, fps)


def write_moving_gif(path, frames: int, durations_ms: list[int]) -> None:
    """A square moving over a still noise background, saved by Pillow with its optimisation: after the first,
    each frame is only the box that changed, drawn over the frame before (transparent elsewhere)."""
    from PIL import Image

    images = []
    for i in range(frames):
        frame = np.random.default_rng(0).integers(0, 4, (40, 48, 3), dtype=np.uint8) * 60  # 64 colours
        x, y = (3 * i) % 40, (5 * i) % 32
        frame[y : y + 8, x : x + 8] = (250, 30, 30)
        images.append(Image.fromarray(frame))
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations_ms, loop=0)


@pytest.mark.parametrize("fps", [8, 24, 30, 36])
def test_a_gifs_frames_are_named_on_the_grid_of_its_rate_and_decoded_on_instead_of_sought(
    tmp_path, fps, monkeypatch
):
    """A GIF's frame times are whole centiseconds: frame k of one written at ``fps`` starts at
    ``round(k * 100 / fps)`` cs (36 fps: 0, 3, 6, 8, 11, ... cs), within half a centisecond of the rate's
    grid, which names every frame; a step estimated from the first and last frame's rounded times can
    be off by a centisecond, too far for a fast GIF (36 fps, 40 frames: None, so its samples decoded from
    the start). Picked by those times, the frames are a full decode's; and a GIF is not sought (its one
    keyframe is its first frame, and FFmpeg reads the whole file for each seek): a run further on is
    decoded on from the frames before it."""
    path = tmp_path / f"{fps}.gif"
    write_gif(path, 40, fps)
    with av.open(str(path)) as container:
        stamps = [p.pts for p in container.demux(container.streams.video[0]) if p.size > 0]
    assert stamps == [int(k * 100 / fps + 0.5) for k in range(40)]
    step = Fraction(100, fps)  # the time base is 1/100 s
    assert frame_times(stamps, 40, step) == FrameTimes(0, step, 40)
    if fps == 36:
        assert frame_times(stamps, 40) is None  # the estimate's grid misses a frame
    _, seeks = pick_every_clip(path, monkeypatch, step=step)
    assert seeks and not any(seeks)  # no container seek


def test_a_gif_of_partial_frames_is_picked_as_a_full_decode_gives_it(tmp_path, monkeypatch):
    """Each frame of an optimised GIF is drawn over the one before: a frame picked far in is the frame a
    full decode gives, from a GIF with FFmpeg's 30 fps delays (3, 4, 3 cs)."""
    path = tmp_path / "moving.gif"
    delays = [10 * (int((k + 1) * 100 / 30 + 0.5) - int(k * 100 / 30 + 0.5)) for k in range(60)]
    assert delays[:3] == [30, 40, 30]
    write_moving_gif(path, 60, delays)
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size > 0]
    assert max(p.size for p in packets[1:]) < packets[0].size / 3  # partial frames
    _, seeks = pick_every_clip(path, monkeypatch, step=Fraction(10, 3))
    assert seeks and not any(seeks)


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
