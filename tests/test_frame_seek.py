"""Seeking to frames by their timestamps (io.frame_seek) where a seek lands past the frame it is for: the
retry that seeks earlier, on real files whose seek lands late."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streamt2v.io.frame_seek import frame_times, pick_frames
from streamt2v.io.video import decode_frames


def write_noise_video(path, frames: int, codec: str, options: dict[str, str], size: int = 32) -> None:
    """Noise frames (each unlike the others) encoded with ``codec`` and its ``options``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = options
        for i in range(frames):
            frame = np.random.default_rng(i).integers(0, 255, (size, size, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


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


def pick_every_clip(path, monkeypatch, clip: int = 6) -> tuple[np.ndarray, list[list[int]]]:
    """Frame 0 and each ``clip`` frames from every start, picked by seeking; each checked against a full
    decode. Returns the decoded frames and the seek targets of each pick."""
    full, _ = decode_frames(path)
    with av.open(str(path)) as container:
        stamps = [p.pts for p in container.demux(container.streams.video[0]) if p.size > 0]
    times = frame_times(stamps, len(full))
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
