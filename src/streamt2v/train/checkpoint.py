"""Training checkpoints: safetensors + JSON, written atomically, carrying their own config.

Layout of ``<out>/checkpoints/step-00000100/``::

    model.safetensors      trainable parameters (metadata: ``config`` = the run's JSON config)
    ema.safetensors        their EMA (when enabled)
    optimizer.safetensors  optimizer tensors; param groups and scalars in its metadata
    rng.safetensors        torch CPU (+ CUDA) generator states
    state.json             step, config, EMA update count, numpy/python RNG, grad-scaler state

A checkpoint is written into a temporary folder and renamed into place, and ``checkpoints/latest``
(a one-line file naming the newest folder) is replaced atomically after it, so a crash never leaves a
half-written checkpoint that ``--resume`` could pick.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

LATEST = "latest"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            name = f"{idx}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Global RNG states: torch (as tensors) and numpy/python (JSON-able)."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    meta = {
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": [py[0], list(py[1]), py[2]],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    kind, keys, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    v, internal, g = meta["python"]
    random.setstate((v, tuple(internal), g))


def save_checkpoint(
    root: Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    config: dict[str, Any],
    ema_state: dict[str, torch.Tensor] | None = None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write ``root/step-<8-digit step>`` atomically, point ``root/latest`` at it, keep the newest ``keep``."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    final = root / name
    tmp = root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        cfg_json = json.dumps(config, sort_keys=True)
        meta = {"config": cfg_json, "step": str(step)}
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model_state.items()},
            tmp / "model.safetensors",
            meta,
        )
        if ema_state is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in ema_state.items()},
                tmp / "ema.safetensors",
                meta,
            )
        opt_tensors, opt_meta = _flatten_optimizer(optimizer_state)
        save_file(opt_tensors, tmp / "optimizer.safetensors", {"meta": json.dumps(opt_meta)})
        rng_tensors, rng_meta = rng_state()
        save_file(rng_tensors, tmp / "rng.safetensors")
        state = {"step": step, "config": config, "rng": rng_meta, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f".{LATEST}.{uuid.uuid4().hex[:8]}"
    pointer.write_text(name + "\n")
    os.replace(pointer, root / LATEST)
    old = sorted(p for p in root.glob("step-*") if p.is_dir())
    for p in old[: max(0, len(old) - keep)]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    """The folder named by ``root/latest``, or None when there is no checkpoint yet."""
    pointer = root / LATEST
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    if not (path / "state.json").exists():
        raise FileNotFoundError(f"{pointer} names {path}, which is not a complete checkpoint")
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint folder: ``model``, ``ema`` (or None), ``optimizer``, ``rng``, ``state``."""
    state = json.loads((path / "state.json").read_text())
    from safetensors import safe_open

    with safe_open(str(path / "optimizer.safetensors"), "pt") as f:
        opt_meta = json.loads(f.metadata()["meta"])
    ema_file = path / "ema.safetensors"
    return {
        "state": state,
        "model": load_file(path / "model.safetensors"),
        "ema": load_file(ema_file) if ema_file.exists() else None,
        "optimizer": _unflatten_optimizer(load_file(path / "optimizer.safetensors"), opt_meta),
        "rng": load_file(path / "rng.safetensors"),
    }
