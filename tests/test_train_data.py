"""Real-data folder dataset: PyAV decoding, crop/resize, clear errors (training on user videos)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamt2v.io import video as io_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.data import VideoFolderDataset, read_captions


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
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nshort.mp4,blue\nbad.mp4,x\ngone.mp4,y\n")
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))


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
