"""generate with stage 3 (``enhance``, tiny random-weight model, CPU): the enhanced output with the low-res
video beside it (also into a PNG folder), a run stopped inside stage 3 continued bit for bit, and bad stage-3
settings refused before any model is loaded."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
import torch

from conftest import cfg_for
from streamt2v.io.video import read_video
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate


@pytest.fixture(scope="module")
def model32():
    """The tiny preset at 32x32 frames, for the stage-3 runs: the embedded refiner is then the shipped one
    (64x64) instead of a random-weight 128x128 stand-in, a quarter of the pixels in every UNet call."""
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)


# Stage 3 as the stand-in runs it (EnhanceConfig's defaults) instead of the shipped refiner's recommended
# single DDIM step without CFG: a multistep sampler, whose history a resume must restore, and CFG.
STAGE3 = dict(start_step=600, scheduler="dpmpp-2m-sde", guidance=7.5)


def test_enhance_runs_stage_3_and_keeps_the_lowres_video(tmp_path, model32):
    """``generate --enhance``: the output is the stage-3 video (2x the base size, same frame count); the
    stage-2 video stays beside it as ``<stem>.lowres.mp4``; extra outputs are the enhanced frames."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.io.output_paths import OutputInUseError, check_output_path

    enhance = dict(STAGE3, steps=2, chunk_frames=16, overlap=4)
    cfg = cfg_for(tmp_path, "e", n=24, enhance=enhance, png_dir=str(tmp_path / "e-png"))
    in_use, hooks = [], []

    def try_other_writers(module, args, output):  # during stage 3, the final outputs are held
        if isinstance(module, UNet3DConditionModel) and not in_use:
            for path in (cfg.output, cfg.png_dir):
                with pytest.raises(OutputInUseError, match="is being written by another process"):
                    check_output_path(path, overwrite=True)
                in_use.append(path)

    def on_chunk(chunk):  # the last chunk is finished: every UNet call from here on is stage 3's
        if chunk.index == 1:
            hooks.append(register_module_forward_hook(try_other_writers))

    try:
        res = generate(cfg, model=model32, on_chunk=on_chunk)
    finally:
        for hook in hooks:
            hook.remove()
    assert in_use == [cfg.output, cfg.png_dir]
    check_output_path(cfg.output, overwrite=True)  # released at the end
    hi, _ = read_video(res.output)
    lo, _ = read_video(tmp_path / "e.lowres.mp4")
    assert hi.shape[2] == lo.shape[2] == 24
    assert hi.shape[-2:] == (2 * lo.shape[-2], 2 * lo.shape[-1])
    assert len(list((tmp_path / "e-png").iterdir())) == 24
    assert not (tmp_path / "e.partial.mp4").exists() and not (tmp_path / "e.lowres.partial.mp4").exists()


def test_enhance_into_a_png_folder_keeps_the_lowres_frames_beside_it(tmp_path, model32):
    """``-o frames --enhance``: was refused before any work ('frames.lowres': unknown suffix '.lowres')."""
    from streamt2v.io.video import read_image

    cfg = cfg_for(tmp_path, "f", n=17, enhance=dict(steps=1, chunk_frames=16, overlap=4))
    cfg = dataclasses.replace(cfg, output=str(tmp_path / "frames"))
    res = generate(cfg, model=model32)
    assert res.output == tmp_path / "frames"
    hi = sorted((tmp_path / "frames").iterdir())
    lo = sorted((tmp_path / "frames-lowres").iterdir())
    assert len(hi) == len(lo) == 17
    assert read_image(hi[0]).shape[-2:] == tuple(2 * n for n in read_image(lo[0]).shape[-2:])


