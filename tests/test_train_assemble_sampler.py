"""``assemble model --sampler`` and ``assemble refiner --enhance``: how the settings are read (inline JSON or a
file) and refused, naming the flag and the settings as typed, and what the sampler answers for against the
UNet's noise schedule and CAM. Fake part folders (configs alone): the checks run before any part loads, and
an accepted sampler goes on to fail on the empty micro-CLIP folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from streamt2v.cli import main
from streamt2v.train.assemble import assemble_model, assemble_refiner


def _parts(root: Path, timesteps: int = 40, cam_frames: int = 8) -> dict[str, Path]:
    """A stream run's final/unet and final/scheduler of ``timesteps``, a stage-1 UNet and empty VAE and CLIP
    folders."""
    unet = root / "run" / "final" / "unet"
    unet.mkdir(parents=True)
    streaming = {"num_frames": 16, "num_cond_frames": cam_frames}
    (unet / "config.json").write_text(json.dumps({"_class_name": "StreamingUNet", "streaming": streaming}))
    (root / "run" / "final" / "scheduler").mkdir()
    (root / "run" / "final" / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"num_train_timesteps": timesteps})
    )
    (root / "base").mkdir()
    (root / "base" / "config.json").write_text(json.dumps({"_class_name": "UNet3DConditionModel"}))
    (root / "vae").mkdir()
    (root / "clip").mkdir()
    return {"unet": unet, "init_unet": root / "base", "vae": root / "vae", "clip": root / "clip"}


def test_a_sampler_answers_only_for_the_step_counts_it_sets(tmp_path, caplog, capsys):
    """On a 40-step schedule, '{"guidance": 7.0}' was refused as 'init_steps=50 is more than the 40
    timesteps': generate's default, which the sampler never set (and a generate's --init-steps overrides).
    A count it sets is refused, a default in the refusal named as one; defaults alone are a warning."""
    parts = _parts(tmp_path)
    with caplog.at_level(logging.WARNING), pytest.raises(FileNotFoundError, match="^clip="):
        assemble_model(tmp_path / "m", sampler={"guidance": 7.0}, **parts)
    assert [r.getMessage() for r in caplog.records] == [
        "generate's default settings do not fit this model's noise schedule (init_steps=50 is more than the "
        "40 timesteps of the noise schedule: lower init_steps to 40 or less; steps=50 is more than the 40 "
        "timesteps of the noise schedule: lower steps to 40 or less): store counts that do with sampler (a "
        "generate's own flags can set them too)"
    ]
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", sampler={"init_steps": 41, "steps": 20}, **parts)
    assert str(err.value) == (
        "sampler={'init_steps': 41, 'steps': 20}: init_steps=41 is more than the 40 timesteps of the noise "
        "schedule: lower init_steps to 40 or less"
    )
    args = [
        "assemble",
        "model",
        str(tmp_path / "m"),
        *(f"--{k.replace('_', '-')}={v}" for k, v in parts.items()),
    ]
    assert main([*args, "--sampler", '{"chunk_strength": 0.5}']) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "error: --sampler '{\"chunk_strength\": 0.5}': chunk_strength 0.5 starts stage 2 at step 20 of 40, "
            "too close to the end for steps=50; lower steps to 20 or less (chunk_strength 1 allows 40); "
            "steps 50 is generate's default (set it in --sampler)"
        )
    )
    assert not (tmp_path / "m").exists()


def test_the_sampler_is_not_blamed_for_the_schedule_or_a_missing_part(tmp_path, caplog):
    """A damaged schedule is named as such, not as the --sampler's fault; a UNet outside a run without a
    schedule is told its missing --init-unet first (a sampler given read the schedule before); a
    cond_frames is refused against the CAM only when the sampler sets it (generate's default 8 is a
    warning)."""
    parts = _parts(tmp_path / "a", cam_frames=4)
    (parts["unet"].parent / "scheduler" / "scheduler_config.json").write_text("{")
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(ValueError, match="^scheduler config '.*' is not valid JSON"),
    ):
        assemble_model(tmp_path / "m", sampler={"guidance": 7.0}, **parts)
    assert [r.getMessage() for r in caplog.records] == [
        "generate's default cond_frames=8 does not match the stream UNet's CAM, which was built for 4 "
        "conditioning frames: store cond_frames 4 with sampler"
    ]
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", sampler={"cond_frames": 8}, **parts)
    assert str(err.value) == (
        "sampler={'cond_frames': 8}: cond_frames=8 does not match the stream UNet's CAM, which was built for "
        "4 conditioning frames"
    )
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "config.json").write_text(json.dumps(json.loads((parts["unet"] / "config.json").read_text())))
    with pytest.raises(ValueError, match="^init_unet is needed: "):
        assemble_model(tmp_path / "m", unet=loose, sampler={"guidance": 7.0})


def test_sampler_and_enhance_refusals_name_the_flag_the_json_as_typed_and_the_names_to_use(tmp_path, capsys):
    """``--enhance '{"guidance_scale": 2}'`` read "enhance setting(s) ['guidance_scale'] unknown
    (guidance_scale: pass guidance=)", ``--enhance '{"steps": 2000}'`` "enhance settings {'steps': 2000}:
    ... <= start_step (600)" (a default never typed), and ``--sampler '{"num_inference_steps": 4}'`` gave no
    hint: the flag, the JSON as typed, the name to use and the default are said (nothing is loaded)."""
    refiner_unet, stream_unet = tmp_path / "refiner", tmp_path / "stream"
    for unet, config in (
        (refiner_unet, {"_class_name": "UNet3DConditionModel"}),
        (stream_unet, {"_class_name": "StreamingUNet", "streaming": {"num_frames": 16}}),
    ):
        unet.mkdir()
        (unet / "config.json").write_text(json.dumps(config))

    def error(kind: str, unet: Path, *flags: str) -> str:
        assert main(["assemble", kind, str(tmp_path / "out"), "--unet", str(unet), *flags]) == 2
        return capsys.readouterr().err.strip()

    assert error("refiner", refiner_unet, "--enhance", '{"guidance_scale": 2, "stepz": 3}').startswith(
        "error: unknown --enhance settings: guidance_scale (use guidance), stepz (steps?); the settings: blend, "
    )
    assert error("refiner", refiner_unet, "--enhance", '{"steps": 2000}') == (
        """error: --enhance '{"steps": 2000}': steps (2000) must be <= start_step (600): SDEdit runs distinct """
        "timesteps below the start step; start_step 600 is the official default (set it in --enhance)"
    )
    with pytest.raises(ValueError, match=r"^enhance=\{'steps': 2000\}: .*default \(set it in enhance\)$"):
        assemble_refiner(tmp_path / "out", unet=refiner_unet, enhance={"steps": 2000})
    assert error("model", stream_unet, "--sampler", '{"num_inference_steps": 4}').startswith(
        "error: unknown --sampler setting: num_inference_steps (use steps); the settings: anchor_colour_match, "
    )
    assert error("model", stream_unet, "--sampler", '{"eta": -1}') == (
        "error: --sampler eta must be in [0, 1] (0 = deterministic DDIM), got -1"
    )
    assert not (tmp_path / "out").exists()


def test_sampler_and_enhance_name_a_settings_file_that_does_not_exist(tmp_path, monkeypatch, capsys):
    """``--sampler``/``--enhance`` take inline JSON or a file; a path that is not there is named as a missing
    file (was "expected a JSON object or a JSON file, got 'nope.json' (Expecting value: line 1 column 1 ...)")."""
    from streamt2v.cli import build_parser

    monkeypatch.chdir(tmp_path)
    for kind, flag in (("model", "--sampler"), ("refiner", "--enhance")):
        args = ["assemble", kind, "out", "--unet", "runs/x/final/unet", flag]
        for value in ("nope.json", "settings/sampler"):
            with pytest.raises(SystemExit):
                main([*args, value])
            last = capsys.readouterr().err.strip().splitlines()[-1]
            assert last.endswith(f"error: argument {flag}: file {value!r} not found"), last
        # a folder, a file of bad JSON or of no object: named as such
        Path("settings").mkdir(exist_ok=True)
        Path("bad.json").write_text('{"steps": 2,}')
        Path("list.json").write_text("[2]")
        for value, message in [
            ("settings", "'settings' is a folder; expected a JSON file or a JSON object"),
            ("bad.json", "file 'bad.json' is not valid JSON (Expecting property name"),
            ("list.json", "file 'list.json' holds no JSON object"),
        ]:
            with pytest.raises(SystemExit):
                main([*args, value])
            assert f"error: argument {flag}: {message}" in capsys.readouterr().err
        # inline JSON (a "/" inside it included) and an existing file still work
        Path("good.json").write_text('{"steps": 2}')
        for value, want in [
            ('{"negative_prompt": "a/b.json"}', {"negative_prompt": "a/b.json"}),
            ("good.json", {"steps": 2}),
            (str(tmp_path / "good.json"), {"steps": 2}),
        ]:
            parsed = build_parser().parse_args([*args, value])
            assert getattr(parsed, flag[2:]) == want
        with pytest.raises(SystemExit):  # inline JSON that does not parse keeps its message
            main([*args, '{"steps": 2'])
        assert f"error: argument {flag}: expected a JSON object or a JSON file" in capsys.readouterr().err


def test_a_refusal_shows_the_settings_as_typed_a_file_by_its_name(tmp_path, monkeypatch, capsys):
    """ "The JSON as typed" was the parsed settings dumped again: --sampler s.json showed --sampler
    '{"eta": -1}', not the file, and a step count given as 1 read 1.0 once StreamConfig had typed it. (A
    refusal of one setting's value names it alone: --sampler eta.)"""
    parts = _parts(tmp_path)
    monkeypatch.chdir(tmp_path)
    Path("s.json").write_text('{\n  "eta": -1\n}\n')
    args = ["assemble", "model", "m", *(f"--{k.replace('_', '-')}={v}" for k, v in parts.items())]
    assert main([*args, "--sampler", "s.json"]) == 2
    assert capsys.readouterr().err.startswith("error: --sampler eta must be in [0, 1] ")
    assert main([*args, "--sampler", '{"chunk_strength": 1, "steps": 41}']) == 2
    assert capsys.readouterr().err.startswith(
        """error: --sampler '{"chunk_strength": 1, "steps": 41}': steps=41 is more than the 40 timesteps"""
    )
    assert not Path("m").exists()


def test_a_refused_value_is_named_by_its_key_as_each_caller_wrote_it(tmp_path, capsys):
    """A setting's value was shown the Python way on the command line (``--sampler '{"steps": null}'``:
    "got None", ``{"guidance": -1}``: "got -1.0", ``--scheduler-option set_alpha_to_one=null`` "scheduler
    option set_alpha_to_one ..., got None", naming no flag): the command line names the flag and the key
    and the value as typed (JSON), Python the argument and its repr. A null in a sampler is refused: None
    is StreamConfig's "the model's", and a sampler is the model's (it was stored as such)."""
    parts = _parts(tmp_path)
    refiner = tmp_path / "refiner"
    refiner.mkdir()
    (refiner / "config.json").write_text(json.dumps({"_class_name": "UNet3DConditionModel"}))
    common = [f"--vae={parts['vae']}", f"--clip={parts['clip']}"]
    model = ["assemble", "model", str(tmp_path / "m"), f"--unet={parts['unet']}", *common]
    model += [f"--init-unet={parts['init_unet']}"]
    refiner_args = ["assemble", "refiner", str(tmp_path / "r"), f"--unet={refiner}", *common]
    cases = [
        (
            "sampler",
            '{"steps": null}',
            "--sampler steps must be an integer, got null (leave steps out for generate's default)",
            "sampler={'steps': None}: steps must be an integer, got None (leave steps out for generate's "
            "default)",
        ),
        (
            "sampler",
            '{"guidance": -1}',
            "--sampler guidance must be >= 0, got -1",
            "sampler={'guidance': -1}: guidance must be >= 0, got -1",
        ),
        (
            "sampler",
            '{"reanchor": "yes"}',
            '--sampler reanchor must be true or false, got "yes"',
            "sampler={'reanchor': 'yes'}: reanchor must be true or false, got 'yes'",
        ),
        (
            "enhance",
            '{"overlap": true}',
            "--enhance overlap must be an integer, got true",
            "enhance={'overlap': True}: overlap must be an integer, got True",
        ),
    ]
    for name, typed, flagged, python in cases:
        args = model if name == "sampler" else refiner_args
        assert main([*args, f"--{name}", typed]) == 2
        assert capsys.readouterr().err.strip() == f"error: {flagged}"
        call = assemble_model if name == "sampler" else assemble_refiner
        unet = parts["unet"] if name == "sampler" else refiner
        others = {k: v for k, v in parts.items() if k != "unet" and (name == "sampler" or k != "init_unet")}
        with pytest.raises(ValueError) as err:
            call(tmp_path / "m", unet=unet, **others, **{name: json.loads(typed)})
        assert str(err.value) == python
    for typed, shown in (("null", "null"), ("yes", "yes")):
        assert main([*refiner_args, "--scheduler-option", f"set_alpha_to_one={typed}"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: --scheduler-option set_alpha_to_one must be true or false, got {shown}"
        )
    with pytest.raises(ValueError) as err:
        assemble_refiner(
            tmp_path / "r",
            unet=refiner,
            vae=parts["vae"],
            clip=parts["clip"],
            scheduler_overrides={"set_alpha_to_one": None},
        )
    assert str(err.value) == (
        "scheduler_overrides={'set_alpha_to_one': None}: set_alpha_to_one must be true or false, got None"
    )
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def test_an_unknown_scheduler_option_is_named_as_each_caller_gave_it(tmp_path, capsys):
    """``--scheduler-option nosuch=1`` was refused as an "unknown scheduler option: nosuch", naming neither
    the flag nor ``scheduler_overrides=``: the command line names the flag, Python the argument, each with a
    close name's hint, in the shape of an unknown --sampler or --enhance setting (it had one of its own), the
    names in the order typed (they were sorted). A key that is no string failed with a bare TypeError."""
    parts = _parts(tmp_path)
    refiner = tmp_path / "refiner"
    refiner.mkdir()
    (refiner / "config.json").write_text(json.dumps({"_class_name": "UNet3DConditionModel"}))
    line = ["assemble", "refiner", str(tmp_path / "r"), f"--unet={refiner}"]
    line += [f"--vae={parts['vae']}", f"--clip={parts['clip']}"]
    assert main([*line, "--scheduler-option", "nosuch=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "error: unknown --scheduler-option setting: nosuch; the settings (DDIMScheduler's options): beta_end, "
    )
    assert main([*line, "--scheduler-option", "set_alpha_to_1=1", "--scheduler-option", "nosuch=1"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: unknown --scheduler-option settings: set_alpha_to_1 (set_alpha_to_one?), nosuch; the settings "
    )
    assert main([*line, "--enhance", '{"zzz": 1, "stepz": 2}']) == 2
    assert capsys.readouterr().err.startswith("error: unknown --enhance settings: zzz, stepz (steps?); ")
    for overrides, said in [
        ({"set_alpha_to_1": 1}, "unknown scheduler_overrides setting: set_alpha_to_1 (set_alpha_to_one?); "),
        ({1: 2}, "scheduler_overrides={1: 2}: its keys must be setting names (strings), got 1"),
    ]:
        with pytest.raises(ValueError) as err:
            assemble_refiner(
                tmp_path / "r",
                unet=refiner,
                vae=parts["vae"],
                clip=parts["clip"],
                scheduler_overrides=overrides,
            )
        assert str(err.value).startswith(said)
    assert not (tmp_path / "r").exists()
