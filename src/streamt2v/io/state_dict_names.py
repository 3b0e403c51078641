"""What the names in a checkpoint's state dict say, before they are mapped to the model: a wrapper's prefix
put before the official names (``model.``, DDP's ``module.``: :func:`strip_wrapper_prefix`), the
``_orig_mod.`` of a module the training code compiled (:func:`strip_compiled_names`), and a state dict of
another model, given by mistake (:func:`describe_foreign_state_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from streamt2v.arguments import Arg
from streamt2v.io.checkpoint_file import MODELSCOPE_LIBRARY_AUTOENCODER, MODELSCOPE_LIBRARY_WEIGHTS
from streamt2v.io.official_unet_keys import STAGE2_PREFIXES

# the official VideoLDM state dict's prefixes: the stage-2 network's, then the other components'
OFFICIAL_PREFIXES = (*STAGE2_PREFIXES, "image_encoder.", "text_encoder.", "vae.")


def strip_wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Remove a wrapper's prefix (``model.``, ``module.`` of DDP, ...) put before the official names.

    Applies only when no key has an official prefix and one prefix before ``base_model.`` is shared by
    most keys; returns ``(state dict, prefix removed or "")``.
    """
    if any(k.startswith(OFFICIAL_PREFIXES) for k in state_dict):
        return dict(state_dict), ""
    prefix = ""
    for key in state_dict:
        i = key.find(".base_model.")
        if i >= 0:
            prefix = key[: i + 1]
            break
    n = sum(k.startswith(prefix) for k in state_dict) if prefix else 0
    if not prefix or 2 * n < len(state_dict):
        return dict(state_dict), ""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): t for k, t in state_dict.items()}, prefix


# what torch.compile puts in the names of a compiled module's weights (``base_model._orig_mod.conv_in.weight``)
_COMPILED = "_orig_mod"  # the name part torch.compile adds


def strip_compiled_names(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """Remove ``_orig_mod.`` from the names of the weights of a module the training code had compiled
    (``torch.compile``), which are the same weights; returns ``(state dict, names changed)``. Names that would
    then clash are left as they are (the report names them)."""
    # every '_orig_mod' part: a module compiled inside a compiled one nests two
    renamed = {k: ".".join(part for part in k.split(".") if part != _COMPILED) for k in state_dict}
    changed = sum(k != v for k, v in renamed.items())
    if not changed or len(set(renamed.values())) < len(renamed):
        return dict(state_dict), 0
    return {renamed[k]: t for k, t in state_dict.items()}, changed


def describe_foreign_state_dict(state_dict: Mapping[str, Any]) -> list[object] | None:
    """What a state dict of which no tensor fits the model is, by its names, when it is a file users give by
    mistake: the StreamingSVD checkpoint, a streamt2v model folder's UNet, a part of a diffusers folder (the
    ModelScope ``unet/``, ``vae/``, ``text_encoder/``), or of ModelScope T2V in the ModelScope library's own
    format (``text2video_pytorch_model.pth``, ``VQGAN_autoencoder.pth``), as parts of a message (text and the
    :class:`~streamt2v.arguments.Arg` it advises); None otherwise."""
    keys = list(state_dict)

    def share(*prefixes: str) -> float:
        return sum(k.startswith(prefixes) for k in keys) / max(len(keys), 1)

    if any(k.startswith("model.diffusion_model.") for k in keys) and any(
        k.startswith("conditioner.") for k in keys
    ):
        return [
            "it is the StreamingSVD (image-to-video) checkpoint of the official main branch; streamt2v converts "
            "the text-to-video streaming_t2v.ckpt of the StreamingModelscope branch"
        ]
    if any(k.startswith("model.diffusion_model.") for k in keys) and any(
        k.startswith(("first_stage_model.", "cond_stage_model.")) for k in keys
    ):
        return [
            "it is a Stable Diffusion (LDM) checkpoint, with model.diffusion_model./first_stage_model. weights, "
            "such as the enhancer's v2-1_512-ema-pruned.ckpt; streamt2v converts the official streaming_t2v.ckpt"
        ]
    if share("base.", "cam.", "resampler.", "down_mergers.", "mid_merger.") > 0.9:
        return ["it is the UNet of a streamt2v model folder, converted already: load that folder as it is"]
    folder = ["a ModelScope diffusers folder, which ", Arg("init_unet"), " takes as a folder"]
    if "conv_in.weight" in state_dict and any(
        ".temp_convs." in k or k.startswith("transformer_in.") for k in keys
    ):
        return ["it is the weights of a diffusers UNet3DConditionModel: the unet/ of ", *folder]
    if any(k.startswith("decoder.") for k in keys) and any(
        k.startswith("encoder.down_blocks.") for k in keys
    ):
        return ["it is the weights of a diffusers AutoencoderKL: the vae/ of ", *folder]
    # ModelScope T2V as the ModelScope library ships it (damo/text-to-video-synthesis): its UNet and its
    # autoencoder under the original LDM names, not diffusers'
    instead = [
        "; the stage-1 model comes from ",
        *folder,
        ", and the checkpoint is the official streaming_t2v.ckpt",
    ]
    if "time_embed.0.weight" in state_dict and any(k.startswith("input_blocks.") for k in keys):
        return [
            "it is a UNet under the LDM names (input_blocks., time_embed.), as the ModelScope library's "
            f"{MODELSCOPE_LIBRARY_WEIGHTS} holds ModelScope T2V's, which streamt2v does not read",
            *instead,
        ]
    if any(k.startswith("encoder.down.") for k in keys) and any(k.startswith("decoder.up.") for k in keys):
        return [
            "it is an autoencoder under the LDM names (encoder.down., decoder.up.), as the ModelScope library's "
            f"{MODELSCOPE_LIBRARY_AUTOENCODER} holds ModelScope T2V's, which streamt2v does not read",
            *instead,
        ]
    if "embeddings.token_embedding.weight" in {k.removeprefix("text_model.") for k in keys} and (
        share("text_model.", "embeddings.", "encoder.layers.", "final_layer_norm.") > 0.9
    ):
        return ["it is the weights of a transformers CLIPTextModel: the text_encoder/ of ", *folder]
    return None
