"""A training folder whose videos are all too short for the recipe's clips: the advice names the recipe's
option that sets the clip's frames, as the command line and the Python API spell it."""

from __future__ import annotations

import pytest

from conftest import write_video
from streamt2v.arguments import ArgumentValueError
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.data import VideoFolderDataset


def _short_folder(tmp_path):
    for name, frames in (("a.mp4", 3), ("b.mp4", 5)):
        write_video(tmp_path / name, frames)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    return tmp_path / "caps.csv"


def test_a_folder_of_videos_all_too_short_is_told_to_take_shorter_clips(tmp_path):
    """Every video shorter than the clip (``--num-frames 48`` on 40-frame videos) was met with the advice to
    move them all out of the folder and delete their captions, which leaves nothing to train on. The longest
    video's frames alone were then advised: following it, the check refused the shorter videos next; the
    shortest's keep them all."""
    caps = _short_folder(tmp_path)
    with pytest.raises(ArgumentValueError) as err:
        VideoFolderDataset(tmp_path, caps, ClipSpec(num_frames=6, size=16)).check()
    assert str(err.value) == (
        f"every video in {str(tmp_path)!r} is too short for a 6-frame clip: take shorter clips (num_frames=3, the "
        "shortest video's frames; or num_frames=5, the longest video's frames, with the videos under 5 frames "
        f"moved out and their captions deleted) or add longer videos: video {str(tmp_path / 'a.mp4')!r} has 3 frames; "
        f"video {str(tmp_path / 'b.mp4')!r} has 5 frames"
    )
    assert (
        err.value.as_flags()
        .spelled(flags=True)
        .startswith(
            f"every video in {str(tmp_path)!r} is too short for a 6-frame clip: take shorter clips (--num-frames 3, "
        )
    )
    VideoFolderDataset(tmp_path, caps, ClipSpec(num_frames=3, size=16)).check()  # the advice is taken


@pytest.mark.parametrize("recipe", ["vae", "clip"])
def test_the_vae_and_clip_recipes_name_their_own_frames_option(tmp_path, recipe):
    """They set their clips with frames_per_sample and refuse --num-frames, which the advice named."""
    from streamt2v.train.recipes import make_recipe

    caps = _short_folder(tmp_path)
    made = make_recipe(recipe, data=str(tmp_path), captions=str(caps), size=16)
    made.frames_per_sample = 6
    with pytest.raises(ArgumentValueError) as err:
        made.dataset(0)
    assert "take shorter clips (frames_per_sample=3, the shortest video's frames; or" in str(err.value)
    assert "take shorter clips (--set frames_per_sample=3, " in err.value.as_flags().spelled(flags=True)


def test_the_stream_recipe_asks_for_videos_as_long_as_its_shortest_clip(tmp_path):
    """Its clips hold the conditioning frames and one more: '--num-frames 5' (the longest video's), as advised,
    was refused with 'num_frames=5 must exceed num_cond_frames=8'."""
    from streamt2v.train.recipes import make_recipe

    caps = _short_folder(tmp_path)
    made = make_recipe("stream", data=str(tmp_path), captions=str(caps), size=16)
    with pytest.raises(ArgumentValueError) as err:
        made.clips(0)
    assert str(err.value).startswith(
        f"every video in {str(tmp_path)!r} is too short for a 16-frame clip: add videos of at least 9 frames (the "
        "recipe's shortest clip): video "
    )
    made.num_frames = 5
    with pytest.raises(
        ArgumentValueError
    ) as err:  # the refusal of the clip length itself, in the caller's terms
        made.streaming_config(None, None, None)
    assert str(err.value) == "num_frames=5 must exceed the 8 conditioning frames of preset 'tiny'"
    assert err.value.as_flags().spelled(flags=True).startswith("--num-frames 5 must exceed")


def test_a_run_given_its_own_dataset_checks_the_recipes_folder_where_its_samples_come_from(tmp_path, caplog):
    """A run given a dataset (``train(dataset=...)``) makes none of the recipe's, whose check its sample
    videos and the VAE's scaling samples counted on ("the training clips were checked"): the recipe's folder
    was never checked, and a video too short failed at its sample. It is checked there, once."""
    from streamt2v.train.recipes import make_recipe

    caps = _short_folder(tmp_path)
    made = make_recipe("vae", data=str(tmp_path), captions=str(caps), size=16)
    made.frames_per_sample = 6
    advice = (
        r"take shorter clips \(frames_per_sample=3, the shortest video's frames; or frames_per_sample=5, "
    )
    with pytest.raises(ArgumentValueError, match=advice):
        made.sample_inputs()
    with pytest.raises(ArgumentValueError, match=advice):
        made.measure_scaling_factor(vae=None)  # the check comes before the VAE is used
    made.frames_per_sample = 3  # every video long enough: checked once, by the run's training clips
    with caplog.at_level("INFO", logger="streamt2v.train.data"):
        made.dataset(0)
        made.sample_inputs()
    assert caplog.text.count(f"2 videos in {str(tmp_path)!r}") == 1