def test_a_run_stopped_in_stage_3_continues_from_its_last_finished_step(tmp_path, model32):
    """Stage 3 keeps its state after each step in the run directory; ``--resume`` continues from there (the
    same output, bit for bit) and removes it once the outputs are written. The run's config.json keeps stage
    3's settings by diffusers' names, as earlier versions wrote them, and they key the same state."""
    import json

    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.pipeline.rundir import STAGE3_STATE

    enhance = dict(STAGE3, steps=3, chunk_frames=16, overlap=4)  # 2 chunks: one UNet call a step
    ref = generate(cfg_for(tmp_path, "ref", n=24, enhance=enhance), model=model32)
    calls, hooks = [], []

    def stop_in_the_second_step(module, args, output):
        if isinstance(module, UNet3DConditionModel):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt

    def on_chunk(chunk):  # the last chunk is finished: every UNet call from here on is stage 3's
        if chunk.index == 1:
            hooks.append(register_module_forward_hook(stop_in_the_second_step))

    try:
        with pytest.raises(KeyboardInterrupt):
            generate(cfg_for(tmp_path, "s", n=24, enhance=enhance), model=model32, on_chunk=on_chunk)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(calls) == 2 and not (tmp_path / "s.mp4").exists()
    state = tmp_path / "run-s" / STAGE3_STATE
    assert torch.load(state, weights_only=True)["steps_done"] == 1
    config = tmp_path / "run-s" / "config.json"
    assert {"num_inference_steps", "guidance_scale"} <= set(json.loads(config.read_text())["enhance"])
    calls.clear()
    count = register_module_forward_hook(
        lambda module, args, output: calls.append(1) if isinstance(module, UNet3DConditionModel) else None
    )
    try:
        res = resume_generate(tmp_path / "run-s", model=model32)
    finally:
        count.remove()
    assert len(calls) == 2  # steps 2 and 3 only
    assert res.output.read_bytes() == ref.output.read_bytes()
    assert not state.exists() and not state.with_name(state.name + ".stale").exists()


def test_bad_enhance_settings_fail_before_loading_a_model(tmp_path):
    from streamt2v.assets import microworld_refiner_dir

    cfg = cfg_for(tmp_path, "bad", enhance=dict(chunk_frames=8, overlap=8))
    with pytest.raises(
        ValueError, match="^stage 3: chunk_frames \\(8\\) must be larger than overlap \\(8\\)"
    ):
        generate(cfg)
    # the start step against the refiner's schedule (embedded refiner, or a folder's), before stage 1
    for refiner in (None, str(microworld_refiner_dir())):
        cfg = cfg_for(tmp_path, "bad", enhance=dict(start_step=5000), refiner=refiner)
        with pytest.raises(ValueError, match="start_step=5000 is past the refiner's noise schedule of 1000"):
            generate(cfg)
    # a setting that only clashes with the shipped refiner's recommended start step (1): also before stage 1
    cfg = cfg_for(tmp_path, "bad", enhance=dict(steps=8))
    with pytest.raises(
        ValueError,
        match=r"steps \(8\) must be <= start_step \(1\).*; start_step 1 is the recommendation "
        r"of the refiner 'microworld-refiner' \(set start_step to change it\)$",
    ):
        generate(cfg)
    # a misspelt setting is named with the settings there are (was EnhanceConfig's raw TypeError)
    with pytest.raises(
        ValueError,
        match=r"^stage 3: unknown enhance setting: stepz \(steps\?\); the settings: blend,",
    ):
        generate(cfg_for(tmp_path, "bad", enhance=dict(stepz=3)))
    # diffusers' name, which earlier versions took, names ours (a config.json of theirs reads: test_rundir)
    with pytest.raises(
        ValueError,
        match=r"^stage 3: unknown enhance setting: guidance_scale \(pass guidance=\);",
    ):
        generate(cfg_for(tmp_path, "bad", enhance=dict(guidance_scale=3.0)))
    assert list(tmp_path.iterdir()) == []


def test_a_model_the_shipped_refiner_is_not_for_needs_a_refiner_folder_or_random_refiner(tmp_path):
    """Without a refiner folder, stage 3 of a model making other frames than the shipped refiner's took a
    random-weight stand-in with a warning, and wrote noise after stages 1-2: refused before the model loads
    unless random_refiner=True (``--random-refiner``) asks for it. A run of an earlier version, which took it
    unasked, is resumed as it began."""
    from streamt2v.pipeline.generate import GenerateConfig

    cfg = cfg_for(tmp_path, "t", n=16, model="tiny", enhance={})
    with pytest.raises(
        ValueError,
        match=r"^the model makes 64x64 frames and the shipped refiner works on 32x32 frames: stage 3 needs a "
        r"refiner folder for this size \(pass refiner='DIR'\); random_refiner=True lets a random-weight "
        r"refiner stand in \(it shows",
    ):
        generate(cfg)
    with pytest.raises(
        ValueError, match="^random_refiner=True stands in for a refiner folder: give either it"
    ):
        generate(dataclasses.replace(cfg, random_refiner=True, refiner="microworld"))
    assert list(tmp_path.iterdir()) == []
    # without stage 3 neither is used (the command line says it ignores them): no conflict to refuse
    from streamt2v.pipeline.preflight import check_inputs

    check_inputs(dataclasses.replace(cfg, enhance=None, random_refiner=True, refiner="microworld"))
    stored = cfg.to_dict()
    assert GenerateConfig.from_dict(stored).random_refiner is False
    del stored["random_refiner"]  # as an earlier version wrote config.json
    assert GenerateConfig.from_dict(stored).random_refiner is True
    assert GenerateConfig.from_dict({**stored, "refiner": "/r"}).random_refiner is False


