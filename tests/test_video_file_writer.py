"""``VideoFileWriter``: write_video's file given its frames a slice at a time (stage 3's output, written as it
is decoded), byte for byte, under a temporary name until complete."""

from __future__ import annotations

import pytest

from streamt2v.io.video import read_video, to_uint8_frames, write_video
from test_video_io import smooth_video


def _contents(path) -> bytes | list[tuple[str, bytes]]:
    if path.is_dir():
        return [(p.name, p.read_bytes()) for p in sorted(path.iterdir())]
    return path.read_bytes()


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames"])
def test_a_video_written_a_slice_at_a_time_is_write_video_s_file(tmp_path, name) -> None:
    from streamt2v.io.streaming_writer import VideoFileWriter

    frames = to_uint8_frames(smooth_video(t=11))
    whole = write_video(tmp_path / "whole" / name, frames, fps=8)
    with VideoFileWriter(tmp_path / name, fps=8) as writer:
        for a, b in [(0, 3), (3, 4), (4, 4), (4, 11)]:  # uneven slices, an empty one
            writer.write(frames[a:b])
            # written as it comes, under a temporary name: the output itself appears only when complete
            assert not (tmp_path / name).exists()
    assert _contents(writer.path) == _contents(whole) and writer.num_frames == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "whole"])  # no temporary, no lock
    # refused as write_video refuses: an existing output, before anything is written
    with pytest.raises(FileExistsError):
        VideoFileWriter(tmp_path / name, fps=8)


def test_a_video_writer_stopped_leaves_no_output(tmp_path) -> None:
    from streamt2v.io.streaming_writer import VideoFileWriter

    frames = to_uint8_frames(smooth_video(t=4))
    with pytest.raises(KeyboardInterrupt), VideoFileWriter(tmp_path / "v.mp4", fps=8) as writer:
        writer.write(frames)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # no output, temporary or lock
    with VideoFileWriter(tmp_path / "v.gif", fps=8) as writer:
        writer.write(frames)
        with pytest.raises(ValueError, match=r"frames of 24x16 differ from the 48x32 \(width x height\)"):
            writer.write(frames[:, :16, :24])  # refused before anything is written: the GIF goes on
    assert read_video(tmp_path / "v.gif")[0].shape[2] == 4
    (tmp_path / "v.gif").unlink()
    writer = VideoFileWriter(tmp_path / "odd.mp4", fps=8)
    with pytest.raises(ValueError, match="H.264 video .* needs an even width and height, got 24x15"):
        writer.write(frames[:, :15, :24])
    assert list(tmp_path.iterdir()) == []  # a failed write stops the writer: nothing half written
    with pytest.raises(RuntimeError, match="VideoFileWriter is closed"):
        writer.write(frames)
    with pytest.raises(ValueError, match=r"cannot write a video with 0 frames to '.*empty\.mp4'"):
        VideoFileWriter(tmp_path / "empty.mp4", fps=8).finish()
    assert list(tmp_path.iterdir()) == []


def test_a_video_writer_takes_what_write_video_takes_and_names_the_rest(tmp_path) -> None:
    """A uint8 tensor (t, H, W, 3), which write_video writes, was refused as "pixels are floats"; a list was
    an AttributeError naming no value."""
    import torch

    from streamt2v.io.streaming_writer import VideoFileWriter

    frames = to_uint8_frames(smooth_video(t=4))
    with VideoFileWriter(tmp_path / "v.mp4", fps=8) as writer:
        writer.write(torch.from_numpy(frames[:2]))
        writer.write(frames[2:])
        with pytest.raises(
            TypeError,
            match=r"^frames must be a torch\.Tensor .* or a uint8 numpy array \(T, H, W, 3\); got a list$",
        ):
            writer.write([1, 2])
    assert writer.path.read_bytes() == write_video(tmp_path / "w.mp4", frames, fps=8).read_bytes()


def test_the_writers_repr_says_what_they_write_and_how_far_they_got(tmp_path) -> None:
    """Both writers printed as <...VideoFileWriter object at 0x...>."""
    from streamt2v.io.streaming_writer import StreamingVideoWriter, VideoFileWriter

    frames = to_uint8_frames(smooth_video(t=4))
    writer = VideoFileWriter(tmp_path / "v.mp4", fps=8)
    writer.write(frames)
    path = repr(str(tmp_path / "v.mp4"))
    assert repr(writer) == f"VideoFileWriter({path}, H.264 crf 18, 8 fps, 4 frames written, open)"
    writer.finish()
    assert repr(writer).endswith("4 frames written, finished)")
    with pytest.raises(KeyError), VideoFileWriter(tmp_path / "v.gif", fps=12.5) as gif:
        raise KeyError
    assert (
        repr(gif) == f"VideoFileWriter({str(tmp_path / 'v.gif')!r}, GIF, 12.5 fps, 0 frames written, aborted)"
    )
    with StreamingVideoWriter(tmp_path / "s.webm", fps=8, crf=30) as stream:
        stream.append(smooth_video(t=1))
        assert repr(stream) == (
            # the crf VP9 is given (it said 'VP9 crf 30', where VP9 was given 60), and the one asked
            f"StreamingVideoWriter({str(tmp_path / 's.webm')!r}, VP9 crf 60 (crf=30 on H.264's scale), 8 fps, "
            "1 frame written, open)"
        )
    assert repr(stream).endswith(", finished)")
    pngs = VideoFileWriter(tmp_path / "frames", fps=8)
    assert (
        repr(pngs)
        == f"VideoFileWriter({str(tmp_path / 'frames')!r}, PNG frames, 8 fps, 0 frames written, open)"
    )
    pngs.abort()
