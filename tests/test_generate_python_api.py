"""generate() and resume_generate() as a Python caller uses them (a QA walk of the Python API): torch dtypes
and paths as every loader takes them, tensors refused where a file is needed, messages naming the Python
arguments (the command line keeps its flags), refiner settings without stage 3 warned of."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FAST_CLI, Crash, cfg_for
from streamt2v.arguments import ArgumentValueError
from streamt2v.cli import main
from streamt2v.pipeline.generate import GenerateConfig, StreamingT2VPipeline, generate
from streamt2v.pipeline.resume import resume_generate
from streamt2v.pipeline.stream import StreamConfig


def test_a_torch_dtype_is_taken_and_the_run_records_its_name(tmp_path, model):
    """``dtype=torch.bfloat16`` loaded the model, then writing the run's config.json failed ("Object of type
    dtype is not JSON serializable"); so did ``resume_generate(run, dtype=torch.float32)`` once checked."""

    def stop(chunk):
        raise Crash

    cfg = cfg_for(tmp_path, "t", n=24, model="tiny", dtype=torch.bfloat16, device=torch.device("cpu"))
    with pytest.raises(Crash):
        generate(cfg, on_chunk=stop)
    stored = json.loads((tmp_path / "run-t" / "config.json").read_text())
    assert (stored["dtype"], stored["device"]) == ("bf16", "cpu")
    result = resume_generate(tmp_path / "run-t", model=model, dtype=torch.float32)
    assert result.output.is_file()
    assert json.loads((tmp_path / "run-t" / "config.json").read_text())["dtype"] == "fp32"


