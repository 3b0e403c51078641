"""generate(GenerateConfig(...)) samples with the model's recommended settings wherever its StreamConfig leaves
a setting None, as pipe(...) and the command line do, and keeps every value given; config.json stores them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from streamt2v.models.bundle import StreamingT2VModel
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.stream import StreamConfig
from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING


def _run(tmp_path, stream: StreamConfig, model=None):
    steps: Counter[int] = Counter()
    cfg = GenerateConfig(
        output=str(tmp_path / "v.mp4"),
        stream=stream,
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        device="cpu",
    )
    result = generate(cfg, model=model, on_step=lambda chunk, step, n: steps.update([chunk]))
    stored = json.loads((result.run_dir / "config.json").read_text())["stream"]
    return steps, stored


def _stopped_run(tmp_path, sampler: dict, *, by_folder: bool):
    """A tiny model with `sampler` and a 20-frame run of it stopped in its first chunk (none finished), the model
    given by its saved folder or loaded: the model, the run's config.json and what it stores."""
    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = sampler
    folder = model.save_pretrained(tmp_path / "m") if by_folder else None

    def stop(chunk, step, steps):
        raise KeyboardInterrupt

    cfg = GenerateConfig(
        output=str(tmp_path / "v.mp4"),
        stream=StreamConfig(num_frames=20),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        model=None if folder is None else str(folder),
        device="cpu",
    )
    with pytest.raises(KeyboardInterrupt):
        generate(cfg, model=None if by_folder else model, on_step=stop)
    config = tmp_path / "run" / "config.json"
    return model, config, json.loads(config.read_text())


def _refused_resume(config, message: str, **resume_args) -> None:
    from streamt2v.pipeline.resume import resume_generate

    with pytest.raises(ValueError) as err:
        resume_generate(config.parent, **resume_args)
    assert str(err.value) == f"{str(config)!r} cannot be resumed: {message}"


def test_the_shipped_models_recommended_steps_are_used_and_a_given_value_wins(tmp_path):
    from streamt2v.pipeline.model_loading import recommended_sampler

    recommended = recommended_sampler(None)
    if not recommended:
        pytest.skip("the shipped microworld weights are not in this tree")
    steps, stored = _run(tmp_path, StreamConfig(num_frames=24, init_steps=1))
    assert steps == {0: 1, 1: recommended["steps"]}  # stage 1 as given, stage 2 the model's
    assert stored["init_steps"] == 1
    for name, value in recommended.items():
        if name != "init_steps":
            assert stored[name] == value, name
    assert stored["noise_correlation"] == OFFICIAL_SAMPLING["noise_correlation"]  # recommended by none


def test_a_given_models_sampler_fills_what_the_config_leaves(tmp_path):
    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = {"steps": 3, "init_steps": 2, "guidance": 1.0}
    steps, stored = _run(tmp_path, StreamConfig(num_frames=24, steps=1), model=model)
    assert steps == {0: 2, 1: 1}
    assert (stored["steps"], stored["init_steps"], stored["guidance"]) == (1, 2, 1.0)
    assert stored["init_guidance"] == OFFICIAL_SAMPLING["init_guidance"]


def test_a_config_leaves_settings_to_the_model_and_round_trips_so():
    cfg = GenerateConfig(output="v.mp4", prompt="a", stream=StreamConfig(num_frames=4, steps=7))
    assert cfg.stream.steps == 7 and cfg.stream.guidance is None
    back = GenerateConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back.stream == cfg.stream
    assert back.stream.resolved({"guidance": 2.0}).guidance == 2.0


def test_a_run_saved_before_a_setting_existed_resumes_with_the_official_value():
    saved = GenerateConfig(
        output="v.mp4", prompt="a", stream=StreamConfig(num_frames=4).resolved({"steps": 9})
    ).to_dict()
    del saved["stream"]["chunk_strength"]
    stream = GenerateConfig.from_dict(saved).stream
    assert stream.chunk_strength == OFFICIAL_SAMPLING["chunk_strength"] and stream.steps == 9


def test_other_pipelines_option_names_are_pointed_to_ours():
    with pytest.raises(TypeError, match=r"num_inference_steps \(pass steps= for stage 2"):
        StreamConfig(num_frames=24, num_inference_steps=3)


