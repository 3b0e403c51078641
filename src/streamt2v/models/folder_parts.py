"""The parts of a folder of several models (a :class:`~streamt2v.models.bundle.StreamingT2VModel`'s ``unet/
text_encoder/ vae/ ...``, a :class:`~streamt2v.pipeline.refiner.Refiner`'s), checked before any weights are
read, then loaded.

Checked first, from files of a few kilobytes: that the parts fit together (:func:`fit_problems`, from their
``config.json``: a part replaced by one of another width was otherwise named after every weight had loaded, or
as a shape error in the middle of a video), then that each part's weight files are there and can be whole
(:mod:`~streamt2v.io.weight_files`, headers only: a Git LFS pointer, a file cut short). Then each part loads
strictly (:func:`~streamt2v.models.strict_loading.from_pretrained_strict`) in the dtype asked for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from streamt2v.io.folders import folder_listing, read_json_object
from streamt2v.io.weight_files import check_weight_files, refuse_broken_links, weights_variant
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.wording import counted

M = TypeVar("M", bound=torch.nn.Module)


def _value(config: Mapping[str, Any] | None, key: str, built_by: Callable[..., Any]) -> Any:
    """``config[key]``, else the default of ``built_by``'s parameter ``key`` (what the library builds from a
    config that leaves it out); None without a config or a default."""
    if config is None:
        return None
    if key in config:
        return config[key]
    param = inspect.signature(built_by).parameters.get(key)
    return None if param is None or param.default is param.empty else param.default


def _section(config: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """A whole CLIP model's config holds the text or vision model's in a section, which transformers reads."""
    inner = config.get(name) if config is not None else None
    return inner if isinstance(inner, Mapping) else config


def _image_width(config: Mapping[str, Any] | None) -> tuple[Any, str]:
    """The image embedding width ``CLIPVisionModelWithProjection`` loads from ``image_encoder/config.json``'s
    contents ``config``, and, for a whole ``CLIPModel``'s config whose top-level ``projection_dim`` says
    another, why that one is not it (transformers reads the vision model's from its ``vision_config``)."""
    from transformers import CLIPVisionConfig

    section = _section(config, "vision_config")
    width = _value(section, "projection_dim", CLIPVisionConfig)
    top = None if config is None or section is config else config.get("projection_dim")
    if top is None or top == width:
        return width, ""
    read = (
        f"vision_config.projection_dim, {width}"
        if "projection_dim" in section
        else f"vision_config, which leaves projection_dim out (default {width})"
    )
    return width, (
        f" (its config.json is a whole CLIPModel's: projection_dim {top} at its top level is the CLIP model's, "
        f"the vision model reads {read}; set vision_config.projection_dim to {top} there)"
    )


def fit_problems(
    configs: Mapping[str, Mapping[str, Any]], latents: tuple[int, int] | None = None
) -> list[str]:
    """What does not fit between the parts whose ``config.json`` contents ``configs`` holds by subfolder name,
    each naming the subfolders; empty when they fit. The video UNets (``unet``, ``init_unet``; a
    StreamingUNet's holds its base UNet's under ``unet`` and the CAM/APM settings under ``streaming``) against
    the text width of ``text_encoder``, the latent channels of ``vae`` and the image embedding width of
    ``image_encoder``; with ``latents``, the ``(frame_size, vae_scale_factor)`` of the folder's
    ``model_index.json`` (which sizes the latents), the downsampling of ``vae`` against that factor. A part not
    in ``configs`` is not compared; a value a config leaves out is the library's default, as the loaded model
    has it."""
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig

    from streamt2v.config import StreamingConfig

    text = _value(_section(configs.get("text_encoder"), "text_config"), "hidden_size", CLIPTextConfig)
    latent = _value(configs.get("vae"), "latent_channels", AutoencoderKL)
    image, why_image = _image_width(configs.get("image_encoder"))
    problems = []
    levels = _value(configs.get("vae"), "block_out_channels", AutoencoderKL)
    if latents is not None and isinstance(levels, (list, tuple)) and levels:
        # the VAE halves the frame once per level but the last (VideoAutoencoder.scale_factor)
        (size, factor), scales = latents, 2 ** (len(levels) - 1)
        if scales != factor:
            problems.append(
                f"vae/ scales frames by {scales} (block_out_channels in vae/config.json has "
                f"{counted(len(levels), 'level')}), model_index.json's streamt2v.model_config.vae_scale_factor is {factor} (its "
                f"{size}-pixel frames would come out at {size // factor * scales})"
            )
    for name in ("unet", "init_unet"):
        config = configs.get(name)
        if config is None:
            continue
        base, streaming = config.get("unet"), config.get("streaming")
        if not (isinstance(base, Mapping) and isinstance(streaming, Mapping)):  # a plain video UNet's
            base, streaming = config, None
        width, ins, outs = (
            _value(base, key, UNet3DConditionModel)
            for key in ("cross_attention_dim", "in_channels", "out_channels")
        )
        if None not in (width, text) and width != text:
            problems.append(f"{name}/ attends to text of width {width}, text_encoder/ gives {text}")
        if None not in (ins, outs, latent) and (ins, outs) != (latent, latent):
            problems.append(f"{name}/ has {ins} in / {outs} out channels, vae/ {latent} latent channels")
        takes = _value(streaming, "image_embed_dim", StreamingConfig)
        if None not in (takes, image) and takes != image:
            problems.append(
                f"{name}/ takes image embeddings of width {takes}, image_encoder/ gives {image}{why_image}"
            )
    return problems


# what a user whose folder's parts do not fit can do, whichever part it is
_FIT_ADVICE = (
    "put back the part the folder was saved with, or save the folder again from parts made together "
    "(save_pretrained, or streamt2v assemble for trained runs)"
)


class FolderParts:
    """The weighted parts of the folder ``root`` (a ``kind`` of folder: ``"model folder"``), checked on
    construction without reading any weights: each has its ``config.json``, and they fit together
    (:func:`fit_problems`), and their weight files are there and can be whole (which variant each holds: the
    full-precision files, or only the ``fp16`` ones some hub repos ship). ``latents``: the ``(frame_size,
    vae_scale_factor)`` the folder's index sizes latents by, checked against ``vae/``. :meth:`load` then loads
    one. Errors name ``kind``, the part and the file, or, given ``named`` (the folder as a flag or argument
    and the user typed it: ``--model '~/p' ('/home/me/p')``), that before the part; ``remedy`` is what to do
    about a part damaged or missing files (``copy the whole folder again``)."""

    def __init__(
        self,
        root: Path,
        kind: str,
        parts: Iterable[str],
        latents: tuple[int, int] | None = None,
        remedy: str = "copy the whole folder again",
        named: str | None = None,
    ) -> None:
        self.root, self.kind, self.named = root, kind, named
        parts = list(parts)
        configs = {}
        for part in parts:
            refuse_broken_links(root / part, self.label(part))  # a link to nothing is named as one
            file = root / part / "config.json"
            if not file.is_file():
                # diffusers said "no file named config.json found in directory"; transformers built a default
                # model and printed a table of every weight as mismatched
                raise FileNotFoundError(
                    f"{self.label(part)} {str(root / part)!r} has no config.json (found: "
                    f"{folder_listing(root / part)}): the folder is incomplete (an interrupted copy?); {remedy}"
                )
            configs[part] = read_json_object(file, f"{self.label(part)} config")
        if problems := fit_problems(configs, latents):
            raise ValueError(
                f"the parts of {named or f'{kind} {str(root)!r}'} do not fit together (was one replaced?): "
                + "; ".join(problems)
                + f"; {_FIT_ADVICE}"
            )
        self.variants: dict[str, str | None] = {}
        for part in parts:
            variant = weights_variant(root / part, self.label(part))
            check_weight_files(root / part, variant, f"{self.label(part)} weight file")
            self.variants[part] = variant

    def label(self, part: str) -> str:
        """How errors name ``part``: ``model folder's unet/``, or after the folder as named, ``--model '~/p'
        ('/home/me/p'): unet/`` (a possessive after the parenthesis read ``('/home/me/p')'s unet/``)."""
        return f"{self.named}: {part}/" if self.named else f"{self.kind}'s {part}/"

    def load(self, cls: type[M], part: str, dtype: torch.dtype) -> M:
        """``part`` loaded as ``cls`` in ``dtype`` (the variant its weight files are), in eval mode; refused,
        naming it, when its weights do not cover the model."""
        from transformers import PreTrainedModel

        # transformers 5 names the dtype argument ``dtype``, diffusers ``torch_dtype``
        kwargs: dict[str, Any] = {"dtype" if issubclass(cls, PreTrainedModel) else "torch_dtype": dtype}
        if self.variants[part]:
            kwargs["variant"] = self.variants[part]
        return from_pretrained_strict(cls, self.root / part, self.label(part), **kwargs).eval()
