"""A training run of the tiny VAE recipe after a crash: killed (kill -9) while a checkpoint, a sample, its
config, its log or final/ is written, or while pruning, then --resume to the uninterrupted run; damaged
checkpoints, loss logs and configs a crash left. The loop itself: ``test_train_loop.py``."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import one_torch_thread, tiny_vae
from streamt2v.train.checkpoint import latest_checkpoint, load_training_checkpoint, resume_checkpoint
from streamt2v.train.loop import TrainConfig, train

# --------------------------------------------------------------------------------------------------
# kill -9 (SIGKILL: a preempted job, an OOM kill), which no handler sees, then --resume until done
# --------------------------------------------------------------------------------------------------
_KILL_CFG = {"steps": 4, "batch_size": 1, "checkpoint_every": 2, "sample_every": 2, "ema_decay": 0.9}

# A child process that trains the tiny VAE and kills itself (SIGKILL) at one moment of the run.
_KILLED_RUN = """
import json, os, shutil, signal, sys
from pathlib import Path

import torch

import streamt2v.io.video as iov
import streamt2v.train.checkpoint as ck
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.vae_recipe import VAERecipe

torch.set_num_threads(1)
out, point, resume = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "resume"
cfg = {**__CFG__, **json.loads(sys.argv[4])}
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "checkpoint":  # the second checkpoint, its optimizer file half written
    real_save, seen = ck.save_file, []

    def save_file(tensors, filename, metadata=None):
        if Path(filename).name == "optimizer.safetensors":
            seen.append(filename)
            if len(seen) == 2:
                Path(filename).write_bytes(b"\\x10\\x00\\x00")
                kill()
        real_save(tensors, filename, metadata)

    ck.save_file = save_file
elif point == "sample":  # the first sample (after the checkpoint of its step), half encoded
    def encode_video(path, frames, fps, crf):
        Path(path).write_bytes(b"\\x00\\x00\\x00\\x18ftypmp42")
        kill()

    iov.encode_video = encode_video
