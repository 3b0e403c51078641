"""Loading a component folder with diffusers' or transformers' ``from_pretrained``, refusing a weight file that
lacks some of the model's weights.

Both libraries load such a folder with only a log line ("newly initialized", a "LOAD REPORT"), which a
command line run or a notebook passes over: transformers starts the missing weights at random, diffusers
leaves them without data (on the meta device). A folder saved under other key names (transformers 5.0-5.5
read the shipped text encoders so), or a weight file edited or cut at a key boundary, then gave a video that
ignores its prompt with exit status 0, or failed much later ("Cannot copy out of meta tensor").
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from streamt2v.wording import first_and_more

M = TypeVar("M")

# How many of the missing weights an error names (a version mismatch misses them all: hundreds).
_NAMED = 3
# What each library does with the weights a file lacks.
_FILLS = {"transformers": "start them at random", "diffusers": "leave them without data"}


def from_pretrained_strict(cls: type[M], folder: str | os.PathLike[str], what: str, **kwargs: Any) -> M:
    """``cls.from_pretrained(folder, **kwargs)``; a ``ValueError`` naming ``what`` (e.g. ``"model folder's
    text_encoder/"``), the library and its version when the folder's weights do not cover the model."""
    model, info = cls.from_pretrained(folder, output_loading_info=True, **kwargs)  # type: ignore[attr-defined]
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        total = len(model.state_dict())
        named = first_and_more(missing, _NAMED)
        # the library whose from_pretrained loaded it (StreamingUNet is a diffusers model of ours)
        library = next(
            (k.__module__.split(".")[0] for k in cls.__mro__ if k.__module__.split(".")[0] in _FILLS),
            cls.__module__.split(".")[0],
        )
        raise ValueError(
            f"{what} {str(folder)!r} has no weights for {len(missing)} of {cls.__name__}'s {total} tensors "
            f"({named}): {library} would {_FILLS.get(library, 'load it without them')}. Was it saved by "
            f"another version of {library} (this is {_version(library)}) or is its weight file incomplete? "
            "Save it again with this version, or copy it again"
        )
    return model


def _version(library: str) -> str:
    try:
        return f"{library} {version(library)}"
    except PackageNotFoundError:
        return library
