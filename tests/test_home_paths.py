"""The Python API takes a leading ``~`` in a path as the home folder, as the command line's flags do (the
shell leaves it in ``--output=~/x.mp4``): ``write_video("~/x.mp4", ...)`` wrote ``./~/x.mp4``,
``generate(GenerateConfig(output="~/g.mp4"))``, ``EvaluationReport.save("~/r.json")``, ``scuts("~/v.mp4")``,
``enhance_video(state_file="~/s.pt")`` and RAFT's ``raft_weights="~/raft.pt"`` too. HOME is a
temporary folder here: nothing is written into the real home."""

from __future__ import annotations

import re
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
