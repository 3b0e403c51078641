"""Reading what users bring that is no readable video, or not all of one (io/video.py, io/damage.py): files
cut short or damaged, a Git LFS pointer, a text page, an audio file, an animated WebP, a camera's JPEG with a
preview, a video whose last frames are missing. The rest of reading and writing is test_video_io.py."""

from __future__ import annotations

import numpy as np
import pytest

from streamt2v.io.decoding import decode_frames
from streamt2v.io.video import read_image, read_video, to_uint8_frames, write_video
from test_video_io import smooth_video, write_noise_video, write_timed


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


def test_an_mp4_cut_inside_its_index_and_an_audio_file_say_why_they_hold_no_video(tmp_path):
    """An mp4 cut short inside its index (the 'moov' box, written last) opens with no streams at all: it was
    refused as "contains no video stream" alone, as if it were an audio file; an audio file did not say
    it holds audio."""
    import av

    path = write_video(tmp_path / "v.mp4", smooth_video(t=8), fps=8)
    data = path.read_bytes()
    moov = data.index(b"moov") - 4
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: moov + 60])
    with pytest.raises(ValueError) as err:
        read_video(cut)
    assert str(err.value) == (
        f"{str(cut)!r} contains no video stream; the file ends inside its 'moov' box ({moov + 60} of "
        f"{len(data)} bytes): it was cut short (an unfinished copy, download or recording)"
    )
    audio = tmp_path / "speech.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(3):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, 1024 * i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(ValueError) as err:
        read_video(audio)
    assert str(err.value) == f"{str(audio)!r} contains no video stream (only audio)"
    from streamt2v.train.video_probe import probe_video_file  # a training folder's file is told the same

    with pytest.raises(ValueError) as err:
        probe_video_file(audio, need=2, reach=2)
    assert str(err.value) == f"{str(audio)!r} contains no video stream (only audio)"


def test_an_animated_webp_says_ffmpeg_cannot_decode_it_and_how_to_convert_it(tmp_path):
    """``--init-video anim.webp`` said FFmpeg's 'Invalid data found when processing input' alone (its WebP
    decoder reads still images only), and read_image refuses an animation, pointing to read_video."""
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ValueError) as err:
        read_video(tmp_path / "anim.webp")
    assert str(err.value).startswith(f"cannot read video {str(tmp_path / 'anim.webp')!r}: ")
    assert str(err.value).endswith(
        "; it is an animated WebP, which FFmpeg cannot decode: convert it to a GIF or an mp4 first (Pillow: "
        "Image.open(IN).save(OUT.gif, save_all=True))"
    )
    Image.open(tmp_path / "anim.webp").save(tmp_path / "anim.gif", save_all=True)  # the advice works
    assert read_video(tmp_path / "anim.gif")[0].shape[2] == 3
    frames[1].save(tmp_path / "still.webp")  # a still WebP is read, as a video of one frame
    assert read_video(tmp_path / "still.webp")[0].shape[2] == 1
    # with a colour profile the ICCP chunk comes before ANIM: the hint was missing (the flag is VP8X's)
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    frames[0].save(
        tmp_path / "icc.webp", save_all=True, append_images=frames[1:], duration=100, icc_profile=icc
    )
    with pytest.raises(ValueError, match=r"; it is an animated WebP, which FFmpeg cannot decode"):
        read_video(tmp_path / "icc.webp")


def test_a_cameras_jpeg_with_a_preview_image_is_one_image(tmp_path):
    """Pillow opens a JPEG carrying extra MPF pictures (a camera's large preview) as MPO of 2 frames: it was
    refused as an animation by read_image, and before the model by generate's --init-image check."""
    from PIL import Image, features

    from streamt2v.io.video import check_image

    main, preview = (Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (200, 60))
    main.save(tmp_path / "photo.jpg", format="MPO", save_all=True, append_images=[preview])
    with Image.open(tmp_path / "photo.jpg") as im:
        assert (im.format, im.n_frames) == ("MPO", 2)  # the case at hand
    check_image(tmp_path / "photo.jpg")
    if features.check(
        "avif"
    ):  # an animation of a format the refusal did not list was taken as its first frame
        frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (0, 120, 240)]
        frames[0].save(tmp_path / "anim.avif", save_all=True, append_images=frames[1:], duration=100)
        with pytest.raises(ValueError, match=r"anim.avif': it is an animation of 3 frames"):
            check_image(tmp_path / "anim.avif")
    assert (
        abs(to_uint8_frames(read_image(tmp_path / "photo.jpg")[:, :, None])[0, 0, 0].astype(int) - 200).max()
        <= 2
    )


def test_a_file_of_other_bytes_after_an_mp4_header_is_not_called_cut_short(tmp_path):
    """A file that starts like an mp4 but goes on with other bytes was said to end 'inside its 'p42g' box
    (190 of 1954115717 bytes): it was cut short': the walk took any 4 bytes for a box type."""
    from streamt2v.io.damage import damage_hint

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42garbage" * 10)
    assert damage_hint(garbage) == ""
    with pytest.raises(ValueError) as err:
        read_video(garbage)
    assert "cut short" not in str(err.value) and str(err.value).startswith(
        f"cannot read video {str(garbage)!r}"
    )


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
    with caplog.at_level("WARNING", logger="streamt2v.io.decoding"):
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
    with caplog.at_level("WARNING", logger="streamt2v.io.decoding"):
        assert len(decode_frames(edited)[0]) == 21
        assert len(decode_frames(path)[0]) == 16
        assert len(decode_frames(timed)[0]) == 8
    assert caplog.messages == []