def test_a_dtype_the_device_does_not_run_is_named_with_its_argument(tmp_path, monkeypatch, capsys, model):
    """``dtype="half"`` on the CPU was told "dtype fp16 is not supported on device cpu", naming no argument;
    it names ``dtype=`` by the short name the config keeps (and config.json stores), the command line its
    flag."""
    monkeypatch.chdir(tmp_path)
    stream = StreamConfig(num_frames=16)
    for given in ("half", torch.float16):  # GenerateConfig keeps the name the run records
        with pytest.raises(ValueError) as caught:
            generate(GenerateConfig(output="o.mp4", prompt="a", stream=stream, dtype=given, device="cpu"))
        assert str(caught.value) == "dtype='fp16' is not supported on device cpu; use one of fp32, bf16"
    assert main(["generate", "a", "--dtype", "fp16", "--device", "cpu", *FAST_CLI]) == 2
    assert (
        "error: --dtype fp16 is not supported on device cpu; use one of fp32, bf16" in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []
    generate(cfg_for(tmp_path, "h", n=8), model=model)
    with pytest.raises(ValueError, match=r"^dtype='float16' \(fp16\) is not supported on device cpu"):
        resume_generate(tmp_path / "run-h", dtype="float16", device="cpu")


def test_a_dtype_of_none_runs_in_fp32_as_before(tmp_path, model):
    """``GenerateConfig(dtype=None)`` ran in fp32 until the torch dtypes were taken, then was refused."""
    result = generate(cfg_for(tmp_path, "n", n=8, dtype=None), model=model)
    assert json.loads((result.run_dir / "config.json").read_text())["dtype"] == "fp32"


def test_the_config_keeps_its_dtype_and_numbers_as_config_json_stores_them(tmp_path):
    """The dtype was made a name only inside generate(): ``to_dict()`` of ``dtype=torch.bfloat16`` was no
    JSON, nor was ``fps=np.float32(8)`` when the run wrote config.json; an unknown dtype did not name
    ``dtype=`` (``--dtype`` on the command line)."""
    stream = StreamConfig(num_frames=8)
    cfg = GenerateConfig(
        output="o.mp4", prompt="a", stream=stream, dtype=torch.bfloat16, fps=np.float32(8), crf=np.int64(20)
    )
    stored = json.loads(json.dumps(cfg.to_dict()))
    assert (stored["dtype"], stored["fps"], stored["crf"]) == ("bf16", 8.0, 20)
    assert type(cfg.crf) is int and type(cfg.fps) is float
    assert dataclasses.replace(cfg, dtype=torch.float16).dtype == "fp16"
    for given, said in (
        ("fp64", "dtype='fp64' is unknown"),
        (torch.float64, "dtype=torch.float64 is unsupported"),
    ):
        with pytest.raises(ArgumentValueError) as caught:
            GenerateConfig(output="o.mp4", prompt="a", stream=stream, dtype=given)
        assert str(caught.value) == f"{said}; use one of fp32, fp16, bf16"
    assert caught.value.as_flags().spelled(flags=True).startswith("--dtype torch.float64 is unsupported")


def test_an_fps_of_text_is_refused_and_numpy_numbers_in_enhance_are_stored_as_pythons(tmp_path):
    """``fps="8"`` was stored as text (and passed the rate's check as 8.0); ``enhance={"steps": np.int64(3)}``
    failed as the run's config.json was written, once the model had loaded (no JSON)."""
    stream = StreamConfig(num_frames=8)
    for given in ("8", b"8", True, np.True_, np.False_):  # numpy's bool crashed writing config.json
        with pytest.raises(ValueError) as caught:
            GenerateConfig(output="o.mp4", prompt="a", stream=stream, fps=given)
        assert str(caught.value) == f"fps must be a number, got {given!r}"
    # stage 3's fps as generate's (it was stored as text)
    with pytest.raises(ValueError, match=r"^stage 3: fps must be a number, got '8'$"):
        generate(
            GenerateConfig(output=str(tmp_path / "o.mp4"), prompt="a", stream=stream, enhance={"fps": "8"})
        )
    enhance = {"steps": np.int64(3), "guidance": np.float32(0.5), "resolution": (np.int64(64), 64)}
    cfg = GenerateConfig(
        output="o.mp4", prompt="a", stream=stream, enhance={**enhance, "pad_to_aspect": np.True_}
    )
    stored = json.loads(json.dumps(cfg.to_dict()))["enhance"]
    assert [type(cfg.enhance[k]) for k in ("steps", "guidance", "pad_to_aspect")] == [int, float, bool]
    # by the earlier names, which every version reads
    assert (stored["num_inference_steps"], stored["guidance_scale"], stored["resolution"]) == (
        3,
        0.5,
        [64, 64],
    )


def test_an_fps_config_json_cannot_hold_is_stored_as_a_float_and_a_huge_one_is_refused_counting_it():
    """``fps=torch.tensor(8.0)`` passed the check and was kept, to fail as config.json was written (no JSON);
    ``fps=10**5000`` raised a bare OverflowError naming no fps."""
    from decimal import Decimal

    from streamt2v.pipeline.enhance_config import EnhanceConfig

    stream = StreamConfig(num_frames=8)
    for given in (torch.tensor(8.0), np.array(8.0), Decimal("8")):
        fps = GenerateConfig(output="o.mp4", prompt="a", stream=stream, fps=given).fps
        assert (type(fps), fps) == (float, 8.0)
    huge = "fps must be a finite number between 0.01 and 1000, got an integer of 5001 digits"
    with pytest.raises(ValueError, match=f"^{huge}$"):
        GenerateConfig(output="o.mp4", prompt="a", stream=stream, fps=10**5000)
    with pytest.raises(ValueError, match="got an integer of 401 digits$"):
        EnhanceConfig(fps=10**400)


def test_a_run_that_stored_its_fps_as_text_resumes_at_that_fps():
    """fps given as text ('8') was stored so in config.json, top-level and in enhance, until text was refused:
    such a run resumes at the rate it went at (it was refused: 'stage 3: fps must be a number, got '8'')."""
    saved = GenerateConfig(output="o.mp4", prompt="a", stream=StreamConfig(num_frames=8)).to_dict()
    cfg = GenerateConfig.from_dict({**saved, "fps": "8", "enhance": {"fps": "12"}})
    assert (cfg.fps, cfg.enhance["fps"]) == (8.0, 12.0)


def test_a_hand_edited_dtype_is_named_as_the_configs_key(tmp_path, capsys):
    """An unknown dtype in a run's config.json was refused as ``dtype='fp64'`` (``--dtype fp64``), an argument
    the user never gave; it is named as the file's key."""
    run = _stopped_run(tmp_path, "d", dtype="fp64")
    said = f"{str(run / 'config.json')!r} cannot be resumed: the generate config's dtype 'fp64' is none of fp32, "
    with pytest.raises(ValueError, match="^" + re.escape(said + "fp16, bf16") + "$"):
        resume_generate(run)
    assert main(["generate", "--resume", str(run)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {said}fp16, bf16"


def _stopped_run(tmp_path, name, **stored):
    """A run of tiny (on the CPU) stopped after its first chunk, its config.json given the ``stored`` values."""

    def stop(chunk):
        raise Crash

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, name, n=24, model="tiny", device="cpu"), on_chunk=stop)
    path = tmp_path / f"run-{name}" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **stored}))
    return tmp_path / f"run-{name}"


