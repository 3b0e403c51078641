"""``streamt2v evaluate RUN``: a ``generate`` run folder scored as its output, the probes' jump ratio at the
chunk boundaries its manifest records (an extended video's, ``--init-video``, are not the default 16, 24, 32)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import write_x264_video
from streamt2v.cli import main
from streamt2v.metrics.evaluate import evaluate_videos
from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.metrics.probes import probe_video
from streamt2v.pipeline.rundir import RunDir
from streamt2v.pipeline.stream import Chunk
from test_metrics_probes import OBJS, make_video

# an extended video's plan: a 20-frame input (chunk 0), then 8 new frames a chunk
PLAN = [(0, 0, 20), (2, 20, 28), (2, 28, 36), (2, 36, 40)]


def make_run(tmp_path, *, complete=True):
    """A run folder as generate leaves it, its output a 40-frame video whose objects jump at frame 20 (where
    the run's second chunk starts, not a default boundary)."""
    out = tmp_path / "out.mp4"
    run = RunDir.create(tmp_path / "runs" / "r1", {"prompt": "x"}, num_chunks=len(PLAN), outputs=[out])
    for index, (stage, start, stop) in enumerate(PLAN if complete else PLAN[:2]):
        tiny = torch.zeros(1, 3, stop - start, 4, 4)
        run.save_chunk(
            Chunk(index, len(PLAN), stage, start, stop, "x", tiny, tiny[:, :, -1:], tiny[:, :, :1], "x")
        )
    write_x264_video(out, make_video(OBJS, t=40, teleport=(20, 10.0)))
    run.record_outputs([out])
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
    assert f"{out}: boundaries from {run}'s manifest (frames 20, 28, 36)" in capsys.readouterr().err
    data = json.loads(report.read_text())
    assert data["records"][0]["path"] == str(out)
    assert data["config"]["boundaries"] == [[20, 28, 36]]
    frames = as_uint8_frames(out)
    at_the_chunks = probe_video(frames, boundaries=[20, 28, 36]).jump_ratio
    assert data["records"][0]["probe_jump_ratio"] == pytest.approx(at_the_chunks)
    assert at_the_chunks > 2.5 > probe_video(frames).jump_ratio  # the default plan misses the jump
    # --boundaries wins, and the video alone keeps the default plan, unsaid
    assert main([*argv, "--boundaries", "16,24,32", "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["config"]["boundaries"] == [16, 24, 32]
    assert main(["evaluate", str(out), "--metrics", "probes", "--no-progress"]) == 0
    assert "manifest" not in capsys.readouterr().err


def test_a_run_folder_without_its_output_is_refused(tmp_path, capsys):
    run, out = make_run(tmp_path, complete=False)
    assert main(["evaluate", str(run), "--metrics", "probes"]) == 2
    assert f"run folder {str(run)!r} has no finished output to score: its run is 'running'" in (
        capsys.readouterr().err
    )
    run, out = make_run(tmp_path / "b")
    write_x264_video(out, make_video(OBJS, t=40))  # another video put there since
    assert main(["evaluate", str(run), "--metrics", "probes"]) == 2
    assert f"the output {str(out)!r} of run folder {str(run)!r} was replaced since the run wrote it" in (
        capsys.readouterr().err
    )
    # the run and its output given both: one video given twice
    run, out = make_run(tmp_path / "c")
    assert main(["evaluate", str(run), str(out), "--metrics", "scuts"]) == 2
    assert f"as the output of the run folder {str(run)!r} and as {str(out)!r}" in capsys.readouterr().err


def test_boundaries_per_video_from_python():
    video = make_video(OBJS, t=40, teleport=(20, 10.0))
    report = evaluate_videos([video, video], metrics="probes", boundaries=[[20, 28, 36], None])
    first, second = (r["probe_jump_ratio"] for r in report.records)
    assert first == pytest.approx(probe_video(video, boundaries=[20, 28, 36]).jump_ratio)
    assert second == pytest.approx(probe_video(video).jump_ratio)
    assert report.config["boundaries"] == [[20, 28, 36], None]
    with pytest.raises(ValueError, match="got 2 videos but boundaries for 1"):
        evaluate_videos([video, video], metrics="probes", boundaries=[[20]])
    assert np.isnan(evaluate_videos([video], metrics="probes", boundaries=[]).records[0]["probe_jump_ratio"])
