"""The inputs of an official-checkpoint conversion besides the checkpoint: the ``--init-unet`` stage-1 folder
(ModelScope T2V: not in the official checkpoint) and the ``--tokenizer`` (not in it either), found locally or
as a hub snapshot and checked without loading any weights, so that a wrong folder is named before the
minutes-long read of the checkpoint (:func:`~streamt2v.io.checkpoints.convert_official_checkpoint`), and
each input is recorded as it was given (``sources``). The errors name the inputs as the caller spells them:
``init_unet`` to Python, ``--init-unet`` on the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from streamt2v.arguments import Arg, NamesArguments, naming_arguments
from streamt2v.config import ModelConfig
from streamt2v.io.checkpoint_file import MODELSCOPE_LIBRARY_FOLDER, MODELSCOPE_LIBRARY_WEIGHTS
from streamt2v.io.folders import (
    folder_listing,
    home_path,
    named_path,
    read_json_object,
    saved_class_name,
    what_it_holds,
)
from streamt2v.io.hub import resolve_model_path
from streamt2v.io.weight_files import check_weight_files, is_model_file, refuse_broken_links, weights_variant
from streamt2v.models.bundle import MODELSCOPE_REPO, component_configs
from streamt2v.models.tokenizers import load_tokenizer, reads_as_clip

STAGE1_FOLDER = f"a ModelScope diffusers folder with unet/ and tokenizer/, like {MODELSCOPE_REPO}"


# What a conversion needs of a hub snapshot (a ModelScope repo also holds a 1.4 GB text encoder and a VAE)
TOKENIZER_PATTERNS = [
    "tokenizer/*",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
STAGE1_PATTERNS = [
    "model_index.json",
    "unet/*",
    "config.json",
    "diffusion_pytorch_model*",
    *TOKENIZER_PATTERNS,
]


def provenance(spec: str | os.PathLike[str]) -> str:
    """A local path as an absolute one (the folder's ``sources`` stay meaningful wherever it is read), a hub
    id as given."""
    path = home_path(spec)
    return str(path.resolve()) if path.exists() else str(spec)


@dataclass(frozen=True)
class Stage1Source:
    """Where the stage-1 UNet (and the tokenizer, when the folder has one) of a conversion come from."""

    unet_dir: Path
    variant: str | None  # "fp16" when the folder holds only the fp16 variant of the weights
    tokenizer_root: Path | None
    root: Path | None = None  # the folder given (a hub id's snapshot)


def check_stage1_folder(init_unet: str | os.PathLike[str], cfg: ModelConfig) -> Stage1Source:
    """Check an ``init_unet`` folder or hub id without loading its weights: a diffusers
    ``UNet3DConditionModel`` (in ``unet/`` or the folder itself) with weights, whose latent channels and text
    width fit ``cfg``. Called before the (minutes-long) read of the checkpoint."""
    with naming_arguments("init_unet", "preset") as (arg, preset):
        root = resolve_model_path(init_unet, arg, STAGE1_FOLDER, allow_patterns=STAGE1_PATTERNS)
        refuse_broken_links(root, arg, lambda name: name == "model_index.json" or is_model_file(name))
        refuse_broken_links(root / "unet", f"{arg} UNet folder")
        if (root / "unet" / "config.json").is_file():
            unet_dir = root / "unet"
        elif (root / "config.json").is_file() and not (root / "model_index.json").is_file():
            unet_dir = root
        else:
            library = (root / MODELSCOPE_LIBRARY_WEIGHTS).is_file()
            what = f": it is {MODELSCOPE_LIBRARY_FOLDER}" if library else ""
            raise FileNotFoundError(
                f"{arg} {named_path(init_unet)} has no unet/config.json (found: {folder_listing(root)}){what}; "
                f"give {STAGE1_FOLDER}"
            )
        config_file = unet_dir / "config.json"
        got = saved_class_name(config_file, f"{arg} config")  # a damaged file is named as such
        if got == "StreamingUNet":
            raise ValueError(
                f"{arg} {named_path(init_unet)} is a streamt2v model folder (stages 1-2), not a stage-1 model; "
                f"give {STAGE1_FOLDER} (the stage-1 UNet of a converted folder is its init_unet/)"
            )
        if got != "UNet3DConditionModel":
            raise ValueError(
                f"{arg} {named_path(init_unet)} holds {what_it_holds(got)}, not a "
                f"UNet3DConditionModel; give {STAGE1_FOLDER}"
            )
        config = read_json_object(config_file, f"{arg} config")
        u = cfg.unet
        problems = [
            f"{name} {config.get(name)} (the {cfg.name!r} architecture: {want})"
            for name, want in (
                ("in_channels", u.in_channels),
                ("out_channels", u.out_channels),
                ("cross_attention_dim", u.cross_attention_dim),
            )
            if config.get(name, want) != want
        ]
        if problems:
            raise ValueError(
                f"{arg} {named_path(init_unet)} does not fit the {cfg.name!r} architecture (its latents and text "
                f"embeddings): its UNet has {'; '.join(problems)}; is it the right folder, and the right "
                f"{preset}?"
            )
        variant = weights_variant(unet_dir, f"{arg} UNet folder")
        check_weight_files(unet_dir, variant, f"{arg} UNet weight file")
    tokenizer_root = root / "tokenizer" if (root / "tokenizer").is_dir() else None
    return Stage1Source(unet_dir, variant, tokenizer_root, root)


def _tokenizer_folder(tokenizer: str | os.PathLike[str], arg: str) -> Path:
    """The folder of ``tokenizer`` (its ``tokenizer/`` when it is a pipeline folder); ``arg``: its name."""
    root = resolve_model_path(
        tokenizer, arg, f"a CLIP tokenizer folder, or {STAGE1_FOLDER}", allow_patterns=TOKENIZER_PATTERNS
    )
    return root / "tokenizer" if (root / "tokenizer").is_dir() else root  # checked as it is loaded


def _named_folder(given: str | os.PathLike[str], folder: Path) -> str:
    """``folder``, read for ``given`` (the folder itself or its ``tokenizer/``), named after ``given`` as typed,
    then as read (``'~/ms/tokenizer' ('/home/me/ms/tokenizer')``); a hub snapshot's as read."""
    root = home_path(given)
    if folder == root:
        return named_path(given)
    if folder == root / "tokenizer":
        return named_path(os.path.join(os.fspath(given), "tokenizer"))
    return repr(str(folder))


def _load_tokenizer(folder: Path, cfg: ModelConfig, what: str, named: str) -> PreTrainedTokenizerBase:
    tok = load_tokenizer(folder, "CLIPTokenizer" if reads_as_clip(folder) else None, what, named)
    if tok.pad_token is None:  # the text encoder pads each prompt to its length: generate would fail
        raise ValueError(
            f"{what} {named} has no padding token: record its class and pad_token in its "
            "tokenizer_config.json (a tokenizer.json alone does not say them), e.g. as transformers' "
            "save_pretrained writes them"
        )
    vocab = component_configs(cfg).text["vocab_size"]
    if len(tok) > vocab:
        raise ValueError(
            f"{what} {named} has {len(tok)} tokens, more than the {cfg.name!r} text "
            f"encoder's {vocab}: it is another model's tokenizer"
        )
    return tok


class NoTokenizerError(NamesArguments, FileNotFoundError):
    """A strict conversion with no tokenizer to read prompts (none in the checkpoint, none given)."""


def conversion_tokenizer(
    tokenizer: str | os.PathLike[str] | None,
    init_unet: str | os.PathLike[str] | None,
    stage1: Stage1Source | None,
    cfg: ModelConfig,
    strict: bool,
) -> tuple[PreTrainedTokenizerBase | None, str | os.PathLike[str] | None]:
    """The tokenizer of a conversion and where it came from: ``tokenizer``, else the ``init_unet``
    folder's ``tokenizer/``, else none (refused when ``strict``: the folder could not read prompts)."""
    with naming_arguments("tokenizer", "init_unet") as (tok_arg, init_arg):
        if tokenizer is not None:
            folder = _tokenizer_folder(tokenizer, tok_arg)
            named = _named_folder(tokenizer, folder)
            return _load_tokenizer(folder, cfg, f"{tok_arg} folder", named), tokenizer
        if stage1 is not None and stage1.tokenizer_root is not None:
            what = f"{init_arg} tokenizer folder"
            named = _named_folder(init_unet, stage1.tokenizer_root)
            return _load_tokenizer(stage1.tokenizer_root, cfg, what, named), init_unet
    if stage1 is not None and strict:
        # a folder that cannot read prompts; found only when generating, after a conversion of minutes
        raise NoTokenizerError(
            Arg("init_unet"),
            f" {named_path(init_unet)} has no tokenizer/ (found: "
            f"{folder_listing(stage1.root or stage1.unet_dir)}), and the official checkpoint has none: pass ",
            Arg("tokenizer"),
            f" with a CLIP tokenizer folder (the tokenizer/ of {MODELSCOPE_REPO}), or ",
            Arg("strict", False),
            " to convert a folder that cannot read prompts",
        )
    return None, None
