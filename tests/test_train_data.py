"""Real-data folder dataset: PyAV decoding, crop/resize, clear errors (training on user videos)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamt2v.io import frame_seek
from streamt2v.io import video as io_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.captions import read_captions
from streamt2v.train.data import VideoFolderDataset


def write_video(path, frames: int, h: int = 24, w: int = 32) -> None:
    """A red bar growing across the frame, written through the project's writer."""
    video = np.zeros((frames, h, w, 3), np.uint8)
    for i in range(frames):
        video[i, :, : (i * 3) % w] = (200, 40, 40)
    io_video.write_video(path, io_video.from_uint8_frames(video), 8)


def test_folder_dataset_reads_clips(tmp_path):
    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 10)
    (tmp_path / "caps.csv").write_text('file,caption\na.mp4,a red square\nb.mp4,"a thing, moving"\n')
    ds = VideoFolderDataset(
        tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16, anchor_frames=4), seed=1
    )
    ds.check()
    s = ds[0]
    assert s["video"].shape == (3, 6, 16, 16) and s["anchor"].shape == (3, 16, 16)
    assert s["video"].min() >= -1 and s["video"].max() <= 1 and s["video"].std() > 0.1
    assert s["caption"] in ("a red square", "a thing, moving")
    again = VideoFolderDataset(
        tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16, anchor_frames=4), seed=1
    )
    assert torch.equal(again[5]["video"], ds[5]["video"])
    assert {ds[i]["caption"] for i in range(2)} == {
        "a red square",
        "a thing, moving",
    }  # one epoch = every file
    (tmp_path / "caps.jsonl").write_text(
        json.dumps({"file": "a.mp4", "caption": "x"})
        + "\n"
        + json.dumps({"file": "b.mp4", "caption": "y"})
        + "\n"
    )
    assert read_captions(tmp_path / "caps.jsonl") == {"a.mp4": "x", "b.mp4": "y"}


def test_folder_dataset_errors_name_the_file(tmp_path):
    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "short.mp4", 3)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n")
    with pytest.raises(ValueError, match="short.mp4"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16))
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nshort.mp4,blue\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=6, size=16))
    with pytest.raises(ValueError, match="short.mp4.*3 frames"):
        ds.check()
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nshort.mp4,blue\nbad.mp4,x\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    with pytest.raises(ValueError, match="cannot read video .*bad.mp4"):
        ds.check()
    (tmp_path / "bad.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match=r"bad.mp4'?: the file is empty \(0 bytes\)"):
        ds.check()  # was FFmpeg's "Invalid data found when processing input"
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nshort.mp4,blue\nbad.mp4,x\ngone.mp4,y\n")
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))


def test_a_recipe_checks_every_video_before_training(tmp_path):
    """The recipe's dataset scans the folder when it is made, so a too-short video stops the run before
    its first step, not when a late step samples it."""
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "short.mp4", 3)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nshort.mp4,blue\n")
    recipe = make_recipe("vae", data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16)
    recipe.frames_per_sample = 6
    with pytest.raises(ValueError, match="short.mp4 has 3 frames; a clip needs 6"):
        recipe.dataset(0)


@pytest.mark.parametrize(
    "text,message",
    [
        ("file,caption\na.mp4\n", r"caps.csv:2: the caption of 'a.mp4' must be a non-empty string, got None"),
        ("file,caption\na.mp4,  \n", r"caps.csv:2: the caption of 'a.mp4' must be a non-empty string"),
        (
            "file,caption\na.mp4,red\n./a.mp4,blue\n",
            r"caps.csv:3: 'a.mp4' is listed twice \(first at line 2\)",
        ),
        ("file,caption\n,red\n", r"caps.csv:2: the file name must be a non-empty string"),
    ],
)
def test_bad_caption_rows_are_named(tmp_path, text, message):
    (tmp_path / "caps.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_captions(tmp_path / "caps.csv")


def test_caption_files_from_spreadsheets_and_null_captions(tmp_path):
    # a byte-order mark (spreadsheet export) and ./ paths are fine
    (tmp_path / "caps.csv").write_bytes("\ufefffile,caption\n./a.mp4,red\n".encode())
    assert read_captions(tmp_path / "caps.csv") == {"a.mp4": "red"}
    # another encoding is one error naming the file (was the decoder's message alone)
    (tmp_path / "latin.csv").write_bytes("file,caption\na.mp4,un caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"captions file '.*latin.csv' is not UTF-8 text"):
        read_captions(tmp_path / "latin.csv")
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "a.mp4", "caption": None}) + "\n")
    with pytest.raises(
        ValueError, match="caps.jsonl:1: the caption of 'a.mp4' must be a non-empty string, got None"
    ):
        read_captions(tmp_path / "caps.jsonl")


