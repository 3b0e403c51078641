"""``enhance_video`` on pixel videos: output size, padding and crop to the canvas (aspect kept, even
sizes), slice-by-slice encode/decode, uint8 output, the seed and prompt schedules."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from conftest import SMALL
from streamt2v.io.video import read_video, write_video
from streamt2v.pipeline.enhance import enhance_video
from streamt2v.pipeline.enhance_canvas import fit_and_pad
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.refiner import Refiner


def test_fit_and_pad_box() -> None:
    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    out, box = fit_and_pad(video, (32, 64), pad=True)
    assert out.shape[-2:] == (32, 64) and box == (0, 16, 32, 32)
    assert torch.all(out[..., :16] == -1) and torch.all(out[..., 48:] == -1)  # black bars


def test_enhance_video_frames_size_pad_crop_and_seed(refiner: Refiner) -> None:
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(**SMALL)
    out = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    assert out.shape == (1, 3, 9, 32, 32) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False))
    padded = EnhanceConfig(resolution=(32, 64), pad_to_aspect=True, **SMALL)
    out = enhance_video(video, "a red circle", refiner, padded, seed=1, progress=False)
    assert out.shape == (1, 3, 9, 32, 32)  # the 32×64 canvas' pad is cropped again
    short = enhance_video(video[:, :, :2], "x", refiner, cfg, seed=1, progress=False)  # < one chunk
    assert short.shape == (1, 3, 2, 32, 32)


def test_without_a_config_the_refiner_recommendation_is_used() -> None:
    """Like the command line: a refiner trained for little noise is not run at the official 30 steps from
    t = 599 because the caller left the config out."""
    refiner = Refiner.random((32, 32), seed=0)
    refiner.recommended = {"start_step": 1, "steps": 1, "chunk_frames": 6, "overlap": 2}
    video = torch.rand(1, 3, 6, 16, 16) * 2 - 1
    out = enhance_video(video, "a red circle", refiner, seed=1)
    assert torch.equal(out, enhance_video(video, "a red circle", refiner, refiner.config(), seed=1))
    assert not torch.equal(out, enhance_video(video, "a red circle", refiner, EnhanceConfig(), seed=1))


def test_slice_by_slice_upscale_encode_decode_equal_the_whole_video(refiner: Refiner) -> None:
    """Stage 3 upscales, encodes, decodes and converts a slice of frames at a time (the canvas-sized float
    video of a long 720p output would be the largest tensor); the values are those of the whole video."""
    from streamt2v.io.video import to_uint8_frames
    from streamt2v.models.autoencoder import VideoAutoencoder
    from streamt2v.pipeline.enhance_canvas import crop, decoded_slices, gather_slices, upscale_and_encode

    video = torch.rand(2, 3, 11, 12, 20) * 2 - 1  # 11 frames: a last slice shorter than the others
    vae = VideoAutoencoder(refiner.vae.vae, frames_per_slice=4)
    whole, box = fit_and_pad(video, (32, 64), pad=True)
    latents, sliced_box = upscale_and_encode(video, vae, (32, 64), pad=True)
    assert sliced_box == box and torch.equal(latents, vae.encode(whole).float())
    decoder = VideoAutoencoder(refiner.vae.vae, frames_per_slice=3)
    frames = crop(decoder.decode(latents).float(), box)
    sliced = decoded_slices(latents, decoder, box, as_uint8=False)
    assert torch.equal(gather_slices(sliced, 11, as_uint8=False), frames)
    frames_u8 = gather_slices(decoded_slices(latents, decoder, box, as_uint8=True), 11, as_uint8=True)
    assert frames_u8.dtype == np.uint8 and frames_u8.shape == (2, 11, *frames.shape[-2:], 3)
    for i in range(2):
        np.testing.assert_array_equal(frames_u8[i], to_uint8_frames(frames[i]))


def test_enhance_video_as_uint8_gives_the_float_output_converted(refiner: Refiner) -> None:
    from streamt2v.io.video import to_uint8_frames

    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(resolution=(32, 64), pad_to_aspect=True, decode_frames_per_slice=4, **SMALL)
    floats = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    frames = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False, as_uint8=True)
    assert frames.shape == (1, 9, 32, 32, 3)
    np.testing.assert_array_equal(frames[0], to_uint8_frames(floats))


def test_enhance_video_follows_a_prompt_schedule(refiner: Refiner) -> None:
    from streamt2v.pipeline.prompts import PromptSchedule

    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(mode="independent", **SMALL)  # windows [0, 6), [3, 9)
    const = enhance_video(video, "a red circle", refiner, cfg, seed=1, progress=False)
    same = PromptSchedule(((0, "a red circle"),))
    assert torch.equal(enhance_video(video, same, refiner, cfg, seed=1, progress=False), const)
    switch = PromptSchedule(((0, "a red circle"), (5, "a blue square")))
    out = enhance_video(video, switch, refiner, cfg, seed=1, progress=False)
    assert torch.allclose(out[:, :, :3], const[:, :, :3], atol=1e-5)  # first chunk: first prompt
    assert not torch.allclose(out[:, :, -3:], const[:, :, -3:], atol=1e-3)  # last chunk: the second


def test_an_inline_schedule_string_is_a_schedule(refiner: Refiner) -> None:
    from streamt2v.pipeline.enhance_prompts import prompt_schedule
    from streamt2v.pipeline.prompts import PromptSchedule

    switch = PromptSchedule(((0, "a red circle"), (5, "a blue square")))
    assert prompt_schedule("0: a red circle; 5: a blue square", 9) == switch  # as StreamingT2VPipeline
    assert prompt_schedule(" a red circle ", 9) == PromptSchedule.constant("a red circle")
    assert prompt_schedule("3 red circles: bouncing", 9).is_constant  # a prompt with a colon, not a schedule
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    cfg = EnhanceConfig(mode="independent", **SMALL)
    text = enhance_video(video, "0: a red circle; 5: a blue square", refiner, cfg, seed=1, progress=False)
    assert torch.equal(text, enhance_video(video, switch, refiner, cfg, seed=1, progress=False))


def test_a_stretched_aspect_ratio_is_warned_about(refiner: Refiner, caplog) -> None:
    video = torch.rand(1, 3, 3, 16, 24) * 2 - 1
    cfg = EnhanceConfig(chunk_frames=3, overlap=1, steps=1)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        out = enhance_video(video, "a", refiner, cfg, progress=False)
    assert out.shape[-2:] == (32, 32)
    assert "input frames are 16x24 but the enhancer canvas is 32x32" in caplog.text
    assert (  # a field of the config, which enhance_video takes no keyword for
        "stretched to its aspect ratio; to fit and pad them instead, pass pad_to_aspect=True in the "
        "EnhanceConfig (config=refiner.config(pad_to_aspect=True))" in caplog.text
    )
    # a Python caller's own name (the command line's: test_enhance_cli)
    assert "--pad-to-aspect" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        padded = EnhanceConfig(chunk_frames=3, overlap=1, steps=1, pad_to_aspect=True)
        enhance_video(video, "a", refiner, padded, progress=False)
        enhance_video(video[..., :16], "a", refiner, cfg, progress=False)  # same aspect: no warning
    assert "stretched" not in caplog.text


def test_pad_to_aspect_keeps_even_sizes_so_an_mp4_can_be_written(refiner: Refiner, tmp_path) -> None:
    """A 16x22 video fitted into the 32x32 canvas was 23x32 after the crop: ``enhance -o x.mp4
    --pad-to-aspect`` ran the whole enhancement, then failed with 'H.264 (yuv420p) needs even frame sizes'.
    The fitted size is rounded to even sizes (24x32, the aspect within a pixel)."""
    from streamt2v.cli import main

    video = torch.rand(1, 3, 3, 16, 22) * 2 - 1
    out, box = fit_and_pad(video, (32, 32), pad=True)
    assert box == (4, 0, 24, 32) and torch.all(out[..., :4, :] == -1) and torch.all(out[..., 28:, :] == -1)
    cfg = EnhanceConfig(chunk_frames=4, overlap=1, steps=1, pad_to_aspect=True)
    assert enhance_video(video, "a", refiner, cfg, progress=False).shape == (1, 3, 3, 24, 32)
    # the canvas is the limit, and a frame of the canvas' own aspect fills it
    assert fit_and_pad(video[..., :16], (32, 32), pad=True)[1] == (0, 0, 32, 32)
    assert fit_and_pad(torch.zeros(1, 3, 1, 1, 40), (8, 8), pad=True)[1] == (3, 0, 2, 8)

    src = write_video(tmp_path / "in.mp4", video, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    dst = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a", "-o", str(dst), "--model", str(folder), "--pad-to-aspect"]
    assert main([*args, "--steps", "1", "--chunk-frames", "4", "--overlap", "1", "--no-progress"]) == 0
    assert read_video(dst)[0].shape == (1, 3, 3, 24, 32)


def test_a_canvas_the_vae_cannot_encode_is_a_setting_error_naming_resolution(refiner: Refiner) -> None:
    """``resolution=(34, 32)`` with a VAE of factor 4 was a plain ValueError, 'enhancer resolution (34, 32) is
    not divisible by the VAE scale factor 4', which the commands could not name as their flag; it is a
    setting, refused as one (and by ``checked_config`` before the video is read)."""
    import pytest

    from streamt2v.pipeline.refiner import checked_config
    from streamt2v.pipeline.setting_checks import EnhanceSettingError

    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    bad = EnhanceConfig(resolution=(34, 32), **SMALL)
    expected = r"^resolution 34x32 \(HxW\) must have sides divisible by 4, the refiner VAE's scale factor"
    with pytest.raises(EnhanceSettingError, match=expected):
        enhance_video(video, "a red circle", refiner, bad, seed=1, progress=False)
    with pytest.raises(EnhanceSettingError, match=expected):
        checked_config({"resolution": (34, 32)}, None)  # the random-weight stand-in's VAE: factor 4


def test_schedule_entries_no_chunk_is_refined_with_are_warned_about(refiner: Refiner, caplog) -> None:
    """A 24-frame video is one chunk, refined with the prompt at its middle frame (12): the entry at frame 16
    was never used, without a word (generate warns about entries none of its chunks use)."""
    video = torch.rand(1, 3, 24, 16, 16) * 2 - 1
    cfg = EnhanceConfig(steps=1, start_step=1)  # F = 24: one chunk
    schedule = "0: a red circle; 16: a green square"
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        enhance_video(video, schedule, refiner, cfg)
    assert "prompt schedule entry 16: 'a green square' is never used by stage 3" in caplog.text
    assert "middle frame, and the chunks' middle frames are 12" in caplog.text
    assert "entry 0:" not in caplog.text
    caplog.clear()
    two = EnhanceConfig(steps=1, start_step=1, chunk_frames=12, overlap=0)  # middles 6, 18
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        enhance_video(video, schedule, refiner, two)  # each entry refines a chunk: no warning
    assert "never used" not in caplog.text


def test_an_output_smaller_than_the_input_is_warned_about(refiner: Refiner, caplog) -> None:
    """A refiner whose canvas is smaller than the frames (32x32 here, for 48x40 input) shrank the video
    with no warning (only a stretched aspect ratio was warned about)."""
    video = torch.rand(1, 3, 2, 48, 40) * 2 - 1
    cfg = EnhanceConfig(steps=1, start_step=1)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        assert enhance_video(video, "a", refiner, cfg).shape[-2:] == (32, 32)
    assert (
        "the output frames will be 32x32, smaller than the input's 48x40 (HxW), on the 32x32 canvas (the "
        "refiner's frame size); use a refiner made for at least this size, or pass a larger canvas, e.g. "
        "resolution=(48, 40) in the EnhanceConfig (config=refiner.config(resolution=(48, 40)))" in caplog.text
    )
    assert "--resolution" not in caplog.text  # a Python caller's own name
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):  # fitted into 64x32: 38x32
        padded = EnhanceConfig(steps=1, start_step=1, resolution=(64, 32), pad_to_aspect=True)
        enhance_video(video, "a", refiner, padded)
    assert (
        "will be 38x32, smaller than the input's 48x40 (HxW), on the 64x32 canvas (resolution); "
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):  # as large: no warning
        enhance_video(video, "a", refiner, EnhanceConfig(steps=1, start_step=1, resolution=(48, 40)))
        enhance_video(video[..., :32, :32], "a", refiner, cfg)
    assert "smaller than the input" not in caplog.text


def test_enhance_video_draws_no_progress_bar_unless_asked(refiner: Refiner, capfd) -> None:
    """enhance_video drew a tqdm bar on stderr by default, even into a pipe or a log file, where the
    stages-1-2 pipeline's pipe(...) draws none."""
    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    cfg = EnhanceConfig(steps=2, start_step=2)
    capfd.readouterr()
    enhance_video(video, "a", refiner, cfg)
    assert "enhance" not in capfd.readouterr().err
    enhance_video(video, "a", refiner, cfg, progress=True)
    assert "enhance: 100%" in capfd.readouterr().err


