"""The shipped microworld models (trained by ``python -m streamt2v.train.microworld_release``).

- ``microworld/``: a :class:`~streamt2v.models.bundle.StreamingT2VModel` folder (stage-1 base UNet,
  stage-2 streaming UNet with CAM + APM, VAE, micro-CLIP text/image encoders, tokenizer, scheduler and
  the recommended sampler settings in ``model_index.json``);
- ``microworld-refiner/``: a :class:`~streamt2v.pipeline.refiner.Refiner` folder (stage 3);
- ``microworld-clip/``: the whole micro-CLIP (a transformers ``CLIPModel`` + tokenizer): the CLIP-score model
  of the microworld (``streamt2v evaluate --metrics clip --clip-model microworld``);
- ``MODEL_CARD.md``: recipes, hardware, wall times, losses and the measured behaviour figures.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
MODEL_DIR_NAME = "microworld"
REFINER_DIR_NAME = "microworld-refiner"
CLIP_DIR_NAME = "microworld-clip"


# The name that picks the shipped models where a folder is asked for (``--model microworld``,
# ``--clip-model microworld``) unless a local folder has that name.
SHIPPED_NAME = "microworld"


def names_shipped(spec: object) -> bool:
    """Whether ``spec`` is :data:`SHIPPED_NAME` and no local path of that name exists."""
    return spec is not None and str(spec) == SHIPPED_NAME and not Path(str(spec)).exists()


def _need(path: Path, index_file: str, what: str) -> Path:
    if not (path / index_file).is_file():
        raise FileNotFoundError(
            f"the shipped {what} weights are absent: {str(path / index_file)!r} does not exist "
            "(reinstall streamt2v: its wheel and sdist hold them; in a checkout, `make train-microworld` "
            "trains them again)"
        )
    return path


def microworld_model_dir() -> Path:
    """Folder of the shipped microworld StreamingT2V model (stages 1–2); FileNotFoundError if absent."""
    return _need(ASSETS_DIR / MODEL_DIR_NAME, "model_index.json", "microworld model")


def microworld_refiner_dir() -> Path:
    """Folder of the shipped microworld refiner (stage 3); FileNotFoundError if absent."""
    return _need(ASSETS_DIR / REFINER_DIR_NAME, "model_index.json", "microworld refiner")


def microworld_clip_dir() -> Path:
    """Folder of the shipped micro-CLIP (``CLIPModel`` + tokenizer); FileNotFoundError if absent."""
    return _need(ASSETS_DIR / CLIP_DIR_NAME, "config.json", "micro-CLIP")
