"""Real-data folder dataset (``train/data.py``): reading clips, the check before training (frame rates and
sizes, hidden and linked files, a run's own files inside the video folder), the sample videos' frame rate
and what a resume compares. Videos cut short or damaged, and the one error naming every bad video:
``test_train_data_damaged.py``; captions files: ``test_train_captions.py``; how samples are decoded:
``test_train_data_seek.py``."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import write_video
from streamt2v.io import video as io_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.captions import read_captions
from streamt2v.train.data import VideoFolderDataset


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
    with pytest.raises(ValueError, match="short.mp4' has 3 frames; a clip needs 6"):
        recipe.dataset(0)


def test_joint_images_from_a_video_folder_are_frames_of_the_captioned_videos(tmp_path):
    from streamt2v.train.data import to_clip_tensor
    from streamt2v.train.recipes import make_recipe
    from streamt2v.train.video_probe import decode_video

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


def test_videos_of_different_frame_rates_are_named_in_a_warning(tmp_path, caplog):
    """Frames are taken as they are: a 24 fps video among 8 fps ones moves three times slower per frame."""
    write_video(tmp_path / "a.mp4", 8)
    write_video(tmp_path / "b.mp4", 8)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "frame rate" not in caplog.text
    video = np.zeros((8, 24, 32, 3), np.uint8)
    io_video.write_video(tmp_path / "b.mp4", io_video.from_uint8_frames(video), 24, overwrite=True)
    with caplog.at_level("WARNING"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16)).check()
    assert "have 2 frame rates (8 fps: 1 (e.g. a.mp4), 24 fps: 1 (e.g. b.mp4))" in caplog.text


def test_sample_videos_of_a_run_on_videos_play_at_their_frame_rate(tmp_path):
    """The sample videos were written at the microworld's 8 fps whatever the training videos' rate: those of
    a run on 24 fps videos played three times too slow (the run records 24 in config.json)."""
    import av

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    frames = np.zeros((6, 16, 16, 3), np.uint8)
    frames[:, :, :8] = (200, 40, 40)
    for name in ("a.mp4", "b.mp4"):
        io_video.write_video(tmp_path / name, io_video.from_uint8_frames(frames), 24)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    recipe = make_recipe(
        "vae", data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, scaling_samples=2
    )
    out = tmp_path / "run"
    train(recipe, TrainConfig(steps=1, batch_size=1, sample_every=1, ema_decay=None), out, progress=False)
    with av.open(str(out / "samples" / "vae-00000001.mp4")) as container:
        assert container.streams.video[0].average_rate == 24
    # which video the sample shows, by its caption beside it
    assert recipe.sample_inputs().items[0]["caption"] in ("red", "blue")
    assert (out / "samples" / "vae-00000001.txt").read_text() == recipe.sample_inputs().items[0][
        "caption"
    ] + "\n"


def test_a_run_checks_its_videos_once_and_each_run_says_what_it_found(tmp_path, caplog, monkeypatch):
    """Every sample video of a run made the dataset again, checking the whole folder each --sample-every
    steps, and module-level sets kept its warnings from being repeated, for as long as the process lived:
    a second run in the process (a test, a notebook) was not told its videos' frame rates differ."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    checks = []
    real_check = VideoFolderDataset.check
    monkeypatch.setattr(
        VideoFolderDataset, "check", lambda ds, *a, **k: checks.append(1) or real_check(ds, *a, **k)
    )
    write_video(tmp_path / "a.mp4", 4)
    io_video.write_video(
        tmp_path / "b.mp4", io_video.from_uint8_frames(np.zeros((4, 16, 16, 3), np.uint8)), 24
    )
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    recipe = make_recipe(
        "vae",
        data=str(tmp_path),
        captions=str(tmp_path / "caps.csv"),
        size=16,
        block_out_channels=[8, 16],
        norm_num_groups=4,
        frames_per_sample=1,
    )
    cfg = TrainConfig(steps=1, batch_size=1, sample_every=1, ema_decay=None)
    for run in ("run", "another run"):
        caplog.clear()
        with caplog.at_level("INFO", logger="streamt2v.train.data"):
            train(recipe, cfg, tmp_path / run, progress=False, export=False)
        assert caplog.text.count("have 2 frame rates") == 1
        assert caplog.text.count(f"2 videos in {str(tmp_path)!r}, captioned by") == 1
        assert len(list((tmp_path / run / "samples").iterdir())) == 2  # the video and its caption
    assert len(checks) == 2  # one per run, not one per sample