def test_the_shipped_refiner_given_as_the_refiner_folder_is_refused_for_another_size(tmp_path):
    """refiner="microworld" (or the shipped folder's path) took the shipped refiner at a size it is not for
    without a word, where leaving it out was refused (it does worse than bilinear upscaling there), and that
    refusal advised giving a folder."""
    from streamt2v.pipeline.refiner import shipped_refiner

    for refiner in ("microworld", str(shipped_refiner()[0])):
        cfg = cfg_for(tmp_path, "t", n=16, model="tiny", enhance={}, refiner=refiner)
        with pytest.raises(
            ValueError,
            match=r"^the model makes 64x64 frames and the shipped refiner works on 32x32 frames \(refiner='.*"
            r"microworld.*'\): at another size it does worse than bilinear upscaling; pass a refiner folder",
        ):
            generate(cfg)
    assert list(tmp_path.iterdir()) == []


def test_random_refiner_is_stored_only_where_earlier_versions_would_not_infer_it(tmp_path):
    """Every config.json held random_refiner, which the versions before it refuse ('unknown generate config
    keys'), so no run of this one, even without stage 3, could be resumed by them: it is written only where
    stage 3 runs without a refiner folder and without the stand-in (where an earlier version would take the
    stand-in unasked). Each config reads back as it runs, by this version and by the previous one's rule
    (unused without stage 3 or with a refiner folder, it reads back as False)."""
    from dataclasses import fields

    from streamt2v.pipeline.generate import GenerateConfig

    before = {f.name for f in fields(GenerateConfig)} - {"random_refiner"} | {"model_fingerprint"}
    for enhance, refiner, random_refiner in itertools.product([None, {}], [None, "/r"], [False, True]):
        cfg = cfg_for(tmp_path, "s", enhance=enhance, refiner=refiner, random_refiner=random_refiner)
        stored = cfg.to_dict()
        used = enhance is not None and refiner is None
        assert GenerateConfig.from_dict(stored) == dataclasses.replace(
            cfg, random_refiner=used and random_refiner
        )
        needed = used and not random_refiner
        assert set(stored) <= before | ({"random_refiner"} if needed else set()), cfg
        if used:  # the previous version's default: True without a refiner folder
            assert stored.get("random_refiner", True) == random_refiner
    with pytest.raises(ValueError, match="^unknown generate config key: bogus$"):
        GenerateConfig.from_dict({**stored, "bogus": 1})
    with pytest.raises(ValueError, match="^unknown generate config keys: bogus, other$"):
        GenerateConfig.from_dict({**stored, "other": 2, "bogus": 1})
    with pytest.raises(ValueError, match="^unknown stream settings in the generate config: stepz, stepzz$"):
        GenerateConfig.from_dict({**stored, "stream": {**stored["stream"], "stepzz": 1, "stepz": 1}})


def test_stage_3_settings_are_stored_by_the_names_every_version_reads(tmp_path):
    """config.json held stage 3's settings by their new names (steps, guidance), which the versions before the
    rename refuse ('enhance setting(s) ['steps'] unknown'), so no stage-3 run, even one with a refiner folder,
    could be resumed by them: stored by the earlier names (num_inference_steps, guidance_scale), read back as
    given."""
    from streamt2v.pipeline.generate import GenerateConfig

    cfg = cfg_for(tmp_path, "s", enhance={"steps": 2, "guidance": 1.5, "start_step": 10}, refiner="/r")
    stored = cfg.to_dict()
    assert stored["enhance"] == {"num_inference_steps": 2, "guidance_scale": 1.5, "start_step": 10}
    assert GenerateConfig.from_dict(stored) == cfg and cfg.enhance == {
        "steps": 2,
        "guidance": 1.5,
        "start_step": 10,
    }


