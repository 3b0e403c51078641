"""Reading ``streamt2v evaluate``'s prompts files (``--prompts``): one prompt per video, in the order the
videos are scored or keyed by video (:func:`read_prompts`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from streamt2v.io.folders import read_text_file

logger = logging.getLogger(__name__)


def read_prompts(path: str | os.PathLike, videos: Sequence[Path] | None = None) -> list[str]:
    """Prompts from a text file (one per line, in video order; blank lines ignored) or a JSON file
    (a list in video order, or an object mapping a video's path, file name or stem to its prompt; a key
    that two videos would share, such as ``out.mp4`` of ``runA/`` and ``runB/``, is refused)."""
    path = Path(path)
    if not path.exists():  # a pipe (``--prompts <(...)``) is not a regular file, and is welcome
        raise FileNotFoundError(f"prompts file not found: {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"prompts file {str(path)!r} is a folder")
    text = read_text_file(path, "prompts file")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"prompts file {str(path)!r} is not valid JSON ({err})") from None
        if isinstance(data, list):
            return [_json_prompt(p, f"entry {i}", path) for i, p in enumerate(data)]
        if isinstance(data, dict):
            if videos is None:
                raise ValueError("a JSON object of prompts needs the list of videos to match names")
            keys = [_prompt_key(data, Path(v)) for v in videos]
            # a key no video took is most likely a typo (`bb.mp4`, `runa/out.mp4`), or names a video that
            # is not scored here: said, naming a few, rather than dropped unseen
            taken = set(keys)
            unused = [k for k in data if k not in taken]
            unmatched = (
                f"{len(unused)} of its {len(data)} key{'s' * (len(data) != 1)} "
                f"match{'es' * (len(unused) == 1)} no video scored here ({_quoted(unused)})"
            )
            missing = [str(v) for v, k in zip(videos, keys) if k is None]
            if missing:
                raise ValueError(
                    f"prompts file {str(path)!r}: no prompt for {len(missing)} of the {len(videos)} video(s) "
                    f"({_quoted(missing)}); a video is keyed by its path, file name or name without the "
                    "extension" + (f"; {unmatched}: a typo?" if unused else "")
                )
            for key in dict.fromkeys(keys):  # `evaluate runA runB`: both out.mp4 must not share one silently
                same = [str(v) for v, k in zip(videos, keys) if k == key]
                if len(same) > 1:
                    example = same[0] if "/" in same[0] else f"./{same[0]}"  # a key without / is a name
                    raise ValueError(
                        f"prompts file {str(path)!r}: the key {key!r} matches {len(same)} videos "
                        f"({_quoted(same)}); key each by its path, with a / (relative to the working folder, "
                        f"or as given on the command line), e.g. {example!r}"
                    )
            prompts = [_json_prompt(data[k], f"the entry {k!r}", path) for k in keys]
            if unused:  # after the refusals: an error is the one thing said then
                logger.warning(
                    "prompts file %r: %s, not used: a typo? A video is keyed by its path, file name or name "
                    "without the extension",
                    str(path),
                    unmatched,
                )
            return prompts
        raise ValueError(f"{str(path)!r} must hold a JSON list or object of prompts")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _prompt_key(data: dict, video: Path) -> str | None:
    """The key of ``video`` in a JSON object of prompts: a path (one with a ``/``, relative to the working
    folder or absolute), else its file name, else its name without the extension; None if none is there."""
    here = os.path.abspath(video)
    for key in data:
        if ("/" in key or os.sep in key) and os.path.abspath(os.path.expanduser(key)) == here:
            return key
    return next((key for key in (video.name, video.stem) if key in data), None)


def _quoted(items: Sequence[str], at_most: int = 3) -> str:
    """The first ``at_most`` of ``items``, quoted, and ``...`` for the rest."""
    return ", ".join(map(repr, items[:at_most])) + (", ..." if len(items) > at_most else "")


def _json_prompt(value: object, where: str, path: Path) -> str:
    """A prompt from a JSON prompts file: a string (a number or ``null`` would be scored as the text "1" or
    "None")."""
    if not isinstance(value, str):
        raise ValueError(
            f"prompts file {str(path)!r}: {where} is {json.dumps(value)}, not a string; prompts are JSON strings"
        )
    if not value.strip():  # found before any video is read, not as that video's failure after its MAWE
        raise ValueError(f"prompts file {str(path)!r}: {where} is an empty prompt; give the video's prompt")
    return value
