"""The checks generate() makes before any model loads name what they refuse as each caller spells it: the
fields of GenerateConfig to a Python caller (``png_dir``, ``fps``), the flags on the command line
(``--png-dir``, ``--fps``). They named the flags to both."""

from __future__ import annotations

import pytest

from streamt2v.cli import main
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.stream import StreamConfig

# (GenerateConfig's fields, the command line's arguments, what Python is told, what the command line is told)
CASES = [
    (
        {"prompt_schedule": "0: a"},
        ["--prompt-schedule", "0: a"],
        "give either prompt or prompt_schedule, not both",
        "give either a PROMPT or --prompt-schedule, not both",  # the command line's own check
    ),
    (
        {"init_video": "nope.mp4"},
        ["--init-video", "nope.mp4"],
        "init_video file not found: 'nope.mp4'",
        "--init-video file not found: 'nope.mp4'",
    ),
    (
        {"init_video": "nope.mp4", "init_image": "nope.png"},
        ["--init-video", "nope.mp4", "--init-image", "nope.png"],
        "give either init_video or init_image, not both",
        "give either --init-video or --init-image, not both",
    ),
    (
        {"anchor": "frames"},
        ["--anchor", "frames"],
        "anchor 'frames' is a folder",
        "--anchor 'frames' is a folder",
    ),
    ({"fps": 60, "gif": "g.gif"}, ["--fps", "60", "--gif", "g.gif"], "fps 60 is too high", "--fps 60"),
    (
        {"png_dir": "f.png"},
        ["--png-dir", "f.png"],
        "png_dir 'f.png' has a suffix",
        "--png-dir 'f.png' has a suffix",
    ),
    ({"gif": "f.mp4"}, ["--gif", "f.mp4"], "gif path must end in .gif", "--gif path must end in .gif"),
    (
        {"model": "nope"},
        ["--model", "nope"],
        "or no model; presets: ",
        "or no --model; presets: ",
    ),
    (
        {"png_dir": "frames"},
        ["--png-dir", "frames"],
        "png_dir 'frames' already holds the frames of an earlier output; pass overwrite=True to replace it",
        "--png-dir 'frames' already holds the frames of an earlier output; pass --overwrite to replace it",
    ),
    (
        {"init_video": "in.mp4", "gif": "in.mp4.gif", "output": "in.mp4"},
        ["--init-video", "in.mp4", "--gif", "in.mp4.gif", "-o", "in.mp4"],
        "output 'in.mp4' is the init_video input",
        "output 'in.mp4' is the --init-video input",
    ),
    (
        {"png_dir": "p", "gif": "p"},
        ["--png-dir", "p", "--gif", "p"],
        "gif path must end in .gif",
        "--gif path must end in .gif",
    ),
    (
        {"png_dir": "p", "run_dir": "p/run"},
        ["--png-dir", "p", "--run-dir", "p/run"],
        "in the png_dir folder 'p', which is to hold only its frames; choose a run_dir outside it, or give "
        "png_dir another folder",
        "in the --png-dir folder 'p', which is to hold only its frames; choose a --run-dir outside it, or "
        "give --png-dir another folder",
    ),
    (
        {"output": "f", "run_dir": "f/run"},
        ["-o", "f", "--run-dir", "f/run"],
        "choose a run_dir outside it, or give output another folder",
        "choose a --run-dir outside it, or give -o another folder",
    ),
    (
        {"output": "x.mp4", "run_dir": "x.mp4"},
        ["-o", "x.mp4", "--run-dir", "x.mp4"],
        "run directory 'x.mp4' is the output path; give run_dir another folder",
        "run directory 'x.mp4' is the output path; give --run-dir another folder",
    ),
    (
        {"run_dir": "in.mp4"},
        ["--run-dir", "in.mp4"],
        "run directory 'in.mp4' is an existing file, not a folder; choose another run_dir",
        "run directory 'in.mp4' is an existing file, not a folder; choose another --run-dir",
    ),
    (
        {"run_dir": "old"},
        ["--run-dir", "old"],
        "'old' already holds a run; continue it with resume_generate('old') or choose another run_dir",
        "'old' already holds a run; continue it with --resume old or choose another --run-dir",
    ),
    (
        {"run_dir": "old/chunks/new"},
        ["--run-dir", "old/chunks/new"],
        "lies inside the run directory '{tmp}/old'; choose another run_dir, outside it",
        "lies inside the run directory '{tmp}/old'; choose another --run-dir, outside it",
    ),
    (
        {"run_dir": "in.mp4/run"},
        ["--run-dir", "in.mp4/run"],
        "'in.mp4/run': '{tmp}/in.mp4' is a file, not a folder; choose another run_dir",
        "'in.mp4/run': '{tmp}/in.mp4' is a file, not a folder; choose another --run-dir",
    ),
]


