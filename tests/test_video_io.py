"""io/video.py: uint8 <-> [-1, 1], mp4/gif/png round trips, and reading what users bring: rotated phone
videos, image folders, variable frame rates; the test videos other files use (smooth_video,
write_noise_video, write_gop_video, write_timed). Damaged or cut files are test_video_io_damage.py, the
streaming writer test_streaming_writer.py, the checks before writing test_output_paths.py, GIF rates
test_gif_rates.py, seeking test_seek_frames.py."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from streamt2v.io.decoding import DecodedFrames
from streamt2v.io.video import (
    from_uint8_frames,
    read_image,
    read_video,
    to_uint8_frames,
    write_video,
)
from streamt2v.pixels import resize_video


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


def test_frames_converted_a_few_at_a_time_have_the_values_of_the_whole_conversion():
    # a read-only array of more frames than one piece (decoders hand out read-only buffers)
    u = np.random.default_rng(1).integers(0, 256, size=(37, 4, 6, 3), dtype=np.uint8)
    u.flags.writeable = False
    whole = torch.from_numpy(u.copy()).permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0).unsqueeze(0)
    assert torch.equal(from_uint8_frames(u), whole) and torch.equal(
        from_uint8_frames(torch.from_numpy(u.copy())), whole
    )
    assert torch.equal(from_uint8_frames(list(u)), whole)  # a decoder's list of frames, never stacked whole
    # a list of floats is told the conversions an array is, of the frames stacked (it was told none)
    with pytest.raises(
        ValueError,
        match=r"expected uint8 frames \(T, H, W, 3\), got float32 of shape \(2, 4, 6, 3\); 0-255 floats: "
        r"np.stack\(x\).round\(\).astype\(np.uint8\); ",
    ):
        from_uint8_frames(list(u[:2].astype(np.float32)))
    # in the array's words, "of shape" (a list said "got int64 (1, 4, 6, 3)"), its conversion stacking it
    ints = u[:1].astype(np.int64)
    with pytest.raises(ValueError) as array:
        from_uint8_frames(ints)
    with pytest.raises(ValueError) as listed:
        from_uint8_frames(list(ints))
    assert (
        str(listed.value)
        == str(array.value).replace(": x", ": np.stack(x)")
        == (
            "expected uint8 frames (T, H, W, 3), got int64 of shape (1, 4, 6, 3); 0-255 integers: "
            "np.stack(x).astype(np.uint8)"
        )
    )


def test_from_uint8_frames_refuses_an_array_of_another_layout_with_its_conversion():
    """An array is refused as check_uint8_frames refuses it, with the conversion for its layout (it was
    'expected uint8 frames (T, H, W, 3), got uint8 (1, 3, 2, 4, 6)' alone); the conversion told runs."""
    u = np.random.default_rng(1).integers(0, 256, size=(2, 4, 6, 3), dtype=np.uint8)
    x = u.transpose(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    with pytest.raises(ValueError) as err:
        from_uint8_frames(x)
    assert str(err.value) == (
        "expected uint8 frames (T, H, W, 3), got uint8 of shape (1, 3, 2, 4, 6); as frames: "
        "x[0].transpose(1, 2, 3, 0)"
    )
    assert torch.equal(from_uint8_frames(eval(str(err.value).rsplit(": ", 1)[1])), from_uint8_frames(u))
    with pytest.raises(ValueError, match=r"got float32 of shape \(2, 4, 6, 3\); 0-255 floats: x.round\(\)"):
        from_uint8_frames(u.astype(np.float32))


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


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
@pytest.mark.parametrize("height", [30, 6])
def test_an_even_height_that_is_not_a_multiple_of_4_is_written(tmp_path, suffix, height):
    """Writing a 40x30 (or 480x270) mp4 or webm failed with numpy's 'cannot reshape array of size 300 into
    shape (7,40)': the chroma planes were stacked as rows of the frame's width, a quarter of the height
    each, not a whole number of rows where the height is 2 mod 4."""
    v = smooth_video(t=3, h=height, w=40)
    top = height // 4 * 2  # a red corner from an even row: its own 2x2 chroma samples
    v[:, :, :, top:, 20:] = torch.tensor([0.6, -0.8, -0.5])[:, None, None, None]
    r, _ = read_video(write_video(tmp_path / f"v{suffix}", v, fps=8))
    assert r.shape == v.shape
    assert (r - v)[:, :, :, top + 2 :, 22:].abs().max() < 0.1  # the chroma where it belongs
    assert (r - v).abs().mean() < 0.1


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
    with pytest.raises(
        ValueError, match=r"^H.264 video \(yuv420p\) needs an even width and height, got 48x31"
    ):
        write_video(tmp_path / "odd.mp4", smooth_video(h=31), fps=8)
    assert not (tmp_path / "odd.mp4").exists()
    with pytest.raises(
        ValueError, match=r"^VP9 video .* got 33x32: crop or pad .* or write a .gif or a folder"
    ):
        write_video(tmp_path / "odd.webm", smooth_video(w=33), fps=8)  # said 'H.264'


def test_read_image(tmp_path):
    v = smooth_video(t=1)
    write_video(tmp_path / "frames", v, fps=8)
    img = read_image(tmp_path / "frames" / "frame_000000.png")
    assert img.shape == (1, 3, 32, 48)
    assert (img - v[:, :, 0]).abs().max() <= 1 / 127.5 + 1e-6
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "nope.png")


def test_an_animation_is_refused_as_an_image_and_as_a_folder_frame(tmp_path):
    """``--init-image anim.gif`` (read_image) took the animation's first frame without a word, losing the
    motion its user meant; a frame folder's APNG did the same. Both are refused naming the file; a GIF of
    one frame is an image."""
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=[50, 100, 200])
    with pytest.raises(ValueError) as err:
        read_image(tmp_path / "anim.gif")
    assert str(err.value).startswith(
        f"cannot read image {str(tmp_path / 'anim.gif')!r}: it is an animation of 3 frames, not one image; "
        "an animation or video is not an image: --init-video continues one (in Python, read it with read_video)"
    )
    write_video(tmp_path / "clip.mp4", smooth_video(t=2, h=16, w=16), fps=8)  # a video given for an image
    with pytest.raises(
        ValueError, match=r"clip.mp4': cannot identify .*; an animation or video is not an image"
    ):
        read_image(tmp_path / "clip.mp4")
    frames[1].save(tmp_path / "still.gif")
    assert to_uint8_frames(read_image(tmp_path / "still.gif")[:, :, None])[0, 0, 0].tolist() == [40] * 3
    folder = tmp_path / "frames"
    folder.mkdir()
    frames[0].save(folder / "f0.png")
    frames[0].save(folder / "f1.png", save_all=True, append_images=frames[1:])  # APNG
    with pytest.raises(ValueError, match=r"f1.png': it is an animation of 3 frames, not one image$"):
        read_video(folder)


def test_resize_video():
    v = smooth_video(t=2, h=32, w=48)
    r = resize_video(v, 16)
    assert r.shape == (1, 3, 2, 16, 16)
    assert resize_video(v, (8, 12)).shape == (1, 3, 2, 8, 12)
    const = torch.full((2, 3, 2, 10, 10), 0.25)
    assert torch.allclose(resize_video(const, (4, 6)), torch.full((2, 3, 2, 4, 6), 0.25))


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
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.decoding"):
        assert read_video(tmp_path / "vfr.mp4")[0].shape[2] == 7
        assert not caplog.records  # off by default: generate --init-video and training ignore timing
        read_video(tmp_path / "cfr.mp4", warn_variable_rate=True)
        assert not caplog.records
        read_video(tmp_path / "vfr.mp4", warn_variable_rate=True)
    (record,) = caplog.records
    assert "vfr.mp4' has a variable frame rate (frames 50-200 ms apart)" in record.getMessage()


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
    'its average 25 fps'. Its rate is now its frames' mean rate; a constant rate is read as before. An MP4's
    own average (frame count over duration) is the span of its decode timestamps, which x264's B-frames
    shift unevenly at a variable rate: it read 13.9 fps for frames 10.7 a second, and now reads their mean
    rate too."""
    import logging

    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"  # H.264 is not allowed in WebM
    path = write_timed(tmp_path / f"vfr{suffix}", [40, 40, 200] * 3, rate=25, codec=codec)
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.decoding"):
        video, fps = read_video(path, warn_variable_rate=True)
    if suffix == ".mp4":
        import av

        with av.open(str(path)) as container:  # x264's B-frames: the mp4's average is far off
            assert float(container.streams.video[0].average_rate) > 13
    assert video.shape[2] == 10 and fps == pytest.approx(9 / 0.84)
    (record,) = caplog.records
    assert "frames 40-200 ms apart" in record.getMessage()
    assert f"its average {fps:.3g} fps" in record.getMessage()
    from streamt2v.train.video_probe import frame_rate

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