def test_joint_images_from_a_video_folder_are_frames_of_the_captioned_videos(tmp_path):
    from streamt2v.train.data import decode_video, to_clip_tensor
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 10, h=32, w=24)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,wide\nb.mp4,tall\n")
    recipe = make_recipe(
        "base", data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, num_frames=6, image_batch=3
    )
    item = recipe.dataset(seed=0)[4]
    assert item["video"].shape == (3, 6, 16, 16) and item["images"].shape == (3, 3, 16, 16)
    files = {"wide": "a.mp4", "tall": "b.mp4"}
    frames = {cap: to_clip_tensor(decode_video(tmp_path / f), 16) for cap, f in files.items()}
    for image, caption in zip(item["images"], item["image_captions"]):
        gaps = (frames[caption] - image[:, None]).abs().flatten(2).amax(-1).amax(0)  # per frame
        assert float(gaps.min()) < 1e-6  # the image is a frame of the video its caption names
    assert max(float(image.std()) for image in item["images"]) > 0.1  # not only the blank first frames


def test_clip_on_real_videos_reads_the_words_of_their_captions(tmp_path):
    """The micro-CLIP recipe on a video folder builds its word-level vocabulary from the captions file
    (the microworld's fixed vocabulary would read every other word as <unk>); the exported tokenizer and
    text encoder carry it to the UNet recipes and generation."""
    from transformers import AutoTokenizer, CLIPTextConfig

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 10)
    captions = ["A dog runs on the beach.", "the cat sleeps, on a sofa"]
    (tmp_path / "caps.jsonl").write_text(
        "".join(json.dumps({"file": f, "caption": c}) + "\n" for f, c in zip(["a.mp4", "b.mp4"], captions))
    )
    sizes = dict(size=16, image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32)
    data = dict(data=str(tmp_path), captions=str(tmp_path / "caps.jsonl"))

    def tokenizer_after_training(out: str, **options):
        recipe = make_recipe("clip", **data, **sizes, **options)
        train(recipe, TrainConfig(steps=1, batch_size=2, lr=1e-3), tmp_path / out, progress=False)
        final = tmp_path / out / "final"
        vocab_size = CLIPTextConfig.from_pretrained(final / "text_encoder").vocab_size
        return AutoTokenizer.from_pretrained(final / "tokenizer"), vocab_size

    tok, vocab_size = tokenizer_after_training("clip")
    words = {"a", "dog", "runs", "on", "the", "beach", ".", "cat", "sleeps", ",", "sofa"}
    assert vocab_size == 4 + len(words) == len(tok)
    for caption in captions:
        assert tok.unk_token_id not in tok(caption).input_ids
    ids = tok("a dog on the moon").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids[1:-1].count(tok.unk_token_id) == 1  # only "moon"

    tok, vocab_size = tokenizer_after_training("clip2", min_word_count=2)  # words of both captions only
    assert vocab_size == 4 + 3  # "a", "on", "the"
    assert tok("the dog").input_ids[1:-1] == [tok.convert_tokens_to_ids("the"), tok.unk_token_id]


def test_unet_recipes_warn_when_the_text_encoder_does_not_know_the_captions(tmp_path, caplog):
    """Training base/stream on real videos with the microworld's micro-CLIP would condition on <unk>:
    the recipe names the unknown words when it builds; a micro-CLIP of the captions' words passes."""
    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,a dog runs on the red beach\n")
    shipped = microworld_model_dir()
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, num_frames=6)
    with caplog.at_level("WARNING"):
        make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), **options).build()
    assert "57% of the caption words" in caplog.text  # dog, runs, the, beach of 7
    assert "['beach', 'dog', 'runs', 'the']" in caplog.text
    # a CLIP BPE tokenizer knows every word (its vocabulary holds "dog</w>", not "dog")
    from streamt2v.models.encoders import byte_level_clip_tokenizer

    recipe = make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), **options)
    assert recipe.check_caption_words(byte_level_clip_tokenizer()) == 0.0
    from streamt2v.train.loop import TrainConfig, train

    sizes = dict(image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32)
    clip = make_recipe("clip", data=options["data"], captions=options["captions"], size=16, **sizes)
    train(clip, TrainConfig(steps=1, batch_size=1, lr=1e-3), tmp_path / "clip", progress=False)
    caplog.clear()
    with caplog.at_level("WARNING"):
        make_recipe(
            "base", vae=str(shipped / "vae"), clip=str(tmp_path / "clip" / "final"), **options
        ).build()
    assert "caption words" not in caplog.text


