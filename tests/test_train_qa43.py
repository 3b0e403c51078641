"""Defects found by the session-43 QA of ``streamt2v train`` (each test fails on the code before its fix)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streamt2v.train.loop import TrainConfig


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number ≥ 0, got inf"),
        ({"weight_decay": -0.1}, r"weight_decay must be a finite number ≥ 0, got -0.1"),
    ],
)
def test_a_learning_rate_or_weight_decay_that_is_not_finite_is_refused_up_front(options, message):
    """--lr inf took a step (logged as "lr": Infinity, which is no JSON) and failed at the export with "latent
    std is nan; the VAE did not train"; --lr nan and a negative weight decay got torch's words, naming no
    setting; --weight-decay inf trained into NaN weights."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_a_run_inside_its_video_folder_does_not_read_its_own_files_as_videos(tmp_path, caplog):
    """``--data . --out runs/base`` (or an --out inside the video folder): the run's first sample video was
    met by the next sample (which makes the dataset again), the export and every resume as a video without
    a caption ("no caption for video(s) ['run/samples/vae-00000001.mp4']"), stopping the run."""
    import logging

    from conftest import write_video
    from streamt2v.microworld.dataset import ClipSpec
    from streamt2v.train.data import VideoFolderDataset
    from streamt2v.train.loop import train
    from streamt2v.train.recipes import make_recipe

    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / name, 4)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, scaling_samples=2)
    recipe = make_recipe("vae", **options)
    cfg = TrainConfig(steps=2, batch_size=1, sample_every=1, ema_decay=None)
    out = tmp_path / "runs" / "vae"
    train(recipe, cfg, out, progress=False)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["vae-00000001.mp4", "vae-00000002.mp4"]
    result = train(make_recipe("vae", **options), replace(cfg, steps=3), out, resume=True, progress=False)
    assert result.step == 3 and (out / "samples" / "vae-00000003.mp4").is_file()
    # the log line of the scan names them (said once per folder: the run's own scans said it already)
    (tmp_path / "caps.tsv").write_text("file\tcaption\na.mp4\tred\nb.mp4\tblue\n")
    with caplog.at_level(logging.INFO, logger="streamt2v.train.data"):
        ds = VideoFolderDataset(tmp_path, tmp_path / "caps.tsv", ClipSpec(num_frames=2, size=16))
    assert ds.files == ["a.mp4", "b.mp4"]
    assert "files in training runs' folders ('runs/vae/checkpoints/latest', " in caplog.text


def test_sample_videos_of_a_run_on_videos_play_at_their_frame_rate(tmp_path):
    """The sample videos were written at the microworld's 8 fps whatever the training videos' rate: those of
    a run on 24 fps videos played three times too slow (the run records 24 in config.json)."""
    import av
    import numpy as np

    from streamt2v.io import video as io_video
    from streamt2v.train.loop import train
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


def test_the_error_naming_videos_that_cannot_give_a_clip_says_to_delete_their_captions_too(tmp_path):
    """It said "move them out of the folder" (one video: nothing): done alone, the next start stopped at their
    captions, now naming files not in the folder. It names the captions' lines to delete as well."""
    from conftest import write_video
    from streamt2v.microworld.dataset import ClipSpec
    from streamt2v.train.data import VideoFolderDataset

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
        f"video {tmp_path / 'short.mp4'} has 3 frames; a clip needs 6; move it out of the folder and delete "
        f"its caption (line 3 of {caps})"
    )
    (tmp_path / "short.mp4").unlink()  # as it says
    caps.write_text("file,caption\na.mp4,red\n")
    VideoFolderDataset(tmp_path, caps, spec).check()


def test_a_stream_at_another_size_than_its_base_is_refused_before_training(tmp_path, encoders):
    """``train stream --size 64`` on a base trained at 32 trained without a word, and the model assembled
    from it generated at the base's 32 px (the stream takes the base's latent size): a size its stage 2
    was never trained at."""
    from streamt2v.train.recipes import make_recipe

    vae, clip = encoders
    common = dict(vae=vae, clip=clip, num_frames=12, max_start=10)
    base = tmp_path / "base"
    make_recipe("base", size=16, **common).build().net.save_pretrained(base, safe_serialization=True)
    with pytest.raises(
        ValueError, match=r"^--size 32: the base UNet .* was trained at 16 px \(latents 4×4, VAE "
    ):
        make_recipe("stream", size=32, base_unet=str(base), **common).build()
    make_recipe("stream", size=16, base_unet=str(base), **common).build()
