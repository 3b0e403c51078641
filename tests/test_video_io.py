"""io/video.py: uint8 <-> [-1, 1], mp4/gif/png round trips, the streaming writer's preview and atomicity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamt2v.io.frame_seek import FrameTimes, frame_times, pick_frames
from streamt2v.io.output_paths import check_output_path
from streamt2v.io.streaming_writer import StreamingVideoWriter, remove_stale_temporaries
from streamt2v.io.video import (
    DecodedFrames,
    check_fps,
    decode_frames,
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


@pytest.mark.parametrize(
    "suffix,tol",
    [
        (".mp4", 0.06),
        (".mov", 0.06),
        (".mkv", 0.06),
        (".avi", 0.06),
        (".webm", 0.06),
        (".gif", 0.2),
        ("", 1 / 127.5),
    ],
)
def test_write_read_round_trip(tmp_path, suffix, tol):
    v = smooth_video()
    out = write_video(tmp_path / f"v{suffix}", v, fps=8)
    r, fps = read_video(out)
    assert r.shape == v.shape
    assert (r - v).abs().mean() < tol
    if suffix != "":
        assert fps == pytest.approx(8.0)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary files left


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_write_uint8_frames_equals_writing_the_float_video(tmp_path, suffix):
    v = smooth_video()
    a = write_video(tmp_path / f"a{suffix}", v, fps=8)
    b = write_video(tmp_path / f"b{suffix}", to_uint8_frames(v), fps=8)
    np.testing.assert_array_equal(to_uint8_frames(read_video(a)[0]), to_uint8_frames(read_video(b)[0]))
    with pytest.raises(
        ValueError, match="expected uint8 frames \\(T, H, W, 3\\), got float32 of shape \\(6, 32, 48, 3\\)"
    ):
        write_video(tmp_path / "c.mp4", to_uint8_frames(v).astype(np.float32), fps=8)


def test_read_max_frames_and_errors(tmp_path):
    out = write_video(tmp_path / "v.mp4", smooth_video(t=6), fps=8)
    assert read_video(out, max_frames=4)[0].shape[2] == 4
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="bad.mp4") as err:
        read_video(bad)
    # FFmpeg's words once, without its errno and a second copy of the name
    assert str(err.value) == (
        f"cannot read video {str(bad)!r}: Invalid data found when processing input; it holds text, not video"
    )
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.mp4.: the file is empty \(0 bytes\)"):
        read_video(empty)
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "v.xyz", smooth_video(), fps=8)
    with pytest.raises(TypeError, match=r"uint8 numpy array \(T, H, W, 3\); got a list$"):
        write_video(tmp_path / "list.mp4", [smooth_video()], fps=8)  # was AttributeError: no attribute 'dim'
    with pytest.raises(ValueError, match=r"'.*out\.': the name ends with a dot; add a suffix"):
        write_video(tmp_path / "out.", smooth_video(), fps=8)  # was a folder of PNG frames named 'out.'
    assert not (tmp_path / "out.").exists()
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


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif", ""])
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


# ----------------------------------------------------------------------------- nothing the user made is lost
def test_existing_folder_with_user_files_is_never_replaced(tmp_path, monkeypatch):
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("x")
    with pytest.raises(FileExistsError, match=r"mydocs.*thesis\.txt"):
        write_video(docs, smooth_video(t=2), fps=8)
    with pytest.raises(FileExistsError, match="thesis.txt"):
        StreamingVideoWriter(docs, fps=8)
    assert (docs / "thesis.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydocs"]
    # an earlier PNG output is replaced (with overwrite), also when it is the preview folder
    frames = tmp_path / "frames"
    write_video(frames, smooth_video(t=3), fps=8)
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_output_path(frames)
    write_video(frames, smooth_video(t=2), fps=8, overwrite=True)
    assert len(list(frames.iterdir())) == 2
    # a user file that appears in the frames folder before the end stops the replacement
    w = StreamingVideoWriter(frames, fps=8, overwrite=True)
    w.append(smooth_video(t=2))
    (frames / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        w.finish()
    w.abort()
    assert (frames / "notes.txt").read_text() == "mine"
    # the working directory and its parents are never output folders
    monkeypatch.chdir(docs)
    for target in (".", "..", str(tmp_path)):
        with pytest.raises(ValueError, match="working directory"):
            check_output_path(target, overwrite=True)
        with pytest.raises(ValueError, match="working directory"):
            write_video(target, smooth_video(t=2), fps=8, overwrite=True)
    assert (docs / "thesis.txt").read_text() == "x"


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    """write_video replaced an existing file by default (overwrite=True), whatever it was: a user's video
    given the output's name was lost without a word. It is kept unless overwrite=True is passed, and the
    error names the path and the keyword; an earlier PNG output likewise."""
    import re

    def refused(path, what):
        return rf"^output '{re.escape(str(path))}' is an existing {what}; pass overwrite=True to replace it"

    files = {tmp_path / "mine.mp4": b"the user's video", tmp_path / "mine.gif": b"GIF89a the user's"}
    for path, data in files.items():
        path.write_bytes(data)
        with pytest.raises(
            FileExistsError, match=refused(path, "file") + r" \(--overwrite on the command line\)$"
        ):
            write_video(path, smooth_video(t=2), fps=8)
        assert path.read_bytes() == data
    frames = write_video(tmp_path / "frames", smooth_video(t=3), fps=8)
    with pytest.raises(
        FileExistsError, match=refused(frames, "folder holding the frames of an earlier output")
    ):
        write_video(frames, smooth_video(t=2), fps=8)
    assert len(list(frames.iterdir())) == 3
    # nothing was left beside them (no temporary, no lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "mine.gif", "mine.mp4"]
    for path in [*files, frames]:
        assert write_video(path, smooth_video(t=2), fps=8, overwrite=True) == path
        assert read_video(path)[0].shape[2] == 2
    empty = tmp_path / "empty"  # an empty folder holds nothing to lose
    empty.mkdir()
    write_video(empty, smooth_video(t=2), fps=8)
    assert len(list(empty.iterdir())) == 2


def test_the_streaming_writer_keeps_an_existing_output_unless_overwrite(tmp_path):
    """StreamingVideoWriter replaced an existing file by default (overwrite=True), unlike write_video: a
    user's video given the output's name, or at its preview path, was lost without a word. Without
    overwrite=True it is refused before anything is written, in write_video's words, and kept byte for byte;
    a folder where a file output's preview goes is refused up front (it failed after the first chunk)."""
    import re

    def refused(named, what):
        return (
            rf"^{named} is an existing {what}; pass overwrite=True to replace it "
            r"\(--overwrite on the command line\)$"
        )

    def output(path):
        return f"output '{re.escape(str(path))}'"

    mine = {tmp_path / "mine.mp4": b"the user's video", tmp_path / "mine.gif": b"GIF89a the user's"}
    for path, data in mine.items():
        path.write_bytes(data)
        with pytest.raises(FileExistsError, match=refused(output(path), "file")):
            StreamingVideoWriter(path, fps=8)
        assert path.read_bytes() == data
    preview = tmp_path / "clip.partial.mp4"  # a stopped writer's preview, or the user's file of that name
    preview.write_bytes(b"the user's clip")
    named = rf"preview '{re.escape(str(preview))}' of output '{re.escape(str(tmp_path / 'clip.mp4'))}'"
    with pytest.raises(FileExistsError, match=refused(named, "file")):
        StreamingVideoWriter(tmp_path / "clip.mp4", fps=8)
    assert preview.read_bytes() == b"the user's clip"
    frames = write_video(tmp_path / "frames", smooth_video(t=3), fps=8)
    with pytest.raises(
        FileExistsError, match=refused(output(frames), "folder holding the frames of an earlier output")
    ):
        StreamingVideoWriter(frames, fps=8)
    assert len(list(frames.iterdir())) == 3
    (tmp_path / "dir.partial.mp4").mkdir()
    with pytest.raises(IsADirectoryError, match=r"dir\.partial\.mp4' of output .*dir\.mp4' is a folder"):
        StreamingVideoWriter(tmp_path / "dir.mp4", fps=8, overwrite=True)
    # nothing was left beside them (no segments, no lock)
    names = ["clip.partial.mp4", "dir.partial.mp4", "frames", "mine.gif", "mine.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for path in [*mine, tmp_path / "clip.mp4", frames]:
        with StreamingVideoWriter(path, fps=8, overwrite=True) as w:
            w.append(smooth_video(t=2))
        assert read_video(path)[0].shape[2] == 2
    assert not preview.exists()  # renamed to clip.mp4
    empty = tmp_path / "empty"  # an empty folder holds nothing to lose
    empty.mkdir()
    with StreamingVideoWriter(empty, fps=8) as w:
        w.append(smooth_video(t=2))
    assert len(list(empty.iterdir())) == 2


def test_check_output_path_refuses_existing_files_and_bad_parents(tmp_path):
    out = write_video(tmp_path / "out.mp4", smooth_video(t=2), fps=8)
    with pytest.raises(FileExistsError, match=r"out\.mp4.*--overwrite"):
        check_output_path(out)
    with pytest.raises(FileExistsError, match="out.mp4"):
        StreamingVideoWriter(out, fps=8, overwrite=False)
    assert check_output_path(out, overwrite=True) == out
    with pytest.raises(NotADirectoryError, match=r"out\.mp4/x\.mp4.*is a file"):
        check_output_path(out / "x.mp4")
    with pytest.raises(ValueError, match="suffix"):
        check_output_path(tmp_path / "e.txt")
    (tmp_path / "d.mp4").mkdir()
    with pytest.raises(IsADirectoryError, match="d.mp4"):
        check_output_path(tmp_path / "d.mp4", overwrite=True)
    assert check_output_path(tmp_path / "new" / "sub" / "v.gif") == tmp_path / "new" / "sub" / "v.gif"
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("fps", [0, -1, float("inf"), float("nan"), 1e-9, 1e9])
def test_fps_must_be_finite_and_sane(tmp_path, fps):
    with pytest.raises(ValueError, match="fps"):
        check_fps(fps)
    with pytest.raises(ValueError, match="fps"):
        StreamingVideoWriter(tmp_path / "o.mp4", fps=fps)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- remuxing short segments
@pytest.mark.parametrize(
    "sizes", [(2, 8), (16, 2, 8), (8, 2, 8), (1, 8), (3, 8), (16, 2), (2, 2), (1, 1, 3, 2, 8)]
)
def test_streaming_writer_mixes_short_and_long_segments(tmp_path, sizes):
    """x264 gives segments of 1-2 frames no B-frame delay and longer ones a 2-frame delay: the remux must
    still give increasing dts, and every frame exactly as its own segment decodes."""
    import av

    v = torch.rand(1, 3, sum(sizes), 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    starts = np.cumsum((0,) + sizes)
    with StreamingVideoWriter(tmp_path / "o.mp4", fps=8) as w:
        for a, b in zip(starts, starts[1:]):
            w.append(v[:, :, a:b])
    got, fps = read_video(tmp_path / "o.mp4")
    assert got.shape[2] == sum(sizes) and fps == pytest.approx(8.0)
    expected = torch.cat(
        [
            read_video(write_video(tmp_path / f"s{i}.mp4", v[:, :, a:b], fps=8))[0]
            for i, (a, b) in enumerate(zip(starts, starts[1:]))
        ],
        dim=2,
    )
    assert torch.equal(got, expected)
    with av.open(str(tmp_path / "o.mp4")) as c:
        stamps = [(p.pts, p.dts) for p in c.demux(c.streams.video[0]) if p.dts is not None]
    dts = [d for _, d in stamps]
    assert all(d1 > d0 for d0, d1 in zip(dts, dts[1:])) and all(d <= p for p, d in stamps)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi", ".webm"])
def test_streaming_writer_output_is_a_pure_function_of_the_frames(tmp_path, suffix):
    """Every container: all frames decodable after the segment remux (Matroska/WebM keep no dts), and the
    same frames give the same bytes (no random segment UID or date), so a resumed run's file is identical."""
    v = torch.rand(1, 3, 27, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    outputs = []
    for k in range(2):
        with StreamingVideoWriter(tmp_path / f"o{k}{suffix}", fps=8) as w:
            for a, b in ((0, 16), (16, 24), (24, 26), (26, 27)):
                w.append(v[:, :, a:b])
        outputs.append(w.path)
    assert read_video(outputs[0])[0].shape[2] == 27
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


# ----------------------------------------------------------------------------- temporary files
def test_gif_writer_interrupted_while_encoding_leaves_no_temp_file(tmp_path, monkeypatch):
    import streamt2v.io.streaming_writer as streaming_writer

    def interrupted(path, frames, fps):
        path.write_bytes(b"")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), StreamingVideoWriter(tmp_path / "x.gif", fps=8) as w:
        w.append(smooth_video(t=2))
        monkeypatch.setattr(streaming_writer, "encode_gif", interrupted)
        w.append(smooth_video(t=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.partial.gif"]


def test_remove_stale_temporaries(tmp_path):
    seg = tmp_path / ".x.mp4.segments-abc"
    seg.mkdir()
    (seg / "seg_000000.mp4").write_bytes(b"1")
    (tmp_path / ".x.partial.tmp-123.mp4").write_bytes(b"")
    (tmp_path / ".x.tmp-9.mp4").write_bytes(b"")
    keep = [tmp_path / "x.partial.mp4", tmp_path / ".y.tmp-1.mp4", tmp_path / ".x.mp4.segments-mine"]
    keep[0].write_bytes(b"p")
    keep[1].write_bytes(b"")
    keep[2].mkdir()
    (keep[2] / "notes.txt").write_text("mine")
    removed = remove_stale_temporaries(tmp_path / "x.mp4")
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in keep)


def test_png_folder_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = write_video(tmp_path / "frames", smooth_video(t=2), fps=8)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # not mkdtemp's 0700


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_one_writer_per_output(tmp_path, name):
    """A second writer of an output being written is refused before it touches anything; the first one's
    preview and result are intact; a lock file a killed writer left is free again."""
    from streamt2v.io.output_paths import OutputInUseError, output_lock_path, preview_path_for

    out = tmp_path / name
    first = StreamingVideoWriter(out, fps=8)
    first.append(smooth_video(t=3))
    preview_before = sorted(p.name for p in preview_path_for(out).iterdir()) if name == "frames" else None
    with pytest.raises(OutputInUseError, match=rf"'{out}' is being written by another process \(pid \d+\)"):
        StreamingVideoWriter(out, fps=8)
    with pytest.raises(OutputInUseError, match="another process"):
        check_output_path(out)
    with pytest.raises(OutputInUseError, match="another process"):
        write_video(out, smooth_video(t=2), fps=8)
    with pytest.raises(OutputInUseError, match="another process"):
        remove_stale_temporaries(out)  # the live writer's segments are not stale
    if preview_before is not None:
        assert sorted(p.name for p in preview_path_for(out).iterdir()) == preview_before
    first.append(smooth_video(t=2, seed=1))
    first.finish()
    assert read_video(out)[0].shape[2] == 5
    assert not output_lock_path(out).exists()
    # a lock file left by a writer that was killed (no process holds it) does not stop the next one
    output_lock_path(out).write_text("12345\n")
    check_output_path(out, overwrite=True)
    write_video(out, smooth_video(t=2), fps=8, overwrite=True)
    assert read_video(out)[0].shape[2] == 2
    assert not output_lock_path(out).exists()


def test_outputs_held_through_slow_work_are_written_with_their_lock(tmp_path):
    """``outputs_locked`` keeps other writers off outputs (their folders made) until the block ends; the
    holder writes them with ``held_lock`` and the lock files are gone afterwards."""
    from streamt2v.io.output_paths import OutputInUseError, output_lock_path, outputs_locked

    out, gif = tmp_path / "out.mp4", tmp_path / "new" / "out.gif"
    with outputs_locked([out, gif]) as (out_lock, gif_lock):
        for path in (out, gif):
            with pytest.raises(OutputInUseError, match=rf"'{path}' is being written by another process"):
                check_output_path(path, overwrite=True)
            with pytest.raises(OutputInUseError, match="another process"):
                StreamingVideoWriter(path, fps=8)
        with pytest.raises(ValueError, match=r"held_lock .* is not the lock of .*out\.gif"):
            write_video(gif, smooth_video(t=2), fps=8, held_lock=out_lock)
        write_video(out, smooth_video(t=2), fps=8, held_lock=out_lock)
        write_video(gif, smooth_video(t=3), fps=8, held_lock=gif_lock)
        with pytest.raises(OutputInUseError, match="another process"):  # still held after the write
            check_output_path(out, overwrite=True)
    assert read_video(out)[0].shape[2] == 2 and read_video(gif)[0].shape[2] == 3
    assert not output_lock_path(out).exists() and not output_lock_path(gif).exists()
    check_output_path(out, overwrite=True)


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_output_names_must_leave_room_for_the_names_beside_them(tmp_path, suffix):
    """The longest name the writers can handle works end to end (preview, temporaries, lock); one byte more
    is refused before any work, naming the limit."""
    from streamt2v.io.output_paths import DERIVED_NAME_EXTRA

    limit = 255 - DERIVED_NAME_EXTRA
    longest = tmp_path / ("v" * (limit - len(suffix)) + suffix)
    with StreamingVideoWriter(longest, fps=8) as w:
        w.append(smooth_video(t=2))
        w.append(smooth_video(t=1))
    assert read_video(longest)[0].shape[2] == 3
    write_video(longest, smooth_video(t=2), fps=8, overwrite=True)
    too_long = tmp_path / ("v" * (limit + 1 - len(suffix)) + suffix)
    with pytest.raises(ValueError, match=rf"is {limit + 1} bytes long.*use at most {limit}"):
        check_output_path(too_long)
    with pytest.raises(ValueError, match="bytes long"):
        StreamingVideoWriter(too_long, fps=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_videos_are_read_upright_as_their_display_matrix_says(tmp_path, degrees):
    """Phones store portrait video sideways with a display rotation; it was read sideways (training data,
    --init-video, evaluate)."""
    import av

    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :8] = (255, 0, 0)  # red on the left of the stored picture
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.set_display_rotation(degrees)  # counter-clockwise, as players apply it
        for _ in range(2):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = to_uint8_frames(read_video(path)[0])
    assert frames.shape == ((2, 16, 32, 3) if degrees == 180 else (2, 32, 16, 3))
    # frames converted one by one, as training samples take them, are the same frames
    lazy = DecodedFrames(path, max_frames=5)
    assert len(lazy) == 2 and all(np.array_equal(lazy.rgb(i), frames[i]) for i in range(2))
    red = frames[0, ..., 0] > 128
    where = {90: red[-8:].all() and not red[:-8].any(), -90: red[:8].all() and not red[8:].any()}
    where[180] = red[:, -8:].all() and not red[:, :-8].any()
    assert where[degrees]  # the left of the stored picture turned with it: bottom, top, right


def test_image_folders_in_number_order_of_one_size_and_16_bit_images(tmp_path):
    """Unpadded frame names (f2 before f10) were read in text order, shuffling the video; frames of
    different sizes failed without naming the folder; 16-bit greyscale images were read as white."""
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(folder / f"f{i}.png")
    levels = to_uint8_frames(read_video(folder)[0])[:, 0, 0, 0]
    assert levels.tolist() == [i * 20 for i in range(12)]
    Image.fromarray(np.zeros((10, 8, 3), np.uint8)).save(folder / "f12.png")
    with pytest.raises(
        ValueError, match=r"frames in folder .*frames' differ in size: f0.png is 8x8, but 'f12.png' is 8x10$"
    ):
        read_video(folder)
    grey = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 30000, np.uint16)).save(grey)
    assert Image.open(grey).mode.startswith("I")
    assert to_uint8_frames(read_image(grey)[:, :, None]).ravel().tolist() == [round(30000 / 257)] * 48


def test_a_variable_frame_rate_is_warned_about_where_timing_is_kept(tmp_path, caplog):
    """A phone's VFR video was enhanced and written at its average rate without a word."""
    import logging

    write_timed(tmp_path / "vfr.mp4", [100, 100, 200, 50, 100, 100])
    write_timed(tmp_path / "cfr.mp4", [100] * 6)
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.video"):
        assert read_video(tmp_path / "vfr.mp4")[0].shape[2] == 7
        assert not caplog.records  # off by default: generate --init-video and training ignore timing
        read_video(tmp_path / "cfr.mp4", warn_variable_rate=True)
        assert not caplog.records
        read_video(tmp_path / "vfr.mp4", warn_variable_rate=True)
    (record,) = caplog.records
    assert "vfr.mp4' has a variable frame rate (frames 50-200 ms apart)" in record.getMessage()


def gif_delays_cs(path) -> list[int]:
    """The delays of a GIF's frames as the file stores them (centiseconds), one per frame."""
    from PIL import Image

    with Image.open(path) as im:
        delays = []
        for i in range(im.n_frames):
            im.seek(i)
            delays.append(im.info["duration"] // 10)
    return delays


@pytest.mark.parametrize("fps", [8, 24, 30, 7.5, 12.5, 23.976, 50])
def test_a_gif_plays_and_reads_at_the_fps_it_was_written_at(tmp_path, fps, caplog):
    """GIF delays are whole centiseconds: at 8 fps every frame got 12 cs (8.33 fps), at 24 fps 4 cs (25),
    and the reader took the rate from the first delay. Frame k now starts at round(k * 100 / fps) cs,
    the preview of generate's chunk-by-chunk writer the same, and the reader reports their mean rate
    (a whole fps where the frames start where that rate puts them) without calling 1 cs of jitter a
    variable frame rate."""
    import logging

    frames = np.random.default_rng(0).integers(0, 255, (40, 8, 8, 3), dtype=np.uint8)
    gif = write_video(tmp_path / "v.gif", frames, fps=fps)
    delays = gif_delays_cs(gif)
    assert len(delays) == 40 and set(delays) <= {int(100 / fps), -int(-100 // fps)}
    starts = np.cumsum([0, *delays])
    assert starts.tolist() == [int(k * 100 / fps + 0.5) for k in range(41)]
    assert 40 / (starts[-1] / 100) == pytest.approx(fps, rel=0.01)  # as players show it
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.video"):
        video, read_fps = read_video(gif, warn_variable_rate=True)
    assert not caplog.records and video.shape[2] == 40
    expected = fps if fps == int(fps) else pytest.approx(fps, rel=0.01)  # a whole fps exactly
    assert read_fps == expected
    assert read_video(gif, max_frames=11)[1] == expected  # 11 frames at 8 fps span 138 cs: 7.97 fps
    with StreamingVideoWriter(tmp_path / "s.gif", fps=fps) as w:
        for k in range(4):
            w.append(from_uint8_frames(frames[10 * k : 10 * (k + 1)]))
            assert gif_delays_cs(w.preview_path) == delays[: 10 * (k + 1)]
    assert gif_delays_cs(tmp_path / "s.gif") == delays


def test_a_gif_keeps_identical_consecutive_frames(tmp_path):
    """Pillow's save merges identical consecutive GIF frames (adding up their delays): a still video of 6
    frames came back as 1, a hold in the middle shortened the video."""
    frames = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    frames[2] = frames[3] = frames[1]
    held = write_video(tmp_path / "held.gif", frames, fps=8)
    still = write_video(tmp_path / "still.gif", np.repeat(frames[:1], 6, axis=0), fps=8)
    for path, expected in ((held, frames), (still, np.repeat(frames[:1], 6, axis=0))):
        decoded, fps = decode_frames(path)
        assert decoded.shape == expected.shape and fps == 8.0
        assert gif_delays_cs(path) == [13, 12, 13, 12, 13, 12]
    same = decode_frames(held)[0]
    assert np.array_equal(same[1], same[2]) and np.array_equal(same[1], same[3])


def test_gifs_from_other_tools_read_at_the_mean_of_their_delays(tmp_path, caplog):
    """Uniform delays read as before (4 cs: 25 fps, 3 cs: 33.3); FFmpeg's 24 fps GIF (4 and 5 cs) read 25
    fps from its first delays and is 24; 1 cs of jitter is no variable frame rate, 5 and 50 cs are; a held
    last frame is not counted."""
    import logging

    import av
    from PIL import Image

    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(12)]

    def pillow_gif(name, duration_ms):
        images[0].save(tmp_path / name, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
        return tmp_path / name

    with av.open(str(tmp_path / "ffmpeg24.gif"), "w") as container:
        stream = container.add_stream("gif", rate=24)
        stream.width = stream.height = 16
        stream.pix_fmt = "rgb8"
        for image in images * 2:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert set(gif_delays_cs(tmp_path / "ffmpeg24.gif")) == {4, 5}
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.video"):
        assert read_video(pillow_gif("u40.gif", 40), warn_variable_rate=True)[1] == 25.0
        assert read_video(pillow_gif("u30.gif", 30), warn_variable_rate=True)[1] == pytest.approx(100 / 3)
        assert read_video(tmp_path / "ffmpeg24.gif", warn_variable_rate=True)[1] == 24.0
        # the mean of the delays between frame starts: 11 of them, 49 cs
        assert read_video(pillow_gif("jitter.gif", [40, 50] * 6), warn_variable_rate=True)[1] == (
            pytest.approx(11 / 0.49)
        )
        # a last frame held before the loop says nothing of the rate (it read 4.08 fps)
        assert read_video(pillow_gif("held.gif", [100] * 11 + [3000]), warn_variable_rate=True)[1] == 10.0
        assert not caplog.records
        fps = read_video(pillow_gif("vfr.gif", [50, 500] * 6), warn_variable_rate=True)[1]
    assert fps == pytest.approx(11 / 2.8)
    (record,) = caplog.records
    assert "vfr.gif' has a variable frame rate (frames 50-500 ms apart)" in record.getMessage()


def test_a_gif_over_50_fps_is_refused_before_anything_is_written(tmp_path):
    """Above 50 fps frames get 1 cs or 0 cs delays, which players show as 10 cs: the GIF played at 10 fps."""
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    message = (
        "fps 60 is too high for a GIF: its frame delays are whole hundredths of a second and players "
        "show those under 2 as 10, so a GIF plays at most 50 fps; write a video (.mp4), or a GIF at 50 fps or less"
    )
    with pytest.raises(ValueError) as err:
        write_video(tmp_path / "v.gif", frames, fps=60)
    assert str(err.value) == message
    with pytest.raises(ValueError, match=r"^fps 1000 is too high for a GIF"):
        StreamingVideoWriter(tmp_path / "s.gif", fps=1000)
    assert list(tmp_path.iterdir()) == []
    write_video(tmp_path / "v.mp4", frames, fps=60)  # other formats keep check_fps's range


def write_noise_video(
    path,
    frames: int,
    codec: str,
    options: dict[str, str],
    size: int = 32,
    gop: int | None = None,
    container_options: dict[str, str] | None = None,
) -> None:
    """Noise frames (each unlike the others) encoded with ``codec`` and its ``options`` (and a keyframe
    interval of ``gop`` frames), the container written with ``container_options``."""
    import av

    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=24)
        stream.width = stream.height = size
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        stream.options = options
        for i in range(frames):
            frame = np.random.default_rng(i).integers(0, 255, (size, size, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_gop_video(path, frames: int, gop: int = 8, size: int = 32) -> None:
    """Noise frames in keyframe intervals of ``gop``: H.264 with B-frames in mp4/mkv/mov/avi, VP9 with
    alt-ref frames in WebM, GIF."""
    codec = {".webm": "libvpx-vp9", ".gif": "gif"}.get(path.suffix, "libx264")
    options = {
        "libx264": {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "3"},
        "libvpx-vp9": {"g": str(gop), "auto-alt-ref": "1", "lag-in-frames": "16"},
    }.get(codec, {})
    write_noise_video(path, frames, codec, options, size, gop)


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


def write_timed(path, gaps_ms, rate=10, codec="libx264"):
    """A video whose frames are ``gaps_ms`` apart (PyAV, as a recorder writes it), at nominal ``rate``."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for i, gap in enumerate([0, *gaps_ms]):
            pts += gap
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_a_variable_frame_rate_reads_at_its_frames_mean_rate(tmp_path, suffix, caplog):
    """Matroska and WebM give the rate of their default frame duration, a nominal one: a variable-rate
    recording of 11 frames a second read as 25 fps, so enhance wrote it 2.2x too fast, and the warning said
    'its average 25 fps'. Its rate is now its frames' mean rate; a constant rate is read as before. An MP4
    keeps its own average (frame count over duration), which is no nominal rate."""
    import logging

    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"  # H.264 is not allowed in WebM
    path = write_timed(tmp_path / f"vfr{suffix}", [40, 40, 200] * 3, rate=25, codec=codec)
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.video"):
        video, fps = read_video(path, warn_variable_rate=True)
    if suffix == ".mp4":
        import av

        with av.open(str(path)) as container:
            average = float(container.streams.video[0].average_rate)
        assert video.shape[2] == 10 and fps == pytest.approx(average) and abs(average - 25) > 10
    else:
        assert video.shape[2] == 10 and fps == pytest.approx(9 / 0.84)
    (record,) = caplog.records
    assert "frames 40-200 ms apart" in record.getMessage()
    assert f"its average {fps:.3g} fps" in record.getMessage()
    from streamt2v.train.data import frame_rate

    assert frame_rate(path) == pytest.approx(fps)  # training's rate (its warning, assemble --fps) agrees
    constant = (
        write_timed(tmp_path / f"cfr{suffix}", [33, 34, 33] * 3, rate=30) if suffix != ".webm" else None
    )
    if constant is not None:  # a constant rate in millisecond timestamps is read as before
        assert read_video(constant)[1] == pytest.approx(30, abs=0.01)


def test_hidden_files_in_a_frame_folder_are_no_frames_and_a_folder_of_videos_is_named(tmp_path):
    """macOS leaves '._NAME' (AppleDouble) files beside each file copied to a USB drive: a folder of PNG
    frames with them could not be read ("cannot read image '._f0.png'"). A folder holding videos but no
    frames said only 'no image frames'."""
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"f{i}.png")
        (folder / f"._f{i}.png").write_bytes(b"\0\5\26\7\0\2\0\0Mac OS X        ")
    levels = to_uint8_frames(read_video(folder)[0])[:, 0, 0, 0]
    assert levels.tolist() == [0, 40, 80]
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("b.mp4", "a.mkv", ".c.mp4"):
        (videos / name).write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"in folder .*videos'; it holds videos \('a.mkv', 'b.mp4'\): give one"
    ):
        read_video(videos)


def test_damaged_files_say_what_is_wrong_with_them(tmp_path):
    """Every unreadable file said FFmpeg's 'Invalid data found when processing input' alone: a recording or
    copy cut short, a Git LFS pointer checked out instead of the video, a text file."""

    path = write_video(tmp_path / "v.mp4", smooth_video(t=8), fps=8)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"  # cut inside its frames ('mdat' box), before the index at the end
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        read_video(cut)
    assert str(err.value) == (
        f"cannot read video {str(cut)!r}: Invalid data found when processing input; the file ends inside its "
        f"'mdat' box ({len(data) // 2} of {data.index(b'moov') - 4} bytes): it was cut short (an "
        "unfinished copy, download or recording)"
    )
    no_index = tmp_path / "no_index.mp4"  # every frame there, the index never written
    no_index.write_bytes(data[: data.index(b"moov") - 4])
    with pytest.raises(ValueError, match=r"no_index.mp4.: .*; it has no 'moov' box, the index of its frames"):
        read_video(no_index)
    lfs = tmp_path / "lfs.mp4"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12345\n")
    with pytest.raises(ValueError, match=r"lfs.mp4.: .*; it is a Git LFS pointer file, not the video"):
        decode_frames(lfs)


def test_a_write_removes_what_a_killed_write_of_it_left(tmp_path):
    """write_video (enhance's output, evaluate's none) left a killed write's hidden temporary beside the
    output forever (a long high-resolution video's worth of bytes); only generate's writer cleaned up."""
    stale = [tmp_path / ".v.tmp-ab12cd34.mp4", tmp_path / ".frames.tmp-ab12cd34"]
    stale[0].write_bytes(b"\0" * 100)
    stale[1].mkdir()
    (stale[1] / "frame_000000.png").write_bytes(b"")
    keep = [tmp_path / ".v.tmp-ab12cd34.mov", tmp_path / ".frames.tmp-mine"]
    keep[0].write_bytes(b"")
    keep[1].mkdir()
    (keep[1] / "notes.txt").write_text("mine")
    write_video(tmp_path / "v.mp4", smooth_video(t=2), fps=8)
    write_video(tmp_path / "frames", smooth_video(t=2), fps=8)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["v.mp4", "frames", *(p.name for p in keep)])


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_a_saved_page_of_non_ascii_text_is_named_as_text_wherever_the_read_cuts_a_character(tmp_path, offset):
    """The first 512 bytes of a page in Chinese end inside a 3-byte character in 2 of 3 alignments: the
    hint was missing there."""
    from streamt2v.io.damage import damage_hint

    page = tmp_path / "page.mp4"
    page.write_bytes(b"x" * offset + "视频下载页面".encode() * 60)  # 3 bytes a character
    assert damage_hint(page) == "; it holds text, not video"


def test_a_video_whose_last_frames_are_missing_or_damaged_says_so(tmp_path, caplog):
    """An mp4 whose index comes first (``-movflags faststart``) lists every frame even when the file was cut
    short between frames: FFmpeg decoded the 13 frames there in silence (a training check then said only
    "has 13 frames"), and damaged last frames failed with FFmpeg's words alone. Both now say what the
    container lists and the file holds; a file cut by an edit list (fewer frames shown by design) does not."""
    import av

    from test_train_data_seek import write_edit_list_mp4

    path = tmp_path / "v.mp4"
    write_noise_video(path, 16, "libx264", {"bf": "0"}, container_options={"movflags": "faststart"})
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # the index first
    with av.open(str(path)) as container:
        starts = [p.pos for p in container.demux(container.streams.video[0]) if p.size > 0]
        assert container.streams.video[0].frames == 16

    cut = tmp_path / "cut.mp4"  # ends where frame 14's packet starts
    cut.write_bytes(data[: starts[13]])
    with caplog.at_level("WARNING", logger="streamt2v.io.video"):
        assert read_video(cut)[0].shape[2] == 13
    assert caplog.messages == [
        f"video {str(cut)!r} decodes to 13 frames; its container lists 16 frames, the file holds 13: it was cut "
        "short (an unfinished copy, download or recording)"
    ]
    none = tmp_path / "none.mp4"  # ends before the first frame's packet
    none.write_bytes(data[: starts[0]])
    with pytest.raises(ValueError) as err:
        decode_frames(none)
    assert str(err.value) == (
        f"video {str(none)!r} has no decodable frames; its container lists 16 frames, the file holds 0: it "
        "was cut short (an unfinished copy, download or recording)"
    )

    damaged = tmp_path / "damaged.mp4"  # every packet there, the last three zeroed
    damaged.write_bytes(data[: starts[13]] + bytes(len(data) - starts[13]))  # 'mdat' is the last box
    with pytest.raises(ValueError) as err:
        decode_frames(damaged)
    assert str(err.value).endswith(
        "after frame 13; its container lists 16 frames and the file holds them all, but decoding stops after "
        "13: the file is damaged there (copy or download it again)"
    )

    caplog.clear()
    edited = tmp_path / "edited.mp4"
    write_edit_list_mp4(edited, frames=24, drop=3)
    timed = tmp_path / "timed.avi"  # a variable rate: the AVI lists its length in 1 ms ticks, 950 "frames"
    write_timed(timed, [100, 100, 250, 100, 100, 300, 100])
    with caplog.at_level("WARNING", logger="streamt2v.io.video"):
        assert len(decode_frames(edited)[0]) == 21
        assert len(decode_frames(path)[0]) == 16
        assert len(decode_frames(timed)[0]) == 8
    assert caplog.messages == []
