"""The release's runs sized for a GPU train in fp32 when they train on the CPU (train_settings)."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from streamt2v.train import microworld_release as release
from streamt2v.train.microworld_settings import RecipeRun

_TINY_VAE = {"size": 16, "block_out_channels": [8, 16], "norm_num_groups": 4, "scaling_samples": 1}


def _recorded_precision(run: Path) -> str:
    return json.loads((run / "config.json").read_text())["train"]["mixed_precision"]


def test_a_gpu_sized_run_trains_in_fp32_on_the_cpu_and_its_settings_elsewhere(tmp_path: Path, caplog) -> None:
    """refiner-restore asks for bf16, which train_one passed on: on a CPU without bf16 instructions its steps
    took about 10× the fp32 ones the docs' ~9 h was measured with. On the CPU it now trains in fp32, said
    once; a run the GPU started in bf16 and the CPU resumes goes on in fp32, warned of as any changed
    setting."""
    from accelerate.state import AcceleratorState, is_initialized

    if is_initialized() and AcceleratorState().mixed_precision != "no":
        pytest.skip("an earlier run of this process fixed another precision")
    settings = {"steps": 1, "batch_size": 2, "checkpoint_every": 1, "ema_decay": None, "cpu": True}
    runs = {"tiny": RecipeRun("vae", _TINY_VAE, {**settings, "mixed_precision": "bf16"}, gpu=True)}
    with caplog.at_level(logging.INFO, logger="streamt2v.train.microworld_release"):
        release.train_one(tmp_path, "tiny", allow_cpu=True, runs=runs)
    said = [r.getMessage() for r in caplog.records if "fp32" in r.getMessage()]
    assert said == [
        "tiny: trains in fp32 on the CPU (mixed_precision 'no', not its 'bf16': many times slower there)"
    ]
    assert _recorded_precision(tmp_path / "tiny") == "no"

    # as a GPU would have recorded it; resumed here with one more step
    run = tmp_path / "tiny"
    for file in (run / "config.json", *run.glob("checkpoints/step-*/state.json")):
        record = json.loads(file.read_text())
        record.get("config", record)["train"]["mixed_precision"] = "bf16"
        file.write_text(json.dumps(record))
    shutil.rmtree(run / "final")
    runs["tiny"] = replace(runs["tiny"], train={**runs["tiny"].train, "steps": 2})
    caplog.clear()
    with caplog.at_level(logging.INFO):
        release.train_one(tmp_path, "tiny", allow_cpu=True, runs=runs)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        w.endswith("changed training settings: mixed_precision: 'bf16' -> 'no'; steps: 1 -> 2")
        for w in warnings
    ), warnings
    assert _recorded_precision(run) == "no" and (run / "final").is_dir()


def test_the_shipped_gpu_runs_settings_are_kept_but_for_the_precision_on_the_cpu(tmp_path: Path) -> None:
    restore = release.release_runs(tmp_path)["refiner-restore"]
    assert restore.train["mixed_precision"] == "bf16"  # the shipped run's, on the H200
    on_cpu = release.train_settings("refiner-restore", replace(restore, train={**restore.train, "cpu": True}))
    assert on_cpu == {**restore.train, "cpu": True, "mixed_precision": "no"}
    if torch.cuda.is_available():  # a GPU trains it as shipped
        assert release.train_settings("refiner-restore", restore) == restore.train