def test_random_refiner_is_said_ignored_where_the_shipped_refiner_runs(tmp_path, caplog, capsys):
    """``generate --enhance --random-refiner`` with a model the shipped refiner is for ran it without a word
    on the flag (``enhance`` says it ignores it): said once, before the model loads; not when a run resumes
    (its own setting, which an earlier version's runs have unasked). Named as each caller gives it: the
    command line's flag, a Python caller's argument (both read --random-refiner before)."""
    import logging

    from streamt2v.cli import main
    from streamt2v.pipeline.preflight import check_inputs

    cfg = cfg_for(tmp_path, "r", n=16, enhance={}, random_refiner=True)  # the shipped model: 32x32 frames
    with caplog.at_level(logging.WARNING):
        check_inputs(cfg)
        check_inputs(cfg, resume=True, read_inputs=False)
        check_inputs(dataclasses.replace(cfg, random_refiner=False))
    said = [r.getMessage() for r in caplog.records if "random" in r.getMessage()]
    assert said == ["ignoring random_refiner=True: the shipped refiner is for this model's 32x32 frames"]
    caplog.clear()
    (tmp_path / "taken.mp4").write_bytes(b"")  # refused after the warning, before any model loads
    with caplog.at_level(logging.WARNING):
        argv = ["generate", "x", "--enhance", "--random-refiner", "-o", str(tmp_path / "taken.mp4")]
        assert main(argv) != 0
    said = [r.getMessage() for r in caplog.records if "random" in r.getMessage()]
    assert said == ["ignoring --random-refiner: the shipped refiner is for this model's 32x32 frames"]
    assert "already exists" in capsys.readouterr().err


def test_a_damaged_index_of_the_shipped_model_is_named_when_stage_3_picks_its_refiner(tmp_path, monkeypatch):
    """--enhance without --refiner reads the shipped model's frame size from its model_index.json: a damaged
    file gave the JSON decoder's message naming no file, one without the size a bare KeyError."""
    import streamt2v.assets
    from streamt2v.pipeline.preflight import check_inputs

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(streamt2v.assets, "microworld_model_dir", lambda: shipped)
    cfg = cfg_for(tmp_path, "e", n=24, enhance=dict(steps=1))
    cfg = dataclasses.replace(cfg, model=None)
    (shipped / "model_index.json").write_text('{"streamt2v": ')
    with pytest.raises(
        ValueError, match=r"^model folder index '.*shipped/model_index.json' is not valid JSON"
    ):
        check_inputs(cfg)
    (shipped / "model_index.json").write_text('{"streamt2v": {"fps": 8}}')
    with pytest.raises(
        ValueError, match=r"shipped/model_index.json' has no streamt2v.model_config.frame_size"
    ):
        check_inputs(cfg)


def test_a_damaged_frame_size_in_a_model_folder_is_named_by_loading(tmp_path):
    """With --enhance, the check before loading read a local folder's frame size unchecked: null or "x" gave
    Python's "int() argument must be ..." instead of loading's message naming the field."""
    import json
    import shutil

    from streamt2v.assets import microworld_model_dir

    for bad in (None, "x", True, [32, 32]):
        folder = tmp_path / f"m-{bad}"
        folder.mkdir()
        shutil.copy(microworld_model_dir() / "model_index.json", folder)
        index = json.loads((folder / "model_index.json").read_text())
        index["streamt2v"]["model_config"]["frame_size"] = bad
        (folder / "model_index.json").write_text(json.dumps(index))
        cfg = cfg_for(tmp_path, f"o-{bad}", n=24, enhance=dict(steps=1), model=str(folder))
        with pytest.raises(ValueError, match=r"field 'streamt2v.model_config.frame_size' must be a positive"):
            generate(cfg)


