"""A resume under a launcher of 2 processes (CPU, gloo, as on several GPUs): every process reads the run
folder, but only the main one may change it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import two_process_launch
from streamt2v.cli import main

TINY_VAE = ["--size", "16", "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4"]
TINY_VAE += ["--set", "scaling_samples=1", "--set", "frames_per_sample=1", "--batch-size", "1", "--cpu"]


def test_two_processes_resume_past_a_damaged_checkpoint(tmp_path):
    """The newest checkpoint damaged, a resume on 2 processes failed on one of them: both found it
    unreadable and renamed it aside, and the second rename met the first's (``error: [Errno 2] No such
    file or directory: '.../step-00000002' -> '.../step-00000002.damaged-...'``), which ended the launch.
    The main process now sets it aside before the others read the folder: the run continues from the
    checkpoint before it. Its messages came once per process; the main process alone says them now, with
    the samples a step takes (nothing said them: a launcher that starts fewer processes than asked, as
    ``accelerate launch --cpu --num_processes 2`` does, went unnoticed)."""
    out = tmp_path / "run"
    argv = ["train", "vae", "--out", str(out), *TINY_VAE, "--checkpoint-every", "1", "--no-progress"]
    # one process with --grad-accum 2 takes the steps of two processes with 1 (docs/training.md)
    assert main([*argv, "--steps", "2", "--grad-accum", "2"]) == 0
    model = out / "checkpoints" / "step-00000002" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])  # cut short

    done = subprocess.run(
        [*two_process_launch(), "-m", "streamt2v", *argv, "--steps", "3", "--resume"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    aside = [p.name for p in (out / "checkpoints").iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].startswith("step-00000002.damaged-"), aside
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-00000003"
    rows = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]  # steps 2 and 3 taken again from step 1
    said = done.stderr.splitlines()
    for message in (
        "trying the checkpoint before it",
        "resuming from step-00000001 instead",
        "resumed from",
        "--steps 2 -> 3",
        "vae: steps 2 to 3, 2 samples each (--batch-size 1 × --grad-accum 1 × 2 processes)",
    ):
        assert sum(message in line for line in said) == 1, (message, said)


def test_the_help_says_a_step_takes_the_batch_of_every_process(capsys):
    """``--batch-size`` said "samples per step", under a launcher the samples of one process's micro-batch."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "--batch-size × --grad-accum × the launcher's processes" in said


def test_a_rank_left_in_the_environment_of_one_process_hides_no_message(tmp_path, monkeypatch, caplog):
    """The main-process filter trusted RANK alone before a process group exists: a job environment that
    left RANK=1 behind (no WORLD_SIZE, so one process) hid every INFO and WARNING line of the run."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    argv = ["train", "vae", "--out", str(tmp_path / "run"), *TINY_VAE, "--steps", "1", "--no-progress"]
    with caplog.at_level("INFO"):
        assert main(argv) == 0
    assert "vae: steps 1 to 1, 1 sample each (--batch-size 1 × --grad-accum 1 × 1 process)" in caplog.text
