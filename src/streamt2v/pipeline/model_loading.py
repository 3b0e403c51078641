"""Which model a generation loads: the shipped microworld model by default (a random-weight preset where
the assets are missing), a model folder, a hub id or a preset; and the sampler settings a folder recommends,
read without loading its weights."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from streamt2v.arguments import NamesArguments
from streamt2v.config import PRESETS
from streamt2v.io.folders import home_path, read_json_object
from streamt2v.memory import resolve_device, resolve_dtype
from streamt2v.wording import close_name

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig

logger = logging.getLogger(__name__)

# Fallback when the shipped microworld weights are absent (e.g. a source tree without assets).
FALLBACK_PRESET = "tiny"
RANDOM_WEIGHTS_WARNING = (
    "using the {name!r} preset with RANDOM weights, so the video will be noise. Pass a trained StreamingT2V "
    "model folder instead (--model PATH on the command line)."
)


def default_model_spec() -> str:
    """The embedded default: the shipped microworld model folder, else the ``tiny`` preset (random)."""
    from streamt2v.assets import microworld_model_dir

    try:
        return str(microworld_model_dir())
    except FileNotFoundError as err:
        logger.warning("%s", err)
        return FALLBACK_PRESET


def model_folder_spec(spec: str | os.PathLike | None) -> str:
    """What a ``--model`` value names: None or ``"microworld"`` the shipped model (:func:`default_model_spec`),
    anything else itself (a folder, a hub id or a preset)."""
    from streamt2v.assets import names_shipped

    return default_model_spec() if spec is None or names_shipped(spec) else str(spec)


def close_model_name(spec: str | os.PathLike) -> str | None:
    """The preset or shipped model's name ``spec`` is likely a typo of (``tinyy``: ``tiny``), where it is a
    bare name (no folder in it, no suffix) that names nothing here; else None. Only a close one: a folder
    ``tiny-run`` or a checkpoint ``microworld.ckpt`` that is missing is no preset's typo (``tiny`` has random
    weights)."""
    from streamt2v.assets import SHIPPED_NAME

    text = os.fspath(spec)
    if "/" in text or os.sep in text or Path(text).suffix or home_path(text).exists():
        return None
    return close_name(text, [*PRESETS, SHIPPED_NAME], cutoff=0.8)


def schedule_length(spec: str | os.PathLike | None) -> int:
    """The length of a local model folder's noise schedule (``num_train_timesteps``), read without loading
    it, for the step checks made before the model loads; diffusers' usual 1000 for presets, hub ids and a
    folder without a readable scheduler config (loading names that problem)."""
    config = home_path(model_folder_spec(spec)) / "scheduler" / "scheduler_config.json"
    try:
        return int(read_json_object(config, "scheduler config").get("num_train_timesteps", 1000))
    except (OSError, ValueError, TypeError):
        return 1000


def recommended_sampler(spec: str | os.PathLike | None) -> dict[str, Any]:
    """The sampler settings a local model folder recommends for its weights (``model.sampler``), read
    without loading weights; ``{}`` for presets and hub ids (their settings apply once loaded)."""
    from streamt2v.models.model_index import peek_model_index

    found = peek_model_index(spec)
    return {} if found is None else _sampler_in(*found)


def _sampler_in(path: Path, index: dict[str, Any]) -> dict[str, Any]:
    """The sampler settings of the model folder index ``index`` read from ``path``."""
    meta = index.get("streamt2v") or {}
    sampler = (meta.get("sampler") if isinstance(meta, dict) else None) or {}
    if not isinstance(sampler, dict):
        raise ValueError(
            f"model folder index {str(path)!r}: streamt2v.sampler must be a JSON object, got {sampler!r}"
        )
    return dict(sampler)


def sampler_before_loading(spec: str | os.PathLike | None) -> dict[str, Any] | None:
    """What ``spec``'s model recommends for sampling as far as it is known before it loads: a local folder's
    sampler (:func:`recommended_sampler`), a preset's (none: ``{}``); None where only the loaded model says (a
    hub id, whose folder may not be downloaded yet; a path that is missing, which loading names)."""
    from streamt2v.assets import names_shipped
    from streamt2v.models.model_index import peek_model_index

    found = peek_model_index(spec)  # read once: a local folder's (the shipped one's too)
    if found is not None:
        return _sampler_in(*found)
    if spec is None or names_shipped(spec):  # the shipped weights absent: the preset standing in, none
        return {}
    text = os.fspath(spec)
    return {} if text in PRESETS and not Path(text).exists() else None  # as load_model takes a preset name


def model_fps(spec: str | os.PathLike | None) -> float | None:
    """The frame rate ``spec``'s model writes its videos at (``model.fps``), read without loading it: a
    preset's (:data:`~streamt2v.io.frame_rates.DEFAULT_FPS`, as ``from_preset`` makes it), a local model
    folder's index (``streamt2v.fps``, the same default where it records none); None for a hub id, absent
    shipped weights (the preset loading falls back to, with its warning) and an index whose rate loading
    refuses (it names the field)."""
    from streamt2v.io.frame_rates import DEFAULT_FPS
    from streamt2v.models.model_index import is_frame_rate, peek_model_index

    found = peek_model_index(spec)
    if found is None:
        # a preset name as load_model takes it (a folder of that name is the folder)
        preset = spec is not None and str(spec) in PRESETS and not Path(spec).exists()
        return float(DEFAULT_FPS) if preset else None
    meta = found[1].get("streamt2v")
    fps = meta.get("fps", DEFAULT_FPS) if isinstance(meta, dict) else None
    return float(fps) if is_frame_rate(fps) else None


def load_model(
    spec: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = "fp32",
) -> StreamingT2VModel:
    """A model folder / hub id, or a preset name (random weights, with a warning); None or ``"microworld"``
    = the shipped model."""
    from streamt2v.models.bundle import StreamingT2VModel

    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f"the model must be a folder path, a hub id or a preset name, got {spec!r} ({type(spec).__name__})"
        )
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    name = model_folder_spec(spec)
    if name in PRESETS and not Path(name).exists():
        logger.warning(RANDOM_WEIGHTS_WARNING.format(name=name))
        model = StreamingT2VModel.from_preset(name, device="cpu", seed=0)
        return model.to(device=dev, dtype=None if dt == torch.float32 else dt)
    try:
        model = StreamingT2VModel.from_pretrained(name, torch_dtype=dt, device=dev)
    except FileNotFoundError as err:
        close = close_model_name(name)
        if close is not None:
            _add_hint(err, f" ({close}?)")
        raise
    return model


def _add_hint(err: OSError, hint: str) -> None:
    """``hint`` added to the end of ``err``'s message, the error itself kept (its class, errno, frames)."""
    if isinstance(err, NamesArguments):
        err.parts += (hint,)
        err.args = (err.spelled(flags=False),)
    elif err.strerror is not None:  # made with an errno: "[Errno 2] MESSAGE"
        err.strerror += hint
    else:
        err.args = (f"{err}{hint}", *err.args[1:])


def load_compiled(cfg: GenerateConfig) -> StreamingT2VModel:
    """``cfg``'s model, compiled when ``cfg.compile`` says so (a model passed in is the caller's to compile)."""
    model = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    return model.compile(cfg.compile) if cfg.compile is not None else model