elif point == "caption":  # the first sample's caption (written before its video), half written
    real_write = Path.write_text

    def write_text(self, data, *args, **kwargs):  # the caption's temporary, .vae-STEP.txt.tmp-PID
        if self.parent.name == "samples" and ".txt.tmp-" in self.name:
            real_write(self, data[: len(data) // 2], *args, **kwargs)
            kill()
        return real_write(self, data, *args, **kwargs)

    Path.write_text = write_text
elif point in ("config", "log"):  # a file the run writes as it starts, half written
    real_write, name = Path.write_text, "config.json" if point == "config" else "loss.jsonl"

    def write_text(self, data, *args, **kwargs):  # the file or its temporary
        if self.parent == out and name in self.name:
            real_write(self, data[: len(data) // 2], *args, **kwargs)
            kill()
        return real_write(self, data, *args, **kwargs)

    Path.write_text = write_text
elif point == "export":  # final/: the config written, the weights half written
    def export(self, module, out_dir):
        (out_dir / "vae").mkdir(parents=True)
        (out_dir / "vae" / "config.json").write_text("{}")
        (out_dir / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\\x08\\x00")
        kill()

    VAERecipe.export = export
elif point == "prune":  # removing the oldest checkpoint after the last one, a file of it gone
    class Shutil:
        def __getattr__(self, name):
            return getattr(shutil, name)

        def rmtree(self, path, *args, **kwargs):
            if Path(path).name == "step-00000001":
                next(Path(path).iterdir()).unlink()
                kill()
            return shutil.rmtree(path, *args, **kwargs)

    ck.shutil = Shutil()
recipe = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2)
train(recipe, TrainConfig(**cfg), out, resume=resume, progress=False)
""".replace("__CFG__", repr(_KILL_CFG))


def _kill_run(out, point: str, resume: bool = False, **cfg) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-c",
        _KILLED_RUN,
        str(out),
        point,
        "resume" if resume else "new",
        json.dumps(cfg),
    ]
    child = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]


def _run_files(out) -> dict[str, object]:
    """What a finished run folder holds: every path, the final weights, the log's steps and losses."""
    rows = [json.loads(ln) for ln in (out / "loss.jsonl").read_text().splitlines()]
    return {
        "paths": sorted(str(p.relative_to(out)) for p in out.rglob("*")),
        "final": (out / "final" / "vae" / "diffusion_pytorch_model.safetensors").read_bytes(),
        "scaling": json.loads((out / "final" / "vae" / "config.json").read_text())["scaling_factor"],
        "log": [(r["step"], r["loss"], r["grad_norm"]) for r in rows],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    with one_torch_thread():
        train(tiny_vae(), TrainConfig(**_KILL_CFG), out, progress=False)
    return _run_files(out)


@pytest.mark.parametrize(
    "kills",
    [["checkpoint"], ["sample"], ["caption"], ["config"], ["export"], ["checkpoint", "log"]],
    ids=["checkpoint", "sample", "caption", "config", "export", "log"],
)
def test_a_run_killed_at_any_moment_resumes_to_the_uninterrupted_run(tmp_path, uninterrupted, kills):
    """SIGKILL while a checkpoint, a sample, its caption, config.json, final/ or (at a resume) loss.jsonl is
    written, then --resume: the same final weights, log rows and samples as the uninterrupted run, and nothing
    left over. Before: a killed checkpoint write left its .tmp-step-* folder for good, a sample written after
    its step's checkpoint was lost (with its temporary and lock left in samples/), a half-written config.json
    or loss.jsonl made every later --resume fail, a half-written final/ passed for a finished run, and a
    killed caption's temporary (.vae-STEP.txt.tmp-PID) stayed in samples/."""
    out = tmp_path / "run"
    for i, point in enumerate(kills):
        _kill_run(out, point, resume=i > 0)
    if "export" in kills:  # nothing half-written in final/ that could pass for the run's models
        assert not (out / "final").exists()
    with one_torch_thread():
        train(tiny_vae(), TrainConfig(**_KILL_CFG), out, resume=True, progress=False)
    assert _run_files(out) == uninterrupted


def test_a_run_killed_while_pruning_after_its_last_checkpoint_keeps_the_newest_two(tmp_path):
    """Before: the resume of a run at its last step writes no checkpoint, so nothing pruned the third."""
    out = tmp_path / "run"
    cfg = {"steps": 3, "checkpoint_every": 1, "sample_every": 0, "ema_decay": 0.9}
    _kill_run(out, "prune", **cfg)
    assert sorted(p.name for p in (out / "checkpoints").iterdir())[-1] == "step-00000003"
    train(tiny_vae(), TrainConfig(**{**_KILL_CFG, **cfg}), out, resume=True, progress=False, export=False)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "latest",
        "step-00000002",
        "step-00000003",
    ]


def _finished_run(tmp_path):
    out = tmp_path / "run"
    train(tiny_vae(), TrainConfig(**{**_KILL_CFG, "sample_every": 0}), out, progress=False, export=False)
    return out


@pytest.mark.parametrize(
    "damage,named",
    ids=["empty", "deleted", "cut-short"],
    argvalues=[
        (lambda d: (d / "optimizer.safetensors").write_bytes(b""), "optimizer.safetensors is unreadable"),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda d: (d / "state.json").write_text('{"step": 4, "con'), "state.json is unreadable"),
    ],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog, damage, named):
    """A file of the newest checkpoint deleted or cut short (by hand, a full disk): the resume warns naming
    it and continues from the checkpoint before, repeating the steps since exactly; when none is whole, one
    error names the newest's file. Before: a bare safetensors/JSON error that named no file."""
    out = _finished_run(tmp_path)
    done = load_training_checkpoint(latest_checkpoint(out / "checkpoints"))["model"]
    damage(out / "checkpoints" / "step-00000004")
    with caplog.at_level(logging.WARNING):
        res = train(
            tiny_vae(), TrainConfig(**{**_KILL_CFG, "sample_every": 0}), out, resume=True, progress=False
        )
    assert f"step-00000004/{named}" in caplog.text and "resuming from step-00000002" in caplog.text
    assert res.step == 4 and len(res.losses) == 2
    again = load_training_checkpoint(latest_checkpoint(out / "checkpoints"))["model"]
    assert all(torch.equal(done[k], again[k]) for k in done)
    steps = [json.loads(ln)["step"] for ln in (out / "loss.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]

    damage(out / "checkpoints" / "step-00000004")
    (out / "checkpoints" / "step-00000002" / "rng.safetensors").unlink()
    with pytest.raises(ValueError, match=rf"cannot resume: checkpoint file .*step-00000004/{named}"):
        train(tiny_vae(), TrainConfig(**_KILL_CFG), out, resume=True, progress=False)


def test_a_loss_log_or_config_cut_short_by_a_crash_does_not_block_the_resume(tmp_path, caplog):
    """A last log row without its newline (a crash while it was appended) is dropped, with a warning, and
    a config.json an earlier version left cut short is taken from the checkpoints; before, either made
    every --resume fail."""
    out = _finished_run(tmp_path)
    with (out / "loss.jsonl").open("a") as f:
        f.write('{"step": 5, "lo')
    config = (out / "config.json").read_text()
    (out / "config.json").write_text(config[:20])
    cfg = TrainConfig(**{**_KILL_CFG, "steps": 5, "sample_every": 0})
    with caplog.at_level(logging.WARNING):
        train(tiny_vae(), cfg, out, resume=True, progress=False, export=False)
    assert "dropping its last line, cut short" in caplog.text
    assert [json.loads(ln)["step"] for ln in (out / "loss.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert json.loads((out / "config.json").read_text())["recipe"] == "vae"


def test_a_damaged_checkpoint_is_set_aside_out_of_the_rotation(tmp_path, caplog):
    """A damaged newest checkpoint that the resumed run did not write again (its checkpoints now fall on
    other steps) stayed among the two kept: the next prune removed a whole one and kept it. It is now set
    aside under a name no resume reads, and kept."""
    out = _finished_run(tmp_path)  # checkpoints at steps 2 and 4
    (out / "checkpoints" / "step-00000004" / "model.safetensors").write_bytes(b"")
    cfg = TrainConfig(**{**_KILL_CFG, "steps": 6, "checkpoint_every": 3, "sample_every": 0})
    with caplog.at_level(logging.WARNING):
        train(tiny_vae(), cfg, out, resume=True, progress=False, export=False)
    assert "the damaged checkpoint step-00000004 is set aside as step-00000004.damaged-" in caplog.text
    names = sorted(p.name for p in (out / "checkpoints").iterdir() if p.is_dir())
    [aside] = [name for name in names if "damaged" in name]
    assert aside.startswith("step-00000004.damaged-")
    assert [name for name in names if name != aside] == ["step-00000003", "step-00000006"]
    assert (out / "checkpoints" / aside / "model.safetensors").read_bytes() == b""
    assert load_training_checkpoint(latest_checkpoint(out / "checkpoints"))["state"]["step"] == 6
    # and `latest` names the checkpoint resumed from until the next is written (a resume stopped before it)
    (out / "checkpoints" / "step-00000006" / "model.safetensors").write_bytes(b"")
    resume_checkpoint(out / "checkpoints")
    assert latest_checkpoint(out / "checkpoints").name == "step-00000003"
