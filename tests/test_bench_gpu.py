"""The GPU session kit (bench/gpu/): its scripts parse, and the candidate measurement runs on the CPU."""

from __future__ import annotations

import json
import math
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from streamt2v.microworld.behaviour import VideoBehaviour, video_passes

KIT = Path(__file__).resolve().parents[1] / "bench" / "gpu"


def measure(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(KIT / "measure_candidate.py"), *args])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(KIT / "measure_candidate.py"), run_name="__main__")
    if done.value.code:
        raise SystemExit(done.value.code)


@pytest.mark.parametrize("script", sorted(p.name for p in KIT.glob("*.sh")))
def test_the_shell_scripts_parse(script):
    proc = subprocess.run(["bash", "-n", str(KIT / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_call_makes_out_when_it_is_new(tmp_path):
    """The README's dry run (``DEVICE=cpu OUT=/tmp/dry bash bench/gpu/call2_train.sh ...``) names a new
    folder: step's log could not be opened there, so its benchmark never ran ("exit 1"), and call 2's
    copies failed after the training. setup.sh's import check is a stub python3 here (seconds of imports)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "python3").write_text("#!/bin/sh\ncat >/dev/null\n")
    (stubs / "python3").chmod(0o755)
    out = tmp_path / "dry" / "out"
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "DEVICE": "cpu", "OUT": str(out)}
    script = f"source {KIT / 'setup.sh'} && step 5 probe echo measured"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("probe: exit 0 after ")
    assert (out / "calls.log").read_text().splitlines()[:2] == ["== probe: echo measured", "measured"]


def test_measuring_the_shipped_model_counts_what_each_video_passes(monkeypatch, capsys, tmp_path):
    out = tmp_path / "deeper" / "figures.json"
    measure(monkeypatch, "microworld", "--device", "cpu", "--frames", "24", "--prompts", "1", "--more-seeds", "1",
            "--out", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert report["frames"] == 24 and result["model"] == "microworld"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", report["started"])  # when, beside the machine
    videos = [VideoBehaviour(**v) for v in result["videos"]]
    assert [v.seed for v in videos] == [videos[0].seed, videos[0].seed + 1000]  # the tested seed, one more
    # the CAM ablation runs for the tested seed only
    assert not math.isnan(videos[0].ablated_jump_ratio) and math.isnan(videos[1].ablated_jump_ratio)
    for figure, count in result["passing"].items():
        assert count == sum(video_passes(v)[figure] for v in videos), figure
    assert result["summary"]["colour_presence"] == min(v.colour_presence for v in videos)
    printed = capsys.readouterr().out
    assert "| colour_presence | ≥ 0.9 |" in printed
    assert f"({result['passing']['background']}/2 pass)" in printed


def test_a_folder_that_is_no_model_is_one_line_naming_it(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as done:
        measure(monkeypatch, str(tmp_path), "--out", str(tmp_path / "f.json"))
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"{str(tmp_path)!r} is not a model folder" in err and "Traceback" not in err


@pytest.mark.parametrize("existing", [True, False])
def test_a_folder_as_out_is_one_line_before_any_video(monkeypatch, capsys, tmp_path, existing):
    # it failed only at the write, with a traceback, after every video was measured (minutes on a GPU)
    import streamt2v.microworld.behaviour as behaviour

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured before refusing --out")

    monkeypatch.setattr(behaviour, "measure", no_measuring)
    folder = tmp_path / ("results" if existing else "new")
    if existing:
        folder.mkdir()
    out = str(folder) + ("" if existing else "/")
    with pytest.raises(SystemExit) as done:
        measure(monkeypatch, "microworld", "--device", "cpu", "--out", out)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"--out {out!r} is a folder" in err and "figures.json" in err and "Traceback" not in err