def _cam_of_4_frames_folder(tmp_path):
    """A random-weight model whose CAM takes 4 conditioning frames, saved with a sampler recommending them and
    12-frame chunks (the tiny preset's are 8 and 16: generate's official values do not fit it)."""
    from dataclasses import replace

    from streamt2v.config import get_preset

    preset = get_preset("tiny")
    config = replace(preset, streaming=replace(preset.streaming, num_cond_frames=4))
    model = StreamingT2VModel.from_preset(config, device="cpu", seed=0)
    model.sampler = {"cond_frames": 4, "chunk_frames": 12, "steps": 1, "init_steps": 1}
    return model.save_pretrained(tmp_path / "cam4")


def test_generate_and_pipe_take_a_models_recommended_chunk_and_conditioning_frames(tmp_path):
    """A folder's sampler may recommend chunk_frames, cond_frames and reanchor (assemble model --sampler):
    pipe(...) took them and generate() kept its own 16 / 8, refusing a model whose CAM takes 4 frames."""
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    folder = _cam_of_4_frames_folder(tmp_path)
    chunks = []
    cfg = GenerateConfig(
        output=str(tmp_path / "v.mp4"),
        stream=StreamConfig(num_frames=16, seed=3),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        model=str(folder),
        device="cpu",
    )
    result = generate(cfg, on_chunk=chunks.append)
    stored = json.loads((result.run_dir / "config.json").read_text())["stream"]
    assert (stored["chunk_frames"], stored["cond_frames"], stored["reanchor"]) == (12, 4, False)
    assert [(c.start, c.stop) for c in chunks] == [(0, 12), (12, 16)]
    pipe = StreamingT2VPipeline.from_pretrained(folder, device="cpu")
    video = pipe("a red circle", 16, seed=3)
    assert torch.equal(video, torch.cat([c.frames for c in chunks], dim=2))  # one rule: the same video
    # a value given wins over the model's: 8-frame chunks, each after the first adding 8 - 4 frames
    spans = [(c.start, c.stop) for c in pipe.stream("a red circle", 16, seed=3, chunk_frames=8)]
    assert spans == [(0, 8), (8, 12), (12, 16)]


def test_a_hub_ids_recommended_settings_are_the_downloaded_models(tmp_path):
    """A hub id's recommendation cannot be read before it loads (it may not be downloaded yet): generate() took
    the official values for it (50 + 50 steps), not the downloaded folder's. A folder in the hub cache stands in
    for the download (offline, so nothing is fetched)."""
    import os
    import subprocess
    import sys

    from test_incomplete_model_folder import as_hub_snapshot

    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = {"steps": 2, "init_steps": 1, "chunk_frames": 12}
    snapshot = as_hub_snapshot(model.save_pretrained(tmp_path / "m"), tmp_path / "hub")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(snapshot.name)
    script = (
        "from streamt2v.pipeline.generate import GenerateConfig, generate\n"
        "from streamt2v.pipeline.stream import StreamConfig\n"
        "generate(GenerateConfig(output='v.mp4', stream=StreamConfig(num_frames=20, steps=3), prompt='a red circle',"
        " run_dir='run', model='org/name', device='cpu'))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["stream"]
    assert (stored["steps"], stored["init_steps"], stored["chunk_frames"]) == (3, 1, 12)  # given, the model's
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["num_chunks"] == 3  # 12 + 4 + 4 frames (the official 16-frame chunks: 16 + 4)


def _hub_model(tmp_path, sampler):
    """A model folder of a 4-frame CAM with ``sampler``, as a hub id's download (``org/name`` in the hub cache
    ``tmp_path / "hub"``) and the environment that reads it offline (a subprocess: the hub reads it at import)."""
    import os

    from test_incomplete_model_folder import as_hub_snapshot

    folder = _cam_of_4_frames_folder(tmp_path)
    index = json.loads((folder / "model_index.json").read_text())
    index["streamt2v"]["sampler"] = sampler
    (folder / "model_index.json").write_text(json.dumps(index))
    snapshot = as_hub_snapshot(folder, tmp_path / "hub")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(snapshot.name)
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "OMP_NUM_THREADS": "1",
    }


