"""A StreamingT2V model folder's index (``model_index.json``): where the folder is, and what its index
says: the component classes and the ``streamt2v`` metadata (architecture, fps, sources, sampler), checked,
with a one-line refusal of folders of other kinds (a part of a model folder, a diffusers pipeline, a
refiner)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamt2v.config import PRESETS, ModelConfig, config_from_json
from streamt2v.io.folders import home_path, read_json_object, saved_class_name
from streamt2v.io.frame_rates import DEFAULT_FPS
from streamt2v.io.hub import resolve_model_path

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_INDEX = "model_index.json"
REQUIRED_COMPONENTS = ("text_encoder", "image_encoder", "vae", "unet", "scheduler")


def model_folder(spec: object) -> Path:
    """The folder :meth:`StreamingT2VModel.from_pretrained` loads: None or ``"microworld"`` the shipped model's,
    a local folder or a hub snapshot (:func:`~streamt2v.io.hub.resolve_model_path`); a wrong type, an empty
    path and a preset name are refused naming them."""
    from streamt2v.assets import microworld_model_dir, names_shipped

    if spec is None or names_shipped(spec):
        return microworld_model_dir()
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"the model must be a folder path or a hub id, got {spec!r} ({type(spec).__name__})")
    if not str(spec).strip():
        raise ValueError("the model folder path is empty")
    if str(spec) in PRESETS and not Path(spec).exists():
        raise FileNotFoundError(
            f"{str(spec)!r} is a preset, not a model folder: StreamingT2VModel.from_preset({str(spec)!r}) builds "
            "it with random weights (StreamingT2VPipeline.from_pretrained takes either)"
        )
    return resolve_model_path(
        spec,
        instead="a streamt2v model folder; an official checkpoint is converted to one first: streamt2v "
        "convert CKPT OUT_DIR --init-unet FOLDER",
    )


def peek_model_index(spec: object) -> tuple[Path, dict[str, Any]] | None:
    """The path and contents of ``model_index.json`` in the local model folder ``spec`` names (None or
    ``"microworld"``: the shipped one; ``~`` expanded as loading expands it), read without loading weights,
    for the checks made before a model loads; None for a preset, a hub id, a path with no index and absent
    shipped weights (loading names those). A damaged index raises ValueError naming the file."""
    from streamt2v.assets import microworld_model_dir, names_shipped

    if spec is None or names_shipped(spec):
        try:
            root = microworld_model_dir()
        except FileNotFoundError:
            return None
    elif isinstance(spec, (str, os.PathLike)) and str(spec).strip():
        root = home_path(spec)
    else:
        return None
    path = root / MODEL_INDEX
    if not path.is_file():
        return None
    return path, read_json_object(path, "model folder index")


def warn_of_unknown_sampler_keys(sampler: Mapping[str, Any], where: str) -> None:
    """Warn of the keys of the sampler a model folder recommends (``where``: the folder as given) that are no
    sampling setting: a misspelt one (``stepz``) or one of a newer version, which sampling ignores (not
    refused: the folder still loads). Said where the folder's index is read for loading, once a load."""
    from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING
    from streamt2v.wording import singular_or_plural, unknown_names

    unknown = unknown_names([str(key) for key in sampler], list(OFFICIAL_SAMPLING))
    if unknown:
        logger.warning(
            "the sampler model %r recommends has unknown %s, which sampling ignores: %s (misspelt, or from a "
            "newer streamt2v)",
            where,
            singular_or_plural(len(unknown), "setting"),
            ", ".join(unknown),
        )


def warn_of_made_up_weights(made_up: Mapping[str, str], where: str) -> None:
    """Warn that the model ``where`` names (as given) holds weights its conversion made up (``convert
    --no-strict``: a component absent from the checkpoint, tensors of zeros), as its index records them: its
    outputs are not those of the checkpoint's model. Said where the folder is loaded, once a load; worded for
    both the command line's and Python's callers, as either may have converted it."""
    if made_up:
        said = "; ".join(f"{comp}: {what}" for comp, what in made_up.items())
        logger.warning(
            "model folder %r holds weights made up when it was converted non-strictly (streamt2v convert "
            "--no-strict, or strict=False), not read from the checkpoint (%s): its outputs are not the "
            "checkpoint's model's",
            where,
            said,
        )


def other_folder_hint(class_name: object) -> str:
    """What a folder of another kind than a StreamingT2V model folder is for, by its index's class name."""
    if class_name in ("TextToVideoSDPipeline", "VideoToVideoSDPipeline"):
        return (
            f"; a {class_name} folder (ModelScope T2V, zeroscope) is the stage-1 model that `streamt2v "
            "convert --init-unet` takes, or a refiner for enhance --model / generate --refiner"
        )
    if class_name == "StreamingT2VRefiner":
        return "; a refiner folder (stage 3): Refiner.from_pretrained loads it"
    return ""


def is_frame_rate(value: object) -> bool:
    """Whether ``value`` can be a model folder's frame rate, which generate writes its videos at: a whole
    number > 0, an int or a float such as 8.0 (as another JSON writer may store it); a bool is none."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return whole and not isinstance(value, bool) and value > 0


def read_model_index(root: Path) -> tuple[dict[str, Any], ModelConfig]:
    """``root``'s ``model_index.json`` and the architecture it holds, its ``streamt2v`` metadata checked
    (``fps``, ``sources``, ``sampler``); a folder that is no StreamingT2V model folder (a part of one, a
    diffusers pipeline, a refiner) or a damaged index is refused in one line naming the file."""
    index_path = root / MODEL_INDEX
    if not index_path.is_file():
        parent_index = root.parent / MODEL_INDEX
        if parent_index.is_file() and root.name in (*REQUIRED_COMPONENTS, "init_unet", "tokenizer"):
            part = f"{str(root)!r} is the {root.name}/ part of"
            # a damaged index is None: loading that folder names the problem
            kind = saved_class_name(parent_index)
            if kind not in (None, "StreamingT2VModel"):  # "pass that folder" would be refused in turn
                raise FileNotFoundError(
                    f"{part} a {kind} folder {str(root.parent)!r}, not of a streamt2v model folder"
                    f"{other_folder_hint(kind)}"
                )
            raise FileNotFoundError(f"{part} model folder {str(root.parent)!r}; pass that folder")
        raise FileNotFoundError(f"{str(index_path)!r} not found: not a streamt2v model folder")
    index = read_json_object(index_path, "model folder index")
    meta = index.get("streamt2v")
    if index.get("_class_name") != "StreamingT2VModel" or meta is None:
        got = index.get("_class_name")
        raise ValueError(
            f"{str(index_path)!r} is not a StreamingT2VModel index (got {got!r}){other_folder_hint(got)}"
        )
    where = f"model folder index {str(index_path)!r}"
    if not isinstance(meta, dict) or "model_config" not in meta:
        raise ValueError(f"{where} has no streamt2v.model_config (the architecture save_pretrained writes)")
    config = config_from_json(ModelConfig, meta["model_config"], where, "streamt2v.model_config.")
    fps, sources, sampler = meta.get("fps", DEFAULT_FPS), meta.get("sources"), meta.get("sampler")
    if not is_frame_rate(fps):
        raise ValueError(f"{where}: streamt2v.fps must be a positive integer, got {fps!r}")
    for name, value in (("sources", sources), ("sampler", sampler), ("made_up", meta.get("made_up"))):
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{where}: streamt2v.{name} must be a JSON object, got {value!r}")
    return index, config