@pytest.mark.parametrize(("fields", "argv", "python", "cli"), CASES)
def test_the_checks_before_loading_name_arguments_as_each_caller_spells_them(
    tmp_path, monkeypatch, capsys, fields, argv, python, cli
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_000000.png").write_bytes(b"")  # an earlier PNG output
    (tmp_path / "in.mp4").write_bytes(b"")
    (tmp_path / "old" / "chunks").mkdir(parents=True)  # a run's folder
    (tmp_path / "old" / "config.json").write_text("{}")
    (tmp_path / "old" / "manifest.json").write_text('{"format_version": 1, "chunks": [], "num_chunks": 1}')
    python, cli = python.format(tmp=tmp_path), cli.format(tmp=tmp_path)
    given = {"output": "o.mp4", "prompt": "a cat", **fields}
    with pytest.raises((ValueError, OSError)) as caught:
        generate(GenerateConfig(stream=StreamConfig(num_frames=16), **given))
    assert python in str(caught.value)
    assert "--" not in str(caught.value), str(caught.value)
    assert main(["generate", "a cat", "--frames", "16", "-o", "o.mp4", *argv]) == 2
    err = capsys.readouterr().err
    assert cli in err, err
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "p").exists()


def test_a_model_name_close_to_a_presets_is_given_the_preset_as_a_hint(tmp_path, monkeypatch, capsys):
    """``from_pretrained("tinyy")`` said only "model folder '.../tinyy' does not exist"; a folder path, or a
    name close to none, is not given one: a missing folder ``tiny-run`` was given ``(tiny?)``, a preset of
    random weights, and ``microworld.ckpt`` ``(microworld?)``. The error is the loader's own, its frames kept
    (it was made again in load_model, its class and errno lost)."""
    import traceback

    from streamt2v.pipeline.generate import StreamingT2VPipeline

    monkeypatch.chdir(tmp_path)
    for name, hint in [
        ("tinyy", " (tiny?)"),
        ("microwold", " (microworld?)"),
        ("nope", ""),
        ("./tinyy", ""),
        ("tiny-run", ""),
        ("tini", ""),
        ("microworld.ckpt", ""),
    ]:
        with pytest.raises(FileNotFoundError) as err:
            StreamingT2VPipeline.from_pretrained(name, device="cpu")
        assert str(err.value) == f"model folder {name!r} does not exist{hint}"  # named as given
        assert not traceback.extract_tb(err.value.__traceback__)[-1].filename.endswith("model_loading.py")
    with pytest.raises(
        FileNotFoundError, match=r"does not exist \(tiny\?; the shipped model: 'microworld' or no model;"
    ):
        generate(
            GenerateConfig(output="o.mp4", prompt="a", stream=StreamConfig(num_frames=16), model="tinyy")
        )
    assert main(["generate", "a", "--model", "tinyy"]) == 2
    assert "does not exist (tiny?; the shipped model: 'microworld' or no --model;" in capsys.readouterr().err
    assert main(["generate", "a", "--model", "tiny-run"]) == 2
    assert (
        "tiny-run' does not exist (the shipped model: 'microworld' or no --model;" in capsys.readouterr().err
    )


