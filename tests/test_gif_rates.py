"""GIF frame rates: delays in whole centiseconds written so a GIF plays at the fps it was written at,
identical frames kept, other tools' GIFs read at the mean of their delays, over 50 fps refused."""

from __future__ import annotations

import numpy as np
import pytest

from streamt2v.io.decoding import decode_frames
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.io.video import from_uint8_frames, read_video, write_video


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
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.decoding"):
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
    with caplog.at_level(logging.WARNING, logger="streamt2v.io.decoding"):
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
