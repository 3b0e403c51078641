"""The Python API takes a leading ``~`` in a path as the home folder, as the command line's flags do (the
shell leaves it in ``--output=~/x.mp4``): ``write_video("~/x.mp4", ...)`` wrote ``./~/x.mp4``,
``generate(GenerateConfig(output="~/g.mp4"))``, ``EvaluationReport.save("~/r.json")``, ``scuts("~/v.mp4")``,
``enhance_video(state_file="~/s.pt")`` and RAFT's ``raft_weights="~/raft.pt"`` too. HOME is a
temporary folder here: nothing is written into the real home."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from streamt2v.io.video import read_image, read_video, write_video


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder of the test's own, and a working directory apart from it (where ./~ would land)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    yield tmp_path / "home"
    assert not (tmp_path / "work" / "~").exists()


def test_the_video_writers_and_readers_take_a_tilde_as_the_home_folder(home):
    from PIL import Image

    from streamt2v.io.streaming_writer import StreamingVideoWriter, VideoFileWriter

    video = torch.zeros(3, 4, 16, 16)
    assert write_video("~/x.mp4", video, fps=8) == home / "x.mp4"
    assert read_video("~/x.mp4")[0].shape[2] == 4
    write_video("~/frames", video, fps=8)
    assert read_video("~/frames")[0].shape[2] == 4
    with VideoFileWriter("~/w.gif", 8) as writer:
        writer.write(video)
    with StreamingVideoWriter("~/s.mp4", 8) as writer:
        writer.append(video)
    assert (home / "w.gif").is_file() and (home / "s.mp4").is_file()
    Image.new("RGB", (8, 8)).save(home / "a.png")
    assert read_image("~/a.png").shape == (1, 3, 8, 8)


def test_a_prompt_schedule_file_and_an_evaluation_report_take_a_tilde(home):
    from streamt2v.metrics.evaluate import evaluate_videos
    from streamt2v.pipeline.prompts import load_schedule

    (home / "s.txt").write_text("0: a cat\n8: a dog\n")
    assert load_schedule("~/s.txt").entries == ((0, "a cat"), (8, "a dog"))
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    write_video(home / "v.mp4", frames, fps=8)
    report = evaluate_videos(["~/v.mp4"], metrics="scuts", progress=False)
    assert not report.skipped and report.records[0]["path"] == "~/v.mp4"  # named as given
    assert report.save("~/r.json") == home / "r.json" and (home / "r.json").is_file()


def test_generate_takes_a_tilde_in_its_paths(home, model):
    from conftest import cfg_for
    from streamt2v.pipeline.generate import generate
    from streamt2v.pipeline.resume import resume_generate

    cfg = replace(
        cfg_for(home, "g", n=8), output="~/g.mp4", run_dir="~/run", png_dir="~/frames", gif="~/g.gif"
    )
    result = generate(cfg, model=model)
    assert result.output == home / "g.mp4" and result.run_dir == home / "run"
    assert (home / "g.mp4").is_file() and (home / "g.gif").is_file() and (home / "frames").is_dir()
    # the run_dir generate took is the one resume_generate takes ("run directory '~/run' does not exist")
    resumed = resume_generate("~/run", model=model)
    assert resumed.run_dir == home / "run" and resumed.output == home / "g.mp4"


def test_scene_cuts_and_the_evaluate_inputs_take_a_tilde(home):
    """scuts read ``~/v.mp4`` as ``./~/v.mp4`` (video file not found), as did the prompts file and the videos
    ``evaluate`` looks for."""
    from streamt2v.metrics import scuts
    from streamt2v.metrics.prompts_file import read_prompts
    from streamt2v.metrics.video_search import find_videos

    write_video(home / "v.mp4", np.zeros((4, 16, 16, 3), np.uint8), fps=8)
    assert scuts("~/v.mp4") == 0
    assert find_videos("~/v.mp4") == [home / "v.mp4"]
    (home / "p.txt").write_text("a cat\n")
    assert read_prompts("~/p.txt") == ["a cat"]


def test_enhance_video_keeps_its_state_file_under_a_tilde(home, refiner):
    from conftest import SMALL
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.enhance_config import EnhanceConfig
    from streamt2v.pipeline.enhance_state import remove_state_file

    video = torch.rand(1, 3, 4, 32, 32) * 2 - 1
    enhance_video(video, "a red circle", refiner, EnhanceConfig(**SMALL), seed=0, state_file="~/s.pt")
    assert (home / "s.pt").is_file()
    # its output written, the state file is removed where it is (remove_state_file read ./~/s.pt: kept)
    (home / "s.pt.stale-0123456789abcdef").write_bytes(b"")  # another run's, set aside: kept
    assert remove_state_file("~/s.pt") == [home / "s.pt.stale-0123456789abcdef"]
    assert not (home / "s.pt").exists()


def test_raft_weights_take_a_tilde(home):
    pytest.importorskip("torchvision")
    from torchvision.models.optical_flow import raft_large

    from streamt2v.metrics.flow import make_flow_fn

    torch.save(raft_large(weights=None).state_dict(), home / "raft.pt")
    flow = make_flow_fn("raft", raft_weights="~/raft.pt", device="cpu")
    assert flow(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)).shape == (2, 64, 64)


def test_a_missing_model_or_refiner_folder_is_named_as_given(home):
    """from_pretrained("~/nothere") named '/HOME/nothere' only; Refiner.from_pretrained too (as 'resolved'). Both in
    one style: as given, then as read where a ``~`` was expanded."""
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.refiner import Refiner

    with pytest.raises(FileNotFoundError) as err:
        StreamingT2VModel.from_pretrained("~/nothere")
    assert str(err.value) == f"model folder '~/nothere' ({str(home / 'nothere')!r}) does not exist"
    with pytest.raises(FileNotFoundError) as err:
        Refiner.from_pretrained("~/nothere")
    assert str(err.value).startswith(
        f"refiner folder '~/nothere' ({str(home / 'nothere')!r}) does not exist; "
    )
    with pytest.raises(FileNotFoundError) as err:
        Refiner.from_pretrained("/nothere")
    assert str(err.value).startswith("refiner folder '/nothere' does not exist; ")
    # a relative name is shown as typed only, as the model's is (it added '(resolved: /cwd/nothere)')
    with pytest.raises(FileNotFoundError) as err:
        Refiner.from_pretrained("nothere")
    assert str(err.value).startswith("refiner folder 'nothere' does not exist; ")


def test_generate_names_its_paths_as_typed_then_as_read(home, capsys):
    """The command line expanded ``~`` while parsing, so its refusals named only the expanded path
    (``--init-video file not found: '/HOME/nope.mp4'``); the paths are named as typed, then as read."""
    from streamt2v.cli import main

    read = {name: repr(str(home / name)) for name in ("nope.mp4", "nomodel", "x.avi2", "x.mp4")}
    (home / "stray.txt").write_text("the user's")
    for flags, said in (
        (["--init-video=~/nope.mp4"], f"--init-video file not found: '~/nope.mp4' ({read['nope.mp4']})"),
        (["--model=~/nomodel"], f"model folder '~/nomodel' ({read['nomodel']}) does not exist ("),
        (
            ["--output=~/x.avi2"],
            f"cannot write video to '~/x.avi2' ({read['x.avi2']}): unknown suffix '.avi2'",
        ),
        (["--gif=~/x.mp4"], f"--gif path must end in .gif, got '~/x.mp4' ({read['x.mp4']})"),
        (["--run-dir=~"], f"run directory '~' ({str(home)!r}) is a folder holding other files ('stray.txt')"),
    ):
        assert main(["generate", "a cat", "--frames", "8", *flags, "--no-progress"]) == 2, flags
        err = capsys.readouterr().err
        assert said in err, err
    assert "(e.g. --run-dir ~/my-run)" in err  # advice as typed, as the shell takes it


def test_generate_in_python_names_a_tilde_path_as_given(home):
    """``GenerateConfig(init_image="~/nope.png")`` was refused naming only '/HOME/nope.png'."""
    from conftest import cfg_for
    from streamt2v.pipeline.generate import generate

    cfg = replace(cfg_for(home, "g", n=8), init_image="~/nope.png")
    with pytest.raises(FileNotFoundError) as err:
        generate(cfg)
    assert str(err.value) == f"init_image file not found: '~/nope.png' ({str(home / 'nope.png')!r})"


def test_a_run_directory_and_a_schedule_file_are_named_as_typed_then_as_read(home, capsys):
    """``--resume '~/nope'`` and ``resume_generate('~/nope')`` named only '/HOME/nope', ``--prompt-schedule
    '~/nope.txt'`` too, and ``load_schedule('~/nope.txt')`` only '~/nope.txt'."""
    from streamt2v.cli import main
    from streamt2v.pipeline.prompts import load_schedule
    from streamt2v.pipeline.resume import resume_generate

    run = f"run directory '~/nope' ({str(home / 'nope')!r}) does not exist"
    schedule = f"prompt schedule file '~/nope.txt' ({str(home / 'nope.txt')!r}) not found"
    with pytest.raises(FileNotFoundError, match=re.escape(run)):
        resume_generate("~/nope")
    with pytest.raises(FileNotFoundError, match=re.escape(schedule)):
        load_schedule("~/nope.txt")
    (home / "stray.txt").write_text("the user's")
    with pytest.raises(
        NotADirectoryError, match=re.escape(f"'~/stray.txt' ({str(home / 'stray.txt')!r}) is a file")
    ):
        resume_generate("~/stray.txt")
    for flags, said in ((["--resume=~/nope"], run), (["--prompt-schedule=~/nope.txt"], schedule)):
        assert main(["generate", *flags, "--frames", "8", "--no-progress"]) == 2, flags
        err = capsys.readouterr().err
        assert said in err, err
    # a schedule file given as --prompt is read as typed too
    (home / "s.txt").write_text("0: a cat\n8: a dog\n")
    (home / "bad.txt").write_text("0: a cat\nno entry\n")
    assert main(["generate", "--prompt=~/bad.txt", "--frames", "8", "--no-progress"]) == 2
    assert f"prompt schedule file '~/bad.txt' ({str(home / 'bad.txt')!r}), line 2" in capsys.readouterr().err


def _held_elsewhere(*locks):
    """A process of its own holding the lock files ``locks`` (as a writer of what they guard does), so that
    their holder is not this process."""
    script = (
        "import fcntl, os, sys, time\n"
        "held = [open(p, 'w') for p in sys.argv[1:]]\n"
        "for f in held:\n"
        "    fcntl.flock(f, fcntl.LOCK_EX); f.write(str(os.getpid())); f.flush()\n"
        "print('held', flush=True); time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, locks)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "held\n"
    return proc


def _png_folder_with_a_file(home):
    (home / "frames").mkdir()
    (home / "frames" / "notes.txt").write_text("the user's")


def _a_run(home):
    (home / "run" / "chunks").mkdir(parents=True)
    (home / "run" / "config.json").write_text("{}")
    (home / "run" / "manifest.json").write_text("{}")


# (what is at home first, the flags, what the refusal says: {X} is the path X named as typed, then as read)
_OUTPUT_CASES = {
    "in use": (None, ["--output=~/busy.mp4"], "output {busy.mp4} is being written by another process (pid "),
    "a preview's name": (
        None,
        ["--output=~/v.partial.mp4"],
        "output {v.partial.mp4} is the name of the preview of output",
    ),
    "png folder holding files": (
        _png_folder_with_a_file,
        ["--output=~/frames"],
        "output folder {frames} already holds files that are not frames",
    ),
    "png folder that is a file": (
        lambda home: (home / "still").write_text(""),
        ["--output=~/still"],
        "output folder {still} exists and is not a folder",
    ),
    "output under a file": (
        lambda home: (home / "stray.txt").write_text(""),
        ["--output=~/stray.txt/x.mp4"],
        "cannot write output {stray.txt/x.mp4}: ",
    ),
    "run directory under a file": (
        lambda home: (home / "stray.txt").write_text(""),
        ["--run-dir=~/stray.txt/run"],
        "cannot write run directory {stray.txt/run}: ",
    ),
    "run directory at the output": (
        None,
        ["--output=~/x.mp4", "--run-dir=~/x.mp4"],
        "run directory {x.mp4} is the output path",
    ),
    "run directory in a png output": (
        None,
        ["--output=~/f", "--run-dir=~/f/run"],
        "run directory {f/run} is in the output folder {f}, which",
    ),
    "run directory holding a run": (
        _a_run,
        ["--run-dir=~/run"],
        "run directory {run} already holds a run; continue it with --resume ~/run or",
    ),
    "run directory in use": (None, ["--run-dir=~/held"], "run directory {held} is in use by another process"),
    "run directory that is a file": (
        lambda home: (home / "stray.txt").write_text(""),
        ["--run-dir=~/stray.txt"],
        "run directory {stray.txt} is an existing file, not a folder",
    ),
    "run directory inside a run": (
        _a_run,
        ["--run-dir=~/run/chunks/r"],
        "run directory {run/chunks/r} lies inside the run directory",
    ),
    "png_dir with a suffix": (None, ["--png-dir=~/p.mp4"], "--png-dir {p.mp4} has a suffix"),
    "same path": (None, ["--output=~/s.gif", "--gif=~/s.gif"], "--gif {s.gif} is the same path as the"),
    "the input": (
        lambda home: write_video(home / "in.mp4", np.zeros((4, 16, 16, 3), np.uint8), fps=8),
        ["--init-video=~/in.mp4", "--output=~/in.mp4"],
        "output {in.mp4} is the --init-video input",
    ),
    "existing output": (
        lambda home: (home / "old.mp4").write_text(""),
        ["--output=~/old.mp4"],
        "output {old.mp4} already exists; pass --overwrite",
    ),
    "existing folder": (
        lambda home: (home / "d.mp4").mkdir(),
        ["--output=~/d.mp4"],
        "output {d.mp4} is an existing folder, not a .mp4 file",
    ),
    "preview that is a folder": (
        lambda home: (home / "v.partial.mp4").mkdir(),
        ["--output=~/v.mp4"],
        "where the preview of output {v.mp4} is written during the run, is a folder",
    ),
}
# the locks another process holds in a case, under home
_HELD = {
    "in use": [".busy.mp4.lock"],
    "a preview's name": [".v.mp4.lock", ".v.partial.mp4.lock"],
    "run directory in use": ["held/.lock"],
}


@pytest.mark.parametrize("case", _OUTPUT_CASES)
def test_generate_names_its_outputs_and_run_directory_as_typed_then_as_read(home, capsys, case):
    """The refusals of an output path or a run directory given with ``~`` named only the expanded path
    ('/home/me/x.mp4'): each names it as typed, then as read. No model is loaded."""
    from conftest import FAST_CLI
    from streamt2v.cli import main

    made, flags, said = _OUTPUT_CASES[case]
    if made is not None:
        made(home)
    (home / "held").mkdir()
    proc = _held_elsewhere(*(home / name for name in _HELD.get(case, [])))
    try:
        assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, *flags]) == 2
    finally:
        proc.kill()
        proc.wait()
    err = capsys.readouterr().err
    named = re.sub(r"\{([^}]*)\}", lambda m: f"'~/{m[1]}' ({str(home / m[1])!r})", said)
    assert named in err, err


def test_the_frame_rate_warning_names_the_input_video_as_given(home, caplog):
    from streamt2v.pipeline.preflight import warn_rate_change

    write_video(home / "in.mp4", np.zeros((4, 16, 16, 3), np.uint8), fps=24)
    with caplog.at_level("WARNING"):
        warn_rate_change("~/in.mp4", 24.0, 8.0, 4, gif=False)
    assert f"init_video '~/in.mp4' ({str(home / 'in.mp4')!r}) plays at 24 fps" in caplog.text
