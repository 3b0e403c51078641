"""How a folder dataset's samples are decoded: only as far as a clip can reach, seeking to the keyframe
before the clip where the frames' timestamps name them (not for variable rates, AVI B-frames or GIFs),
the frames an edit list drops, a GIF's rate from its delays; every sample is the one decoded from the
start, bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from conftest import write_video
from streamt2v.io import decoding, frame_seek
from streamt2v.io import video as io_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.data import VideoFolderDataset


def test_long_videos_are_decoded_only_as_far_as_a_clip_can_reach(tmp_path, monkeypatch):
    """Checking a WebM (no frame count in its container) and drawing a stream sample (with an anchor)
    decode only the frames a clip or anchor can come from, not the whole video: a long video at full
    resolution would take seconds and gigabytes per sample."""
    from streamt2v.train import video_probe

    decoded = []

    def counting_decode(path, max_frames=None):
        frames = real_decode(path, max_frames)
        decoded.append(len(frames))
        return frames

    real_decode = video_probe.decode_video
    monkeypatch.setattr(video_probe, "decode_video", counting_decode)
    write_video(tmp_path / "long.webm", 60)
    (tmp_path / "caps.csv").write_text("file,caption\nlong.webm,red\n")
    spec = ClipSpec(num_frames=6, size=16, max_start=4, anchor_frames=8)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec)
    ds.check()
    sample = ds[3]
    assert sample["video"].shape == (3, 6, 16, 16) and sample["anchor"].shape == (3, 16, 16)
    assert decoded and max(decoded) <= 10  # max(max_start + num_frames, anchor_frames)


def record_reads(monkeypatch) -> tuple[list, list]:
    """Lists that record, as the real code runs, each seek's first frame and each decode from the start."""
    from streamt2v.train import data

    seeks, sequential = [], []
    real_seek_run, real_decoded = frame_seek._seek_run, data.DecodedFrames
    monkeypatch.setattr(frame_seek, "_seek_run", lambda *a: seeks.append(a[3]) or real_seek_run(*a))
    monkeypatch.setattr(data, "DecodedFrames", lambda *a, **k: sequential.append(a) or real_decoded(*a, **k))
    return seeks, sequential


def sample_decoded_from_the_start(path, spec: ClipSpec, seed: int, index: int) -> dict:
    """A one-video folder's sample ``index`` as drawn before samples seek: every frame a clip can reach
    decoded from the start, the clip start and anchor drawn from their count."""
    from streamt2v.train.data import to_clip_tensor

    frames = decoding.DecodedFrames(
        path, max_frames=max(spec.max_start + spec.num_frames, spec.anchor_frames)
    )
    total = len(frames)
    rng = np.random.default_rng([seed, index, 0xC11B])
    start = int(rng.integers(0, min(spec.max_start, total - spec.num_frames) + 1))
    clip = np.stack([frames.rgb(i) for i in range(start, start + spec.num_frames)])
    a = int(rng.integers(0, min(spec.anchor_frames, total)))
    return {
        "video": to_clip_tensor(clip, spec.size),
        "anchor": to_clip_tensor(frames.rgb(a)[None], spec.size)[:, 0],
        "start": start,
    }


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mkv", ".mov"])
def test_samples_seek_to_their_clip_and_are_the_samples_decoded_from_the_start(tmp_path, suffix, monkeypatch):
    """With ``max_start`` past a long video's end (clips from all of it), a sample decoded every frame up
    to its clip (up to 100,000 for ``--set max_start=100000``). It now seeks to the keyframe before its
    clip, and is the same sample, bit for bit; a WebM or MKV, whose container does not count its frames,
    draws from all of them too (the check counted its packets)."""
    from test_video_io import write_gop_video

    write_gop_video(tmp_path / f"long{suffix}", 80)
    (tmp_path / "caps.csv").write_text(f"file,caption\nlong{suffix},noise\n")
    spec = ClipSpec(num_frames=6, size=16, max_start=1000, anchor_frames=4)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec, seed=3)
    ds.check()
    seeks, sequential = record_reads(monkeypatch)
    starts = []
    for index in range(16):
        sample, expected = (
            ds[index],
            sample_decoded_from_the_start(tmp_path / f"long{suffix}", spec, 3, index),
        )
        assert torch.equal(sample["video"], expected["video"]) and torch.equal(
            sample["anchor"], expected["anchor"]
        )
        starts.append(expected["start"])
    assert max(starts) > 60  # clips from the whole video, not from its first `need` frames
    assert seeks == [s for s in starts if s > 4 + frame_seek.SEEK_MIN_GAP] and not sequential