def test_a_run_whose_config_holds_no_prompt_is_refused_as_such(tmp_path, capsys):
    """It was told "give PROMPT or --prompt-schedule", which --resume does not take."""
    run = _stopped_run(tmp_path, "p", prompt=None, schedule_entries=[])
    said = f"{str(run / 'config.json')!r} cannot be resumed: the generate config holds no prompt (prompt and "
    with pytest.raises(ValueError, match="^" + re.escape(said)):
        resume_generate(run)
    assert main(["generate", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert said in err and "PROMPT" not in err


def test_a_run_of_chunks_longer_than_the_limit_is_told_it_came_from_an_earlier_version(tmp_path, capsys):
    """A run made before chunks were limited to 256 frames was refused as if its config.json were edited."""
    run = _stopped_run(tmp_path, "c")
    stored = json.loads((run / "config.json").read_text())
    stored["stream"]["chunk_frames"] = 300
    (run / "config.json").write_text(json.dumps(stored))
    said = "chunk_frames must be at most 256, got 300: "
    later = (
        "; the run was made by an earlier version, which took chunks of more than 256 frames: finish it with"
    )
    with pytest.raises(ValueError, match=re.escape(said) + ".*" + re.escape(later)):
        resume_generate(run)
    assert main(["generate", "--resume", str(run)]) == 2
    assert later in capsys.readouterr().err


def test_a_run_in_a_dtype_the_device_does_not_run_is_told_how_to_continue(tmp_path, capsys):
    """An fp16 run resumed on a CPU was told "dtype fp16 is not supported on device cpu; use one of fp32,
    bf16", as if the dtype were typed, not how to continue it."""
    run = _stopped_run(tmp_path, "h", dtype="fp16")
    said = "the run's dtype fp16 is not supported on device cpu; to continue it there, pass {} (supported: fp32, bf16)"
    with pytest.raises(ValueError) as caught:
        resume_generate(run)
    assert str(caught.value) == said.format("dtype='fp32'")
    assert main(["generate", "--resume", str(run)]) == 2
    assert f"error: {said.format('--dtype fp32')}" in capsys.readouterr().err
    resume_generate(run, dtype="fp32")  # as told


@pytest.mark.parametrize(
    ("field", "said"),
    [
        (
            "init_video",
            "write it to a file first (streamt2v.io.video.write_video(path, video, fps)), or pass "
            "the tensor to pipe(..., init_video=tensor)",
        ),
        ("init_image", "write it to a file first, or pass the tensor to pipe(..., init_image=tensor)"),
        ("anchor", "write it to a file first, or pass the tensor to pipe(..., anchor_image=tensor)"),
    ],
)
def test_a_tensor_given_for_an_input_file_is_refused_naming_the_field(field, said):
    """``GenerateConfig(init_video=tensor)`` failed in generate() with torch's "Boolean value of Tensor with
    more than one value is ambiguous"."""
    frames = torch.zeros(1, 3, 8, 32, 32)
    with pytest.raises(TypeError) as caught:
        generate(
            GenerateConfig(output="o.mp4", prompt="a", stream=StreamConfig(num_frames=16), **{field: frames})
        )
    assert str(caught.value) == (
        f"GenerateConfig's {field}= takes a path (a str or os.PathLike), got Tensor: {said}"
    )


def test_paths_are_taken_as_any_os_pathlike_and_other_values_refused(tmp_path, monkeypatch):
    """A Path for ``prompt_schedule`` (a file) reached the run's config.json, which JSON cannot write; a number
    for ``output`` failed inside os.fspath."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.txt").write_text("0: a red circle\n")
    stream = StreamConfig(num_frames=8, steps=1, init_steps=1)
    cfg = GenerateConfig(
        output=Path("o.mp4"), prompt_schedule=Path("s.txt"), model=Path("tiny"), stream=stream
    )
    result = generate(cfg)
    stored = json.loads((result.run_dir / "config.json").read_text())
    assert (stored["prompt_schedule"], stored["output"]) == ("s.txt", str(tmp_path / "o.mp4"))
    for field, value in (("output", 3), ("run_dir", ["r"]), ("model", 1.5), ("prompt_schedule", 0)):
        with pytest.raises(
            TypeError, match=rf"^GenerateConfig's {field}= takes .*, got {type(value).__name__}$"
        ):
            GenerateConfig(**{"output": "o.mp4", "prompt": "a", "stream": stream, field: value})


def test_a_config_without_a_prompt_names_the_fields(tmp_path, monkeypatch, capsys):
    """It said "give a prompt or a prompt schedule"; the command line's own check names its PROMPT."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^give prompt or prompt_schedule$"):
        generate(GenerateConfig(output="o.mp4", stream=StreamConfig(num_frames=16)))
    assert main(["generate", "--frames", "16"]) == 2
    assert "error: give a PROMPT or --prompt-schedule" in capsys.readouterr().err


def test_refiner_settings_without_stage_3_are_warned_of_once(tmp_path, monkeypatch, capsys, caplog, model):
    """``GenerateConfig(refiner=...)`` without ``enhance`` was ignored without a word, where the command line
    warns of ``--refiner``; the command line's own warning is not said twice."""
    monkeypatch.chdir(tmp_path)
    stream = StreamConfig(num_frames=8, steps=1, init_steps=1)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.generate"):
        generate(GenerateConfig(output="a.mp4", prompt="a", stream=stream, refiner="r"), model=model)
        generate(
            GenerateConfig(output="b.mp4", prompt="a", stream=stream, refiner="r", random_refiner=True),
            model=model,
        )
    assert [r.getMessage() for r in caplog.records] == [
        "refiner only applies with stage 3 (enhance); ignoring it",
        "refiner and random_refiner=True only apply with stage 3 (enhance); ignoring them",
    ]
    caplog.clear()
    assert main(["generate", "a", "--frames", "8", "-o", "c.mp4", "--refiner", "r", *FAST_CLI]) == 0
    assert "warning: --refiner only applies with --enhance; ignoring it" in capsys.readouterr().err
    assert "stage 3" not in caplog.text


def test_help_of_the_pipeline_lists_every_option():
    """``help(pipe.__call__)`` and ``help(pipe.stream)`` showed ``**options`` and no option."""
    options = [name for name in StreamConfig.__dataclass_fields__]
    doc = StreamingT2VPipeline.stream.__doc__
    missing = [
        name
        for name in [*options, "init_video", "init_image", "anchor_image", "on_step", "resume"]
        if f"``{name}" not in doc
    ]
    assert missing == [], missing
    assert "StreamConfig" in StreamingT2VPipeline.__call__.__doc__
    assert "help(pipe.stream)" in StreamingT2VPipeline.__call__.__doc__
