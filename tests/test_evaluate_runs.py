"""``streamt2v evaluate RUN``: a ``generate`` run folder scored as its output, the probes' jump ratio at the
chunk boundaries its manifest records (an extended video's, ``--init-video``, are not the default 16, 24, 32)."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re

import numpy as np
import pytest
import torch

from conftest import stderr_at_a_terminal_of_no_size, write_x264_video
from streamt2v.cli import main
from streamt2v.io import locks
from streamt2v.metrics.evaluate import evaluate_videos
from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.metrics.probes import probe_video
from streamt2v.pipeline.rundir import RunDir
from streamt2v.pipeline.stream import Chunk
from test_metrics_probes import OBJS, make_video

# an extended video's plan: a 20-frame input (chunk 0), then 8 new frames a chunk
PLAN = [(0, 0, 20), (2, 20, 28), (2, 28, 36), (2, 36, 40)]


def make_run(tmp_path, *, complete=True, name="r1", plan=PLAN):
    """A run folder as generate leaves it, its output a 40-frame video whose objects jump at frame 20 (where
    the run's second chunk starts, not a default boundary)."""
    out = tmp_path / f"{name}.mp4"
    preview = tmp_path / f"{name}.partial.mp4"  # what an unfinished run leaves
    run = RunDir.create(
        tmp_path / "runs" / name, {"prompt": "x"}, num_chunks=len(plan), outputs=[out, preview]
    )
    for index, (stage, start, stop) in enumerate(plan if complete else plan[:2]):
        tiny = torch.zeros(1, 3, stop - start, 4, 4)
        run.save_chunk(
            Chunk(index, len(plan), stage, start, stop, "x", tiny, tiny[:, :, -1:], tiny[:, :, :1], "x")
        )
    write_x264_video(out if complete else preview, make_video(OBJS, t=40, teleport=(20, 10.0)))
    run.record_outputs([out if complete else preview])
    if complete:
        run.set_status("complete", output=str(out))
    run.unlock()
    return run.path, out


def test_a_run_folder_is_scored_at_its_recorded_boundaries(tmp_path, capsys):
    """The jump ratio of a generated video was measured at 16, 24, 32 whatever its chunks were: an extended
    video's jump at its input's end (frame 20) fell inside a chunk and went unseen."""
    run, out = make_run(tmp_path)
    report = tmp_path / "r.json"
    argv = ["evaluate", str(run), "--metrics", "probes", "--no-progress"]
    assert main([*argv, "--out", str(report)]) == 0
    assert capsys.readouterr().err == (  # the file scored named: an --enhance run's is its stage-3 output
        f"run folder {run}: scoring its output {str(out)!r} at the chunk boundaries its manifest records "
        "(frames 20, 28, 36)\n"
    )
    data = json.loads(report.read_text())
    assert data["records"][0]["path"] == str(out)
    assert data["config"]["boundaries"] == {str(out): [20, 28, 36]}
    frames = as_uint8_frames(out)
    at_the_chunks = probe_video(frames, boundaries=[20, 28, 36]).jump_ratio
    assert data["records"][0]["probe_jump_ratio"] == pytest.approx(at_the_chunks)
    assert at_the_chunks > 2.5 > probe_video(frames).jump_ratio  # the default plan misses the jump
    # --boundaries wins, said; and the video alone keeps the default plan, unsaid
    assert main([*argv, "--boundaries", "16,24,32", "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["config"]["boundaries"] == [16, 24, 32]
    assert capsys.readouterr().err == (
        f"run folder {run}: scoring its output {str(out)!r} at --boundaries 16,24,32, not its manifest's 20, 28, "
        "36\n"
    )
    assert main(["evaluate", str(out), "--metrics", "probes", "--no-progress"]) == 0
    assert "manifest" not in capsys.readouterr().err


def test_a_run_folder_whose_output_cannot_be_scored_is_skipped_with_its_reason(tmp_path, capsys):
    """One unfinished, gone or replaced run refused the whole evaluation (`evaluate many/*`), where a video
    that cannot be read is skipped: such a run is skipped the same way, its reason saying what to do."""
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    run, out = make_run(tmp_path / "a", complete=False)
    preview = out.with_name("r1.partial.mp4")
    assert main(["evaluate", str(run), str(video), "--metrics", "scuts", "--no-progress"]) == 0
    assert capsys.readouterr().err == (
        f"skipped {run}: run folder {str(run)!r} has no finished output to score: its run stopped before "
        f"finishing; finish it (streamt2v generate --resume {run}), or score its preview by its path "
        f"({str(preview)!r})\n"
    )
    # gone: its plan given in an evaluation of its own (--boundaries is every video's: the others' plans lost)
    run, out = make_run(tmp_path / "b")
    out.unlink()
    assert main(["evaluate", str(run), str(video), "--metrics", "scuts", "--no-progress"]) == 0
    assert capsys.readouterr().err == (
        f"skipped {run}: the output {str(out)!r} of run folder {str(run)!r} is gone (moved or removed); to score "
        "it where it is now, evaluate it on its own at the run's chunks: streamt2v evaluate NEW_PATH --boundaries "
        "20,28,36\n"
    )
    run, out = make_run(tmp_path / "c")
    write_x264_video(out, make_video(OBJS, t=40))  # another video put there since
    assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 1
    assert f"run folder {str(run)!r} was replaced since the run wrote it" in capsys.readouterr().err
    # one another process is running: not told to finish it itself; its preview named
    run, out = make_run(tmp_path / "d", complete=False)
    held = locks.acquire(run / ".lock")  # as the process running it holds it
    try:
        assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 1
    finally:
        locks.release(held)
    err = capsys.readouterr().err
    assert f"its run is still going on (process {os.getpid()}); wait for it to finish" in err
    assert "--resume" not in err
    # the run and its output given both: one video given twice
    run, out = make_run(tmp_path / "e")
    assert main(["evaluate", str(run), str(out), "--metrics", "scuts"]) == 2
    assert f"as the output of the run folder {str(run)!r} and as {str(out)!r}" in capsys.readouterr().err


def test_a_run_whose_manifest_records_no_known_status_is_told_damaged(tmp_path, capsys):
    """A manifest with "status": null was taken for a folder of videos ('no videos in folder'), and one with
    status 'weird' read 'its run weird; finish it': both are a damaged run's."""
    run, _ = make_run(tmp_path, complete=False)
    manifest = json.loads((run / "manifest.json").read_text())
    for status, why in [
        (None, "its manifest records no status"),
        ("weird", "its status is 'weird', not running, interrupted, failed or complete"),
    ]:
        (run / "manifest.json").write_text(json.dumps({**manifest, "status": status}))
        assert main(["evaluate", str(run), "--metrics", "scuts", "--no-progress"]) == 1
        assert capsys.readouterr().err == (
            f"skipped {run}: run folder {str(run)!r} has no finished output to score: {why}; "
            f"{str(run / 'manifest.json')!r} is damaged\nerror: the run folder could not be scored\n"
        )


def test_a_run_that_cannot_be_scored_keeps_its_prompt_line(tmp_path, capsys):
    """A skipped run was dropped before the prompts were matched, shifting the lines after it ('got 2 videos
    but 3 prompts', no reason said); it keeps its line, as an unreadable video does."""
    stopped, _ = make_run(tmp_path, complete=False, name="stopped")
    done, out = make_run(tmp_path, name="done")
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red ball\na blue ball\n")
    argv = ["evaluate", str(stopped), str(done), "--metrics", "probes", "--no-progress"]
    assert main([*argv, "--prompts", str(prompts), "--out", str(tmp_path / "r.json")]) == 0
    assert f"skipped {stopped}: run folder" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["records"][0]["path"] == str(out)
    expected = probe_video(as_uint8_frames(out), caption="a blue ball", boundaries=[20, 28, 36]).as_dict()
    for key, value in json.loads((tmp_path / "r.json").read_text())["records"][0].items():
        if key.startswith("probe_"):
            assert float(value) == pytest.approx(expected[key], nan_ok=True)  # nan written "nan"
    prompts.write_text("a blue ball\n")  # its line left out: the count says why
    assert main([*argv, "--prompts", str(prompts)]) == 2
    assert (
        f"got 2 videos (with 1 run folder that cannot be scored, which keeps its line: {stopped}) but 1 prompt"
        in capsys.readouterr().err
    )
    keyed = tmp_path / "p.json"  # keyed by video: a skipped run needs no key
    keyed.write_text(json.dumps({"done.mp4": "a blue ball"}))
    assert main([*argv, "--prompts", str(keyed)]) == 0


def test_a_skipped_run_shares_no_key_with_a_video_of_its_name(tmp_path, capsys):
    """A stopped run runs/a and a video vids/a.mp4 keyed 'a' were refused as 'the key 'a' matches 2 videos':
    a run that is not scored is keyed only by its exact path."""
    stopped, _ = make_run(tmp_path, complete=False, name="a")
    done, out = make_run(tmp_path, name="done")
    (tmp_path / "vids").mkdir()
    write_x264_video(tmp_path / "vids" / "a.mp4", make_video(OBJS, t=24))
    keyed = tmp_path / "k.json"
    keyed.write_text(json.dumps({"a": "a blue ball", "done": "a red ball"}))
    vids = str(tmp_path / "vids")
    argv = ["evaluate", str(stopped), str(done), vids, "--metrics", "probes", "--no-progress"]
    assert main([*argv, "--prompts", str(keyed), "--out", str(tmp_path / "r.json")]) == 0
    assert [r["path"] for r in json.loads((tmp_path / "r.json").read_text())["records"]] == [
        str(out),
        str(tmp_path / "vids" / "a.mp4"),
    ]
    assert "not used" not in capsys.readouterr().err
    keyed.write_text(json.dumps({str(stopped): "a blue ball", "done": "a red ball", "a": "a red ball"}))
    assert main([*argv, "--prompts", str(keyed)]) == 0  # its path taken: no key left over
    assert "not used" not in capsys.readouterr().err


def test_the_command_line_skips_a_run_in_its_place_as_python_does(tmp_path, capsys):
    """The command line added the runs that cannot be scored after the other skipped videos, and left them out
    of config['boundaries'], where evaluate_videos keeps the order given; one given twice was accepted."""
    stopped, _ = make_run(tmp_path, complete=False, name="stopped")
    done, out = make_run(tmp_path, name="done")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"no video")
    targets = [str(stopped), str(bad), str(done)]
    result = tmp_path / "r.json"
    assert main(["evaluate", *targets, "--metrics", "probes", "--no-progress", "--out", str(result)]) == 0
    data = json.loads(result.read_text())
    python = evaluate_videos(targets, metrics="probes")
    assert (
        [s["path"] for s in data["skipped"]]
        == [s["path"] for s in python.skipped]
        == [str(stopped), str(bad)]
    )
    assert data["config"]["boundaries"] == python.config["boundaries"]
    assert list(data["config"]["boundaries"]) == [str(stopped), str(bad), str(out)]
    capsys.readouterr()
    assert main(["evaluate", str(stopped), f"{stopped}/", "--metrics", "scuts", "--no-progress"]) == 2
    assert (
        f"run folder {str(stopped)!r} is given twice in the command line (as {str(stopped)!r} and as '{stopped}/')"
        in (capsys.readouterr().err)
    )
    assert main(["evaluate", str(stopped), "--metrics", "scuts", "--no-progress"]) == 1
    assert capsys.readouterr().err.endswith("error: the run folder could not be scored\n")
    other, _ = make_run(tmp_path, complete=False, name="other")
    assert main(["evaluate", str(stopped), str(other), "--metrics", "scuts", "--no-progress"]) == 1
    assert capsys.readouterr().err.endswith("error: none of the 2 run folders could be scored\n")


def test_a_run_folder_given_to_python_is_scored_as_its_output(tmp_path):
    """evaluate_videos(['runs/done']) skipped a run folder as holding no image frames; a run that cannot be
    scored is told the Python calls, not the command line's."""
    done, out = make_run(tmp_path, name="done")
    stopped, _ = make_run(tmp_path, complete=False, name="stopped")
    report = evaluate_videos([str(done), str(stopped)], metrics="probes")
    assert [r["path"] for r in report.records] == [str(out)]
    assert report.config["boundaries"] == {str(out): [20, 28, 36], str(stopped): None}
    assert report.records[0]["probe_jump_ratio"] == pytest.approx(
        probe_video(as_uint8_frames(out), boundaries=[20, 28, 36]).jump_ratio
    )
    assert report.skipped == [
        {
            "path": str(stopped),
            "error": f"run folder {str(stopped)!r} has no finished output to score: its run stopped before "
            f"finishing; finish it (resume_generate({str(stopped)!r})), or score its preview by its path "
            f"({str(tmp_path / 'stopped.partial.mp4')!r})",
        }
    ]
    out.unlink()
    report = evaluate_videos([done], metrics="scuts")
    assert report.skipped[0]["error"].endswith(
        "evaluate it on its own at the run's chunks: evaluate_videos(['NEW_PATH'], boundaries=[20, 28, 36])"
    )


def test_a_folder_with_files_named_as_a_runs_is_a_folder_of_videos(tmp_path, capsys):
    """A dataset folder carrying its own config.json and manifest.json was taken for a run and refused ('its
    run is None, not complete')."""
    data = tmp_path / "data"
    data.mkdir()
    write_x264_video(data / "a.mp4", make_video(OBJS, t=24))
    (data / "config.json").write_text(json.dumps({"fps": 8}))
    (data / "manifest.json").write_text(json.dumps({"videos": ["a.mp4"]}))
    assert main(["evaluate", str(data), "--metrics", "scuts", "--no-progress"]) == 0
    assert "a.mp4" in capsys.readouterr().out


def test_a_resume_keeps_each_runs_plan_with_its_video(tmp_path, capsys, monkeypatch):
    """The plans were kept by the videos' places in the config: a video added to a folder (or the targets given
    in another order) refused the resume ('--boundaries [16, 24, 32],[40, 48, 56],None -> ...', a flag never
    typed), and a report with a skipped video could not be matched to its records."""
    r1, out1 = make_run(tmp_path, name="r1")
    r2, out2 = make_run(tmp_path, name="r2", plan=[(1, 0, 16), (2, 16, 30), (2, 30, 40)])
    vids = tmp_path / "vids"
    vids.mkdir()
    write_x264_video(vids / "a.mp4", make_video(OBJS, t=24))
    res = tmp_path / "res.json"
    argv = ["--metrics", "scuts,probes", "--no-progress", "--out", str(res)]
    scuts_module = importlib.import_module("streamt2v.metrics.scuts")
    real, calls = scuts_module.scuts, []

    def stopping_at_the_third(frames, *args, **kwargs):  # Ctrl-C while the third video is scored
        calls.append(len(frames))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(frames, *args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", stopping_at_the_third)
    assert main(["evaluate", str(r1), str(r2), str(vids), *argv]) == 130
    write_x264_video(vids / "b.mp4", make_video(OBJS, t=24))  # a video added since
    calls.clear()
    assert main(["evaluate", str(vids), str(r2), str(r1), *argv, "--resume"]) == 0
    assert "2 videos already scored" in capsys.readouterr().err
    assert calls == [24, 24]  # the two videos of the folder alone
    data = json.loads(res.read_text())
    assert data["config"]["boundaries"] == {
        str(vids / "a.mp4"): None,
        str(vids / "b.mp4"): None,
        str(out2): [16, 30],
        str(out1): [20, 28, 36],
    }
    by_path = {r["path"]: r["probe_jump_ratio"] for r in data["records"]}
    frames = as_uint8_frames(out2)
    assert by_path[str(out2)] == pytest.approx(probe_video(frames, boundaries=[16, 30]).jump_ratio)


def _stopped_at_the_third_video(argv, monkeypatch):
    """``evaluate`` with ``argv``, Ctrl-C while its third video is scored (two scores kept)."""
    scuts_module = importlib.import_module("streamt2v.metrics.scuts")
    real, calls = scuts_module.scuts, []

    def stopping(frames, *args, **kwargs):
        calls.append(len(frames))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(frames, *args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", stopping)
    assert main(argv) == 130
    monkeypatch.setattr(scuts_module, "scuts", real)


def _as_an_earlier_version_kept_it(partial, boundaries=None):
    """The partial file ``partial`` as a version before the per-video plans wrote it: no plan in the stamps;
    ``boundaries``: its config's, each video's plan by its place."""
    data = json.loads(partial.read_text())
    for stamp in data["stamps"].values():
        stamp.pop("boundaries", None)
    if boundaries is not None:
        data["config"]["boundaries"] = boundaries
    partial.write_text(json.dumps(data))


def test_a_partial_file_of_an_earlier_version_keeps_its_scores(tmp_path, capsys, monkeypatch):
    """A partial file written before the plans went into the stamps lost every score on --resume, with no run
    folder given (its stamps lack the plan); one whose config held the plans by place was refused as
    '--boundaries [20, 28, 36],None,None -> (not given)', a flag never typed."""
    vids = tmp_path / "vids"
    vids.mkdir()
    for name in "abc":
        write_x264_video(vids / f"{name}.mp4", make_video(OBJS, t=24))
    res = tmp_path / "res.json"
    argv = ["evaluate", str(vids), "--metrics", "scuts,probes", "--no-progress", "--out", str(res)]
    _stopped_at_the_third_video(argv, monkeypatch)
    _as_an_earlier_version_kept_it(tmp_path / "res.json.partial")
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert "2 videos already scored\n" in capsys.readouterr().err
    # the plans by place: a run's video is scored again (its plan unknown to the stamp), the others kept
    run, out = make_run(tmp_path)
    res.unlink()
    argv = ["evaluate", str(run), str(vids), "--metrics", "scuts,probes", "--no-progress", "--out", str(res)]
    _stopped_at_the_third_video(argv, monkeypatch)
    _as_an_earlier_version_kept_it(tmp_path / "res.json.partial", [[20, 28, 36], None, None, None])
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert "1 video already scored; 1 scored for a video since changed" in capsys.readouterr().err
    assert json.loads(res.read_text())["config"]["boundaries"][str(out)] == [20, 28, 36]


def test_boundaries_per_video_from_python():
    video = make_video(OBJS, t=24, teleport=(12, 10.0))
    report = evaluate_videos([video, video], metrics="probes", boundaries=[[12, 20], None])
    first, second = (r["probe_jump_ratio"] for r in report.records)
    assert first == pytest.approx(probe_video(video, boundaries=[12, 20]).jump_ratio)
    assert second == pytest.approx(probe_video(video).jump_ratio)
    assert report.config["boundaries"] == {"video_0": [12, 20], "video_1": None}
    with pytest.raises(ValueError, match="got 2 videos but boundaries for 1"):
        evaluate_videos([video, video], metrics="probes", boundaries=[[20]])
    with pytest.raises(
        ValueError, match=re.escape("boundaries[1]: chunk boundaries must be frame indices >= 1")
    ):
        evaluate_videos([video, video], metrics="probes", boundaries=[[20], [0]])
    assert np.isnan(evaluate_videos([video], metrics="probes", boundaries=[]).records[0]["probe_jump_ratio"])
    # an iterator is read once: it was emptied by the look for per-video lists (no records, a nan mean)
    report = evaluate_videos([video], metrics="probes", boundaries=iter([12, 20]))
    assert report.records[0]["probe_jump_ratio"] == pytest.approx(first)
    assert report.config["boundaries"] == [12, 20]
    # a report's map of boundaries by label read its keys as frame indices ("got ['video_0', ...]")
    with pytest.raises(TypeError, match=r"not a mapping: give \[boundaries\[path\] for path in videos\]"):
        evaluate_videos([video], metrics="probes", boundaries={"video_0": [12, 20]})


def test_a_folder_of_runs_is_said_to_hold_them(tmp_path, capsys):
    run, out = make_run(tmp_path)
    out.unlink()
    assert main(["evaluate", str(run.parent), "--metrics", "scuts"]) == 2
    assert (
        f"; it holds 1 generate run folder (r1), each scored as its output when given: pass them, e.g. "
        f"{str(run.parent / '*')!r}"
    ) in capsys.readouterr().err
    # a trailing slash is not kept in the run's name
    assert main(["evaluate", f"{run}/", "--metrics", "scuts", "--no-progress"]) == 1
    assert (
        f"skipped {run}: the output {str(out)!r} of run folder {str(run)!r} is gone"
        in capsys.readouterr().err
    )


def test_the_log_and_the_bar_name_a_run_folder_as_given(tmp_path, capsys, caplog):
    """The line logged per target said `video 1/2 done: /abs/r1.mp4` of a run folder given as `runs/r1`, and
    the bar said only 'evaluate': each names the target as typed, a run folder as one."""
    run, out = make_run(tmp_path)
    stopped, _ = make_run(tmp_path, name="stopped", complete=False)
    video = tmp_path / "v.mp4"
    write_x264_video(video, make_video(OBJS, t=24))
    targets = [str(run), str(stopped), str(video)]
    with caplog.at_level(logging.INFO, logger="streamt2v.metrics.evaluate"):
        assert main(["evaluate", *targets, "--metrics", "scuts", "--no-progress"]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"run folder 1/3 done: {run} (its output {out})",
        f"run folder 2/3 skipped: {stopped}",
        f"video 3/3 done: {video}",
    ]
    capsys.readouterr()
    evaluate_videos(targets, metrics="scuts", progress=True)
    bar = capsys.readouterr().err
    assert f"run folder {run}]" in bar and f"run folder {stopped}]" in bar and f"video {video}]" in bar


def test_the_bar_keeps_its_count_where_a_long_name_does_not_fit(tmp_path):
    """The target's name was the bar's description, before the count: at a narrow terminal, a long path
    pushed out the count, the % and the time left, and the finished bar named the last target. The name
    follows the counts (a cut takes it), and the finished bar names none."""
    deep = tmp_path / ("a_long_folder_name_" * 4) / "more"
    deep.mkdir(parents=True)
    videos = [str(deep / f"{n}.mp4") for n in ("v1", "v2")]
    for v in videos:
        write_x264_video(v, make_video(OBJS, t=8))
    shown = stderr_at_a_terminal_of_no_size(  # a terminal of 60 columns, as $COLUMNS gives it
        "import os\n"
        "from streamt2v.metrics.evaluate import evaluate_videos\n"
        "os.environ['COLUMNS'] = '60'\n"
        f"evaluate_videos({videos!r}, metrics='scuts', progress=True)\n"
    ).decode()
    states = [s.strip() for s in re.split(r"[\r\n]+", shown) if s.strip()]
    named = [s for s in states if "video /" in s]
    assert named and all(re.search(r" [012]/2 \[", s) for s in named), states
    assert all(len(s) <= 60 for s in states), states
    assert re.fullmatch(r"evaluate: 100%\|\S+\| 2/2 \[[^,]+, [^,]+video/s\]", states[-1]), states
