"""Loading a component folder with diffusers' or transformers' ``from_pretrained``, refusing a weight file that
lacks some of the model's weights.

Both libraries start such weights at random with only a log line ("newly initialized", a "LOAD REPORT"),
which a command line run or a notebook passes over: a folder saved under other key names (transformers
5.0-5.5 read the shipped text encoders so), or a weight file edited or cut at a key boundary, then gives a
video that ignores its prompt, with exit status 0.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

M = TypeVar("M")

# How many of the missing weights an error names (a version mismatch misses them all: hundreds).
_NAMED = 3


def from_pretrained_strict(cls: type[M], folder: str | os.PathLike[str], what: str, **kwargs: Any) -> M:
    """``cls.from_pretrained(folder, **kwargs)``; a ``ValueError`` naming ``what`` (e.g. ``"model folder's
    text_encoder/"``), the library and its version when the folder's weights do not cover the model."""
    model, info = cls.from_pretrained(folder, output_loading_info=True, **kwargs)  # type: ignore[attr-defined]
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        total = len(model.state_dict())
        named = ", ".join(missing[:_NAMED]) + (
            f" and {len(missing) - _NAMED} more" if len(missing) > _NAMED else ""
        )
        library = cls.__module__.split(".")[0]
        raise ValueError(
            f"{what} {str(folder)!r} has no weights for {len(missing)} of {cls.__name__}'s {total} tensors "
            f"({named}): {library} would start them at random. Was it saved by another version of {library} "
            f"(this is {_version(library)}) or is its weight file incomplete? Save it again with this version, "
            "or copy it again"
        )
    return model


def _version(library: str) -> str:
    try:
        return f"{library} {version(library)}"
    except PackageNotFoundError:
        return library
