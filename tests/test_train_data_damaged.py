"""Videos a folder dataset (``train/data.py``) cannot give a clip of: cut short (at the end, or between
frames), damaged inside their frames, changed after the check, too short: refused before training, every
bad one named in one error with the captions to delete with it, or named at the sample that meets it with
what to do. The rest of the folder dataset: ``test_train_data.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import write_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.data import VideoFolderDataset


def write_cut_short_mp4(path, frames: int = 60, keep: float = 0.4) -> None:
    """An mp4 whose index is at the start (``faststart``, as web and streaming tools write it), cut after
    ``keep`` of its bytes (an interrupted copy or download): its container still lists every frame."""
    import av

    full = path.with_name("full-" + path.name)
    with av.open(str(full), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 48
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "4"}
        for i in range(frames):
            frame = np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_video_cut_short_is_refused_before_training(tmp_path):
    """A faststart mp4 cut short lists 60 frames in its index but holds about 24: the check trusted the
    index, and the run failed at whatever step first drew the file (hours in, on a large folder)."""
    write_video(tmp_path / "a.mp4", 20)
    write_cut_short_mp4(tmp_path / "cut.mp4")
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\ncut.mp4,noise\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16))
    with pytest.raises(
        ValueError,
        match=r"cannot read video '.*cut.mp4': Invalid data found when processing input "
        r"\(its container lists 60 frames, the file holds \d+: cut short\?\); move it out of the folder "
        r"and delete its caption \(line 3 of '.*caps.csv'\)$",
    ):
        ds.check()
    with pytest.raises(ValueError, match="cannot read video .*cut.mp4"):
        ds[0] if ds.files[0] == "cut.mp4" else ds[1]  # what the run met at its first draw of the file
    # clips from its first 16 frames only (max_start 0) decode: the file is usable then
    short = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16, max_start=0))
    short.check()
    assert {short[i]["video"].shape for i in range(2)} == {(3, 16, 16, 16)}


def test_every_bad_video_is_named_in_one_error(tmp_path):
    """A folder of downloads with several broken files: one error names them all (the check stopped at
    the first, so each was found by another start of the run)."""
    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "short one.mp4", 3)
    write_video(tmp_path / "short two.mp4", 5)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    names = ["a.mp4", "short one.mp4", "short two.mp4", "bad.mp4"]
    (tmp_path / "caps.csv").write_text("file,caption\n" + "".join(f"{n},x\n" for n in names))
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16))
    with pytest.raises(ValueError) as err:
        ds.check()
    message = str(err.value)
    assert message.startswith(f"3 of 4 videos in {str(tmp_path)!r} cannot give a 6-frame clip")
    assert "short one.mp4' has 3 frames" in message and "short two.mp4' has 5 frames" in message
    assert (
        "cannot read video '" in message and "bad.mp4': Invalid data found when processing input" in message
    )
    assert "Errno" not in message and "\n" not in message


def test_the_error_naming_videos_that_cannot_give_a_clip_says_to_delete_their_captions_too(tmp_path):
    """It said "move them out of the folder" (one video: nothing): done alone, the next start stopped at their
    captions, now naming files not in the folder. It names the captions' lines to delete as well."""
    write_video(tmp_path / "a.mp4", 8)
    write_video(tmp_path / "short.mp4", 3)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    caps = tmp_path / "caps.csv"
    caps.write_text("file,caption\na.mp4,red\nbad.mp4,blue\nshort.mp4,green\n")
    spec = ClipSpec(num_frames=6, size=16)
    with pytest.raises(ValueError) as err:
        VideoFolderDataset(tmp_path, caps, spec).check()
    assert "(move them out of the folder and delete their captions: line 3, line 4 of " in str(err.value)
    (tmp_path / "bad.mp4").unlink()
    caps.write_text("file,caption\na.mp4,red\nshort.mp4,green\n")
    with pytest.raises(ValueError) as err:
        VideoFolderDataset(tmp_path, caps, spec).check()
    assert str(err.value) == (
        f"video {str(tmp_path / 'short.mp4')!r} has 3 frames; a clip needs 6; move it out of the folder and delete "
        f"its caption (line 3 of {str(caps)!r})"
    )
    (tmp_path / "short.mp4").unlink()  # as it says
    caps.write_text("file,caption\na.mp4,red\n")
    VideoFolderDataset(tmp_path, caps, spec).check()