def test_samples_decode_from_the_start_where_timestamps_do_not_name_frames(tmp_path, monkeypatch):
    """A variable frame rate (the n-th frame is not at n times a step) and AVI with B-frames (decoded
    frames carry their packets' times in decode order) cannot be sought by timestamp: their samples
    decode from the start, as before, and are the same."""
    from fractions import Fraction

    import av

    from streamt2v.train import data
    from test_video_io import write_gop_video

    with av.open(str(tmp_path / "vfr.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = stream.codec_context.gop_size = 16
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 6 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 100 * i + 50 * (i > 20), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    write_gop_video(tmp_path / "b.avi", 40)
    spec = ClipSpec(num_frames=6, size=16, max_start=1000, anchor_frames=4)
    sequential = []
    real_decoded = data.DecodedFrames
    monkeypatch.setattr(data, "DecodedFrames", lambda *a, **k: sequential.append(a) or real_decoded(*a, **k))
    for name in ("vfr.mp4", "b.avi"):
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        (tmp_path / name).rename(folder / name)
        (folder / "caps.csv").write_text(f"file,caption\n{name},x\n")
        ds = VideoFolderDataset(folder, folder / "caps.csv", spec, seed=1)
        ds.check()
        sequential.clear()
        for index in range(6):
            expected = sample_decoded_from_the_start(folder / name, spec, 1, index)
            assert torch.equal(ds[index]["video"], expected["video"])
            assert torch.equal(ds[index]["anchor"], expected["anchor"])
        assert len(sequential) == 12, name  # each sample (taken twice) decoded from the start


def write_edit_list_mp4(path, frames: int = 60, drop: int = 3, keep: int | None = None) -> None:
    """An mp4 of ``frames`` noise frames (H.264, B-frames, a keyframe every 8) whose edit list starts at
    frame ``drop``, as ``ffmpeg -ss ... -c copy`` writes one (the packets from the keyframe before the
    cut are kept for decoding and dropped from display): the container lists ``frames``, FFmpeg decodes
    ``frames - drop``. With ``keep``, the edit list also ends after ``keep`` frames (its duration
    rewritten in the file), and FFmpeg decodes ``keep``."""
    import struct

    import av

    from test_video_io import write_gop_video

    source = path.with_name("source-" + path.name)
    write_gop_video(source, frames, size=32, gop=8)
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        packets = [p for p in src.demux(src.streams.video[0]) if p.size > 0]
        shift = sorted(p.pts for p in packets)[drop]  # frame `drop` is at time 0: the frames before, < 0
        for packet in packets:
            packet.pts, packet.dts, packet.stream = packet.pts - shift, packet.dts - shift, stream
            out.mux(packet)
    source.unlink()
    if keep is not None:  # the edit's duration, in the movie's time scale (mvhd)
        data = bytearray(path.read_bytes())
        mvhd, elst = data.index(b"mvhd"), data.index(b"elst")
        assert data[mvhd + 4] == 0 and data[elst + 4] == 0  # version 0 boxes: 32-bit fields
        scale = struct.unpack(">I", data[mvhd + 16 : mvhd + 20])[0]
        data[elst + 12 : elst + 16] = struct.pack(">I", keep * scale // 24)
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("keep", [None, 48])
def test_frames_an_edit_list_drops_are_not_counted_by_the_check(tmp_path, keep, monkeypatch):
    """An mp4 cut by an edit list lists 60 frames in its container but FFmpeg decodes 57 (48 where the
    edit also ends early): the check trusted the container, passed a video one frame too short, and the
    run failed at whatever step first drew it. It now counts the packets FFmpeg drops (read, not
    decoded) and names the file, the frames it has and the frames a clip needs."""
    import av

    from streamt2v.train import video_probe

    path = tmp_path / "cut.mp4"
    write_edit_list_mp4(path, keep=keep)
    real = 57 if keep is None else 48
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 60
    assert len(decoding.decode_frames(path)[0]) == real
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\n")
    decoded = []
    real_decode = video_probe.decode_video
    monkeypatch.setattr(
        video_probe,
        "decode_video",
        lambda p, max_frames=None: decoded.append(p) or real_decode(p, max_frames),
    )
    for max_start in (0, 1000):
        spec = ClipSpec(num_frames=real + 1, size=16, max_start=max_start)
        ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec)
        with pytest.raises(
            ValueError,
            match=rf"^every video in {re.escape(repr(str(tmp_path)))} is too short for a {real + 1}-frame clip: take shorter clips "
            rf"\(num_frames={real}, the video's frames\) or add longer videos: video {re.escape(repr(str(path)))} has {real} "
            rf"frames \(its container lists 60; an edit list drops {60 - real}\)$",
        ):
            ds.check()
    assert not decoded  # counted from the packets
    # a clip of every frame it has passes, and the samples are those decoded from the start
    spec = ClipSpec(num_frames=real, size=16, max_start=1000, anchor_frames=4)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec, seed=2)
    ds.check()
    for index in range(2):
        expected = sample_decoded_from_the_start(path, spec, 2, index)
        assert torch.equal(ds[index]["video"], expected["video"])
        assert torch.equal(ds[index]["anchor"], expected["anchor"])


def test_samples_of_a_video_cut_by_an_edit_list_seek_and_are_the_samples_decoded_from_the_start(
    tmp_path, monkeypatch
):
    """The packets an edit list drops carry no frame index: they were read as 'timestamps that name no
    frame', so every sample of such a file (any ``ffmpeg -ss ... -c copy`` cut) decoded from the start.
    Left out of the timestamps, the frames FFmpeg decodes are named by theirs, and samples seek, with the
    same pixels."""

    path = tmp_path / "cut.mp4"
    write_edit_list_mp4(path, frames=120, drop=5)
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\n")
    spec = ClipSpec(num_frames=6, size=16, max_start=1000, anchor_frames=4)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec, seed=5)
    ds.check()
    seeks, sequential = record_reads(monkeypatch)
    starts = []
    for index in range(12):
        expected = sample_decoded_from_the_start(path, spec, 5, index)
        sample = ds[index]
        assert torch.equal(sample["video"], expected["video"]) and torch.equal(
            sample["anchor"], expected["anchor"]
        )
        starts.append(expected["start"])
    assert max(starts) > 100  # from the whole of the 115 frames
    assert seeks == [s for s in starts if s > 4 + frame_seek.SEEK_MIN_GAP] and not sequential


