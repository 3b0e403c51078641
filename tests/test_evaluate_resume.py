"""``streamt2v evaluate --out FILE --resume``: a stopped evaluation keeps its scores in ``FILE.partial`` and
continues from them (MAWE takes minutes per long video on a CPU: a stop lost hours of scores)."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import shutil

import pytest

from streamt2v.cli import main
from streamt2v.metrics.evaluate import evaluation_config
from streamt2v.metrics.partial_report import load_partial


@pytest.fixture
def three_videos(video_dir, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a_clean.mp4", "b_cut.mp4"):
        shutil.copy2(video_dir / name, folder / name)
    shutil.copy2(video_dir / "a_clean.mp4", folder / "c_clean.mp4")
    return folder


@pytest.fixture
def scuts_calls(monkeypatch):
    """The videos SCuts scores, by frame count; ``stop_at[0] = k`` makes the k-th call a Ctrl-C."""
    # the module (the package attribute is the function), imported here where no fixture did before
    scuts_module = importlib.import_module("streamt2v.metrics.scuts")
    real, calls, stop_at = scuts_module.scuts, [], [0]

    def counted(frames, *args, **kwargs):
        calls.append(len(frames))
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt
        return real(frames, *args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", counted)
    return calls, stop_at


def test_a_stopped_evaluation_resumes_from_the_videos_it_scored(
    three_videos, tmp_path, capsys, caplog, scuts_calls
):
    calls, stop_at = scuts_calls
    whole = tmp_path / "whole.json"
    argv = ["evaluate", str(three_videos), "--metrics", "scuts,probes", "--no-progress"]
    assert main([*argv, "--out", str(whole)]) == 0
    capsys.readouterr()

    out = tmp_path / "new" / "r.json"  # in a folder the run makes (the partial file failed to be written)
    partial = tmp_path / "new" / "r.json.partial"
    calls.clear()
    stop_at[0] = 3  # Ctrl-C while the third video is scored
    assert main([*argv, "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"interrupted: stopped after 2 of 3 videos; their results are above; {str(out)!r} not written, "
        f"the 2 videos scored are kept in {str(partial)!r}: continue with the same command and --resume"
    )
    assert not out.exists() and partial.is_file()

    # the same command again would start over silently: refused, naming both ways on
    assert main([*argv, "--out", str(out)]) == 2
    assert "holds the scores of a stopped run" in capsys.readouterr().err

    calls.clear()
    stop_at[0] = 0
    with caplog.at_level(logging.INFO, logger="streamt2v.metrics.evaluate"):
        assert main([*argv, "--out", str(out), "--resume"]) == 0
    assert len(calls) == 1  # the third video alone is read and scored
    # without a progress bar (a batch job's log) each video scored is a log line
    assert [r.getMessage() for r in caplog.records] == [f"video 3/3 done: {three_videos / 'c_clean.mp4'}"]
    assert f"resuming from {partial}: 2 videos already scored" in capsys.readouterr().err
    assert not partial.exists()
    assert json.loads(out.read_text()) == json.loads(whole.read_text())
    # a finished run resumed again: said to be finished, not "exists; pass --overwrite" as if that continued it
    assert main([*argv, "--out", str(out), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"error: nothing to resume: {str(out)!r} exists and no stopped run's scores are kept beside it "
        f"({str(partial)!r}; an evaluation that finished removes it); to score the videos again and replace it, "
        "pass --overwrite instead of --resume\n"
    )


def test_a_resume_scores_again_what_changed_and_refuses_other_settings(
    three_videos, tmp_path, capsys, scuts_calls
):
    calls, stop_at = scuts_calls
    out = tmp_path / "r.json"
    argv = ["evaluate", str(three_videos), "--metrics", "scuts", "--no-progress", "--out", str(out)]
    stop_at[0] = 3
    assert main(argv) == 130
    capsys.readouterr()

    # the changes as the flags take them (a list comma-separated, the videos' own size 0), not as Python
    changed = [*argv[:2], "--metrics", "scuts,probes", *argv[4:], "--flow-size", "0", "--boundaries", "8,16"]
    assert main([*changed, "--resume"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (  # after the warning that --flow-size is unused
        f"error: cannot resume from {str(out) + '.partial'!r}: it was scored with other settings (--metrics "
        "scuts -> scuts,probes; --flow-size 720 -> 0; --boundaries (not given) -> 8,16); give the same ones, or "
        "start over with --overwrite instead of --resume"
    )
    # to a Python caller, the config's fields; the metrics in the order given, as the report's columns are
    config = evaluation_config(metrics="probes,scuts", flow_size=None, boundaries=[8, 16])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "(metrics: ['scuts'] -> ['probes', 'scuts']; flow_size: 720 -> 'native'; boundaries: None"
        ),
    ):
        load_partial(out, config, {})
    # the same --out for another set of videos: its scores are not dropped unsaid
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(three_videos / "b_cut.mp4", other / "d.mp4")
    assert main([argv[0], str(other), *argv[2:], "--resume"]) == 2
    assert (
        "it holds the scores of 2 other videos (such as "
        f"{str(three_videos / 'a_clean.mp4')!r}), none of those given" in capsys.readouterr().err
    )
    assert main([*argv[:5], "--resume"]) == 2
    assert "--resume continues a stopped run from its --out FILE.partial" in capsys.readouterr().err

    scored = three_videos / "a_clean.mp4"  # replaced since it was scored
    os.utime(scored, ns=(scored.stat().st_atime_ns, scored.stat().st_mtime_ns + 10**9))
    calls.clear()
    stop_at[0] = 2  # stopped again after scoring the changed one: b's score, taken back, is kept too
    assert main([*argv, "--resume"]) == 130
    assert "1 video already scored; 1 scored for a video since changed" in capsys.readouterr().err
    calls.clear()
    stop_at[0] = 0
    assert main([*argv, "--resume"]) == 0
    assert len(calls) == 1  # the one never scored
    assert "2 videos already scored" in capsys.readouterr().err

    # starting over (--overwrite without --resume) drops the kept scores, even if stopped before its first
    calls.clear()
    stop_at[0] = 2
    assert main([*argv, "--overwrite"]) == 130
    assert (tmp_path / "r.json.partial").is_file()
    calls.clear()
    stop_at[0] = 1
    assert main([*argv, "--overwrite"]) == 130
    assert capsys.readouterr().err.endswith(f"{str(out)!r} not written\n")
    assert not (tmp_path / "r.json.partial").exists()


def test_a_resume_writes_the_kept_scores_again_only_with_a_new_one(
    three_videos, tmp_path, capsys, scuts_calls
):
    """A resume wrote the whole partial file again for each score it took back from it (the cost grows with
    the square of the videos); a run stopped before its first new score keeps the file, and says so."""
    calls, stop_at = scuts_calls
    out = tmp_path / "r.json"
    partial = tmp_path / "r.json.partial"
    argv = ["evaluate", str(three_videos), "--metrics", "scuts,probes", "--no-progress", "--out", str(out)]
    stop_at[0] = 3
    assert main(argv) == 130
    written = partial.stat().st_mtime_ns
    os.utime(partial, ns=(written - 10**9, written - 10**9))
    calls.clear()
    stop_at[0] = 1  # stopped at the first video not in the file: the two taken back are not written again
    assert main([*argv, "--resume"]) == 130
    assert partial.stat().st_mtime_ns == written - 10**9
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            f"the 2 videos scored are kept in {str(partial)!r}: continue with the same command and --resume"
        )
    )
    (tmp_path / f".{partial.name}.tmp-999999").write_text("{")  # a writer killed mid-write
    calls.clear()
    stop_at[0] = 0
    assert main([*argv, "--resume", "--metrics", "probes,scuts"]) == 0  # the same metrics, in another order
    assert not partial.exists() and not list(tmp_path.glob(".r.json.partial.tmp-*"))


def test_scores_taken_back_must_hold_the_metrics_asked_for(video_dir):
    from streamt2v.metrics.evaluate import evaluate_videos

    video = str(video_dir / "a_clean.mp4")
    with pytest.raises(ValueError, match=r"reuse\[.*a_clean.mp4'\] has no 'scuts' \(asked for\)"):
        evaluate_videos(
            [video], metrics="mawe,scuts", reuse={video: {"path": video, "frames": 40, "mawe": 1.0}}
        )


def test_a_stop_whose_table_meets_a_closed_pipe_still_says_how_to_continue(
    three_videos, tmp_path, monkeypatch, capsys, scuts_calls
):
    """Ctrl-C prints the table of the videos scored, then the stop: with stdout's reader gone the table's
    broken pipe was the whole story (141, nothing said), then only "interrupted", without how to continue."""
    from streamt2v.cli import _run
    from test_cli_pipes import _stdout_into_a_closed_pipe

    _, stop_at = scuts_calls
    stop_at[0] = 3
    out = tmp_path / "r.json"
    stdout = _stdout_into_a_closed_pipe(monkeypatch)
    argv = ["evaluate", str(three_videos), "--metrics", "scuts", "--no-progress", "--out", str(out)]
    assert _run(argv, as_program=False) == 130
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith("interrupted: stopped after 2 of 3 videos; their results are above;")
    )
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):
        stdout.close()


def test_a_resume_refuses_scores_made_on_another_device(tmp_path, capsys, scuts_calls):
    """The report did not say where the CLIP (and RAFT) ran, so a resume on a GPU of a run begun on the CPU
    mixed scores that differ in the last digits, unsaid: the config records the devices, and a resume on
    another one is refused, naming both and the --device to give."""
    from conftest import write_video
    from streamt2v.metrics.evaluate import evaluation_config

    calls, stop_at = scuts_calls
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_video(videos / name, 4)
    out = tmp_path / "r.json"
    partial = tmp_path / "r.json.partial"
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n" * 2)
    argv = ["evaluate", str(videos), "--metrics", "scuts,clip", "--clip-model", "microworld"]
    argv += ["--prompts", str(prompts), "--cpu", "--no-progress", "--out", str(out)]
    stop_at[0] = 2
    assert main(argv) == 130
    kept = json.loads(partial.read_text())
    assert kept["config"]["devices"] == {"clip": "cpu"}
    kept["config"]["devices"] = {"clip": "cuda (NVIDIA H200)"}  # as if begun on a GPU
    partial.write_text(json.dumps(kept))
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot resume from {str(partial)!r}: its scores were computed on another device (clip on cuda "
        "(NVIDIA H200), this run on cpu), and the two give scores that differ in the last digits; give --device "
        "cuda to continue there, or start over with --overwrite instead of --resume\n"
    )
    kept["config"]["devices"] = {"clip": "cpu"}
    partial.write_text(json.dumps(kept))
    calls.clear()
    stop_at[0] = 0
    assert main([*argv, "--resume"]) == 0 and len(calls) == 1
    assert json.loads(out.read_text())["config"]["devices"] == {"clip": "cpu"}
    # RAFT's device too; the other metrics run on the CPU whatever --device says
    assert evaluation_config(metrics="mawe", flow="raft", device="cpu")["devices"] == {"raft": "cpu"}
    assert evaluation_config(metrics="mawe,scuts,probes", device="cpu")["devices"] == {}