def test_a_hub_ids_recommendation_is_the_command_lines_and_checked_once_it_is_loaded(tmp_path):
    """A hub id's recommended settings are known once it is loaded: the command line filled every flag not typed
    with the official values before (--cond-frames 8, refused by this model's 4-frame CAM, and 50 + 50 steps),
    and generate() refused before loading what only the official values forbid (chunk_frames=6 with 8
    conditioning frames); --no-reanchor turns off a model's reanchor (the flag could only turn it on)."""
    import subprocess
    import sys

    env = _hub_model(
        tmp_path, {"cond_frames": 4, "chunk_frames": 12, "steps": 1, "init_steps": 1, "reanchor": True}
    )
    script = (
        "import sys\n"
        "from streamt2v.cli import main\n"
        "from streamt2v.pipeline.generate import GenerateConfig, generate\n"
        "from streamt2v.pipeline.stream import StreamConfig\n"
        "code = main(['generate', 'a red circle', '--model', 'org/name', '--frames', '20', '--device', 'cpu',"
        " '--no-reanchor', '--run-dir', 'cli', '-o', 'cli.mp4', '--no-progress'])\n"
        "assert code == 0, code\n"
        "generate(GenerateConfig(output='py.mp4', stream=StreamConfig(num_frames=20, chunk_frames=6),"
        " prompt='a red circle', run_dir='py', model='org/name', device='cpu'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for run, expected, chunks in [("cli", (12, 4, False, 1, 1), 2), ("py", (6, 4, True, 1, 1), 8)]:
        stored = json.loads((tmp_path / run / "config.json").read_text())["stream"]
        keys = ("chunk_frames", "cond_frames", "reanchor", "steps", "init_steps")
        assert tuple(stored[k] for k in keys) == expected, run
        # 12 + 4 + 4 frames; 6 + 2 * 7
        assert json.loads((tmp_path / run / "manifest.json").read_text())["num_chunks"] == chunks, run


def test_a_misspelt_sampler_key_is_named_once_when_the_model_loads(tmp_path, caplog):
    """A sampler key that is no setting (stepz) was ignored without a word; one of a newer version is ignored
    with the same warning, not refused."""
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = {"stepz": 2, "init_steps": 1, "future_setting": True}
    folder = model.save_pretrained(tmp_path / "m")
    pipe = StreamingT2VPipeline.from_pretrained(folder, device="cpu")
    warnings = [r.getMessage() for r in caplog.records if "sampler" in r.getMessage()]
    assert warnings == [
        f"the sampler model {str(folder)!r} recommends has unknown settings, which sampling ignores: "
        "future_setting, stepz (steps?) (misspelt, or from a newer streamt2v)"
    ]
    assert pipe("a red circle", 8, seed=1).shape[2] == 8  # made, the unknown keys ignored


def test_a_misspelt_sampler_key_is_named_when_the_model_class_loads_the_folder(tmp_path, caplog):
    """``StreamingT2VModel.from_pretrained`` called directly loaded it without a word: only load_model
    warned."""
    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = {"stepz": 2}
    folder = model.save_pretrained(tmp_path / "m")
    assert StreamingT2VModel.from_pretrained(folder).sampler == {"stepz": 2}
    warnings = [r.getMessage() for r in caplog.records if "sampler" in r.getMessage()]
    assert warnings == [
        f"the sampler model {str(folder)!r} recommends has unknown setting, which sampling ignores: "
        "stepz (steps?) (misspelt, or from a newer streamt2v)"
    ]


def test_a_run_storing_null_for_a_sampling_setting_is_refused_naming_it(tmp_path):
    """A run's config.json holding null for chunk_frames (edited by hand: runs store values) resumed with the
    official 16 where generate() takes None as the model's recommendation (12 here), and a null init_eta
    became the official 0 where a missing one takes the run's eta: refused, naming the file, the keys and the
    values a run not given them took, where the model says them before it loads (else where to read them)."""
    from streamt2v.pipeline.resume import resume_generate

    _, config, stored = _stopped_run(
        tmp_path, {"steps": 1, "init_steps": 1, "chunk_frames": 12}, by_folder=True
    )
    asked = "where a run stores the value it was made with: set"
    for nulls, model, message in [
        (
            ["chunk_frames"],
            stored["model"],
            f"stream setting chunk_frames is null, {asked} it to that value (where the run was not given it: "
            "the model's folder recommends 12)",
        ),
        (
            ["init_eta"],
            stored["model"],
            f"stream setting init_eta is null, {asked} it to that value (where the run was not given it: the "
            "official 0.0, as the model recommends none)",
        ),
        (
            ["init_eta", "chunk_frames", "reanchor"],
            stored["model"],
            f"stream settings init_eta, chunk_frames, reanchor are null, {asked} them to those values (where "
            "the run was not given them: the model's folder recommends chunk_frames 12; the official init_eta 0.0, "
            "reanchor false)",
        ),
        (  # a hub id's recommendation is known once it loads: where to read it
            ["chunk_frames"],
            "org/name",
            f"stream setting chunk_frames is null, {asked} it to that value (where the run was not given it: "
            "the model's recommendation (its model_index.json's streamt2v sampler), else the official 16)",
        ),
    ]:
        edited = {**stored, "model": model, "stream": {**stored["stream"], **dict.fromkeys(nulls)}}
        config.write_text(json.dumps(edited))
        _refused_resume(config, message)
    config.write_text(json.dumps(stored))
    chunks = []
    resume_generate(tmp_path / "run", on_chunk=chunks.append)
    assert [(c.start, c.stop) for c in chunks] == [(0, 12), (12, 16), (16, 20)]  # the stored 12 (the model's)


def test_a_run_given_its_model_loaded_is_not_told_the_shipped_models_recommendation(tmp_path):
    """A run made with a model given loaded (generate(cfg, model=...)) stores model null and no fingerprint: a
    null sampling setting was told the shipped model's recommendation ("the model's recommended 10" for steps),
    another model's. It is told where to read the value: the sampler of the model it was given."""
    model, config, stored = _stopped_run(tmp_path, {"steps": 1, "init_steps": 1}, by_folder=False)
    assert stored["model"] is None
    config.write_text(json.dumps({**stored, "stream": {**stored["stream"], "steps": None}}))
    _refused_resume(
        config,
        "stream setting steps is null, where a run stores the value it was made with: set it to that value (where "
        "the run was not given it: the model's recommendation (the sampler of the model the run was given loaded), "
        f"else the official {OFFICIAL_SAMPLING['steps']})",
        model=model,
    )


@pytest.mark.parametrize("chunk_frames", [0, -3, 1])
def test_a_chunk_of_fewer_than_two_frames_is_refused_when_given(chunk_frames):
    """Accepted until the model's cond_frames resolved it, then refused as 'greater than cond_frames'."""
    with pytest.raises(ValueError, match=rf"chunk_frames must be >= 2, got {chunk_frames}"):
        StreamConfig(num_frames=20, chunk_frames=chunk_frames)


def test_on_start_is_told_the_plan_before_a_check_that_needs_the_model_refuses(tmp_path):
    """``on_start`` came after stream()'s checks, so a run they refused (a CAM built for other conditioning
    frames) never told it its plan: the command line's warning of a flag typed for a stage the run does not
    have was lost with it. It is called once the run is planned, with the settings resolved."""
    from streamt2v.pipeline.setting_checks import SettingError

    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    model.sampler = {"steps": 3, "init_steps": 2}
    started = []
    cfg = GenerateConfig(
        output=str(tmp_path / "v.mp4"),
        stream=StreamConfig(num_frames=24, cond_frames=4),  # the tiny CAM takes 8
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        device="cpu",
    )
    with pytest.raises(SettingError, match="cond_frames"):
        generate(
            cfg, model=model, on_start=lambda c, n: started.append((c.stream.steps, c.stream.init_steps, n))
        )
    assert started == [(3, 2, 2)]  # 24 frames: a 16-frame chunk, then one of 12 new frames after 4


def test_too_many_conditioning_frames_for_any_chunk_are_refused_before_a_hub_ids_download(tmp_path):
    """--cond-frames 300 exceeds every chunk (at most 256 frames, more than its conditioning ones), whatever
    chunk_frames a hub id's model recommends: the user saw the download fail first (offline here)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "OMP_NUM_THREADS": "1"}
    script = (
        "import sys\n"
        "from streamt2v.cli import main\n"
        "sys.exit(main(['generate', 'a cat', '--model', 'nobody/nomodel', '--cond-frames', '300']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --cond-frames must be less than 256, got 300: a chunk holds at most 256 frames, its "
        "conditioning ones and at least one new one"
    )


def test_a_setting_named_only_in_quoted_text_gets_no_recommendation_note():
    """A prompt or path quoted in a refusal ('--prompt-schedule "steps"') names no setting: the command
    line's warnings stripped quoted text before looking for the settings, refusals did not (one function
    now does it for both)."""
    from streamt2v.pipeline.setting_checks import SettingError
    from streamt2v.pipeline.step_counts import recommended_note

    assert recommended_note(SettingError("bad prompt 'more steps'"), {"steps": 10}, ()) == ""
    assert recommended_note(SettingError("steps=900 is too many"), {"steps": 10}, ()) == (
        "; steps 10 is the model's recommended setting (set steps to change it)"
    )