def write_gif(path, kind: str, fps: float, frames: int = 40) -> None:
    """Noise frames (each unlike the others) as a GIF at ``fps``, written as ``kind`` writes it: streamt2v
    (frame k at ``round(k * 100 / fps)`` cs: 8 fps is 13, 12, 13, ... cs), Pillow (one delay for every
    frame, ``duration`` in ms) or FFmpeg's GIF muxer (through PyAV: 30 fps is 3, 4, 3, ... cs)."""
    import av
    from PIL import Image

    video = [np.random.default_rng(i).integers(0, 255, (24, 24, 3), np.uint8) for i in range(frames)]
    if kind == "streamt2v":
        io_video.write_video(path, np.stack(video), fps)
    elif kind == "pillow":
        images = [Image.fromarray(f) for f in video]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    else:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("gif", rate=fps)
            stream.width = stream.height = 24
            stream.pix_fmt = "rgb8"
            for f in video:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


@pytest.mark.parametrize(
    "kind, fps",
    [
        ("streamt2v", 8),
        ("streamt2v", 24),
        ("streamt2v", 30),
        ("ffmpeg", 30),
        ("pillow", 25),
        ("pillow", 25 / 3),
    ],
)
def test_a_gifs_frame_rate_is_that_of_its_delays_as_the_reader_gives_it(tmp_path, kind, fps):
    """A GIF states only its frames' delays, whole centiseconds; FFmpeg's rate for it is a guess from the
    first ones, which the check, its rate warning and the ``assemble --fps`` that ``train`` prints took:
    a GIF written at 8 fps read 8.33 fps, at 24 fps 25, at 30 fps 33.3 (printed as --fps 33). The rate
    is now that of its delays, as ``read_video`` gives it (uniform delays of 12 cs: 8.33 fps)."""
    from streamt2v.train.data import training_frame_rate
    from streamt2v.train.video_probe import frame_rate, probe_video_file

    path = tmp_path / "a.gif"
    write_gif(path, kind, fps)
    (tmp_path / "caps.csv").write_text("file,caption\na.gif,noise\n")
    assert decoding.decode_frames(path)[1] == pytest.approx(fps)
    assert training_frame_rate(tmp_path, tmp_path / "caps.csv") == round(fps)  # before any check
    assert frame_rate(path) == pytest.approx(fps)
    spec = ClipSpec(num_frames=6, size=16)
    VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert probe_video_file(path, 6, 206).fps == decoding.decode_frames(path)[1]


