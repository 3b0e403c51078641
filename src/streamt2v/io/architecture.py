"""The architecture of a model: a preset name or a JSON file (``streamt2v convert --preset``), checked by
building its networks without memory (:func:`build_components` on the meta device)."""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

from streamt2v.config import PRESETS, ModelConfig, config_from_json, get_preset
from streamt2v.io.folders import folder_listing, home_path, named_path, read_json_object
from streamt2v.models.bundle import component_configs
from streamt2v.models.model_index import MODEL_INDEX
from streamt2v.models.unet import StreamingUNet


def build_components(cfg: ModelConfig, vision_config: CLIPVisionConfig | None, device: str) -> dict[str, Any]:
    """The four networks of ``cfg`` (their weights uninitialised on ``device`` "meta")."""
    comps = component_configs(cfg)
    with torch.device(device):
        return {
            "unet": StreamingUNet.from_config_objects(cfg.unet, cfg.streaming),
            "image_encoder": CLIPVisionModelWithProjection(vision_config or CLIPVisionConfig(**comps.vision)),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**comps.text)),
            "vae": AutoencoderKL(**comps.vae),
        }


ARCHITECTURE_FILE = (
    "a JSON file of the architecture: a model folder's model_index.json (or the folder), or the "
    "ModelConfig object it holds under streamt2v.model_config"
)


def read_architecture(path: str | os.PathLike[str], what: str = "preset") -> ModelConfig:
    """The :class:`ModelConfig` in a JSON file: a model folder's ``model_index.json`` (or the folder), or the
    object that file holds under ``streamt2v.model_config`` (what :meth:`StreamingT2VModel.save_pretrained`
    writes), every field given. Checked by building the networks on the meta device (no memory). ``what``: the
    argument's name in messages (convert's ``preset``). ``path`` as given: a leading ``~`` is the home folder,
    and messages name the file as given, then as read (:func:`named_path`)."""
    file, read = os.fspath(path), home_path(path)
    if read.is_dir():
        if not (read / MODEL_INDEX).is_file():
            raise FileNotFoundError(
                f"{what} folder {named_path(file)} has no {MODEL_INDEX} (found: {folder_listing(read)}); "
                f"give {ARCHITECTURE_FILE}"
            )
        file = os.path.join(file, MODEL_INDEX)  # named after the folder as given
    where = f"{what} file {named_path(file)}"
    try:
        data = read_json_object(file, f"{what} file")
    except OSError as err:
        raise OSError(f"{where} cannot be read ({err.strerror or err})") from None
    if "_class_name" in data or "streamt2v" in data:  # a model folder's index: its architecture
        meta = data.get("streamt2v")
        if (
            data.get("_class_name") != "StreamingT2VModel"
            or not isinstance(meta, dict)
            or "model_config" not in meta
        ):
            raise ValueError(
                f"{where} is the index of a {data.get('_class_name') or 'non-streamt2v'} folder, with no "
                f"streamt2v.model_config; give {ARCHITECTURE_FILE}"
            )
        data, prefix = meta["model_config"], "streamt2v.model_config."
    else:
        prefix = ""
    cfg = config_from_json(ModelConfig, data, where, prefix)
    channels = cfg.unet.block_out_channels
    for name, groups in (
        ("unet.norm_num_groups", cfg.unet.norm_num_groups),
        ("streaming.merger_norm_groups", cfg.streaming.merger_norm_groups),
    ):
        if any(c % groups for c in channels):  # the commonest slip; the networks' own message names no field
            raise ValueError(
                f"{where}: field {prefix + name!r} {groups} does not divide every one of "
                f"{prefix}unet.block_out_channels {list(channels)} (group norm)"
            )
    try:
        build_components(cfg, None, "meta")
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError, AssertionError) as err:
        message = " ".join(str(err).split())
        raise ValueError(f"{where} describes an architecture that cannot be built: {message}") from None
    return cfg


def resolve_architecture(preset: str | os.PathLike[str] | ModelConfig, what: str = "preset") -> ModelConfig:
    """The architecture of a conversion: a :class:`ModelConfig`, a preset name (``config.PRESETS``) or a JSON
    file (:func:`read_architecture`). A name that is neither is refused naming the presets."""
    if isinstance(preset, ModelConfig):
        return preset
    text = os.fspath(preset)
    if text in PRESETS:
        return get_preset(text)
    path = home_path(text)
    if path.exists():
        return read_architecture(text, what)
    if path.suffix.lower() == ".json" or os.sep in text or text.startswith((".", "~")):
        raise FileNotFoundError(
            f"{what} file {named_path(text)} not found; give a preset name ({', '.join(PRESETS)}) or {ARCHITECTURE_FILE}"
        )
    raise ValueError(
        f"unknown model preset {text!r}; choose one of {', '.join(sorted(PRESETS))}, "
        f"or give {ARCHITECTURE_FILE}"
    )
