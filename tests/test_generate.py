"""generate() in Python (tiny random-weight model, CPU): a preview after every chunk and the final files only
when complete, the saved config, extending an init video (and the warning about its frame rate), and what
is refused before any sampling (a model without a tokenizer, a setting that clashes with the model's
recommended one, a schedule as the prompt)."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from conftest import cfg_for
from streamt2v.io.video import read_video
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.stream import StreamConfig


def test_run_config_saved_before_init_eta_resumes_with_the_eta_it_used():
    saved = GenerateConfig(
        output="out.mp4", prompt="a cat", stream=StreamConfig(num_frames=4, eta=0.3, init_eta=0.7)
    ).to_dict()
    assert GenerateConfig.from_dict(saved).stream.init_eta == 0.7
    del saved["stream"]["init_eta"]  # a run dir written before the field existed
    assert GenerateConfig.from_dict(saved).stream.init_eta == 0.3


def test_preview_after_each_chunk_and_final_only_at_end(tmp_path, model):
    cfg = cfg_for(tmp_path, "a", n=30, png_dir=str(tmp_path / "pngs"), gif=str(tmp_path / "a.gif"))
    seen = []

    def on_chunk(chunk):
        assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.gif").exists()
        seen.append(read_video(tmp_path / "a.partial.mp4")[0].shape[2])

    res = generate(cfg, model=model, on_chunk=on_chunk)
    assert seen == [16, 24, 30]
    assert read_video(res.output)[0].shape[2] == 30
    assert read_video(tmp_path / "a.gif")[0].shape[2] == 30 and len(list((tmp_path / "pngs").iterdir())) == 30
    assert not (tmp_path / "a.partial.mp4").exists()
    manifest = json.loads((res.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["chunks"]) == 3


def test_extend_mode_keeps_input_frames(tmp_path, model):
    first = generate(cfg_for(tmp_path, "src", n=16), model=model)
    src, _ = read_video(first.output)
    res = generate(cfg_for(tmp_path, "ext", n=30, init_video=str(first.output)), model=model)
    out, _ = read_video(res.output)
    assert out.shape[2] == 30
    # The input frames are re-encoded from exactly the decoded input: H.264 at crf 18 keeps them close.
    assert (out[:, :, :16] - src).abs().mean() < 0.03


def test_an_init_video_at_another_rate_is_warned_about_without_fps(tmp_path, model, caplog):
    """The output plays at the model's rate unless --fps: a 24 fps input's frames played 3x slower in it."""
    from streamt2v.io.video import write_video

    write_video(tmp_path / "in24.mp4", torch.zeros(3, 16, 64, 64), fps=24)
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        generate(cfg_for(tmp_path, "a", n=24, init_video=str(tmp_path / "in24.mp4")), model=model)
    assert (
        "plays at 24 fps and the output at the model's 8 fps, so its 16 frames play 3x slower" in caplog.text
    )
    assert "pass fps=24 to keep the input's rate" in caplog.text  # GenerateConfig's fps=
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        generate(cfg_for(tmp_path, "b", n=24, init_video=str(tmp_path / "in24.mp4"), fps=24), model=model)
    assert "plays at" not in caplog.text  # the rate the user chose
    # a GIF among the outputs: the closest rate a GIF plays, not an --fps the same run refuses
    write_video(tmp_path / "in60.mp4", torch.zeros(3, 16, 64, 64), fps=60)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        config = cfg_for(
            tmp_path, "c", n=24, init_video=str(tmp_path / "in60.mp4"), gif=str(tmp_path / "c.gif")
        )
        generate(config, model=model)
    assert "a GIF plays at most 50 fps, so fps=50 comes closest" in caplog.text
    assert "pass fps=60" not in caplog.text


def test_one_frame_init_video_has_no_rate_warning(tmp_path, model, caplog):
    """A still image given as --init-video read as 25 fps: the run warned that 'its 1 frame play 3.12x slower'
    and advised --fps 25, which would only have sped up the generated frames."""
    from PIL import Image

    still = tmp_path / "still.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(still)
    with caplog.at_level("WARNING", logger="streamt2v.pipeline.preflight"):
        res = generate(cfg_for(tmp_path, "s", n=9, init_video=str(still)), model=model)
    assert res.num_frames == 9
    assert "plays at" not in caplog.text


def test_a_model_without_tokenizer_is_refused_before_loading(tmp_path, model):
    """A folder converted without a tokenizer ("tokenizer": null) cannot read prompts: refused before any
    weights are read (here its UNet is even missing), and a model object without one before any sampling."""
    import copy
    import shutil

    no_tok = copy.deepcopy(model)
    no_tok.text_encoder.tokenizer = None
    folder = no_tok.save_pretrained(tmp_path / "no-tok")
    shutil.rmtree(folder / "unet")
    message = r"has no tokenizer, so it cannot read prompts: convert .* again with --tokenizer"
    with pytest.raises(ValueError, match=rf"model folder '.*no-tok' \(\"tokenizer\": null .*\) {message}"):
        generate(cfg_for(tmp_path, "a", model=str(folder)))
    with pytest.raises(ValueError, match=rf"the model given {message}"):
        generate(cfg_for(tmp_path, "b"), model=no_tok)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-tok"]  # no run directory, no output


def test_the_checks_before_loading_read_a_model_folder_given_with_a_tilde(tmp_path, model, monkeypatch):
    """``GenerateConfig(model="~/mw")`` was refused before loading ("model folder '.../~/mw' does not
    exist") although loading expands ``~``, as the command line's flags do; the checks made before loading
    (no tokenizer; stage 3's settings against the refiner the folder's frame size picks) now read it."""
    import copy
    import shutil

    from streamt2v.assets import microworld_model_dir
    from streamt2v.pipeline.preflight import check_inputs
    from streamt2v.pipeline.setting_checks import EnhanceSettingError

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    no_tok = copy.deepcopy(model)
    no_tok.text_encoder.tokenizer = None
    shutil.rmtree(no_tok.save_pretrained(tmp_path / "home" / "mw") / "unet")
    with pytest.raises(ValueError, match=r"model folder '~/mw' \(\"tokenizer\": null .*\) has no tokenizer"):
        generate(cfg_for(tmp_path, "a", model="~/mw"))
    # a copy of the shipped model's index: its frame size picks the shipped refiner, whose recommended
    # start step refuses 5 steps before any weights are read
    (tmp_path / "home" / "copy").mkdir()
    shutil.copy(microworld_model_dir() / "model_index.json", tmp_path / "home" / "copy")
    cfg = cfg_for(tmp_path, "e", n=24, enhance=dict(steps=5), model="~/copy")
    with pytest.raises(EnhanceSettingError, match=r"start_step 1 is the recommendation of the refiner"):
        check_inputs(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no run directory, no output


def test_pipeline_names_a_constraint_that_comes_from_the_models_recommended_setting():
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    pipe = StreamingT2VPipeline.from_pretrained(
        device="cpu"
    )  # the shipped model recommends chunk_strength 0.9
    with pytest.raises(ValueError) as err:
        pipe.stream("a red circle", 40, steps=950)
    assert str(err.value) == (
        "chunk_strength 0.9 starts stage 2 at step 900 of 1000, too close to the end for steps=950; lower steps "
        "to 900 or less, or raise chunk_strength to 0.95 or more; chunk_strength 0.9 is the model's recommended "
        "setting (set chunk_strength to change it)"
    )
    with pytest.raises(ValueError) as err:  # given by the caller: no note
        pipe.stream("a red circle", 40, steps=950, chunk_strength=0.9)
    assert str(err.value).endswith("raise chunk_strength to 0.95 or more")
    with pytest.raises(ValueError, match="^steps=1001 is more than the 1000 timesteps"):
        pipe.stream("a red circle", 40, steps=1001, chunk_strength=1.0)
    pipe.stream("a red circle", 16, steps=1001, chunk_strength=1.0)  # one stage-1 chunk: no stage-2 steps


def test_a_prompt_in_the_schedule_form_is_a_schedule_as_in_the_pipeline():
    """``streamt2v generate "0: a red circle; 16: a green square"`` made one literal prompt of it, while
    ``pipe("0: ...")`` read a schedule; both read a schedule now, and a plain prompt with a colon stays one."""
    from streamt2v.pipeline.preflight import check_inputs
    from streamt2v.pipeline.prompts import as_schedule

    def cfg(prompt, n=24):
        return GenerateConfig(output="o.mp4", stream=StreamConfig(num_frames=n), prompt=prompt)

    text = "0: a red circle; 16: a green square"
    assert cfg(text).schedule().entries == ((0, "a red circle"), (16, "a green square"))
    assert cfg(text).schedule().entries == as_schedule(text).entries
    assert cfg("3 red circles: bouncing").schedule().entries == ((0, "3 red circles: bouncing"),)
    with pytest.raises(ValueError, match=r"entry at frame 16 is past the end of the video \(16 frames"):
        check_inputs(cfg(text, n=16))  # checked like a --prompt-schedule: 16 is past the end
