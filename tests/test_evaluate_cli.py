"""The ``streamt2v evaluate`` command line end to end on small files: its flags and their errors and
warnings, several videos and folders given, skipped videos, Ctrl-C."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil

import numpy as np
import pytest

from conftest import write_x264_video as write_video
from streamt2v.cli import main
from streamt2v.metrics.evaluate import evaluate_videos
from test_metrics_clip import save_tiny_clip
from test_metrics_probes import OBJS, make_video


def exit_status(argv):
    """``main(argv)``'s exit status, also where argparse refuses the command line (``SystemExit``)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def test_cli_end_to_end_json_and_csv(video_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle and a yellow square on a blue striped background\nx\ny\n")
    clip = save_tiny_clip(tmp_path / "clip")
    out = tmp_path / "res.json"
    rc = main(
        [
            "evaluate",
            str(video_dir),
            "--prompts",
            str(prompts),
            "--metrics",
            "mawe,scuts,clip,probes",
            "--clip-model",
            str(clip),
            "--flow-size",
            "64",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "c_broken.mp4" in captured.err and "skipped" in captured.err
    assert "mean" in captured.out and "MAWE" in captured.out
    data = json.loads(out.read_text())
    recs = {r["path"].rsplit("/", 1)[-1]: r for r in data["records"]}
    assert set(recs) == {"a_clean.mp4", "b_cut.mp4"}
    assert [s["path"].rsplit("/", 1)[-1] for s in data["skipped"]] == ["c_broken.mp4"]
    assert recs["a_clean.mp4"]["scuts"] == 0 and recs["b_cut.mp4"]["scuts"] == 1
    assert data["mean"]["scuts"] == 0.5
    assert recs["a_clean.mp4"]["probe_identity"] == 1.0
    assert recs["a_clean.mp4"]["probe_caption_agreement"] >= 0.9  # lossy H.264 edges
    assert -100 <= recs["a_clean.mp4"]["clip_score"] <= 100
    assert math.isfinite(recs["a_clean.mp4"]["mawe"]) and recs["a_clean.mp4"]["mawe"] > 0

    csv_out = tmp_path / "res.csv"
    assert (
        main(
            [
                "evaluate",
                str(video_dir / "a_clean.mp4"),
                "--metrics",
                "scuts",
                "--out",
                str(csv_out),
                "--no-progress",
            ]
        )
        == 0
    )
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "path,frames,scuts" and lines[-1].startswith("mean,")


def test_cli_errors(video_dir, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("only one\n")
    assert main(["evaluate", str(video_dir), "--prompts", str(prompts), "--metrics", "probes"]) == 2
    assert "3 videos but 1 prompt" in capsys.readouterr().err
    two = tmp_path / "two.txt"
    two.write_text("a\nb\nc\n")
    assert (
        main(["evaluate", str(video_dir), "--prompts", str(two), "--clip-model", str(tmp_path / "nope")]) == 2
    )
    assert "CLIP weights folder not found" in capsys.readouterr().err
    assert main(["evaluate", str(video_dir / "c_broken.mp4"), "--metrics", "scuts", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.endswith("error: the video could not be scored\n"), repr(err)  # was "none of the 1 video"
    shutil.copy(video_dir / "c_broken.mp4", tmp_path / "d_broken.mp4")
    assert (
        main(
            [
                "evaluate",
                str(video_dir / "c_broken.mp4"),
                str(tmp_path / "d_broken.mp4"),
                "--metrics",
                "scuts",
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.endswith("error: none of the 2 videos could be scored\n")
    # the names as typed, not a Python list's repr ("unknown metric(s) ['fvd']"), and the flag they were given to
    assert main(["evaluate", str(video_dir), "--metrics", "mawe,fvd"]) == 2
    assert capsys.readouterr().err == (
        "error: unknown metric in --metrics: fvd; choose from mawe,scuts,clip,probes\n"
    )
    assert main(["evaluate", str(video_dir), "--metrics", "fvd,mawe,scut"]) == 2
    assert capsys.readouterr().err == (
        "error: unknown metrics in --metrics: fvd, scut (scuts?); choose from mawe,scuts,clip,probes\n"
    )
    with pytest.raises(ValueError, match=r"^unknown metric in metrics=: scut \(scuts\?\); choose from "):
        evaluate_videos([str(video_dir / "a_clean.mp4")], metrics=("mawe", "scut"))


def test_a_python_list_item_naming_two_metrics_is_shown_as_one_name():
    """metrics=["mawe,scuts"] is one unknown name: shown quoted, not as what looks like two known ones."""
    from streamt2v.metrics.evaluate import parse_metrics

    with pytest.raises(
        ValueError, match=r"^unknown metric in metrics=: 'mawe,scuts' \(scuts\?\); choose from "
    ):
        parse_metrics(["mawe,scuts"])


def test_cli_bad_settings_fail_once_before_scoring(video_dir, tmp_path, capsys, monkeypatch):
    import streamt2v.metrics.evaluate as ev

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    clean = str(video_dir / "a_clean.mp4")
    for argv, message in [
        (["--mawe-coeff", "0"], "argument --mawe-coeff: expected a finite number in [1e-06, 1e+06], got '0'"),
        (
            ["--mawe-coeff", "nan"],
            "argument --mawe-coeff: expected a finite number in [1e-06, 1e+06], got 'nan'",
        ),
        (
            ["--mawe-coeff", "inf"],
            "argument --mawe-coeff: expected a finite number in [1e-06, 1e+06], got 'inf'",
        ),
        (["--flow", "raft"], "needs torchvision"),
        (["--metrics", ""], "no metric given in --metrics"),
        (["--metrics", " , "], "no metric given in --metrics"),
        (["--out", str(tmp_path / "r.txt")], "--out must end in .json or .csv"),
        (["--out", "/proc/x.json"], "cannot write --out '/proc/x.json'"),
        (["--out", str(video_dir / "a_clean.mp4" / "r.json")], "is a file, not a folder"),
    ]:
        assert exit_status(["evaluate", clean, "--no-progress", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and message in err, (argv, err)
    assert scored == []


def test_cli_skipped_video_reported_once(video_dir, capsys, caplog):
    caplog.set_level("INFO")
    assert main(["evaluate", str(video_dir), "--metrics", "scuts", "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "c_broken.mp4" in line]
    # the reason once (the log's progress lines name the video without it)
    logged = [r.getMessage() for r in caplog.records if r.levelno >= 20 and "c_broken.mp4" in r.getMessage()]
    assert (
        len(lines) == 1
        and lines[0].startswith("skipped ")
        and logged == [f"video 3/3 skipped: {video_dir / 'c_broken.mp4'}"]
    )


def test_the_info_line_of_an_infinite_mawe_names_the_video(tmp_path, capsys, caplog):
    # Scoring a folder, "MAWE is inf" alone did not say which of the videos is static.
    write_video(tmp_path / "a_moving.mp4", make_video(OBJS, t=12))
    write_video(tmp_path / "b_static.mp4", np.repeat(make_video(OBJS, t=1), 12, axis=0))
    caplog.set_level("INFO", logger="streamt2v.metrics.mawe")
    assert main(["evaluate", str(tmp_path), "--metrics", "mawe", "--flow-size", "0", "--no-progress"]) == 0
    [line] = [r.getMessage() for r in caplog.records if "MAWE" in r.getMessage()]
    assert "b_static.mp4" in line and "is inf" in line, line
    assert "inf" in capsys.readouterr().out


def test_farnebacks_warning_on_upscaled_frames_names_the_flags(tmp_path, caplog):
    """MAWE ~1e5 by Farneback on a microworld video at 720, unexplained: a warning says why, in flags."""
    write_video(tmp_path / "a.mp4", make_video(OBJS, t=2))  # 64x64
    caplog.set_level("WARNING", logger="streamt2v.metrics.flow")
    argv = ["evaluate", str(tmp_path), "--metrics", "mawe", "--flow", "farneback", "--flow-size", "192"]
    assert main([*argv, "--no-progress"]) == 0
    [line] = [r.getMessage() for r in caplog.records]
    assert line.endswith("; use --flow dis, or --flow-size at most twice the video's side (said once)"), line


def test_clip_without_a_model_or_prompts_asks_for_the_model_first_from_python_as_from_the_command_line(
    video_dir, capsys
):
    """evaluate_videos asked for prompts= first and the command line for --clip-model: one order now, the model
    first (every evaluation with clip needs it, whatever its videos)."""
    videos = [str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")]
    needs = "the clip metric needs {} (a CLIP folder, a hub id, {})"
    python = needs.format("clip_model=", "'microworld' or a ClipScorer")
    with pytest.raises(ValueError, match=f"^{re.escape(python)}$"):
        evaluate_videos(videos, metrics="clip")
    assert main(["evaluate", *videos, "--metrics", "clip"]) == 2
    flags = needs.format("--clip-model", "or 'microworld' for microworld videos")
    assert capsys.readouterr().err == f"error: {flags}\n"


def test_prompts_that_cannot_be_used_are_refused_before_the_missing_model_on_both_sides(
    video_dir, tmp_path, capsys
):
    """The order clip_refusal's docstring tells: prompts are read and checked first, the model after them."""
    videos = [str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")]
    with pytest.raises(ValueError, match=r"^got 2 videos but 1 prompt; give one prompt per video$"):
        evaluate_videos(videos, ["a"], metrics="clip")
    prompts = tmp_path / "p.json"
    prompts.write_text('["a", "b"')
    assert main(["evaluate", *videos, "--metrics", "clip", "--prompts", str(prompts)]) == 2
    assert capsys.readouterr().err.startswith(f"error: prompts file {str(prompts)!r} is not valid JSON (")


@pytest.mark.parametrize("lines", [1, 3])
@pytest.mark.parametrize(
    "metrics", [("clip", "microworld"), ("clip", None), ("mawe,probes", None), ("probes", None)]
)
def test_a_prompt_count_not_one_per_video_is_refused_first_on_both_sides(
    video_dir, tmp_path, capsys, lines, metrics
):
    """With --clip-model the command line looked for the videos without a prompt before counting the prompts:
    'IndexError: list index out of range' for fewer prompts than videos; without it, the missing model was
    named first. Both sides count them first, with clip or without, fewer or more."""
    chosen, model = metrics
    videos = [str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")]
    said = f"got 2 videos but {lines} prompt{'s' if lines > 1 else ''}; give one prompt per video"
    with pytest.raises(ValueError, match=f"^{said}$"):
        evaluate_videos(videos, ["a red circle"] * lines, metrics=chosen, clip_model=model)
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n" * lines)
    model_flags = [] if model is None else ["--clip-model", model]
    argv = ["evaluate", *videos, "--metrics", chosen, *model_flags, "--prompts", str(prompts)]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {said}\n"


def test_cli_clip_metric_without_its_flags_names_the_flags(video_dir, tmp_path, capsys):
    # was "the clip metric needs a CLIP model (a local folder or a hub id)": the library's words, no flag
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\nc\n")
    assert main(["evaluate", str(video_dir), "--metrics", "clip", "--prompts", str(prompts)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: the clip metric needs --clip-model"), line
    assert main(["evaluate", str(video_dir), "--metrics", "clip", "--clip-model", "microworld"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == "error: the clip metric needs --prompts (one prompt per video)", line
    # the default metrics take clip with --clip-model: the same line without --metrics
    assert main(["evaluate", str(video_dir), "--clip-model", "microworld"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: the clip metric needs --prompts (one prompt per video)"
    ]


def test_several_videos_and_folders_on_the_command_line(video_dir, tmp_path, capsys):
    """``streamt2v evaluate outputs/*.mp4`` (a shell glob) was refused ('unrecognized arguments'): only one
    video or folder could be scored. Videos are scored in the order given, a folder's in name order; a
    missing one is an error before any scoring, one given twice (it would count twice in the mean) too."""
    more = tmp_path / "more"
    more.mkdir()
    write_video(more / "z.mp4", make_video(OBJS, t=20))
    clean, cut = str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")
    out = tmp_path / "r.json"
    argv = ["evaluate", cut, str(more), clean, "--metrics", "scuts", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["path"].rsplit("/", 1)[-1], r["scuts"]) for r in records] == [
        ("b_cut.mp4", 1),
        ("z.mp4", 0),
        ("a_clean.mp4", 0),
    ]
    capsys.readouterr()
    assert main(["evaluate", cut, str(tmp_path / "gone.mp4"), clean, "--metrics", "scuts"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: video or folder not found: {str(tmp_path / 'gone.mp4')!r}"
    ]
    assert main(["evaluate", str(video_dir), clean, "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: video {clean!r} is given twice in the command line (as a video of the folder {str(video_dir)!r} "
        f"and as {clean!r})\n"
    )
    # the same name twice (it guessed "a file and a folder holding it?")
    assert main(["evaluate", clean, clean, "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: video {clean!r} is given twice in the command line\n"


def test_ctrl_c_keeps_the_videos_already_scored(video_dir, tmp_path, capsys, monkeypatch):
    """Ctrl-C during the 2nd of 3 videos lost everything: no table, no file, only 'interrupted' (minutes per
    240-frame video at 720x720). The scored videos are now printed, and the message says --out is not
    written (it is written for complete runs only) and where the scores are kept for --resume
    (test_evaluate_resume.py)."""
    import sys

    from streamt2v.metrics.evaluate import EvaluationInterrupted

    scuts_module = sys.modules["streamt2v.metrics.scuts"]  # the package attribute is the function

    real, calls = scuts_module.scuts, []

    def scuts_then_ctrl_c(*args, **kwargs):  # the user presses Ctrl-C while the 2nd video is scored
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", scuts_then_ctrl_c)
    out = tmp_path / "r.json"
    argv = ["evaluate", str(video_dir), "--metrics", "scuts", "--no-progress", "--out", str(out)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    rows = [line.split()[0] for line in captured.out.splitlines() if line and line[0] != "-"]
    assert rows == ["video", "a_clean.mp4", "mean"], captured.out
    assert captured.err.splitlines()[-1] == (
        f"interrupted: stopped after 1 of 3 videos; their results are above; {str(out)!r} not written, "
        f"the one video scored is kept in {str(out) + '.partial'!r}: continue with the same command and --resume"
    )
    assert not out.exists()
    calls.clear()
    with pytest.raises(EvaluationInterrupted) as stop:
        evaluate_videos([str(video_dir / "a_clean.mp4")] * 3, metrics="scuts")
    assert isinstance(stop.value, KeyboardInterrupt) and len(stop.value.report.records) == 1


def test_ctrl_c_counts_the_videos_skipped_apart_from_those_scored(video_dir, tmp_path, capsys, monkeypatch):
    """'stopped after 3 of 3 videos; their results are above; ... the 2 videos scored are kept' counted the
    skipped video among 'their results': the stop line now says how many of them were scored."""
    import sys

    scuts_module = sys.modules["streamt2v.metrics.scuts"]
    real, calls = scuts_module.scuts, []

    def scuts_then_ctrl_c(*args, **kwargs):  # Ctrl-C while the 3rd video that can be read is scored
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", scuts_then_ctrl_c)
    broken, clean, cut = (str(video_dir / n) for n in ("c_broken.mp4", "a_clean.mp4", "b_cut.mp4"))
    out = tmp_path / "r.json"
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "d.mp4")
    argv = ["evaluate", clean, broken, cut, str(tmp_path / "d.mp4"), "--metrics", "scuts", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "interrupted: stopped after 3 of 4 videos (2 scored, 1 skipped); their results are above; "
        f"{str(out)!r} not written, the 2 videos scored are kept in {str(out) + '.partial'!r}: continue with "
        "the same command and --resume"
    )


def test_boundaries_none_turns_the_jump_ratio_off(video_dir, tmp_path):
    """Videos not made chunk by chunk (another method's) had their jump ratio measured at 16, 24, ... with no
    way to say 'no chunks' but the obscure '--boundaries ,'; 'none' was refused as not a frame index."""
    out = tmp_path / "r.json"
    video = str(video_dir / "a_clean.mp4")
    args = ["evaluate", video, "--metrics", "probes", "--no-progress", "--out", str(out)]
    assert main([*args, "--boundaries", "none"]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["boundaries"] == [] and data["records"][0]["probe_jump_ratio"] == "nan"
    assert data["records"][0]["probe_motion"] > 0


def test_videos_after_the_options_are_scored_too(video_dir, tmp_path, capsys):
    """``streamt2v evaluate a.mp4 --metrics scuts b.mp4`` said "unrecognized arguments: b.mp4": argparse gave
    every positional its value at their first run (the further videos none), so only the options' order
    decided whether a video was scored. A ``--`` still ends the options."""
    clean, cut = str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")
    out = tmp_path / "r.json"
    argv = ["evaluate", cut, "--metrics", "scuts", clean, "--no-progress", str(video_dir / "b_cut.mp4")]
    assert main([*argv, "--out", str(out)]) == 2  # the same video twice: all three were read as videos
    assert f"error: video {cut!r} is given twice" in capsys.readouterr().err
    assert main([*argv[:-1], "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["path"].rsplit("/", 1)[-1], r["scuts"]) for r in records] == [
        ("b_cut.mp4", 1),
        ("a_clean.mp4", 0),
    ]
    shutil.copy(clean, tmp_path / "-dash.mp4")
    out.unlink()
    argv = [
        "evaluate",
        "--metrics",
        "scuts",
        "--no-progress",
        "--out",
        str(out),
        "--",
        str(tmp_path / "-dash.mp4"),
    ]
    assert main(argv) == 0
    assert [r["path"].rsplit("/", 1)[-1] for r in json.loads(out.read_text())["records"]] == ["-dash.mp4"]


def test_flags_the_chosen_metrics_do_not_use_are_said(video_dir, tmp_path, capsys):
    """``--prompts`` or ``--clip-model`` with metrics that take none (the default mawe,scuts without
    ``--clip-model``, a ``--metrics`` that left clip out), ``--boundaries`` without probes, the MAWE flags
    without mawe: given for nothing, without a word. One warning line now names them."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n")
    video = str(video_dir / "a_clean.mp4")
    argv = ["evaluate", video, "--no-progress", "--prompts", str(prompts)]
    assert main([*argv, "--metrics", "scuts", "--clip-model", "microworld", "--boundaries", "none"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: not used by the metric scuts: --prompts (clip and probes use it); --clip-model (clip uses "
        "it); --boundaries (probes use it)"
    ]
    # a prompts file said to be unused is not read: one with no prompt for the video no longer stops the run
    unmatched = tmp_path / "p.json"
    unmatched.write_text('{"bb.mp4": "a red circle"}')
    assert main(["evaluate", video, "--no-progress", "--metrics", "scuts", "--prompts", str(unmatched)]) == 0
    assert "warning: not used by the metric scuts: --prompts" in capsys.readouterr().err
    assert main([*argv, "--metrics", "scuts,probes", "--flow-size", "0", "--mawe-coeff", "2"]) == 0
    err = capsys.readouterr().err
    assert "warning: not used by the metrics scuts, probes: --flow-size (mawe uses it); --mawe-coeff" in err
    # the default metrics without --clip-model take no prompts; each flag used: nothing said
    assert main([*argv, "--flow-size", "64"]) == 0
    assert "warning: not used by the metrics mawe, scuts: --prompts (clip and probes use it)\n" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--metrics", "mawe,probes", "--flow-size", "64", "--boundaries", "12"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_bad_numeric_flags_are_refused_naming_the_flag_whatever_the_metrics(video_dir, capsys, monkeypatch):
    """``--flow-size -3 --metrics scuts`` was refused though MAWE, the flow size's one user, was not asked for,
    by a message naming no flag ('flow_size must be at least 8x8 pixels, got -3x-3'); ``--mawe-coeff 0`` was
    refused with mawe and taken without; ``--boundaries 0`` named no flag and ``--boundaries ,`` (or an
    empty value) meant no chunks (or the default) unsaid. Each bad value is now argparse's one error naming
    the flag, whether or not the metric that uses it is chosen, before any video is read."""
    import streamt2v.metrics.evaluate as ev

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    sizes = "expected an integer from 8 to 8192 (pixels a side), or 0 for the video's own size"
    indices = "expected comma-separated frame indices >= 1 (such as 16,24,32), or 'none' for no chunks"
    for flag, value, expected in [
        ("--flow-size", "-3", sizes),
        ("--flow-size", "5", sizes),
        ("--flow-size", "100000", sizes),
        ("--flow-size", "1e3", sizes),
        ("--mawe-coeff", "0", "expected a finite number in [1e-06, 1e+06]"),
        ("--mawe-coeff", "-1", "expected a finite number in [1e-06, 1e+06]"),
        ("--mawe-coeff", "1e400", "expected a finite number in [1e-06, 1e+06]"),
        ("--mawe-coeff", "1e39", "expected a finite number in [1e-06, 1e+06]"),  # was accepted: MAWE 0
        ("--mawe-coeff", "abc", "expected a finite number in [1e-06, 1e+06]"),
        ("--boundaries", "0", indices),
        ("--boundaries", "16,-8", indices),
        ("--boundaries", ",", indices),
        ("--boundaries", "", indices),
        ("--boundaries", "1.5", indices),
    ]:
        for metrics in ("mawe,probes", "scuts"):
            argv = ["evaluate", str(video_dir / "a_clean.mp4"), "--metrics", metrics, f"{flag}={value}"]
            assert exit_status(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.count("error:") == 1 and "warning" not in err, (argv, err)
            assert f"error: argument {flag}: {expected}, got {value!r}\n" in err, (argv, err)
    assert scored == []
    # the Python API's error names its parameter, with or without MAWE
    for metrics in ("mawe", "scuts"):
        with pytest.raises(ValueError, match=re.escape("flow_size must be at least 8×8 pixels, got -3×-3")):
            evaluate_videos([make_video(OBJS, t=4)], metrics=metrics, flow_size=-3)
    # good values still work: 0 keeps the native size, several boundaries, 'none'
    monkeypatch.undo()
    video = str(video_dir / "a_clean.mp4")
    assert main(["evaluate", video, "--metrics", "mawe", "--flow-size", "0", "--no-progress"]) == 0
    assert main(["evaluate", video, "--metrics", "probes", "--boundaries", " 12, 20,", "--no-progress"]) == 0
    assert main(["evaluate", video, "--metrics", "probes", "--boundaries", "None", "--no-progress"]) == 0
    assert "error" not in capsys.readouterr().err


def test_out_is_written_when_no_video_could_be_scored(video_dir, tmp_path, capsys):
    """QA: with every video skipped the command exited 1 and wrote no ``--out`` file, without saying so: a
    script reading the results found nothing, not even why. The file now holds no records and the skipped
    videos with their errors; the exit status stays 1."""
    broken = str(video_dir / "c_broken.mp4")
    for name in ("r.json", "r.csv"):
        out = tmp_path / name
        assert main(["evaluate", broken, "--metrics", "scuts", "--no-progress", "--out", str(out)]) == 1
        printed = capsys.readouterr()
        assert printed.out == f"wrote {out}\n"
        assert "error: the video could not be scored" in printed.err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["records"] == [] and data["mean"] == {} and data["config"]["metrics"] == ["scuts"]
    assert [s["path"] for s in data["skipped"]] == [broken] and data["skipped"][0]["error"]
    # the CSV too holds the skipped video and why (its error column)
    rows = list(csv.reader((tmp_path / "r.csv").open(newline="")))
    assert rows[0] == ["path", "error"] and rows[-1] == ["mean", ""]
    assert rows[1][0] == broken and rows[1][1] == data["skipped"][0]["error"] and len(rows) == 3


def test_a_video_too_small_for_dis_is_skipped_naming_each_readers_arguments(tmp_path, capsys):
    """A video too small for DIS at its own size (--flow-size 0) is skipped, its reason naming how to score
    it: since the flow's advice names the caller's arguments, the command line's skipped line and --out
    said Python's (flow_size, flow='farneback'); they say its flags, and a Python caller's report its own."""
    video = tmp_path / "small.mp4"
    write_video(video, np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8))
    out = tmp_path / "r.json"
    argv = ["evaluate", str(video), "--metrics", "mawe", "--flow-size", "0", "--out", str(out)]
    assert main(argv) == 1
    advice = "got 8x8 (WxH); use a larger flow size (--flow-size) or --flow farneback"
    [skipped] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped ")]
    assert skipped.startswith(f"skipped {video}: DIS optical flow needs") and skipped.endswith(advice)
    [stored] = json.loads(out.read_text())["skipped"]
    assert stored["error"].endswith(advice)
    report = evaluate_videos([str(video)], metrics=["mawe"], flow_size=None)
    [reason] = [s["error"] for s in report.skipped]
    assert reason.endswith("use a larger flow size (flow_size) or flow='farneback'")
    report.save(tmp_path / "py.json")
    assert json.loads((tmp_path / "py.json").read_text())["skipped"][0]["error"] == reason


def test_mawe_coeff_with_the_paper_definition_is_said_to_be_unused(video_dir, capsys):
    """QA: ``--mawe-coeff`` with ``--mawe-definition paper`` (which has no c) was ignored without a word."""
    argv = [
        "evaluate",
        str(video_dir / "a_clean.mp4"),
        "--metrics",
        "mawe",
        "--flow-size",
        "0",
        "--no-progress",
    ]
    assert main([*argv, "--mawe-definition", "paper", "--mawe-coeff", "2"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: not used by the metric mawe: --mawe-coeff (the official MAWE definition uses it, not "
        "--mawe-definition paper)"
    ]
    for more in (["--mawe-definition", "paper"], ["--mawe-coeff", "2"]):  # each used: nothing said
        assert main([*argv, *more]) == 0
        assert "warning" not in capsys.readouterr().err, more


def test_a_folder_of_frames_given_itself_is_not_called_a_folder_s_video(video_dir, tmp_path, capsys):
    """QA: ``evaluate vids vids/frames`` said the frames folder came in "as a video of the folder
    'vids/frames'", though it was named itself; the folder holding it is 'vids'."""
    import cv2

    vids = tmp_path / "vids"
    (vids / "frames").mkdir(parents=True)
    shutil.copy(video_dir / "a_clean.mp4", vids)
    for i in range(2):
        cv2.imwrite(str(vids / "frames" / f"frame_{i:06d}.png"), np.full((16, 16, 3), 60 * i, np.uint8))
    folder, frames = str(vids), str(vids / "frames")
    assert main(["evaluate", folder, frames, "--metrics", "scuts"]) == 2
    assert capsys.readouterr().err == (
        f"error: video {frames!r} is given twice in the command line (as a video of the folder {folder!r} and "
        f"as {frames!r})\n"
    )
    assert main(["evaluate", frames, folder, "--metrics", "scuts"]) == 2
    assert capsys.readouterr().err == (
        f"error: video {frames!r} is given twice in the command line (as {frames!r} and as a video of the "
        f"folder {folder!r})\n"
    )


def test_device_and_cpu_choose_where_clip_runs_with_generate_s_rules(
    video_dir, tmp_path, capsys, monkeypatch
):
    """evaluate had no --device (nor --cpu): its CLIP ran on the CPU whatever the machine, RAFT on the GPU
    when there was one. Now both run on the device chosen, refused as generate refuses it."""
    import importlib

    # the module: the package's clip_score is the function
    clip_score = importlib.import_module("streamt2v.metrics.clip_score")
    load, devices = clip_score.load_clip, []

    def loading(model, device=None):
        devices.append(device)
        return load(model, device)

    monkeypatch.setattr(clip_score, "load_clip", loading)
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n")
    video = str(video_dir / "a_clean.mp4")
    argv = ["evaluate", video, "--metrics", "clip", "--clip-model", "microworld", "--prompts", str(prompts)]
    assert main([*argv, "--cpu", "--no-progress"]) == 0
    assert [str(d) for d in devices] == ["cpu"] and "CLIP" in capsys.readouterr().out
    assert exit_status([*argv, "--cpu", "--device", "cuda"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --cpu and --device cuda disagree: give one of them"
    ]
    assert main([*argv, "--device", "cuda:99"]) == 2  # no such GPU here, whatever the machine
    [line] = capsys.readouterr().err.splitlines()
    # the advice names the flag (--device cpu without a GPU, cuda:0 with one)
    assert line.startswith("error: device 'cuda:99' requested but ") and line.endswith(" or --device auto")
    assert len(devices) == 1  # refused before the CLIP was loaded
    # given to metrics that run on no device: said, as the other flags they do not use
    assert main(["evaluate", video, "--metrics", "scuts", "--cpu", "--no-progress"]) == 0
    assert "warning: not used by the metric scuts: --cpu (clip and mawe with --flow raft run on it)\n" in (
        capsys.readouterr().err
    )


def test_a_path_given_with_a_tilde_is_named_as_typed_and_as_read(video_dir, tmp_path, capsys, monkeypatch):
    """'~/nothere.mp4' was named expanded ('/root/nothere.mp4'), as no other command names it: now as typed,
    then as read. A video there is scored all the same."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    shutil.copy(video_dir / "a_clean.mp4", home / "a.mp4")
    assert main(["evaluate", "~/nothere.mp4", "--metrics", "scuts"]) == 2
    gone = f"'~/nothere.mp4' ({str(home / 'nothere.mp4')!r})"
    assert capsys.readouterr().err == f"error: video or folder not found: {gone}\n"
    report = evaluate_videos(["~/nothere.mp4"], metrics="scuts")
    assert report.skipped == [{"path": "~/nothere.mp4", "error": f"video file not found: {gone}"}]
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n")
    argv = ["evaluate", "~/a.mp4", "--metrics", "clip", "--prompts", str(prompts), "--no-progress"]
    assert main([*argv, "--clip-model", "~/nonexist"]) == 2
    missing = f"'~/nonexist' ({str(home / 'nonexist')!r})"
    assert capsys.readouterr().err == f"error: CLIP weights folder not found: {missing}\n"
    assert main(["evaluate", "~/a.mp4", "--metrics", "scuts", "--no-progress"]) == 0
    assert "a.mp4" in capsys.readouterr().out