def test_a_crf_off_the_h264_scale_is_refused_when_the_config_is_made(tmp_path, monkeypatch):
    """``GenerateConfig(crf=-1)`` was taken: libx264 clipped it when the first chunk was written; and
    ``crf="8"`` was refused only once ``generate()`` ran, where the other fields are refused as given."""
    monkeypatch.chdir(tmp_path)
    for crf in (-1, 52, 18.5, "8"):
        with pytest.raises(
            ValueError, match=rf"^crf must be an integer from 0 \(lossless\) to 51 .*, got {crf!r}"
        ):
            GenerateConfig(output="o.mp4", prompt="a", stream=StreamConfig(num_frames=16), crf=crf)
    assert list(tmp_path.iterdir()) == []


def test_a_crf_of_numpys_integers_is_taken_as_pythons(tmp_path, monkeypatch):
    """``crf=np.int64(20)`` passed the check, then writing the run's config.json failed ("Object of type int64
    is not JSON serializable"), naming no setting."""
    import json

    import numpy as np

    monkeypatch.chdir(tmp_path)
    stream = StreamConfig(num_frames=8, steps=1, init_steps=1)
    cfg = GenerateConfig(output="o.mp4", prompt="a", model="tiny", stream=stream, crf=np.int64(20))
    result = generate(cfg)
    assert json.loads((result.run_dir / "config.json").read_text())["crf"] == 20


@pytest.mark.parametrize(
    ("fields", "argv", "held", "said"),
    [
        ({"png_dir": "frames"}, ["--png-dir", "frames"], "frames", "{png_dir} 'frames' is being written by"),
        ({"gif": "g.gif"}, ["--gif", "g.gif"], "g.gif", "{gif} 'g.gif' is being written by"),
        (
            {"png_dir": "frames"},
            ["--png-dir", "frames"],
            "frames.partial",
            "the preview 'frames.partial' of {png_dir} 'frames' would be written over",
        ),
    ],
)
def test_an_output_in_use_is_named_as_each_caller_spells_it(
    tmp_path, monkeypatch, capsys, fields, argv, held, said
):
    """The refusal of an output another writer holds showed the placeholder of its argument
    (``\\x00png_dir\\x00 'frames' is being written ...``, ``^@png_dir^@`` on the command line)."""
    from streamt2v.io import locks
    from streamt2v.io.output_paths import OutputInUseError, lock_output

    monkeypatch.chdir(tmp_path)
    lock = lock_output(tmp_path / held)  # a lock is taken per open file: this process's checks see it held
    try:
        with pytest.raises(OutputInUseError) as caught:
            generate(
                GenerateConfig(output="o.mp4", prompt="a cat", stream=StreamConfig(num_frames=16), **fields)
            )
        assert str(caught.value).startswith(said.format(png_dir="png_dir", gif="gif")), str(caught.value)
        assert main(["generate", "a cat", "--frames", "16", "-o", "o.mp4", *argv]) == 2
        err = capsys.readouterr().err
        assert "error: " + said.format(png_dir="--png-dir", gif="--gif") in err, err
    finally:
        locks.release(lock, remove=True)


def test_an_unused_anchor_is_named_as_a_python_caller_gave_it(tmp_path, monkeypatch, caplog, model):
    """generate(GenerateConfig(anchor=...)) on a one-chunk video warns of anchor, its field: it named the
    command line's --anchor to Python callers (the command line's own test: test_generate_cli)."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (32, 32), "red").save("a.png")
    cfg = GenerateConfig(
        output="v.mp4", stream=StreamConfig(num_frames=8, steps=1, init_steps=1), prompt="a", anchor="a.png"
    )
    generate(cfg, model=model)
    assert "anchor is not used: the APM anchor conditions streaming chunks only, and 8 frames need none" in (
        caplog.text
    )
    assert "--anchor" not in caplog.text and "anchor_image" not in caplog.text
