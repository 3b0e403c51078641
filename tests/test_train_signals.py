"""``streamt2v train`` stopped by a SIGTERM sent to its whole process group, DataLoader workers included (what
``docker stop``-style supervisors, systemd, Slurm and ``timeout`` do), and resumed at its checkpoint's step."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import one_torch_thread, sigterm_when
from streamt2v.cli import main

TINY_VAE = ["--size", "16", "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4"]
TINY_VAE += ["--set", "scaling_samples=1", "--set", "frames_per_sample=1", "--batch-size", "2"]


def test_sigterm_to_the_process_group_stops_a_run_with_data_workers_cleanly(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "vae", "--out", str(out), *TINY_VAE, "--steps", "100000", "--checkpoint-every", "2"]
    argv += ["--num-workers", "2", "--no-progress"]
    log = tmp_path / "log.txt"
    # the SIGTERM goes to the main process and its workers
    proc = sigterm_when(out / "checkpoints" / "latest", [sys.executable, "-m", "streamt2v", *argv], log)
    rc, text = proc.returncode, log.read_text()
    # before: "error: DataLoader worker (pid N) is killed by signal: Terminated." and exit 2
    assert rc == 143, text
    assert "DataLoader worker" not in text
    line = next(x for x in text.splitlines() if x.startswith("interrupted (SIGTERM): at step"))
    assert "continue with: streamt2v train vae" in line and line.endswith("--resume")
    _no_worker_left(proc.pid)


def test_a_run_stopped_by_sigterm_and_resumed_at_its_checkpoint_step_exports_that_checkpoint(
    tmp_path, capsys
):
    """A GPU job stopped near its time limit (SIGTERM), then ``--resume --steps <its checkpoint's step>``:
    final/ is exported from that checkpoint without a further step, the models of an uninterrupted run of
    that many steps."""
    out = tmp_path / "run"
    argv = ["train", "vae", "--out", str(out), *TINY_VAE, "--checkpoint-every", "2", "--no-progress"]
    log = tmp_path / "log.txt"
    cmd = [sys.executable, "-m", "streamt2v", *argv, "--steps", "100000"]
    assert sigterm_when(out / "checkpoints" / "latest", cmd, log).returncode == 143, log.read_text()
    line = next(x for x in log.read_text().splitlines() if x.startswith("interrupted (SIGTERM): at step"))
    step = int(re.search(r"checkpoint at step (\d+)", line)[1])
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert not (out / "final").exists()
    with one_torch_thread():
        assert main([*argv, "--steps", str(step), "--resume"]) == 0
        assert f"wrote the vae run's models (step {step}, " in capsys.readouterr().out
        fresh = tmp_path / "fresh"
        assert main([*[str(fresh) if a == str(out) else a for a in argv], "--steps", str(step)]) == 0
    rows = [json.loads(x)["step"] for x in (out / "loss.jsonl").read_text().splitlines()]
    assert rows == list(range(1, step + 1))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == checkpoints
    for name in ("vae/diffusion_pytorch_model.safetensors", "vae/config.json"):
        assert (out / "final" / name).read_bytes() == (fresh / "final" / name).read_bytes(), name


def _no_worker_left(pgid: int) -> None:
    """No process of the run's group is left (its workers ended with it)."""
    end = time.monotonic() + 30
    while True:
        left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid(p) == pgid]
        if not left or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert not left, f"processes of the stopped run still running: {[p.name for p in left]}"


def _pgid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


BAD_SAMPLE_RUN = """
import sys
import torch
from torch.utils.data import Dataset
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe


class Unreadable(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        raise ValueError(f"cannot read video 'clip{i}.mp4': Invalid data (sample {i})")


recipe = make_recipe(
    "vae", size=16, block_out_channels=[8, 16], norm_num_groups=4, scaling_samples=1, frames_per_sample=1
)
try:
    train(recipe, TrainConfig(steps=3, batch_size=2, num_workers=1), sys.argv[1], progress=False,
          dataset=Unreadable())
except ValueError as err:
    print(f"error: {err}")
"""


def test_a_bad_sample_in_a_data_worker_ends_the_run_with_its_own_message(tmp_path):
    """A sample that fails in a DataLoader worker: the run hung at exit (the workers ignore SIGTERM, and
    multiprocessing's exit handler waited on them forever), and the error held the worker's traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", BAD_SAMPLE_RUN, str(tmp_path / "run")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the run did not exit: {proc.communicate()[0][-2000:]}") from None
    assert proc.returncode == 0, out
    line = next(x for x in out.splitlines() if x.startswith("error: "))
    assert line == "error: cannot read video 'clip0.mp4': Invalid data (sample 0)", out
    _no_worker_left(proc.pid)
