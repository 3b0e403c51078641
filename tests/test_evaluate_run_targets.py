"""Run folders among ``evaluate``'s targets read one way by the command line and ``evaluate_videos``
(``metrics.run_target.runs_as_outputs``): given twice, a folder holding runs, a run's own prompt."""

from __future__ import annotations

import importlib
import json
import math
import re
import shutil

import numpy as np
import pytest

from conftest import write_x264_video
from streamt2v.cli import main
from streamt2v.metrics.evaluate import evaluate_videos
from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.metrics.probes import probe_video
from streamt2v.metrics.video_search import find_videos
from streamt2v.pipeline.rundir import RunDir
from test_evaluate_runs import make_run
from test_metrics_probes import OBJS, make_video


def with_prompts(run, *prompts: str) -> None:
    """The run's config recording ``prompts`` as generate resolves them (a schedule of one or more)."""
    config = json.loads((run / "config.json").read_text())
    config["schedule_entries"] = [[8 * i, p] for i, p in enumerate(prompts)]
    (run / "config.json").write_text(json.dumps(config))


def test_python_refuses_a_run_given_twice_as_the_command_line_does(tmp_path, capsys, monkeypatch):
    """evaluate_videos([run, run]) scored the run twice (counted twice in the means), where the command line
    refused it; the command line said "video 'OUT' is given twice ('runs/done')" for a run typed twice."""
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path, name="done")
    run, out = "runs/done", "done.mp4"
    with pytest.raises(ValueError, match=r"^run folder 'runs/done' is given twice in videos$"):
        evaluate_videos([run, run], metrics="scuts")
    with pytest.raises(
        ValueError,
        match=r"^run folder 'runs/done' is given twice in videos \(as 'runs/done' and as 'runs/done/'\)$",
    ):
        evaluate_videos([run, f"{run}/"], metrics="scuts")
    with pytest.raises(
        ValueError,
        match=r"^video 'done.mp4' is given twice in videos \(as the output of the run folder "
        r"'runs/done' and as 'done.mp4'\)$",
    ):
        evaluate_videos([run, out], metrics="scuts")
    assert len(evaluate_videos([out, out], metrics="scuts").records) == 2  # plain videos: the caller's choice
    assert main(["evaluate", run, run, "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err == "error: run folder 'runs/done' is given twice in the command line\n"


def test_a_folder_of_runs_given_to_python_is_hinted_its_runs(tmp_path):
    """evaluate_videos(['runs']) was skipped as 'no image frames in folder', where the command line names the
    runs it holds and how to give them."""
    run, out = make_run(tmp_path)
    report = evaluate_videos([str(run.parent)], metrics="scuts")
    pattern = str(run.parent / "*")
    assert report.skipped[0]["error"] == (
        f"no image frames in folder {str(run.parent)!r}; it holds 1 generate run folder (r1), each scored as its "
        f"output when given: pass them, e.g. sorted(glob.glob({pattern!r}))"
    )
    assert report.as_flags().skipped[0]["error"].endswith(f"pass them, e.g. {pattern!r}")
    # clip: the folder skipped with its hint, needing no prompt
    hinted = evaluate_videos([str(run.parent)], metrics="clip", clip_model="microworld")
    assert hinted.skipped == report.skipped and not hinted.records


def test_clip_is_loaded_only_when_a_video_will_be_scored(tmp_path):
    """evaluate_videos(['runs'], clip_model=...) loaded CLIP (seconds, maybe a download) with every target
    skipped: a folder without weights stopped the call before the folder's hint could be said."""
    run, _ = make_run(tmp_path)
    no_weights = tmp_path / "no-clip"
    no_weights.mkdir()
    report = evaluate_videos([str(run.parent)], metrics="clip", clip_model=str(no_weights))
    assert not report.records and "it holds 1 generate run folder (r1)" in report.skipped[0]["error"]
    with_prompts(run, "a red circle")  # a video to score: the weights are read, before any video
    with pytest.raises(FileNotFoundError, match="no CLIP weights in"):
        evaluate_videos([str(run.parent), str(run)], metrics="clip", clip_model=str(no_weights))


def test_clip_beside_a_folder_of_runs_names_the_videos_without_a_prompt(tmp_path):
    """A folder of runs beside another video without a prompt raised the folder's hint (pass its runs), whose
    following still lacked that video's prompt, or, for a run of a schedule given beside it, was refused as
    given twice: the videos without one are named, the folder is skipped as when given alone."""
    run, _ = make_run(tmp_path)
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    with pytest.raises(
        ValueError,
        match=r"^the clip metric needs prompts= \(one prompt per video; a run folder of one prompt brings its "
        rf"own\): none for 1 video \({re.escape(repr(str(video)))}\)$",
    ):
        evaluate_videos([str(run.parent), str(video)], metrics="clip", clip_model="microworld")
    with_prompts(run, "a red circle", "a yellow square")
    with pytest.raises(
        ValueError,
        match=rf"none for 1 video \(run folder {re.escape(repr(str(run)))} of a prompt schedule\)$",
    ):
        evaluate_videos([str(run.parent), str(run)], metrics="clip", clip_model="microworld")


def test_a_run_is_scored_with_its_own_prompt_when_none_is_given(tmp_path, capsys):
    """A run folder's video was probed without a caption (and refused by clip) unless its prompt was typed
    again in a prompts file, though its config records it; a run of a prompt schedule has none of its own."""
    run, out = make_run(tmp_path)
    with_prompts(run, "a red circle")
    frames = as_uint8_frames(out)
    expected = probe_video(frames, caption="a red circle", boundaries=[20, 28, 36]).caption_agreement
    assert not math.isnan(expected)
    report = evaluate_videos([str(run)], metrics="probes")
    assert report.records[0]["probe_caption_agreement"] == pytest.approx(expected)
    result = tmp_path / "r.json"
    assert main(["evaluate", str(run), "--metrics", "probes", "--no-progress", "--out", str(result)]) == 0
    assert capsys.readouterr().err == (
        f"run folder {run}: scoring its output {str(out)!r} at the chunk boundaries its manifest records (frames "
        "20, 28, 36), with the prompt its config records ('a red circle')\n"
    )
    assert json.loads(result.read_text())["records"][0]["probe_caption_agreement"] == pytest.approx(expected)
    # a prompt given wins (a prompts file, or prompts=); None in prompts= is a video without one
    other = evaluate_videos([str(run)], metrics="probes", prompts=["a yellow square"])
    assert other.records[0]["probe_caption_agreement"] == pytest.approx(
        probe_video(frames, caption="a yellow square", boundaries=[20, 28, 36]).caption_agreement
    )
    # clip: every video needs one; a video beside the run has none
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    with pytest.raises(ValueError, match=rf"own\): none for 1 video \('{video}'\)$"):
        evaluate_videos([str(run), str(video)], metrics="clip", clip_model="microworld")
    assert main(["evaluate", str(run), str(video), "--metrics", "clip", "--clip-model", "microworld"]) == 2
    assert capsys.readouterr().err.endswith(f"brings its own): none for 1 video ({str(video)!r})\n")
    with_prompts(run, "a red circle", "a yellow square")  # which of them would score the whole video?
    assert math.isnan(evaluate_videos([str(run)], metrics="probes").records[0]["probe_caption_agreement"])
    # said, as clip names the run so (the table's caption nan was unexplained)
    assert main(["evaluate", str(run), "--metrics", "probes", "--no-progress"]) == 0
    assert capsys.readouterr().err == (
        f"run folder {run}: scoring its output {str(out)!r} at the chunk boundaries its manifest records (frames "
        "20, 28, 36), without a caption for the probes: no one prompt of its schedule describes the whole video\n"
    )


def test_clip_names_a_run_whose_config_records_no_prompt(tmp_path):
    """A run whose config records no schedule, or a blank prompt, has no prompt of its own: clip names it so."""
    run, _ = make_run(tmp_path)  # its config records no schedule_entries
    needs = rf"none for 1 video \(run folder {re.escape(repr(str(run)))} whose config records no prompt\)$"
    with pytest.raises(ValueError, match=needs):
        evaluate_videos([str(run)], metrics="clip", clip_model="microworld")
    with_prompts(run, "  ")
    with pytest.raises(ValueError, match=needs):
        evaluate_videos([str(run)], metrics="clip", clip_model="microworld")


def test_a_run_folder_among_a_folders_videos_is_said_left_out(tmp_path, caplog):
    """`evaluate mix` (videos and a run folder) dropped the run unseen: its output lies elsewhere."""
    import logging

    run, _ = make_run(tmp_path)
    mix = tmp_path / "mix"
    mix.mkdir()
    write_x264_video(mix / "c.mp4", make_video(OBJS, t=24))
    shutil.move(run, mix / "run1")
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(mix) == [mix / "c.mp4"]
        assert find_videos(mix, also_given=[mix / "run1"]) == [mix / "c.mp4"]  # given too: not left out
    assert [r.getMessage() for r in caplog.records] == [
        f"folder {str(mix)!r}: left out 1 generate run folder (run1): a run folder is scored as its output when "
        f"given itself, e.g. {str(mix / 'run1')!r}"
    ]


def test_a_run_whose_manifest_lacks_its_format_version_is_named_as_resume_names_it(tmp_path, capsys):
    """evaluate said only 'no videos ... in folder' of a run whose manifest had lost its format version, where
    a resume named the manifest."""
    run, _ = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["format_version"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err.endswith(
        f"in folder {str(run)!r}; {str(run / 'manifest.json')!r} is no streamt2v run's manifest (it names no "
        f"format version): {str(run)!r} is not a run folder, or its manifest was replaced\n"
    )
    with pytest.raises(ValueError, match=r"is no streamt2v run's manifest \(it names no format version\)"):
        RunDir.open(run)
    # Python's skip said only 'no image frames (...) in folder': the manifest is named there too
    assert evaluate_videos([str(run)], metrics="scuts").skipped[0]["error"] == (
        f"no image frames in folder {str(run)!r}; {str(run / 'manifest.json')!r} is no streamt2v run's manifest "
        f"(it names no format version): {str(run)!r} is not a run folder, or its manifest was replaced"
    )
    # clip: skipped too, and no run is given beside the video without a prompt (it said 'a run folder of one
    # prompt brings its own')
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    needs = r"^the clip metric needs prompts= \(one prompt per video\): none for 1 video "
    with pytest.raises(ValueError, match=needs + rf"\({re.escape(repr(str(video)))}\)$"):
        evaluate_videos([str(run), str(video)], metrics="clip", clip_model="microworld")


def test_a_folder_whose_run_lacks_its_format_version_names_it(tmp_path, capsys):
    """A folder (`runs/`) whose only run had lost its manifest's format version was 'no videos' alone, by the
    command line and Python, where the run given itself is named with why."""
    run, _ = make_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["format_version"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    why = (
        f"; it holds 1 folder of a run's files (r1): {str(run / 'manifest.json')!r} is no streamt2v run's "
        f"manifest (it names no format version): {str(run)!r} is not a run folder, or its manifest was replaced"
    )
    assert main(["evaluate", str(run.parent), "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err.endswith(f"in folder {str(run.parent)!r}{why}\n")
    skipped = evaluate_videos([str(run.parent)], metrics="scuts").skipped
    assert skipped[0]["error"] == f"no image frames in folder {str(run.parent)!r}{why}"


def test_a_stop_counts_the_run_folders_as_none_could_be_scored_does(tmp_path, capsys, monkeypatch):
    """A run folder that cannot be scored is skipped in its place by evaluate_videos: Ctrl-C said 'stopped
    after 1 of 3 videos' where the line for none scored says 'videos and run folders'."""
    from streamt2v.metrics.evaluate import EvaluationInterrupted

    stopped, _ = make_run(tmp_path, name="stopped", complete=False)
    done, _ = make_run(tmp_path, name="done")
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    targets = [str(stopped), str(done), str(video)]
    scuts_module = importlib.import_module("streamt2v.metrics.scuts")

    def ctrl_c(*args, **kwargs):  # the user presses Ctrl-C while the run's output is scored
        raise KeyboardInterrupt

    monkeypatch.setattr(scuts_module, "scuts", ctrl_c)
    with pytest.raises(
        EvaluationInterrupted,
        match=r"^stopped after 1 of 3 videos and run folders \(none scored, 1 skipped\)$",
    ):
        evaluate_videos(targets, metrics="scuts")
    assert main(["evaluate", *targets, "--metrics", "scuts", "--no-progress"]) == 130
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == "interrupted: stopped after 1 of 3 videos and run folders (none scored, 1 skipped)"
    )
    # none scored: the same words
    (tmp_path / "bad.mp4").write_bytes(b"no video")
    assert main(["evaluate", str(stopped), str(tmp_path / "bad.mp4"), "--metrics", "scuts"]) == 1
    assert capsys.readouterr().err.endswith("error: none of the 2 videos and run folders could be scored\n")


def test_a_folder_of_frames_carrying_a_datasets_manifest_is_scored(tmp_path, capsys):
    """A folder of PNG frames holding a dataset's manifest.json and config.json (no run's) was skipped as 'no
    streamt2v run's manifest', by Python and the command line: its frames are a video, scored as before."""
    import cv2

    frames = tmp_path / "ds"
    frames.mkdir()
    for i in range(8):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((16, 16, 3), 30 * i, np.uint8))
    (frames / "manifest.json").write_text(json.dumps({"name": "my dataset", "frames": 8}))
    (frames / "config.json").write_text(json.dumps({"fps": 8}))
    report = evaluate_videos([str(frames)], metrics="scuts")
    assert not report.skipped and [r["frames"] for r in report.records] == [8]
    assert main(["evaluate", str(frames), "--metrics", "scuts", "--no-progress"]) == 0
    assert "skipped" not in capsys.readouterr().err


def test_a_folder_of_runs_holding_their_outputs_is_hinted_its_runs(tmp_path, capsys):
    """`evaluate runs`, whose run folders hold their outputs (`-o runs/r1/out.mp4`), was told to pass the
    subfolders holding videos as folders of videos, where Python named the runs (scored at their plans)."""
    run, out = make_run(tmp_path)
    shutil.move(out, run / "out.mp4")
    assert main(["evaluate", str(run.parent), "--metrics", "scuts"]) == 2
    err = capsys.readouterr().err
    assert "; it holds 1 generate run folder (r1), each scored as its output when given" in err
    assert "not recursive" not in err


def test_a_manifest_without_its_status_is_a_damaged_runs_to_evaluate_as_to_resume(tmp_path, capsys):
    """evaluate took a run whose manifest had lost its status key for a folder of videos ('no videos in
    folder'), where a resume told it damaged: both ask run_folders.is_run_manifest now."""
    run, _ = make_run(tmp_path, complete=False)
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["status"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 1
    assert "has no finished output to score: its manifest records no status" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"manifest.json' is damaged: its status is None"):
        RunDir.open(run)


def test_what_has_no_prompt_or_is_given_twice_is_named_as_typed(tmp_path, capsys, monkeypatch):
    """A run of a prompt schedule without a prompt was named by its output's absolute path, and a video given
    before the run whose output it is by that path; the command line said 'none for' without the count Python
    says; a folder of videos holding a run made the command line say 'needs prompts=' (the library's)."""
    monkeypatch.chdir(tmp_path)
    run, out = make_run(tmp_path, name="sched")
    with_prompts(run, "a red circle", "a yellow square")
    clip = ["--metrics", "clip", "--clip-model", "microworld", "--no-progress"]
    none_for = "own): none for 1 video (run folder 'runs/sched' of a prompt schedule)"
    with pytest.raises(ValueError, match=re.escape(none_for) + "$"):
        evaluate_videos(["runs/sched"], metrics="clip", clip_model="microworld")
    assert main(["evaluate", "runs/sched", *clip]) == 2
    assert capsys.readouterr().err.endswith(none_for + "\n")
    # the plain video named as typed, before the run or after it
    twice = "video 'sched.mp4' is given twice in {} (as {} and as {})"
    output = "the output of the run folder 'runs/sched'"
    for order in [("sched.mp4", "runs/sched"), ("runs/sched", "sched.mp4")]:
        hows = ("'sched.mp4'", output) if order[0] == "sched.mp4" else (output, "'sched.mp4'")
        with pytest.raises(ValueError, match=re.escape(twice.format("videos", *hows)) + "$"):
            evaluate_videos(list(order), metrics="scuts")
        assert main(["evaluate", *order, "--metrics", "scuts"]) == 2
        assert capsys.readouterr().err == f"error: {twice.format('the command line', *hows)}\n"
    # found in a folder given before the run: named as found ('sched.mp4'), not by the output's absolute path
    assert main(["evaluate", ".", "runs/sched", "--metrics", "scuts"]) == 2
    hows = ("a video of the folder '.'", output)
    assert capsys.readouterr().err == f"error: {twice.format('the command line', *hows)}\n"
    # a folder of videos holding a run: its video has no prompt, said naming the flag
    (tmp_path / "mix").mkdir()
    shutil.copy(out, tmp_path / "mix" / "c.mp4")
    shutil.copytree(run, tmp_path / "mix" / "run1")
    assert main(["evaluate", "mix", *clip]) == 2
    assert capsys.readouterr().err == "error: the clip metric needs --prompts (one prompt per video)\n"


def damaged_run(folder, manifest: str):
    """A folder holding a run's two files whose manifest is ``manifest`` (as text): none a run writes."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"prompt": "x"}))
    (folder / "manifest.json").write_text(manifest)
    return folder


def test_a_run_whose_manifest_is_cut_short_is_named_as_resume_names_it(tmp_path, capsys):
    """A manifest that is no valid JSON (a write cut short) was a bare 'no videos ... in folder', where a resume
    says 'run manifest ... is not valid JSON (...)'."""
    run = damaged_run(tmp_path / "trunc" / "rt", '{"format_version": 1, "chu')
    with pytest.raises(ValueError) as resumed:
        RunDir.open(run)
    assert str(resumed.value).startswith(f"run manifest {str(run / 'manifest.json')!r} is not valid JSON (")
    assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err.endswith(f"in folder {str(run)!r}; {resumed.value}\n")
    skipped = evaluate_videos([str(run)], metrics="scuts").skipped
    assert skipped[0]["error"] == f"no image frames in folder {str(run)!r}; {resumed.value}"
    # in a folder of them: named with why, as a run without its format version is
    assert main(["evaluate", str(run.parent), "--metrics", "scuts", "--no-progress"]) == 2
    said = capsys.readouterr().err
    assert said.endswith(
        f"in folder {str(run.parent)!r}; it holds 1 folder of a run's files (rt): {resumed.value}\n"
    )


def test_a_folder_of_damaged_runs_names_them_and_why_the_first_is_none(tmp_path, capsys):
    """Two of them: named, and why the first is no run."""
    for name in ("rd1", "rd2"):
        damaged_run(tmp_path / "runs" / name, json.dumps({"chunks": []}))
    assert main(["evaluate", str(tmp_path / "runs"), "--metrics", "scuts", "--no-progress"]) == 2
    first = tmp_path / "runs" / "rd1"
    assert capsys.readouterr().err.endswith(
        f"; it holds 2 folders of a run's files (rd1, rd2); the first: {str(first / 'manifest.json')!r} is no "
        f"streamt2v run's manifest (it names no format version): {str(first)!r} is not a run folder, or its "
        "manifest was replaced\n"
    )


def test_a_folder_of_runs_names_the_damaged_ones_beside_them_to_leave_out(tmp_path, capsys):
    """`evaluate mixedruns` (two runs and a damaged one) was told to pass 'mixedruns/*', which is then refused
    as a whole for the damaged one: the hint names it, to leave out."""
    run, _ = make_run(tmp_path, name="ra")
    runs = run.parent
    damaged_run(runs / "rd", '{"format_version": 1, "chu')
    pattern = str(runs / "*")
    assert main(["evaluate", str(runs), "--metrics", "scuts", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert re.search(
        rf"; it holds 1 generate run folder \(ra\), each scored as its output when given: pass them, e\.g\. "
        rf"{re.escape(repr(pattern))}; 1 more folder of a run's files is no run \(rd\): run manifest "
        rf"{re.escape(repr(str(runs / 'rd' / 'manifest.json')))} is not valid JSON \(.+\); leave it out\n$",
        err,
    ), err
    damaged_run(runs / "rd2", json.dumps({"chunks": []}))
    assert main(["evaluate", str(runs), "--metrics", "scuts", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "; 2 more folders of a run's files are no run (rd, rd2); the first: run manifest " in err, err
    assert err.endswith("; leave them out\n"), err


def test_a_damaged_run_among_a_folders_videos_is_said_left_out(tmp_path, caplog):
    """A run's folder whose manifest is cut short, beside a folder's videos, was dropped without a warning."""
    import logging

    mix = tmp_path / "mix"
    mix.mkdir()
    write_x264_video(mix / "c.mp4", make_video(OBJS, t=8))
    damaged_run(mix / "rd", '{"format_version": 1, "chu')
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(mix) == [mix / "c.mp4"]
    manifest = repr(str(mix / "rd" / "manifest.json"))
    assert [r.getMessage() for r in caplog.records] == [
        f"folder {str(mix)!r}: left out 1 folder of a run's files (rd): run manifest {manifest} is not valid "
        "JSON (Unterminated string starting at: line 1 column 23 (char 22))"
    ]


def test_a_run_folder_typed_with_a_tilde_and_as_read_is_named_as_the_folder_both_times(
    tmp_path, capsys, monkeypatch
):
    """``evaluate '~/runs/done' /home/me/runs/done``: the run typed with ~ was described as "a video of the
    folder '~/runs/done'", its folder compared as typed with the video as read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    make_run(tmp_path, name="done")
    read = str(tmp_path / "runs" / "done")
    assert main(["evaluate", "~/runs/done", read, "--metrics", "scuts", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "given twice in the command line" in err and "a video of the folder" not in err
