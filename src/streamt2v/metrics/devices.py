"""Where an evaluation's networks ran, as its report records it (``config["devices"]``).

The CLIP score and the RAFT flow are float32 networks: on a CPU and on a GPU (or two GPU models) they give
scores that differ in the last digits, so a report says where they ran, and ``evaluate --resume`` refuses
to add scores from another device to those kept (:func:`check_same_devices`). DIS, Farneback, SCuts and
the probes run on the CPU whatever the device, so a run without those networks records none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from streamt2v.memory import resolve_device


def raft_device(device: str | torch.device | None) -> torch.device:
    """Where RAFT runs for ``device`` (None: the GPU when there is one, else the CPU)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return resolve_device(device)


def device_label(device: torch.device) -> str:
    """``cpu``, ``mps``, or ``cuda (NVIDIA H200)``: the GPU's model, not its index (two GPUs of one model
    compute alike; two models may not)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def network_devices(
    metrics: Sequence[str], flow: str, clip_model: object, device: str | torch.device | None
) -> dict[str, str]:
    """``{"clip": label, "raft": label}`` for the networks ``metrics`` use (``clip``; ``mawe`` with
    ``flow="raft"``): where :func:`~streamt2v.metrics.evaluate.evaluate_videos` runs them. A
    ``ClipScorer`` given runs where it is; a CLIP loaded for ``device=None`` runs on the CPU."""
    from streamt2v.metrics.clip_score import ClipScorer

    out = {}
    if "clip" in metrics:
        if isinstance(clip_model, ClipScorer):
            out["clip"] = device_label(clip_model.device)
        else:
            out["clip"] = device_label(torch.device("cpu") if device is None else resolve_device(device))
    if "mawe" in metrics and flow == "raft":
        out["raft"] = device_label(raft_device(device))
    return out


def check_same_devices(kept: Mapping[str, str], now: Mapping[str, str], where: str) -> None:
    """Refuse to resume scores made on other devices than this run's (``where``: the partial file)."""
    changed = {k: (kept[k], now[k]) for k in kept.keys() & now.keys() if kept[k] != now[k]}
    if not changed:
        return
    said = "; ".join(f"{k} on {old}, this run on {new}" for k, (old, new) in sorted(changed.items()))
    old_types = {old.split(" ")[0] for old, _ in changed.values()}
    hint = (
        f"give --device {old_types.pop()} to continue there"
        if len(old_types) == 1
        and all(old.split(" ")[0] != new.split(" ")[0] for old, new in changed.values())
        else "continue on a machine with that GPU"
    )
    raise ValueError(
        f"cannot resume from {where!r}: its scores were computed on another device ({said}), and the two give "
        f"scores that differ in the last digits; {hint}, or start over with --overwrite instead of --resume"
    )