def test_captions_longer_than_the_text_encoder_reads_are_counted(tmp_path, caplog):
    """A caption past the text encoder's tokens was cut in training without a word (clip, base, stream);
    counting them also logged transformers' warning that such a sequence 'will result in indexing errors'."""
    import logging

    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 12)
    long = " ".join(["a red circle on a blue background"] * 5)  # 35 words: 37 tokens with BOS and EOS
    (tmp_path / "caps.csv").write_text(f"file,caption\na.mp4,a red circle\nb.mp4,{long}\n")
    shipped = microworld_model_dir()
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16)
    message = "1 of 2 captions in {} are longer than the text encoder's 24 tokens and are cut to them in "
    message += "training (the longest, of 'b.mp4', has 37 tokens)"
    # transformers' own loggers do not propagate to the root logger: listen to them here
    transformers_logger = logging.getLogger("transformers")
    transformers_logger.addHandler(caplog.handler)
    try:
        for recipe in [
            make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), num_frames=6, **options),
            make_recipe("clip", image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, **options),
        ]:
            caplog.clear()
            with caplog.at_level("WARNING"):
                recipe.build()
            assert message.format(options["captions"]) in caplog.text
            # counting is no indexing: transformers' "will result in indexing errors" is untrue here
            assert "Token indices sequence length" not in caplog.text
    finally:
        transformers_logger.removeHandler(caplog.handler)


def test_caption_names_match_the_files_however_the_export_spelled_them(tmp_path):
    """Captions from another machine or a spreadsheet: a macOS (NFD) file name against a typed (NFC) one,
    a Windows ``sub\\b.mp4``, a ``File,Caption`` header and trailing rows of bare commas all match; a
    misspelt name is reported with the file it was meant for."""
    import unicodedata

    name = "grüne Katze.mp4"
    write_video(tmp_path / unicodedata.normalize("NFD", name), 8)
    (tmp_path / "sub").mkdir()
    write_video(tmp_path / "sub" / "b.mp4", 8)
    (tmp_path / "caps.csv").write_text(
        f"File, Caption\r\n{unicodedata.normalize('NFC', name)},green\r\nsub\\b.mp4,blue\r\n,\r\n,\r\n",
        encoding="utf-8",
    )
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))
    ds.check()
    assert {ds[i]["caption"] for i in range(2)} == {"green", "blue"}
    (tmp_path / "caps.csv").write_text(f"file,caption\n{name},green\nsub/B.mp4,blue\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"no caption for video\(s\) \['sub/b.mp4'\].*not in .*\['sub/B.mp4'\]"
    ):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))


def test_long_videos_are_decoded_only_as_far_as_a_clip_can_reach(tmp_path, monkeypatch):
    """Checking a WebM (no frame count in its container) and drawing a stream sample (with an anchor)
    decode only the frames a clip or anchor can come from, not the whole video: a long video at full
    resolution would take seconds and gigabytes per sample."""
    from streamt2v.train import data

    decoded = []

    def counting_decode(path, max_frames=None):
        frames = real_decode(path, max_frames)
        decoded.append(len(frames))
        return frames

    real_decode = data.decode_video
    monkeypatch.setattr(data, "decode_video", counting_decode)
    write_video(tmp_path / "long.webm", 60)
    (tmp_path / "caps.csv").write_text("file,caption\nlong.webm,red\n")
    spec = ClipSpec(num_frames=6, size=16, max_start=4, anchor_frames=8)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec)
    ds.check()
    sample = ds[3]
    assert sample["video"].shape == (3, 6, 16, 16) and sample["anchor"].shape == (3, 16, 16)
    assert decoded and max(decoded) <= 10  # max(max_start + num_frames, anchor_frames)


def test_a_folder_scan_takes_the_usual_video_names(tmp_path):
    """.m4v/.ts/.mpg files are videos of the folder (they were skipped by the scan, so a caption naming one
    was "a caption for a missing file" while the file was there); other files are not."""
    write_video(tmp_path / "a.mp4", 8)
    (tmp_path / "a.mp4").rename(tmp_path / "phone.m4v")
    write_video(tmp_path / "b.mkv", 8)
    (tmp_path / "b.mkv").rename(tmp_path / "capture.ts")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "caps.csv").write_text("file,caption\nphone.m4v,red\ncapture.ts,blue\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))
    ds.check()
    assert sorted(ds[i]["caption"] for i in range(2)) == ["blue", "red"]
    (tmp_path / "caps.csv").write_text("file,caption\nphone.m4v,red\n")
    with pytest.raises(ValueError, match="capture.ts"):  # found by the scan: it needs a caption
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))


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
        r"\(its container lists 60 frames, the file holds \d+: cut short\?\)$",
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
    assert message.startswith(f"3 of 4 videos in {tmp_path} cannot give a 6-frame clip")
    assert "short one.mp4 has 3 frames" in message and "short two.mp4 has 5 frames" in message
    assert (
        "cannot read video '" in message and "bad.mp4': Invalid data found when processing input" in message
    )
    assert "Errno" not in message and "\n" not in message


