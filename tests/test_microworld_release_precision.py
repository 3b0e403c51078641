"""The release's runs sized for a GPU train in fp32 when they train on the CPU (train_settings)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
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


# train_all at one core, then a bf16 run, in a fresh interpreter (this one may hold an earlier test's state)
_ONE_CORE_THEN_BF16 = """
import sys
from pathlib import Path
from accelerate.state import is_initialized
from streamt2v.train import microworld_release as release
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.microworld_settings import RecipeRun
from streamt2v.train.recipes import make_recipe

out, vae = Path(sys.argv[1]), {vae!r}
settings = {settings!r}
release.train_all(out, cores=1, runs={{"fp32": RecipeRun("vae", vae, settings)}})
assert not is_initialized(), "train_all trained in this process"
train(make_recipe("vae", **vae), TrainConfig(**settings, mixed_precision="bf16"), out / "bf16", progress=False)
"""


def test_one_core_trains_each_run_in_a_process_of_its_own(tmp_path: Path) -> None:
    """--cores 1 trained every run in the release's process, whose accelerate state keeps the first run's
    precision: on a GPU, refiner-restore's bf16 after the fp32 runs was refused ("an earlier run in this
    process trained with mixed_precision='no'"). Each run now has a process of its own, one at a time."""
    settings = {"steps": 1, "batch_size": 2, "checkpoint_every": 1, "ema_decay": None, "cpu": True}
    script = _ONE_CORE_THEN_BF16.format(vae=_TINY_VAE, settings=settings)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert all((tmp_path / n / "final").is_dir() for n in ("fp32", "bf16"))
    assert _recorded_precision(tmp_path / "bf16") == "bf16"


def test_a_failed_run_at_one_core_stops_the_release_naming_it(tmp_path: Path) -> None:
    runs = {"lonely": RecipeRun("vae", _TINY_VAE, {"steps": 1, "cpu": True}, needs=("missing",))}
    with pytest.raises(RuntimeError, match=r"^training 'lonely' failed \(exit 2\)$"):
        release.train_all(tmp_path, cores=1, runs=runs)
    with pytest.raises(
        ValueError, match="runs= other than the release's train only with cores=1, got cores=2"
    ):
        release.train_all(tmp_path, cores=2, runs=runs)