def test_a_second_check_of_the_same_files_does_not_read_them_again(tmp_path, monkeypatch, capsys):
    """A second check of a dataset (its samples use what the check read) opened (and, for a WebM without a
    frame count, decoded) every video again, with a bar in the log; a file changed since is read again. What
    a dataset read is its own: it was a module's cache, which outlived the run (another dataset of the same
    files reads them)."""
    from streamt2v.train import video_probe

    decoded = []
    real_decode = video_probe.decode_video
    monkeypatch.setattr(
        video_probe,
        "decode_video",
        lambda path, max_frames=None: decoded.append(path) or real_decode(path, max_frames),
    )
    write_video(tmp_path / "a.webm", 8)
    for i in range(60):  # a bar's worth of files; stderr is not a terminal here: no bar
        (tmp_path / f"{i:02d}.webm").write_bytes((tmp_path / "a.webm").read_bytes())
    names = sorted(p.name for p in tmp_path.glob("*.webm"))
    (tmp_path / "caps.csv").write_text("file,caption\n" + "".join(f"{n},red\n" for n in names))
    spec = ClipSpec(num_frames=4, size=16)
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec)
    ds.check()
    assert len(decoded) == 61
    ds.check()
    assert len(decoded) == 61
    VideoFolderDataset(tmp_path, tmp_path / "caps.csv", spec).check()
    assert len(decoded) == 122
    write_video(tmp_path / "a.webm", 3)
    with pytest.raises(ValueError, match="a.webm' has 3 frames; a clip needs 4"):
        ds.check()
    assert "checking videos" not in capsys.readouterr().err


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
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    assert ds.files == ["a.mp4"]
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        ds.check()  # a run's check, once before its first step, says it
    assert (
        f"1 video in {str(tmp_path)!r}, captioned by {str(tmp_path / 'caps.csv')!r}; not used: 2 hidden video files without "
        "a caption ('._a.mp4', '.ipynb_checkpoints/b.mp4') and 1 file that is not a video ('notes.txt')"
        in caplog.text
    )
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n.ipynb_checkpoints/b.mp4,blue\n")
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    assert ds.files == [".ipynb_checkpoints/b.mp4", "a.mp4"]  # a captioned hidden video is used


def test_a_run_inside_its_video_folder_does_not_read_its_own_files_as_videos(tmp_path, caplog):
    """``--data . --out runs/base`` (or an --out inside the video folder): the run's first sample video was
    met by the next sample (which makes the dataset again), the export and every resume as a video without
    a caption ("no caption for video(s) ['run/samples/vae-00000001.mp4']"), stopping the run."""
    import logging

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / name, 4)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, scaling_samples=2)
    recipe = make_recipe("vae", **options)
    cfg = TrainConfig(steps=2, batch_size=1, sample_every=1, ema_decay=None)
    out = tmp_path / "runs" / "vae"
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        train(recipe, cfg, out, progress=False)
    # the first run's own lock (its folder held, no config.json yet) was "1 file that is not a video"
    assert "not used: 1 file in a training run's folder ('runs/vae/.lock')" in caplog.text, caplog.text
    caplog.clear()
    made = ["vae-00000001.mp4", "vae-00000001.txt", "vae-00000002.mp4", "vae-00000002.txt"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == made
    result = train(make_recipe("vae", **options), replace(cfg, steps=3), out, resume=True, progress=False)
    assert result.step == 3 and (out / "samples" / "vae-00000003.mp4").is_file()
    # the check's log line names them
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
        ds.check()
    assert ds.files == ["a.mp4", "b.mp4"]
    assert "files in training runs' folders ('runs/vae/.lock', 'runs/vae/checkpoints/latest', " in caplog.text


def test_videos_smaller_than_the_training_size_are_named_in_a_warning(tmp_path, caplog):
    """A 32×32 video in a 64-pixel refiner run is upscaled, so it trains the refiner on blur: it was
    silent."""
    import logging

    write_video(tmp_path / "small.mp4", 4, h=16, w=24)
    write_video(tmp_path / "big.mp4", 4, h=32, w=32)
    (tmp_path / "caps.csv").write_text("file,caption\nsmall.mp4,red\nbig.mp4,blue\n")
    with caplog.at_level(logging.WARNING, logger="streamt2v.train.data"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=24)).check()
    assert (  # one video "is" smaller (it said "are")
        f"1 of 2 videos in {str(tmp_path)!r} is smaller than the training size 24 and is upscaled (blurred): "
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
    with pytest.raises(ValueError, match=r"no caption for a video in .*: 'part2/b.mp4'$"):
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


def test_links_to_missing_files_are_named_as_links(tmp_path, caplog):
    """A folder of links into a dataset that moved (or a disk not mounted): a captioned link was 'names
    file(s) not in videos' of a file ``ls`` lists there, and an uncaptioned one was left out unsaid."""
    import logging

    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", 4)
    (tmp_path / "videos" / "b.mp4").symlink_to(tmp_path / "gone" / "b.mp4")
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    with pytest.raises(
        FileNotFoundError,
        match=r"names a file not in the video folder '.*videos': 'b.mp4' \(line 3\); 'b.mp4' is a link to .*gone/b.mp4, "
        "which does not exist$",
    ):
        VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\n")
    ds = VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    assert ds.files == ["a.mp4"]
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        ds.check()
    assert "; not used: 1 link to a missing file ('b.mp4')" in caplog.text
    # a linked folder that is gone, while another video lacks its caption: the link is named all the same
    (tmp_path / "videos" / "b.mp4").unlink()
    (tmp_path / "videos" / "part2").symlink_to(tmp_path / "gone")
    write_video(tmp_path / "videos" / "d.mp4", 4)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\npart2/c.mp4,blue\n")
    with pytest.raises(
        ValueError, match=r"no caption for a video in .*: 'd.mp4'.*; 'part2' is a link to .*gone, "
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