def test_stage_3_runs_in_the_runs_dtype(tmp_path):
    """``generate --enhance --dtype bf16`` ran the refiner in float32 whatever --dtype said (at full size
    stage 3 is the larger part of the work and of the memory)."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    dtypes = set()

    def record(module, args, output):
        if isinstance(module, UNet3DConditionModel):
            dtypes.add(next(module.parameters()).dtype)

    hook = register_module_forward_hook(record)
    try:
        enhance = dict(steps=1, chunk_frames=16, overlap=0)
        cfg = cfg_for(tmp_path, "b", n=16, model="tiny", dtype="bf16", device="cpu", enhance=enhance)
        generate(dataclasses.replace(cfg, random_refiner=True))  # the shipped refiner is for 32x32 frames
    finally:
        hook.remove()
    assert dtypes == {torch.bfloat16}  # stage 1 and stage 3 alike


def test_generate_advises_enhances_resolution_for_a_refiner_frame_size_its_vae_cannot_make(tmp_path, capsys):
    """A refiner folder recording 30x32 frames (its VAE makes multiples of 4): generate --enhance said 'set
    resolution', a setting it has no flag for; it names enhance's --resolution on the low-resolution video kept."""
    from streamt2v.cli import main
    from streamt2v.pipeline.refiner import Refiner

    refiner = dataclasses.replace(Refiner.random((32, 32), seed=0), frame_size=(30, 32))
    folder = refiner.save_pretrained(tmp_path / "r")
    out = tmp_path / "o.mp4"
    args = [
        "generate",
        "a red circle",
        "--frames",
        "8",
        "--init-steps",
        "1",
        "--enhance",
        "--refiner",
        str(folder),
    ]
    capsys.readouterr()  # the refiner's saving bar
    assert main([*args, "--enhance-steps", "1", "-o", str(out), "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        "error: the refiner's frame size 30x32 (HxW) is not divisible by its VAE scale factor 4; set --resolution "
        f"HxW (of streamt2v enhance on {tmp_path / 'o.lowres.mp4'}) to a size that is\n"
    )
    assert read_video(tmp_path / "o.lowres.mp4")[0].shape[2] == 8  # the video it names is there


def test_generate_advises_stage_3_settings_as_keys_of_its_enhance_dict(tmp_path, caplog):
    """A Python caller of ``generate`` has no refiner object to call ``refiner.config(...)`` on: stage 3's
    canvas warnings name the setting as a key of ``GenerateConfig(enhance=...)``, and that advice, taken, is
    run without them."""
    import logging

    from streamt2v.pipeline.refiner import Refiner

    Refiner.random((16, 24), seed=0).save_pretrained(tmp_path / "ref")  # smaller than tiny's 64x64, wider

    def warnings(name, enhance):
        caplog.clear()
        cfg = cfg_for(tmp_path, name, n=8, model="tiny", enhance=enhance, refiner=str(tmp_path / "ref"))
        with caplog.at_level(logging.WARNING):
            generate(dataclasses.replace(cfg, stream=dataclasses.replace(cfg.stream, steps=1, init_steps=1)))
        return [r.getMessage() for r in caplog.records if r.name.startswith("streamt2v.pipeline.enhance")]

    assert warnings("a", {"steps": 1}) == [
        "input frames are 64x64 but the enhancer canvas is 16x24 (HxW): they are stretched to its aspect "
        "ratio; to fit and pad them instead, pass pad_to_aspect=True in the run's enhance settings "
        "(GenerateConfig(enhance={'pad_to_aspect': True}))",
        "the output frames will be 16x24, smaller than the input's 64x64 (HxW), on the 16x24 canvas (the "
        "refiner's frame size); use a refiner made for at least this size, or pass a larger canvas, e.g. "
        "resolution=(64, 64) in the run's enhance settings (GenerateConfig(enhance={'resolution': (64, 64)}))",
    ]
    assert warnings("b", {"steps": 1, "pad_to_aspect": True, "resolution": (64, 64)}) == []


def test_a_refused_refiner_folder_is_named_by_its_argument_unless_a_resumed_runs_own(tmp_path, monkeypatch):
    """GenerateConfig(refiner=...) refusals said 'refiner folder'/'refiner', as the command line did: they
    name the argument (refiner '~/x' (...), --refiner on the command line); a resumed run's own folder, not
    given now, stays 'refiner folder'."""
    from streamt2v.pipeline.preflight import check_inputs

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "afile").write_text("x")
    cfg = cfg_for(tmp_path, "r", enhance={}, refiner="~/nothere")
    read = f"'~/nothere' ({str(tmp_path / 'nothere')!r}) does not exist; the refiner is loaded"
    with pytest.raises(FileNotFoundError, match=rf"^refiner {re.escape(read)}"):
        generate(cfg)
    with pytest.raises(FileNotFoundError, match=rf"^refiner folder {re.escape(read)}"):
        check_inputs(cfg, resume=True, read_inputs=False)
    with pytest.raises(FileNotFoundError, match=rf"^refiner {re.escape(read)}"):
        check_inputs(cfg, resume=True, read_inputs=False, given_now={"refiner"})
    with pytest.raises(NotADirectoryError, match=r"^refiner '.*afile' is a file; give a diffusers-format"):
        generate(dataclasses.replace(cfg, refiner=str(tmp_path / "afile")))