def test_a_gif_and_a_video_of_one_rate_are_not_named_in_the_rate_warning(tmp_path, caplog):
    """An 8 fps GIF written by streamt2v (13, 12, 13, ... cs) beside an 8 fps mp4 was '2 frame rates (8
    fps: 1, 8.33 fps: 1)'."""
    write_video(tmp_path / "a.mp4", 8)
    write_gif(tmp_path / "b.gif", "streamt2v", 8)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.gif,noise\n")
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "frame rate" not in caplog.text


def test_the_frame_rate_a_run_records_is_the_one_its_check_read(tmp_path):
    """A run records its videos' frame rate (``assemble --fps``) once its dataset is made: that built a
    second dataset right after the check, scanning the folder and captions and looking every video up
    again, at every run start. The rate is now the one the dataset's check read: nothing is read again
    (here: the videos are gone by then)."""
    from streamt2v.train.recipes import DataOptions

    videos = tmp_path / "videos"
    videos.mkdir()
    for name, fps in [("a.mp4", 30), ("b.mp4", 24), ("c.mp4", 24)]:
        io_video.write_video(videos / name, torch.zeros(1, 3, 6, 16, 16), fps)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\nc.mp4,red\n")
    opts = DataOptions(str(videos), str(tmp_path / "caps.csv"), size=16)
    ds = opts.make_dataset(ClipSpec(num_frames=6, size=16), seed=0)
    assert ds.frame_rates == pytest.approx({"a.mp4": 30, "b.mp4": 24, "c.mp4": 24})
    assert ds.frame_rate() == 24  # most of them, not the first or the lowest alone
    videos.rename(tmp_path / "moved")
    assert opts.training_frame_rate() == 24
    with pytest.raises(RuntimeError, match="not checked yet: call check"):
        VideoFolderDataset(
            tmp_path / "moved", tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16)
        ).frame_rate()


@pytest.mark.parametrize(
    "kind, fps", [("streamt2v", 8), ("streamt2v", 24), ("streamt2v", 36), ("ffmpeg", 30)]
)
def test_gif_samples_are_picked_by_their_times_and_are_the_samples_decoded_from_the_start(
    tmp_path, kind, fps, monkeypatch
):
    """A GIF's frame times are its delays summed, rounded to centiseconds (36 fps: 0, 3, 6, 8, 11, ...
    cs): its frames are named on its rate's grid, so a sample decodes from the start only as far as its
    clip, not every frame a clip can reach (36 fps: the times' own estimate of their step missed a frame,
    and every sample decoded them all); a GIF is not sought (its one keyframe is its first frame, and
    FFmpeg read the whole file for each seek: slower than decoding from the start). The samples are the
    same, bit for bit."""
    import av

    from test_frame_seek import SeekLog

    path = tmp_path / "long.gif"
    write_gif(path, kind, fps, frames=40)
    (tmp_path / "caps.csv").write_text("file,caption\nlong.gif,noise\n")
    spec = ClipSpec(num_frames=6, size=16, max_start=1000, anchor_frames=4)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec, seed=3)
    ds.check()
    runs, sequential = record_reads(monkeypatch)
    container_seeks: list[list[int]] = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: SeekLog(real_open(*a, **k), container_seeks))
    starts = []
    for index in range(12):
        sample, expected = ds[index], sample_decoded_from_the_start(path, spec, 3, index)
        assert torch.equal(sample["video"], expected["video"]) and torch.equal(
            sample["anchor"], expected["anchor"]
        )
        starts.append(expected["start"])
    assert max(starts) > 25
    assert runs == [s for s in starts if s > 4 + frame_seek.SEEK_MIN_GAP] and not sequential
    assert container_seeks and not any(container_seeks)
