"""generate(GenerateConfig(...)) samples with the model's recommended settings wherever its StreamConfig leaves
a setting None, as pipe(...) and the command line do, and keeps every value given; config.json stores them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

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
