"""The frozen parts a training recipe starts from: a trained VAE, a micro-CLIP or pretrained CLIP, and
the folder checks that name the argument to fix (``vae`` to a Python caller, ``--vae`` on the command
line: ``arguments.naming_arguments``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from streamt2v.arguments import (
    Arg,
    ArgumentFileNotFoundError,
    ArgumentNotADirectoryError,
    ArgumentValueError,
    FlaggedArg,
    RecipeOption,
    naming_arguments,
)
from streamt2v.assets import (
    ASSETS_DIR,
    CLIP_DIR_NAME,
    REFINER_DIR_NAME,
    SHIPPED_NAME,
    names_shipped,
)
from streamt2v.io.folders import home_path, named_path, saved_class_name, what_it_holds
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.train.part_sources import TRAINED_SOURCES, shipped_entry, shipped_part_path, shipped_what
from streamt2v.wording import with_article


def shipped_part(option: str, value: object, recipe: str) -> str | None:
    """The folder of the shipped part that ``value`` names for recipe option ``option`` of the recipe
    ``recipe`` (``vae="microworld"``: the shipped model's ``vae/``), unless a local folder has that name
    (``assets.names_shipped``); None where it names none. Shipped weights that are absent are named so."""
    from streamt2v.assets import microworld_clip_dir, microworld_model_dir, microworld_refiner_dir

    where = shipped_part_path(option, recipe)
    if where is None or not names_shipped(value):
        return None
    top = {CLIP_DIR_NAME: microworld_clip_dir, REFINER_DIR_NAME: microworld_refiner_dir}
    return str(top.get(where[0], microworld_model_dir)().joinpath(*where[1:]))


def names_a_shipped_part(option: str, value: object, recipe: str) -> bool:
    """Whether ``value``, a path a run recorded for option ``option``, is where ``microworld`` put that
    option's shipped part (:func:`shipped_part`) in an installed package, wherever that package was: after a
    reinstall the recorded path is gone, and ``microworld`` names the part again."""
    part = shipped_part_path(option, recipe)
    if part is None:
        return False
    tail = (ASSETS_DIR.parent.name, ASSETS_DIR.name, *part)
    return Path(str(value)).parts[-len(tail) :] == tail


def named_folder(option: str, path: object, recipe: str, what: str) -> str:
    """The folder ``path`` of ``option`` named as given (``what``: ``the base UNet``): ``the base UNet '~/b'
    ('/home/me/b')`` (:func:`named_path`), or for a shipped part (:func:`names_a_shipped_part`), which the
    user named ``microworld``, ``the shipped model's stage-1 UNet (microworld)`` rather than its place in
    the package."""
    if names_a_shipped_part(option, path, recipe):
        return f"{shipped_what(option, recipe)} ({SHIPPED_NAME})"
    return f"{what} {named_path(str(path))}"


def shipped_advice(option: str, recipe: str, given: object = None) -> str:
    """How advice offers the shipped part of ``option`` (:func:`shipped_part`): ``microworld (the shipped
    model's VAE)``; where ``given`` is that name but a local file or folder has it, which it then names,
    the part's own folder, which that name no longer reaches."""
    where, what = shipped_entry(option, recipe) or ((), "")
    if str(given) == SHIPPED_NAME and Path(SHIPPED_NAME).exists():
        local = "folder" if Path(SHIPPED_NAME).is_dir() else "file"
        return (
            f"{what}, {ASSETS_DIR.joinpath(*where)} ({SHIPPED_NAME} names the {local} {SHIPPED_NAME} in the "
            "working folder)"
        )
    return f"{SHIPPED_NAME} ({what})"


class ArgAsGiven(FlaggedArg):
    """:func:`as_given`'s argument: to Python ``vae='~/x' ('/home/me/x')``, its flag given with it."""

    def __str__(self) -> str:
        return f"{self.name}={named_path(str(self.value))}"


def as_given(path: object, arg: Arg) -> FlaggedArg:
    """The argument ``arg`` with the folder ``path`` as typed, then as read where ``~`` was expanded
    (:func:`named_path`, the form generate's messages have too): ``--vae 'my runs/v'`` (``--set
    degrade_vae='my runs/v'``) on the command line, ``vae='my runs/v'`` to Python."""
    quoted = named_path(str(path))
    flag = f"{arg.flag}={quoted}" if isinstance(arg, RecipeOption) else f"{arg.flag} {quoted}"
    return ArgAsGiven(arg.name, str(path), flag=flag)


def need_dir(path: str, what: str, how: str, arg: Arg, recipe: str = "") -> Path:
    """The folder ``path``, ``what`` a recipe needs (``how``: where one is found), given by the argument
    ``arg`` (``Arg("vae")``, ``RecipeOption("degrade_vae")``): its errors name it with the value as given
    (``--vae 'my runs/v'``), and ``{}`` in ``what`` as ``vae=DIR`` (``--vae DIR``); one not given, the
    ``recipe`` that needs it (``the stream recipe needs``)."""
    if not path:
        before, _, after = what.partition("{}")
        flag = f"{arg.flag}=DIR" if isinstance(arg, RecipeOption) else f"{arg.flag} DIR"
        raise ArgumentValueError(
            f"{f'the {recipe} recipe' if recipe else 'this recipe'} needs {before}",
            FlaggedArg(f"{arg.name}=DIR", flag=flag),
            after,
            f": {how}",
        )
    p = home_path(path)  # ~ as the command line's flags expand it
    given = as_given(path, arg)
    if p.exists() and not p.is_dir():
        raise ArgumentNotADirectoryError(given, f" is a file, not a folder: {how}")
    if not p.is_dir():
        raise ArgumentFileNotFoundError(given, f" does not exist: {how}")
    return p


def inside_hint(folder: Path, class_name: str) -> str:
    """``"; DIR holds one: pass that"`` when a subfolder of ``folder`` (a run folder's ``final/unet``, a
    ``final/`` folder's ``vae``) holds a ``class_name``; else ``""``."""
    if not folder.is_dir():
        return ""
    for pattern in ("*/config.json", "final/*/config.json"):
        for config in sorted(folder.glob(pattern)):
            if saved_class_name(config) == class_name:  # a damaged one is no hint
                return f"; {config.parent} holds one: pass that"
    return ""


def refuse_other_class(
    folder: Path,
    class_name: str,
    saved: str | None,
    *,
    named: str | Arg,
    why: str,
    takes: str = "it takes",
    given: str | None = None,
) -> None:
    """A ValueError unless ``saved``, the class ``folder`` holds (``saved_class_name``), is ``class_name``: a
    run folder or another model's folder given by mistake is named as such, before diffusers' own errors.
    It says ``named`` (how the caller names the folder, followed by ``folder`` as typed, ``given``, shown
    as read where ``~`` was expanded: :func:`named_path`; an :class:`Arg` given with its value,
    :func:`as_given`, names it alone), what it holds, what ``takes`` it (``"the stream recipe
    continues"``), ``why`` (where one is found) and a subfolder holding one."""
    if saved == class_name:
        return
    holds = (
        f" holds {what_it_holds(saved)}; {takes} {with_article(class_name)} ({why})"
        f"{inside_hint(folder, class_name)}"
    )
    if isinstance(named, Arg):
        raise ArgumentValueError(named, holds)
    raise ArgumentValueError(f"{named} {named_path(str(folder if given is None else given))}", holds)


def need_model_dir(path: str, what: str, how: str, class_name: str, arg: Arg, recipe: str = "") -> Path:
    """:func:`need_dir` for a diffusers model folder that must hold a ``class_name``
    (:func:`refuse_other_class`), given by the argument ``arg``, for the ``recipe``."""
    with naming_arguments(arg) as (name,):
        p = need_dir(path, what, how, arg, recipe)
        # a damaged config.json is named as such, not as a folder holding no model
        saved = saved_class_name(p / "config.json", f"{name} config")
        refuse_other_class(p, class_name, saved, named=f"{what.format(name)} folder", why=how, given=path)
    return p


def load_frozen_vae(
    path: str,
    dtype: torch.dtype = torch.float32,
    *,
    option: str | Arg = "vae",
    recipe: str = "",
    what: str = "a trained VAE ({})",
    source: str = TRAINED_SOURCES["vae"],
) -> Any:
    """The frozen VAE of a ``vae`` run's ``final/vae`` folder (a recipe's or assemble's ``vae``). Its errors
    name the folder as ``option`` (another recipe option: ``RecipeOption("degrade_vae")``), by ``what``
    (``{}``: the option) and end with where to find one: ``source``, and the shipped part of ``option`` for
    ``recipe`` where it has one (the recipe, or assemble's kind: :func:`shipped_advice`)."""
    from diffusers import AutoencoderKL

    from streamt2v.models.autoencoder import VideoAutoencoder

    named = option if isinstance(option, Arg) else Arg(option)
    shipped = shipped_part_path(named.name, recipe) is not None
    how = f"pass {source}" + (f", or {shipped_advice(named.name, recipe, path)}" if shipped else "")
    p = need_model_dir(path, what, how, "AutoencoderKL", named, recipe)  # assemble's is never missing
    with naming_arguments(named) as (arg,):
        vae = from_pretrained_strict(AutoencoderKL, p, f"{arg} folder", torch_dtype=dtype)
    return VideoAutoencoder(vae.requires_grad_(False).eval())


def load_frozen_clip(path: str, image: bool = False) -> tuple[Any, Any]:
    """``(TextEncoder, ImageEncoder | None)`` from a ``clip`` recipe's ``final/`` folder (``tokenizer/``,
    ``text_encoder/``, ``image_encoder/``) or from a whole transformers ``CLIPModel`` folder with its
    tokenizer (e.g. a local copy of a pretrained CLIP, or a clip run's ``final/clip``): a recipe's or
    assemble's ``clip``."""
    from streamt2v.models.encoders import ImageEncoder, TextEncoder

    with naming_arguments("clip") as (clip_arg,):
        tokenizer, text_model, vision = _clip_parts(path, image, clip_arg)
    text = TextEncoder(tokenizer, text_model.requires_grad_(False).eval())
    img = ImageEncoder(vision.requires_grad_(False).eval()) if image else None
    return text, img


def _clip_parts(path: str, image: bool, clip_arg: str) -> tuple[Any, Any, Any]:
    """:func:`load_frozen_clip`'s tokenizer, text model and vision model (None unless ``image``), in
    float32; its errors name the folder by ``clip_arg``."""
    from transformers import CLIPTextModel, CLIPVisionModelWithProjection

    from streamt2v.models.tokenizers import load_tokenizer

    how = f"pass {TRAINED_SOURCES['clip']}, or {shipped_advice('clip', '', path)}"
    p = need_dir(path, "a trained micro-CLIP ({})", how, Arg("clip"))
    if (p / "text_encoder").is_dir():
        # transformers builds a 2-token tokenizer from a folder without vocabulary: every word one id
        tokenizer = load_tokenizer(p / "tokenizer", what=f"{clip_arg} tokenizer folder")
        # float32 whatever the saved dtype (transformers 5 keeps it; the shipped encoders are fp16):
        # the training loop's autocast chooses the compute precision
        text_model = from_pretrained_strict(
            CLIPTextModel, p / "text_encoder", f"{clip_arg} text_encoder folder", dtype=torch.float32
        )
        vision = (
            from_pretrained_strict(
                CLIPVisionModelWithProjection,
                p / "image_encoder",
                f"{clip_arg} image_encoder folder",
                dtype=torch.float32,
            )
            if image
            else None
        )
        return tokenizer, text_model, vision
    given = as_given(path, Arg("clip"))  # quoted as need_dir's refusals quote it
    if (p / "final" / "text_encoder").is_dir():
        # the clip run's own folder: its config.json is the run's, not a CLIPModel's
        final = as_given(os.path.join(path, "final"), Arg("clip"))
        raise ArgumentFileNotFoundError(
            given, " is a micro-CLIP training run's folder; pass its final/ folder: ", final
        )
    if not (p / "config.json").is_file():
        raise ArgumentFileNotFoundError(
            given,
            " is neither a micro-CLIP run's final/ (tokenizer/, text_encoder/, image_encoder/) nor a "
            "transformers CLIPModel folder (config.json, weights, tokenizer files)",
        )
    what = f"{clip_arg} CLIPModel folder"
    tokenizer = load_tokenizer(p, what=what)
    return (tokenizer, *_split_clip_model(p, image, what))


def clip_text_width(path: str | None) -> int | None:
    """The text encoder's width (``hidden_size``) of the ``clip`` folder ``path`` (a micro-CLIP run's final/
    or a CLIPModel folder) as its config.json records it, read without loading anything; None where it
    cannot be read (no such folder yet: the build says so)."""
    if not path:
        return None
    p = home_path(path)
    try:
        if (p / "text_encoder").is_dir():
            return int(json.loads((p / "text_encoder" / "config.json").read_text())["hidden_size"])
        return int(json.loads((p / "config.json").read_text())["text_config"]["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _split_clip_model(path: Path, image: bool, what: str) -> tuple[Any, Any]:
    """A ``CLIPModel`` folder's text tower (``CLIPTextModel``) and, with ``image``, its vision tower with
    the projection (``CLIPVisionModelWithProjection``; else None), in float32; ``what``: the folder as
    errors name it. Loading the towers' classes from the folder directly would take the vision projection
    width from the vision sub-config rather than the model's."""
    from transformers import CLIPModel, CLIPVisionModelWithProjection

    clip = from_pretrained_strict(CLIPModel, path, what, dtype=torch.float32)
    text = clip.text_model  # a CLIPTextModel in transformers 5
    if not image:
        return text, None
    vision_config = clip.config.vision_config
    vision_config.projection_dim = clip.config.projection_dim
    vision = CLIPVisionModelWithProjection(vision_config)
    vision.vision_model.load_state_dict(clip.vision_model.state_dict())
    vision.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    return text, vision