@pytest.mark.parametrize(
    "name,text",
    [
        ("semicolon.csv", "file;caption\na.mp4;a red bar, growing\nb.mp4;blue\n"),  # locales with a decimal ,
        ("tabs.tsv", "file\tcaption\na.mp4\ta red bar, growing\nb.mp4\tblue\n"),
        ("tabs.csv", "file\tcaption\na.mp4\ta red bar, growing\nb.mp4\tblue\n"),
        (
            "list.json",
            json.dumps(
                [{"file": "a.mp4", "caption": "a red bar, growing"}, {"file": "b.mp4", "caption": "blue"}]
            ),
        ),
        ("map.json", json.dumps({"a.mp4": "a red bar, growing", "b.mp4": "blue"}, indent=2)),
    ],
)
def test_caption_files_in_other_layouts(tmp_path, name, text):
    """Spreadsheets in locales with a decimal comma export ``;``; a tab-separated file and a whole JSON
    document (a list of objects, or ``{file: caption}``) are read too (all were errors at line 1)."""
    (tmp_path / name).write_text(text)
    assert read_captions(tmp_path / name) == {"a.mp4": "a red bar, growing", "b.mp4": "blue"}


def test_unquoted_commas_in_a_caption_are_an_error_not_a_cut_caption(tmp_path):
    """``a.mp4,a red bar, growing`` has three cells: the caption was silently cut to ``a red bar``."""
    (tmp_path / "caps.csv").write_text("file,caption\nb.mp4,blue\na.mp4,a red bar, growing\n,\n")
    with pytest.raises(
        ValueError,
        match=r"caps.csv:3: 3 cells for the header's 2 \(file,caption\): put a caption that holds ',' in double quotes",
    ):
        read_captions(tmp_path / "caps.csv")
    (tmp_path / "caps.csv").write_text('file,caption\nb.mp4,blue\na.mp4,"a red bar, growing"\n,\n')
    assert read_captions(tmp_path / "caps.csv")["a.mp4"] == "a red bar, growing"
    (tmp_path / "list.json").write_text(json.dumps([{"file": "a.mp4"}]))
    with pytest.raises(ValueError, match=r"list.json: entry 1: expected \{\"file\": ..., \"caption\": ...\}"):
        read_captions(tmp_path / "list.json")


def test_absolute_paths_in_the_captions_file(tmp_path):
    """A captions file written by a script often holds absolute paths: those inside the folder match its
    videos (they were all 'no caption for video(s)'); one outside it is named."""
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", 8)
    (tmp_path / "caps.csv").write_text(f"file,caption\n{tmp_path / 'videos' / 'a.mp4'},red\n")
    ds = VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))
    ds.check()
    assert ds.files == ["a.mp4"] and ds[0]["caption"] == "red"
    (tmp_path / "caps.csv").write_text(f"file,caption\nvideos/a.mp4,red\n{tmp_path / 'b.mp4'},blue\n")
    with pytest.raises(ValueError, match=r"names '.*b.mp4', which is not in the video folder .*videos"):
        VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))


def test_videos_of_different_frame_rates_are_named_in_a_warning(tmp_path, caplog):
    """Frames are taken as they are: a 24 fps video among 8 fps ones moves three times slower per frame."""
    write_video(tmp_path / "a.mp4", 8)
    write_video(tmp_path / "b.mp4", 8)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "frame rate" not in caplog.text
    video = np.zeros((8, 24, 32, 3), np.uint8)
    io_video.write_video(tmp_path / "b.mp4", io_video.from_uint8_frames(video), 24)
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "have 2 frame rates (8 fps: 1 (e.g. a.mp4), 24 fps: 1 (e.g. b.mp4))" in caplog.text
    caplog.clear()  # the check of a run's sample videos does not repeat it
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "frame rate" not in caplog.text