def test_the_shipped_refiner_on_frames_it_is_not_for_is_warned_about_once(caplog):
    """The command line refuses the shipped refiner at another size (worse than bilinear upscaling there);
    from Python it ran without a word. A refiner it is for, or one of another folder, is not warned about."""
    shipped = Refiner.from_pretrained()
    h, w = shipped.frame_size
    video = torch.zeros(1, 3, 4, h, w)  # the refiner's output size: twice what it is for
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        enhance_video(video, "a red circle", shipped, seed=0, progress=False)
    said = [r.getMessage() for r in caplog.records if "the shipped refiner" in r.getMessage()]
    assert said == [
        f"the shipped refiner works on {w // 2}x{h // 2} frames (making {w}x{h}) and this video's are {w}x{h}: "
        "at another size it does worse than bilinear upscaling; a refiner folder for this size enhances"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.enhance"):
        enhance_video(video[..., : h // 2, : w // 2], "a red circle", shipped, seed=0, progress=False)
    assert "the shipped refiner" not in caplog.text


@pytest.mark.parametrize(
    "kwargs, said",
    [
        # pipe(...) takes its settings as keywords; enhance_video said "unexpected keyword argument 'steps'"
        (
            dict(steps=3),
            "takes the stage-3 settings in config=, an EnhanceConfig: pass config=refiner.config(steps=3)",
        ),
        (
            dict(num_inference_steps=3),
            "pass config=refiner.config(steps=3) (num_inference_steps: pass steps=)",
        ),
        (dict(config=EnhanceConfig(), steps=3), "pass config=dataclasses.replace(config, steps=3)"),
        (dict(stepz=3), "enhance_video() got unknown keyword argument: stepz (steps?)"),
        # seed= named its own range only: "seed must be an integer ..., got <torch._C.Generator ...>"
        (
            dict(seed=torch.Generator()),
            "seed must be an integer in [0, 2**64), got a torch.Generator: pass it as generator=",
        ),
        # a value no float holds is counted, as every message shows one (it was written out whole), beside the
        # code, which holds a placeholder: 'refiner.config(steps=an integer of 301 digits)' was no Python
        (
            dict(steps=10**300),
            "pass config=refiner.config(steps=STEPS) (STEPS for steps, given as an integer of 301 digits)",
        ),
        # one setting under its earlier name and ours: the advice was 'refiner.config(steps=5, steps=3)', no Python
        (
            dict(num_inference_steps=5, steps=3),
            "enhance_video() got the stage-3 setting steps as num_inference_steps= and as steps=: give it once, "
            "under its name, in config=refiner.config(...)",
        ),
        (
            dict(steps=3, num_inference_steps=5, guidance=2, guidance_scale=3),
            "got the stage-3 settings steps as steps= and as num_inference_steps=; guidance as guidance= and as "
            "guidance_scale=: give each once, under its name, in config=refiner.config(...)",
        ),
        # a stages-1-2 setting is said to be pipe(...)'s: it was told 'num_frames (on_frames?)'
        (
            dict(num_frames=8),
            "enhance_video() got unknown keyword argument: num_frames (a pipe(...) setting, of stages 1-2)",
        ),
    ],
)
def test_arguments_enhance_video_takes_otherwise_are_refused_with_where_they_go(
    refiner, kwargs, said
) -> None:
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with pytest.raises(TypeError) as err:
        enhance_video(video, "a", refiner, **kwargs)
    assert said in str(err.value)


def test_enhance_to_files_names_itself_refusing_settings_given_as_keywords(refiner, tmp_path) -> None:
    """Its keywords go on to enhance_video, which named itself: 'enhance_video() takes the stage-3 ...'."""
    from streamt2v.pipeline.enhance_output import enhance_to_files

    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with pytest.raises(TypeError) as err:
        enhance_to_files(video, "a", refiner, None, [tmp_path / "e.mp4"], 8, steps=1)
    assert str(err.value) == (
        "enhance_to_files() takes the stage-3 settings in config=, an EnhanceConfig: pass "
        "config=refiner.config(steps=1)"
    )
    with pytest.raises(
        TypeError, match=r"^enhance_to_files\(\) got unknown keyword argument: overwrit \(overwrite\?\)$"
    ):
        enhance_to_files(video, "a", refiner, None, [tmp_path / "e.mp4"], 8, overwrit=True)
    assert not (tmp_path / "e.mp4").exists()


def test_a_video_or_refiner_of_another_kind_is_refused_with_what_to_give(refiner) -> None:
    from streamt2v.models.bundle import StreamingT2VModel

    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    # (T, C, H, W): the permute pipe(...) tells, which was not told here
    with pytest.raises(ValueError) as err:
        enhance_video(video[0].permute(1, 0, 2, 3), "a", refiner)
    assert str(err.value) == (
        "video must be (B, 3, T, H, W), got shape (4, 3, 16, 16) ((T, C, H, W) frames? use "
        "x.permute(1, 0, 2, 3)[None])"
    )
    # channels-last frames (T, H, W, C), as torch.from_numpy of decoded frames holds them: no hint before
    x = video[0].permute(1, 2, 3, 0)
    with pytest.raises(ValueError) as err:
        enhance_video(x, "a", refiner)
    told = "x.permute(3, 0, 1, 2)[None]"
    assert str(err.value) == (
        "video must be (B, 3, T, H, W), got shape (4, 16, 16, 3) "
        f"(channels last (T, H, W, C) frames? use {told})"
    )
    assert torch.equal(eval(told), video)
    with pytest.raises(TypeError) as err:  # a path: the reader to use (was: got str)
        enhance_video("v.mp4", "a", refiner)
    assert str(err.value).endswith(
        "; a video file is read by streamt2v.io.video.read_video(path)[0] (it returns the video and its fps)"
    )
    with pytest.raises(TypeError) as err:  # was '... got StreamingT2VModel without frame_size'
        enhance_video(video, "a", StreamingT2VModel.from_preset("tiny", with_init_unet=False))
    assert str(err.value).startswith(
        "refiner must be a Refiner (stage 3), got a StreamingT2VModel, which makes videos (stages 1-2); load a "
        "refiner with streamt2v.pipeline.refiner.Refiner.from_pretrained()"
    )
