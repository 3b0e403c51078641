"""io/streaming_writer.py: the chunk-by-chunk writer behind generate: its preview playable after every
chunk, the final file never half-written, short and long segments remuxed without re-encoding into
the same bytes for the same frames, and the temporaries a killed writer left."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamt2v.io.output_paths import remove_stale_temporaries
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.io.video import read_video, write_video
from test_video_io import smooth_video


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

    def interrupted(body, path):
        path.write_bytes(b"")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), StreamingVideoWriter(tmp_path / "x.gif", fps=8) as w:
        w.append(smooth_video(t=2))
        monkeypatch.setattr(streaming_writer, "finish_gif_copy", interrupted)
        w.append(smooth_video(t=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.partial.gif"]


def test_a_gif_append_that_failed_leaves_the_gif_as_it_was(tmp_path, monkeypatch):
    """The frames of an append stopped after they were encoded are taken out again: a later append makes
    the GIF of the frames counted."""
    import streamt2v.io.streaming_writer as streaming_writer

    v = smooth_video(t=6)
    copy = streaming_writer.finish_gif_copy

    def full_disk(body, path):
        raise OSError(28, "No space left on device")

    with StreamingVideoWriter(tmp_path / "x.gif", fps=8) as w:
        w.append(v[:, :, :2])
        monkeypatch.setattr(streaming_writer, "finish_gif_copy", full_disk)
        with pytest.raises(OSError, match="No space left"):
            w.append(v[:, :, 2:4])
        monkeypatch.setattr(streaming_writer, "finish_gif_copy", copy)
        w.append(v[:, :, 4:6])
    write_video(tmp_path / "at_once.gif", torch.cat([v[:, :, :2], v[:, :, 4:6]], dim=2), fps=8)
    assert (tmp_path / "x.gif").read_bytes() == (tmp_path / "at_once.gif").read_bytes()


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


def test_a_gif_grows_by_its_new_frames_only_and_equals_the_gif_written_at_once(tmp_path, monkeypatch):
    """Each append encodes only the chunk's frames (re-encoding the whole GIF after every chunk made a
    1200-frame --gif run spend ~15 minutes on its preview, quadratic in the length), and the preview after
    every chunk and the final GIF are byte for byte the GIF of the same frames written at once."""
    from PIL import Image

    v = torch.rand(1, 3, 20, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    converted = []
    convert = Image.Image.convert

    def counting(image, *args, **kwargs):
        converted.append(image.size)
        return convert(image, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "convert", counting)
    with StreamingVideoWriter(tmp_path / "s.gif", fps=8) as w:
        for a, b in ((0, 16), (16, 19), (19, 20)):
            w.append(v[:, :, a:b])
            write_video(tmp_path / f"at_once_{b}.gif", v[:, :, :b], fps=8)
            assert w.preview_path.read_bytes() == (tmp_path / f"at_once_{b}.gif").read_bytes()
    assert (tmp_path / "s.gif").read_bytes() == (tmp_path / "at_once_20.gif").read_bytes()
    assert len(converted) == 20 + (16 + 19 + 20)  # each frame once by the writer, the GIFs at once theirs


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi", ".webm"])
def test_each_append_reads_a_few_files_and_the_preview_is_the_remux_of_every_segment(
    tmp_path, monkeypatch, suffix
):
    """The preview grows by the new segment (remuxing every segment after every chunk read all of them
    again, quadratic in the length: 0.1 s per chunk after 150 chunks), into the bytes of the remux of all
    segments: also when a short segment without B-frame delay comes first (the delay then rises, and all
    is remuxed), and when the preview was removed meanwhile."""
    import av

    from streamt2v.io.streaming_writer import _remux
    from streamt2v.io.video import DEFAULT_CRF, encode_video, to_uint8_frames

    sizes = (2, 16, 8, 1, 8, 8, 3, 8, 8, 8)
    v = torch.rand(1, 3, sum(sizes), 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    starts = np.cumsum((0,) + sizes)
    opened = []
    av_open = av.open

    def counting(file, mode="r", **kwargs):
        opened.append(mode)
        return av_open(file, mode, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    segments = []
    with StreamingVideoWriter(tmp_path / f"o{suffix}", fps=8) as w:
        for i, (a, b) in enumerate(zip(starts, starts[1:])):
            if i == 7:
                w.preview_path.unlink()
            opened.clear()
            w.append(v[:, :, a:b])
            if i >= 2 and i != 7:
                assert opened.count("r") <= 4, i
            segments.append(tmp_path / f"s{i}{suffix}")
            encode_video(segments[-1], to_uint8_frames(v[:, :, a:b]), 8, DEFAULT_CRF)
            _remux(segments, tmp_path / f"all{suffix}")
            assert w.preview_path.read_bytes() == (tmp_path / f"all{suffix}").read_bytes(), i
    assert read_video(w.path)[0].shape[2] == sum(sizes)