def test_a_second_check_of_the_same_files_does_not_read_them_again(tmp_path, monkeypatch, capsys):
    """A run's sample videos rebuild the dataset every --sample-every steps, which opened (and, for a WebM
    without a frame count, decoded) every video again, with a bar in the log; a file changed since is
    read again."""
    from streamt2v.train import data

    decoded = []
    real_decode = data.decode_video
    monkeypatch.setattr(
        data,
        "decode_video",
        lambda path, max_frames=None: decoded.append(path) or real_decode(path, max_frames),
    )
    write_video(tmp_path / "a.webm", 8)
    for i in range(60):  # a bar's worth of files; stderr is not a terminal here: no bar
        (tmp_path / f"{i:02d}.webm").write_bytes((tmp_path / "a.webm").read_bytes())
    names = sorted(p.name for p in tmp_path.glob("*.webm"))
    (tmp_path / "caps.csv").write_text("file,caption\n" + "".join(f"{n},red\n" for n in names))
    spec = ClipSpec(num_frames=4, size=16)
    VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert len(decoded) == 61
    VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert len(decoded) == 61
    write_video(tmp_path / "a.webm", 3)
    with pytest.raises(ValueError, match="a.webm has 3 frames; a clip needs 4"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert "checking videos" not in capsys.readouterr().err


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

    frames = io_video.DecodedFrames(
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

    from streamt2v.train import data

    path = tmp_path / "cut.mp4"
    write_edit_list_mp4(path, keep=keep)
    real = 57 if keep is None else 48
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 60
    assert len(io_video.decode_frames(path)[0]) == real
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\n")
    decoded = []
    real_decode = data.decode_video
    monkeypatch.setattr(
        data, "decode_video", lambda p, max_frames=None: decoded.append(p) or real_decode(p, max_frames)
    )
    for max_start in (0, 1000):
        spec = ClipSpec(num_frames=real + 1, size=16, max_start=max_start)
        ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec)
        with pytest.raises(
            ValueError,
            match=rf"^video {path} has {real} frames \(its container lists 60; an edit list drops "
            rf"{60 - real}\); a clip needs {real + 1}$",
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
    from streamt2v.train.data import frame_rate, probe_video, training_frame_rate

    path = tmp_path / "a.gif"
    write_gif(path, kind, fps)
    (tmp_path / "caps.csv").write_text("file,caption\na.gif,noise\n")
    assert io_video.decode_frames(path)[1] == pytest.approx(fps)
    assert training_frame_rate(tmp_path, tmp_path / "caps.csv") == round(fps)  # before any check
    assert frame_rate(path) == pytest.approx(fps)
    spec = ClipSpec(num_frames=6, size=16)
    VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert probe_video(path, 6, 206).fps == io_video.decode_frames(path)[1]


def test_a_gif_and_a_video_of_one_rate_are_not_named_in_the_rate_warning(tmp_path, caplog):
    """An 8 fps GIF written by streamt2v (13, 12, 13, ... cs) beside an 8 fps mp4 was '2 frame rates (8
    fps: 1, 8.33 fps: 1)'."""
    write_video(tmp_path / "a.mp4", 8)
    write_gif(tmp_path / "b.gif", "streamt2v", 8)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.gif,noise\n")
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "frame rate" not in caplog.text


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


def test_the_folder_and_the_captions_file_swapped_or_mistaken_are_named_as_such(tmp_path):
    # `--captions myvids` said "captions file myvids does not exist", of a folder that exists
    write_video(tmp_path / "a.mp4", 8)
    caps = tmp_path / "caps.csv"
    caps.write_text("file,caption\na.mp4,red\n")
    with pytest.raises(
        IsADirectoryError, match=rf"^captions file {tmp_path} is a folder; give the captions file"
    ):
        read_captions(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        VideoFolderDataset(tmp_path, tmp_path, ClipSpec(num_frames=2, size=16))
    with pytest.raises(NotADirectoryError, match=rf"^video folder {caps} is a file; --data takes the folder"):
        VideoFolderDataset(caps, caps, ClipSpec(num_frames=2, size=16))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_captions(tmp_path / "gone.csv")


def test_captions_are_not_cut_at_unicode_line_breaks_and_one_line_jsonl_is_a_row(tmp_path):
    """``str.splitlines`` also ends a line at U+2028, U+0085 and form feeds, which ``json.dumps(...,
    ensure_ascii=False)`` and text pasted from web pages leave in captions: the caption was cut there (an
    error naming half a JSON object, or a row named 'growing'). A one-line JSONL file with another key, or
    without its caption, was read as a ``{file: caption}`` document."""
    (tmp_path / "caps.jsonl").write_text(
        json.dumps({"file": "a.mp4", "caption": "a red bar\u2028growing"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    assert read_captions(tmp_path / "caps.jsonl") == {"a.mp4": "a red bar\u2028growing"}
    (tmp_path / "caps.csv").write_text(
        "file,caption\na.mp4,a red bar\u2028growing\nb.mp4,blue\x85sky\x0c\n", encoding="utf-8"
    )
    assert read_captions(tmp_path / "caps.csv") == {
        "a.mp4": "a red bar\u2028growing",
        "b.mp4": "blue\x85sky\x0c",
    }
    (tmp_path / "one.jsonl").write_text('{"file": "a.mp4", "caption": "red", "source": "cam1"}\n')
    assert read_captions(tmp_path / "one.jsonl") == {"a.mp4": "red"}
    (tmp_path / "one.jsonl").write_text('{"file": "a.mp4"}\n')
    with pytest.raises(ValueError, match=r'one.jsonl:1: expected \{"file": ..., "caption": ...\}, got'):
        read_captions(tmp_path / "one.jsonl")


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("caps.csv", "", r"captions file .*caps.csv is empty$"),
        ("caps.jsonl", "\n\n", r"captions file .*caps.jsonl is empty$"),
        ("caps.csv", "file,caption\n,\n", r"captions file .*caps.csv lists no videos \(only a header\)$"),
        ("caps.json", "[]", r"captions file .*caps.json lists no videos$"),
        (
            "caps.csv",
            'file,caption\na.mp4,"a red bar\nb.mp4,blue\n',
            r"caps.csv:2: the caption of 'a.mp4' runs on into line 3 \('b.mp4,blue'\), a row of its own: "
            "close the double quote",
        ),
        (  # in the last row no later row shows it: the caption was the rest of the file, silently
            "caps.csv",
            'file,caption\nb.mp4,blue\na.mp4,"a dog\n',
            r"caps.csv:3: the caption of 'a.mp4' runs on to the end of the file: close the double quote it "
            r'opens \(a quote inside a quoted caption is written ""\)$',
        ),
        (
            "caps.csv",
            'file,caption\na.mp4,"a dog',
            r"caps.csv:2: the caption of 'a.mp4' runs on to the end of the file: close the double quote",
        ),
        (
            "caps.csv",
            "a.mp4,red\nb.mp4,blue\n",
            r"caps.csv:1: the CSV header must have columns 'file' and 'caption', got \['a.mp4', 'red'\]: "
            r"this is a row; put the header line file,caption above it$",
        ),
        (
            "caps.csv",
            "file,caption,file\na.mp4,red,b.mp4\n",
            r"caps.csv:1: the CSV header names the column 'file' twice",
        ),
    ],
)
def test_empty_and_malformed_caption_files_are_named_before_the_folder(tmp_path, name, text, message):
    """An empty captions file said 'got None' of its header, or passed as no captions at all, so the error
    was every video of the folder without a caption; a quote never closed made the rest of the file one
    caption (silently, at the end of the file); a header-less CSV or a header naming 'file' twice (the
    last one won) were not named as such."""
    write_video(tmp_path / "a.mp4", 4)
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        VideoFolderDataset(tmp_path, tmp_path / name, ClipSpec(num_frames=2, size=16))


def test_a_unicode_text_export_of_a_spreadsheet_is_read(tmp_path):
    """A spreadsheet's "Unicode text" is UTF-16 with a byte-order mark and tabs (was 'not UTF-8 text')."""
    (tmp_path / "caps.tsv").write_bytes("file\tcaption\r\na.mp4\tgrüne Katze 🐈\r\n".encode("utf-16"))
    assert read_captions(tmp_path / "caps.tsv") == {"a.mp4": "grüne Katze 🐈"}


def test_hidden_files_need_no_caption_and_what_the_scan_leaves_out_is_counted(tmp_path, caplog):
    """A folder copied from a Mac to a USB disk holds ``._a.mp4`` metadata files: each was 'no caption for
    video(s)', a file its owner never sees. Hidden files and folders are left out, unless captioned, and
    the log says how many videos the run trains on and what it left out, each group with why (a file
    that is no video was said to have "no caption")."""
    import logging

    write_video(tmp_path / "a.mp4", 4)
    (tmp_path / "._a.mp4").write_bytes(b"\x00\x05\x16\x07" + bytes(100))
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_video(tmp_path / ".ipynb_checkpoints" / "b.mp4", 4)
    (tmp_path / "notes.txt").write_text("shot list")
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n")
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    assert ds.files == ["a.mp4"]
    assert (
        f"1 video in {tmp_path}, captioned by {tmp_path / 'caps.csv'}; not used: 2 hidden video files without "
        "a caption ('._a.mp4', '.ipynb_checkpoints/b.mp4') and 1 file that is not a video ('notes.txt')"
        in caplog.text
    )
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n.ipynb_checkpoints/b.mp4,blue\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    assert ds.files == [".ipynb_checkpoints/b.mp4", "a.mp4"]  # a captioned hidden video is used


def test_captions_of_missing_files_name_their_lines(tmp_path):
    """The captions file's line of a name not in the folder is given (it was the name alone), and a name
    that differs from a video's only in case says so."""
    write_video(tmp_path / "A.MP4", 4)
    (tmp_path / "caps.csv").write_text("file,caption\nA.MP4,red\ngone.mp4,blue\n")
    with pytest.raises(FileNotFoundError, match=r"names file\(s\) not in .*: \['gone.mp4'\] \(line 3\)$"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "a.mp4", "caption": "red"}) + "\n")
    with pytest.raises(
        ValueError,
        match=r"no caption for video\(s\) \['A.MP4'\] .*: \['a.mp4'\] \(line 1\) \(file names are "
        r"case-sensitive: 'A.MP4' in the folder, 'a.mp4' in the captions\)$",
    ):
        VideoFolderDataset(tmp_path, tmp_path / "caps.jsonl", ClipSpec(num_frames=2, size=16))


def test_a_video_whose_frames_are_damaged_is_named_at_its_sample_with_what_to_do(tmp_path):
    """The check reads packets, not frames: a file damaged inside its frame data (not cut short) passes it
    and fails at its first sample. That error said only 'cannot read video', mid-run; it now says why the
    check let it through and what to do (the same sample would fail again on a plain resume)."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(tmp_path / "a.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for _ in range(24):
            image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = bytearray((tmp_path / "a.mp4").read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 3000):
        data[k] = (data[k] * 7 + 13) % 256
    (tmp_path / "a.mp4").write_bytes(bytes(data))
    (tmp_path / "caps.csv").write_text("file,caption\n\na.mp4,noise\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16, max_start=8))
    ds.check()
    # moved out but still captioned, a resume stopped at "caps.csv names file(s) not in ...": say both
    with pytest.raises(
        ValueError,
        match=r"^cannot read video '.*a.mp4': .* \(sample 0; the check before the first step reads packets, "
        r"not frames: move the video out of the folder and delete its caption line \(line 3 of "
        r".*caps.csv\), then --resume\)$",
    ):
        ds[0]


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
        r"line \(line 2 of .*caps.csv\), then --resume\)$",
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
    with pytest.raises(ValueError, match=r"^video .*a.mp4 has 4 frames; a clip needs 16$"):
        ds[0]


def test_videos_smaller_than_the_training_size_are_named_in_a_warning(tmp_path, caplog):
    """A 32×32 video in a 64-pixel refiner run is upscaled, so it trains the refiner on blur: it was
    silent."""
    import logging

    write_video(tmp_path / "small.mp4", 4, h=16, w=24)
    write_video(tmp_path / "big.mp4", 4, h=32, w=32)
    (tmp_path / "caps.csv").write_text("file,caption\nsmall.mp4,red\nbig.mp4,blue\n")
    with caplog.at_level(logging.WARNING, logger="streamt2v.train.data"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=24)).check()
    assert (
        f"1 of 2 videos in {tmp_path} are smaller than the training size 24 and are upscaled (blurred): "
        "small.mp4 (16 px)" in caplog.text
    )


def test_videos_in_linked_folders_are_seen_and_paths_from_the_wrong_folder_are_explained(tmp_path):
    """A folder of links to a dataset's parts: ``Path.rglob`` did not enter them, so their videos were
    left out without a word (a link back up is walked once). Names written relative to the working
    folder (``videos/a.mp4`` for ``--data videos``) are explained."""
    (tmp_path / "shots").mkdir()
    write_video(tmp_path / "shots" / "b.mp4", 4)
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", 4)
    (tmp_path / "videos" / "part2").symlink_to(tmp_path / "shots")
    (tmp_path / "shots" / "up").symlink_to(tmp_path / "videos")  # a loop
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n")
    with pytest.raises(ValueError, match=r"no caption for video\(s\) \['part2/b.mp4'\] in .* \(1 in all\)$"):
        VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\npart2/b.mp4,blue\n")
    ds = VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    ds.check()
    assert ds.files == ["a.mp4", "part2/b.mp4"]
    (tmp_path / "caps.csv").write_text("file,caption\nvideos/a.mp4,red\nvideos/part2/b.mp4,blue\n")
    with pytest.raises(
        ValueError,
        match=r"\(names in the captions file are relative to the video folder: 'videos/a.mp4' is 'a.mp4' there\)$",
    ):
        VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))


@pytest.mark.parametrize("recipe_name", ["vae", "base image_batch=1", "base latent_cache=2"])
def test_a_resume_after_the_videos_changed_says_so(tmp_path, caplog, request, recipe_name):
    """Moving a video out (or recaptioning one) and resuming continued with other samples, silently; with
    joint images or a latent cache the recipe's dataset is a wrapper, and it stayed silent there."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    data = tmp_path / "data"
    data.mkdir()
    for name in "abc":
        write_video(data / f"{name}.mp4", 8, h=16, w=16)
    captions = tmp_path / "caps.csv"
    captions.write_text("file,caption\na.mp4,a red bar\nb.mp4,a red bar\nc.mp4,a red bar\n")
    name, _, option = recipe_name.partition(" ")
    if name == "vae":
        tiny = dict(
            size=16, block_out_channels=[8, 16], norm_num_groups=4, scaling_samples=1, frames_per_sample=1
        )
    else:
        key, value = option.split("=")
        vae, clip = request.getfixturevalue("encoders")
        tiny = dict(
            size=16, vae=vae, clip=clip, num_frames=4, max_start=4, sample_steps=2, **{key: int(value)}
        )
    recipe = make_recipe(name, data=str(data), captions=str(captions), **tiny)
    out = tmp_path / "run"
    train(recipe, TrainConfig(steps=1, batch_size=2), out, progress=False, export=False)
    with caplog.at_level("WARNING"):
        train(recipe, TrainConfig(steps=2, batch_size=2), out, resume=True, progress=False, export=False)
    assert "training videos changed" not in caplog.text  # the same videos: a quiet resume

    captions.write_text("file,caption\na.mp4,a red bar\nb.mp4,a blue bar\nc.mp4,a red bar\n")
    with caplog.at_level("WARNING"):
        train(recipe, TrainConfig(steps=3, batch_size=2), out, resume=True, progress=False, export=False)
    assert "training videos changed since" in caplog.text
    assert "(other files, sizes or captions): the resumed run draws other samples" in caplog.text

    caplog.clear()
    (data / "c.mp4").unlink()
    captions.write_text("file,caption\na.mp4,a red bar\nb.mp4,a blue bar\n")
    with caplog.at_level("WARNING"):
        train(recipe, TrainConfig(steps=4, batch_size=2), out, resume=True, progress=False, export=False)
    assert "(3 videos, now 2): the resumed run draws other samples" in caplog.text


def test_joint_images_from_other_videos_are_part_of_what_a_resume_compares(tmp_path):
    """Images drawn from another folder than the clips: a change there changes the samples too."""
    from streamt2v.train.joint_images import WithImages

    write_video(tmp_path / "a.mp4", 4)
    (tmp_path / "clips.csv").write_text("file,caption\na.mp4,red\n")
    (tmp_path / "images.csv").write_text("file,caption\na.mp4,a red bar\n")
    clips = VideoFolderDataset(tmp_path, tmp_path / "clips.csv", ClipSpec(num_frames=2, size=16))
    images = VideoFolderDataset(tmp_path, tmp_path / "images.csv", ClipSpec(num_frames=1, size=16))
    same = VideoFolderDataset(tmp_path, tmp_path / "clips.csv", ClipSpec(num_frames=1, size=16))
    assert WithImages(clips, same, 1).fingerprint() == clips.fingerprint()
    assert WithImages(clips, images, 1).fingerprint() == {
        **clips.fingerprint(),
        "images": images.fingerprint(),
    }


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
        f"video {tmp_path / 'cut.mp4'} has 13 frames; a clip needs 16; its container lists 16 frames, the "
        "file holds 13: it was cut short (an unfinished copy, download or recording)"
    )
    write_video(tmp_path / "short.mp4", 13)
    (tmp_path / "caps.csv").write_text("file,caption\ncut.mp4,noise\nshort.mp4,red\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=16, size=16))
    with pytest.raises(ValueError) as err:
        ds.check()
    assert str(err.value).endswith(  # in the list of several too; a video simply short has no such clause
        f"video {tmp_path / 'cut.mp4'} has 13 frames; its container lists 16 frames, the file holds 13: it "
        f"was cut short (an unfinished copy, download or recording); video {tmp_path / 'short.mp4'} has 13 frames"
    )
