"""Reading ``streamt2v evaluate``'s prompts files (``--prompts``): one prompt per video, in the order the
videos are scored or keyed by video (:func:`read_prompts`).

- ``.json``: a list (prompts in order, or ``{"file": ..., "prompt": ...}`` objects) or ``{video: prompt}``;
- ``.jsonl`` (``.ndjson``): one JSON value per line, a prompt (in order) or a ``{"file": ..., "prompt": ...}`` object;
- ``.csv`` / ``.tsv``: a header naming a ``prompt`` column, and a ``file`` column to key the prompts by video
  (in order without one); ``,``, ``;`` or tab separated;
- anything else (``.txt``, a pipe): one prompt per line, in order.

``caption`` is taken for ``prompt`` (``train --captions`` files), ``path`` or ``video`` for ``file``. Before
JSONL and CSV were read as such, each of their lines was taken whole as a prompt (a CLIP score of the text
``{"file": ...}``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Collection, Sequence
from pathlib import Path

from streamt2v.io.folders import home_path, read_text_file
from streamt2v.wording import counted, first_few

logger = logging.getLogger(__name__)

#: the names of a row's video and prompt (a JSONL object's keys, a CSV header's columns), the first found taken
FILE_FIELDS = ("file", "path", "video")
PROMPT_FIELDS = ("prompt", "caption")

# (where, file or None, prompt): one entry of a prompts file; where as an error names it ("line 3", "entry 2")
Row = tuple[str, object, object]


def read_prompts(
    path: str | os.PathLike, videos: Sequence[Path] | None = None, skipped: Collection[int] = ()
) -> list[str | None]:
    """The prompt of each of ``videos`` from the prompts file ``path`` (see the module docstring for the
    formats): in the file's order, or matched by each entry's key: a video's path (one with a ``/``,
    relative to the working folder or absolute), file name or name without the extension, compared in
    Unicode NFC. A key that two videos would share, such as ``out.mp4`` of ``runA/`` and ``runB/``, a video
    no key matches and a file named twice are refused; keys matching no video are a warning. ``skipped``: the
    places in ``videos`` of those that will not be scored (``evaluate``'s unscorable run folders): each keeps
    its line of a file in order, and needs no key (its prompt None where it has none); only its exact path
    is its key, so that ``a`` (``vids/a.mp4``'s) is not shared with a skipped run ``runs/a``."""
    path = home_path(path)
    if not path.exists():  # a pipe (``--prompts <(...)``) is not a regular file, and is welcome
        raise FileNotFoundError(f"prompts file not found: {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"prompts file {str(path)!r} is a folder")
    text = read_text_file(path, "prompts file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            lines = (
                "; one JSON value per line is JSON Lines: name the file .jsonl"
                if err.msg == "Extra data"
                else ""
            )
            raise ValueError(f"prompts file {str(path)!r} is not valid JSON ({err}){lines}") from None
        if isinstance(data, list):
            return _from_rows(
                path, [_row(path, f"entry {i}", e) for i, e in enumerate(data)], videos, skipped
            )
        if isinstance(data, dict):
            return _keyed(path, {k: (v, f"the entry {k!r}") for k, v in data.items()}, videos, skipped)
        raise ValueError(f"{str(path)!r} must hold a JSON list or object of prompts")
    if suffix in (".jsonl", ".ndjson"):
        return _from_rows(path, _jsonl_rows(path, text), videos, skipped)
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, text, "\t" if suffix == ".tsv" else None)
        return _from_rows(path, rows, videos, skipped)
    return _in_order(path, [line.strip() for line in text.splitlines() if line.strip()], videos)


def _in_order(path: Path, prompts: list[str], videos: Sequence[Path] | None) -> list[str]:
    """``prompts``, given in the order the videos are scored; a warning where a folder's videos, scored in the
    text order of their names, are numbered in another (``clip_10.mp4`` before ``clip_2.mp4``): a list of
    prompts written in the numbers' order would give most videos another video's prompt, unsaid."""
    for a, b in zip(videos or [], list(videos or [])[1:]):
        if Path(a).parent == Path(b).parent and _number_key(b) < _number_key(a):
            logger.warning(
                "prompts file %r: its prompts are taken in the order the videos are scored (a folder's by the "
                "text of their names): %r before %r; if the prompts follow the numbers, key them by video file "
                "(JSON, JSONL or CSV)",
                str(path),
                Path(a).name,
                Path(b).name,
            )
            break
    return prompts


def _number_key(video: Path) -> tuple[list, str]:
    """A file name's order by the numbers in it (``clip_2`` before ``clip_10``): text and numbers alternate,
    in the name without its extension, then the extension (``clip.mp4`` before ``clip2.mp4``, as in text)."""
    video = Path(video)
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", video.stem)], video.suffix


def _row(path: Path, where: str, value: object) -> Row:
    """A JSON entry as a row: an object's file and prompt fields, anything else a prompt given in order."""
    if not isinstance(value, dict):
        return where, None, value  # a prompt, checked to be a string by _json_prompt
    prompt = next((f for f in PROMPT_FIELDS if f in value), None)
    if prompt is None:
        raise ValueError(
            f"prompts file {str(path)!r}: {where} has no {' or '.join(map(repr, PROMPT_FIELDS))} field: "
            f"{json.dumps(value, ensure_ascii=False)[:200]}"
        )
    file = next((f for f in FILE_FIELDS if f in value), None)
    return where, None if file is None else value[file], value[prompt]


def _jsonl_rows(path: Path, text: str) -> list[Row]:
    rows = []
    for n, line in enumerate(text.split("\n"), 1):  # at \n alone: splitlines also cuts at U+2028, \f, ...
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"prompts file {str(path)!r}: line {n} is not valid JSON ({err.msg}, column {err.colno}): "
                f"{line[:200]!r}; JSON Lines hold one JSON value per line (a JSON document is a .json file)"
            ) from None
        rows.append(_row(path, f"line {n}", value))
    return rows


def _csv_rows(path: Path, text: str, delimiter: str | None) -> list[Row]:
    """The rows under a header naming a prompt column (and maybe a file column); the delimiter is ``,``
    unless the header has none and has ``;`` or a tab (spreadsheets where ``,`` is the decimal mark)."""
    if delimiter is None:
        first = next((line for line in text.split("\n") if line.strip()), "")
        delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[Row] = []
    for cells in reader:
        if not any(c.strip() for c in cells):  # blank lines, spreadsheets' empty rows
            continue
        where = f"line {reader.line_num}"
        if header is None:
            header = [c.strip().lower() for c in cells]
            prompt_col = next((header.index(f) for f in PROMPT_FIELDS if f in header), None)
            file_col = next((header.index(f) for f in FILE_FIELDS if f in header), None)
            if prompt_col is None:
                raise ValueError(
                    f"prompts file {str(path)!r}: its first line must be a header naming a 'prompt' (or "
                    f"'caption') column, and a 'file' column to key the prompts by video; got {cells!r} (a file "
                    "of one prompt per line, without a header, is read as text: name it .txt)"
                )
            continue
        if len(cells) > len(header):  # a prompt's unquoted comma: the prompt would be cut at it
            raise ValueError(
                f"prompts file {str(path)!r}: {where} has {len(cells)} cells, its header {len(header)}: put a "
                f"prompt holding a {delimiter!r} in double quotes"
            )
        cells += [""] * (len(header) - len(cells))
        if "\n" in cells[prompt_col]:  # a double quote never closed takes in the lines after it
            raise ValueError(
                f"prompts file {str(path)!r}: the prompt ending at {where} runs over several lines: a double "
                "quote not closed?"
            )
        rows.append((where, None if file_col is None else cells[file_col], cells[prompt_col]))
    return rows


def _from_rows(
    path: Path, rows: list[Row], videos: Sequence[Path] | None, skipped: Collection[int] = ()
) -> list[str | None]:
    """The prompts of ``rows``: in order when none names a file, else matched to ``videos`` by file."""
    if all(file is None for _, file, _ in rows):
        return _in_order(path, [_json_prompt(value, where, path) for where, _, value in rows], videos)
    unnamed = next((where for where, file, _ in rows if file is None), None)
    if unnamed is not None:
        raise ValueError(
            f"prompts file {str(path)!r}: {unnamed} names no video, others do; give each entry its video's "
            "file, or none to take the prompts in the order the videos are scored"
        )
    entries: dict[str, tuple[object, str]] = {}
    seen: dict[str, str] = {}
    for where, file, value in rows:
        if not isinstance(file, str) or not file.strip():
            raise ValueError(
                f"prompts file {str(path)!r}: {where}: the video's file must be a non-empty string, got "
                f"{json.dumps(file)}"
            )
        key = file.strip()
        if _nfc(key) in seen:  # which of the two prompts was meant cannot be told
            raise ValueError(
                f"prompts file {str(path)!r}: {where} names {key!r} again (first at {seen[_nfc(key)]})"
            )
        seen[_nfc(key)] = where
        entries[key] = (value, where)
    return _keyed(path, entries, videos, skipped)


def _keyed(
    path: Path,
    entries: dict[str, tuple[object, str]],
    videos: Sequence[Path] | None,
    skipped: Collection[int] = (),
) -> list[str | None]:
    """The prompt of each video from ``entries`` (key -> (prompt, where the file gives it))."""
    if videos is None:
        raise ValueError("prompts keyed by video need the list of videos to match names")
    find = _key_finder(entries)
    keys = [find(Path(v), exact=i in skipped) for i, v in enumerate(videos)]
    # a key no video took is most likely a typo (`bb.mp4`, `runa/out.mp4`), or names a video that is not
    # scored here: said, naming a few, rather than dropped unseen
    taken = set(keys)
    unused = [k for k in entries if k not in taken]
    unmatched = (
        f"{len(unused)} of its {len(entries)} key{'s' * (len(entries) != 1)} "
        f"match{'es' * (len(unused) == 1)} no video scored here ({_quoted(unused)})"
    )
    missing = [str(v) for i, (v, k) in enumerate(zip(videos, keys)) if k is None and i not in skipped]
    if missing:
        raise ValueError(
            f"prompts file {str(path)!r}: no prompt for {len(missing)} of {counted(len(videos), 'video')} "
            f"({_quoted(missing)}); a video is keyed by its path, file name or name without the "
            "extension" + (f"; {unmatched}: a typo?" if unused else "")
        )
    for key in dict.fromkeys(k for k in keys if k is not None):  # `evaluate runA runB`: both out.mp4 must
        same = [str(v) for v, k in zip(videos, keys) if k == key]  # not share one silently
        if len(same) > 1:
            example = same[0] if "/" in same[0] else f"./{same[0]}"  # a key without / is a name
            raise ValueError(
                f"prompts file {str(path)!r}: the key {key!r} matches {len(same)} videos "
                f"({_quoted(same)}); key each by its path, with a / (relative to the working folder, "
                f"or as given on the command line), e.g. {example!r}"
            )
    prompts = [None if k is None else _json_prompt(*entries[k], path) for k in keys]
    if unused:  # after the refusals: an error is the one thing said then
        logger.warning(
            "prompts file %r: %s, not used: a typo? A video is keyed by its path, file name or name "
            "without the extension",
            str(path),
            unmatched,
        )
    return prompts


def _nfc(text: str) -> str:
    """``text`` in Unicode NFC: macOS writes file names decomposed (``u`` + a combining diaeresis), editors
    compose them (``ü``); the two looked alike in the error that refused them as different."""
    return unicodedata.normalize("NFC", text)


def _key_finder(keys: Sequence[str]):
    """``(video, exact) -> its key``: a path key (one with a ``/``, relative to the working folder or
    absolute; the only one taken where ``exact``), else a relative path key that ends its path (``sub/a.mp4``
    of a ``train --captions`` file, relative to the video folder), else its file name, else its name without
    the extension; None if none is there. The first key wins where two are the same in NFC."""
    paths: dict[str, str] = {}
    tails: dict[str, str] = {}
    names: dict[str, str] = {}
    for key in keys:
        if "/" in key or os.sep in key:
            paths.setdefault(_nfc(os.path.abspath(os.path.expanduser(key))), key)
            if not os.path.isabs(os.path.expanduser(key)):
                tails.setdefault(_nfc(Path(os.path.normpath(key)).as_posix()), key)
        names.setdefault(_nfc(key), key)

    def find(video: Path, exact: bool = False) -> str | None:
        here = paths.get(_nfc(os.path.abspath(video)))
        if exact:
            return here
        parts = Path(os.path.abspath(video)).parts
        ends = ("/".join(parts[k:]) for k in range(1, len(parts) - 1))  # the longest first, 2 parts at least
        tail = next((tails[t] for t in map(_nfc, ends) if t in tails), None)
        return (
            here or tail or next((names[n] for n in (_nfc(video.name), _nfc(video.stem)) if n in names), None)
        )

    return find


def _quoted(items: Sequence[str]) -> str:
    """The first few of ``items``, quoted, and ``...`` for the rest."""
    return first_few([repr(item) for item in items])


def _json_prompt(value: object, where: str, path: Path) -> str:
    """A prompt from a prompts file: a string (a JSON number or ``null`` would be scored as the text "1" or
    "None")."""
    if not isinstance(value, str):
        raise ValueError(
            f"prompts file {str(path)!r}: {where} is {json.dumps(value)}, not a string; prompts are JSON strings"
        )
    if not value.strip():  # found before any video is read, not as that video's failure after its MAWE
        raise ValueError(f"prompts file {str(path)!r}: {where} is an empty prompt; give the video's prompt")
    return value