@pytest.mark.parametrize("crf", [99, -1, 2.5, True, "18"])
def test_a_crf_off_the_h264_scale_is_refused_before_anything_is_written(tmp_path, crf):
    """``write_video(..., crf=99)`` wrote a video (libx264 clipped it without a word; VP9 took a float)."""
    from streamt2v.io.streaming_writer import StreamingVideoWriter, VideoFileWriter

    got = re.escape(repr(crf))
    message = rf"^crf must be an integer from 0 \(lossless\) to 51 \(the lowest quality\), got {got}"
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "a.mp4", torch.zeros(3, 2, 16, 16), fps=8, crf=crf)
    for writer in (StreamingVideoWriter, VideoFileWriter):
        with pytest.raises(ValueError, match=message):
            writer(tmp_path / "b.webm", 8, crf=crf)
    assert list(tmp_path.iterdir()) == []
    write_video(tmp_path / "c.mp4", torch.zeros(3, 2, 16, 16), fps=8, crf=51)


def test_a_single_image_reads_at_the_rate_of_a_folder_of_images(tmp_path):
    """``read_video("anchor.png")`` said 25 fps (FFmpeg's made-up rate for an image), a folder of the same
    image 8 (DEFAULT_FPS); an animated PNG keeps the rate it states."""
    from PIL import Image

    from streamt2v.io.frame_rates import DEFAULT_FPS

    (tmp_path / "frames").mkdir()
    for name in ("a.png", "a.jpg", "a.webp", "frames/f0.png"):
        Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / name)
    for name in ("a.png", "a.jpg", "a.webp", "frames"):
        video, fps = read_video(tmp_path / name)
        assert video.shape[2] == 1 and fps == DEFAULT_FPS, (name, fps)
    images = [Image.new("RGB", (16, 16), (50 * i, 0, 0)) for i in range(3)]
    images[0].save(tmp_path / "anim.png", save_all=True, append_images=images[1:], duration=100)
    assert read_video(tmp_path / "anim.png")[1] == 10
