"""Where a part a recipe or ``assemble`` starts from comes from: the shipped part that ``microworld`` names
for an option, and the run that trains one (:data:`TRAINED_SOURCES`). Apart from
:mod:`streamt2v.train.frozen`, which loads the parts, so that the command line's help says them without
loading torch."""

from __future__ import annotations

from streamt2v.assets import CLIP_DIR_NAME, MODEL_DIR_NAME, REFINER_DIR_NAME

# The options that take the name ``microworld`` for a part of the shipped models, as ``--model`` and
# ``evaluate --clip-model`` do, by recipe (``assemble``'s kinds ``model`` and ``refiner`` stand as recipes;
# None: any other): the part's folder in the package's assets and how advice names it. The refiner's ``vae``
# is stage 3's own VAE (the same encoder, its decoder tuned at the refiner's size); ``degrade_vae`` and
# ``decoder_only_from`` the stage-1/2 one; ``init_unet`` continues the shipped UNet of the recipe's stage.
_MODEL_VAE = ((MODEL_DIR_NAME, "vae"), "the shipped model's VAE")
_STAGE_1 = ((MODEL_DIR_NAME, "init_unet"), "the shipped model's stage-1 UNet")
_STREAM = ((MODEL_DIR_NAME, "unet"), "the shipped model's stream UNet")
_REFINER_UNET = ((REFINER_DIR_NAME, "unet"), "the shipped refiner's UNet")
_SHIPPED_PARTS: dict[tuple[str, str | None], tuple[tuple[str, ...], str]] = {
    ("clip", None): ((CLIP_DIR_NAME,), "the shipped micro-CLIP"),
    ("vae", "refiner"): ((REFINER_DIR_NAME, "vae"), "the shipped refiner's VAE"),
    ("vae", None): _MODEL_VAE,
    ("degrade_vae", None): _MODEL_VAE,
    ("decoder_only_from", None): _MODEL_VAE,
    ("base_unet", None): _STAGE_1,
    ("init_unet", "base"): _STAGE_1,
    ("init_unet", "model"): _STAGE_1,
    ("init_unet", "stream"): _STREAM,
    ("init_unet", "refiner"): _REFINER_UNET,
    ("unet", "model"): _STREAM,
    ("unet", "refiner"): _REFINER_UNET,
}


# Where a trained part is found: the advice of the recipes and assemble beside the shipped part
# (frozen.shipped_advice), and the help of train's flags that take one
TRAINED_SOURCES = {
    "vae": "OUT/final/vae of `streamt2v train vae`",
    "clip": "OUT/final of `streamt2v train clip`",
    "base_unet": "OUT/final/unet of a base run",
}


def shipped_entry(option: str, recipe: str) -> tuple[tuple[str, ...], str] | None:
    """The shipped part ``microworld`` names for ``option`` of ``recipe``: its folder and what it is, in words."""
    return _SHIPPED_PARTS.get((option, recipe)) or _SHIPPED_PARTS.get((option, None))


def shipped_what(option: str, recipe: str) -> str:
    """What ``microworld`` names for ``option`` of ``recipe`` (:func:`streamt2v.train.frozen.shipped_part`),
    in words: ``the shipped model's VAE``; empty where it names none."""
    entry = shipped_entry(option, recipe)
    return entry[1] if entry else ""


def shipped_part_path(option: str, recipe: str) -> tuple[str, ...] | None:
    """The folder, relative to the package's assets, of the shipped part that ``microworld`` names for
    option ``option`` of the recipe (or assemble kind) ``recipe``; None where it names none."""
    entry = shipped_entry(option, recipe)
    return entry[0] if entry else None