def _write_video_damaged_inside_its_frames(path: Path) -> None:
    """24 frames of noise whose frame data is damaged a third of the way in, the container whole."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for _ in range(24):
            image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 3000):
        data[k] = (data[k] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def test_a_video_whose_frames_are_damaged_is_named_at_its_sample_with_what_to_do(tmp_path):
    """The check reads packets, not frames: a file damaged inside its frame data (not cut short) passes it
    and fails at its first sample. That error said only 'cannot read video', mid-run; it now says why the
    check let it through and what to do (the same sample would fail again on a plain resume)."""
    _write_video_damaged_inside_its_frames(tmp_path / "a.mp4")
    (tmp_path / "caps.csv").write_text("file,caption\n\na.mp4,noise\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16, max_start=8))
    ds.check()
    # moved out but still captioned, a resume stopped at "caps.csv names file(s) not in ...": say both
    with pytest.raises(
        ValueError,
        match=r"^cannot read video '.*a.mp4': .* \(sample 0; the check before the first step reads packets, "
        r"not frames: move the video out of the folder and delete its caption line \(line 3 of "
        r".*caps.csv'\), then resume=True\)$",
    ) as err:
        ds[0]
    assert str(err.value.as_flags()).endswith("caps.csv'), then --resume)")  # the command line's flag


def test_a_damaged_video_met_in_a_data_worker_names_the_flag_on_the_command_line(tmp_path, capsys):
    """torch raises a worker's error again from its text alone: with --num-workers the command line told
    the user 'then resume=True', the Python spelling, where without workers it says --resume."""
    from streamt2v.cli import main

    _write_video_damaged_inside_its_frames(tmp_path / "a.mp4")
    (tmp_path / "caps.csv").write_text("file,caption\n\na.mp4,noise\n")
    argv = ["train", "vae", "--data", str(tmp_path), "--captions", str(tmp_path / "caps.csv"), "--size", "16"]
    argv += ["--steps", "2", "--batch-size", "1", "--cpu", "--no-progress", "--out", str(tmp_path / "run")]
    assert main([*argv, "--num-workers", "1"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: cannot read video ") and last.endswith("caps.csv'), then --resume)"), last


def test_a_video_whose_frame_size_changes_past_the_check_is_named_with_what_to_do(tmp_path):
    """Frames that change size (two MPEG-TS streams joined) are an error of the decoded frames, with no
    FFmpeg error beneath it: it keeps the advice, as the check does not decode that far."""
    import av

    parts = []
    for size, frames in ((32, 4), (16, 12)):
        with av.open(str(tmp_path / "part.ts"), "w") as container:
            stream = container.add_stream("libx264", rate=8)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            for i in range(frames):
                image = np.full((size, size, 3), i * 20, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        parts.append((tmp_path / "part.ts").read_bytes())
    (tmp_path / "part.ts").unlink()
    (tmp_path / "a.ts").write_bytes(b"".join(parts))
    (tmp_path / "caps.csv").write_text("file,caption\na.ts,grey\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16, max_start=12))
    ds.check()
    with pytest.raises(
        ValueError,
        match=r"^video '.*a.ts' changes frame size mid-stream: \(32, 32\) to \(16, 16\) at frame \d+ \(sample 1; "
        r"the check .* reads packets, not frames: move the video out of the folder and delete its caption "
        r"line \(line 2 of '.*caps.csv'\), then resume=True\)$",
    ):
        ds[1]


def test_a_video_replaced_after_the_check_is_not_called_damaged(tmp_path):
    """A video replaced by a shorter one after the check fails at its sample saying it is too short; the
    advice for damaged frames ('the check reads packets, not frames') was added to every error there."""
    write_video(tmp_path / "a.mp4", 24)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16, max_start=8))
    ds.check()
    write_video(tmp_path / "a.mp4", 4)
    with pytest.raises(ValueError, match=r"^video '.*a.mp4' has 4 frames; a clip needs 16$"):
        ds[0]


def write_mp4_cut_between_frames(path, frames: int = 16, keep: int = 13) -> None:
    """A faststart mp4 of ``frames`` cut where the packet of frame ``keep`` begins (a copy or download
    interrupted there): every frame it holds decodes, and its index still lists ``frames``."""
    import av

    write_cut_short_mp4(path, frames=frames, keep=1.0)
    with av.open(str(path)) as container:
        starts = [p.pos for p in container.demux(container.streams.video[0]) if p.size]
    path.write_bytes(path.read_bytes()[: starts[keep]])


def test_a_video_cut_short_between_frames_is_called_cut_short_not_simply_short(tmp_path):
    """An mp4 cut between two frames decodes to fewer frames without an error: the check said only 'video X
    has 13 frames; a clip needs 16', as of a video simply too short, not that the file is cut short."""
    write_mp4_cut_between_frames(tmp_path / "cut.mp4")
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16))
    with pytest.raises(ValueError) as err:
        ds.check()
    assert str(err.value) == (
        f"video {str(tmp_path / 'cut.mp4')!r} has 13 frames; a clip needs 16; its container lists 16 frames, the "
        "file holds 13: it was cut short (an unfinished copy, download or recording); move it out of the "
        f"folder and delete its caption (line 2 of {str(tmp_path / 'caps.csv')!r})"
    )
    write_video(tmp_path / "short.mp4", 13)
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\nshort.mp4,red\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16))
    with pytest.raises(ValueError) as err:
        ds.check()
    assert str(err.value).endswith(  # in the list of several too; a video simply short has no such clause
        f"video {str(tmp_path / 'cut.mp4')!r} has 13 frames; its container lists 16 frames, the file holds 13: "
        "it was cut short (an unfinished copy, download or recording); video "
        f"{str(tmp_path / 'short.mp4')!r} has 13 frames"
    )
