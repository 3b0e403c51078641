"""Reading a training folder's captions file: ``{file: caption}`` and where each file is named.

CSV (``,``, ``;`` or tab separated; ``.tsv``) with a header ``file,caption``, JSONL with one
``{"file": ..., "caption": ...}`` per line, or one JSON document; UTF-8 (a byte-order mark allowed) or UTF-16
with its byte-order mark (a spreadsheet's "Unicode text"). Errors name the file and the line (or the JSON
entry). :class:`~streamt2v.train.data.VideoFolderDataset` matches the names to a folder of videos.
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from pathlib import Path
from typing import Any

from streamt2v.arguments import Arg, ArgumentFileNotFoundError, ArgumentIsADirectoryError
from streamt2v.io.folders import home_path, named_path, read_text_file
from streamt2v.io.video import READ_VIDEO_SUFFIXES
from streamt2v.wording import counted, first_few


def file_key(name: str) -> str:
    """How a video's relative path is matched between the folder and the captions file: ``/``-separated
    (``sub\\a.mp4`` from Windows is ``sub/a.mp4``), without ``./``, in Unicode NFC (macOS writes file
    names decomposed, editors compose them: ``ü`` would otherwise not match ``ü``)."""
    return unicodedata.normalize("NFC", Path(name.strip().replace("\\", "/")).as_posix())


CAPTION_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
#: the formats a captions file may be in, in words
CAPTION_FORMATS = "CSV, TSV, JSONL or JSON"


def read_captions(path: str | Path) -> dict[str, str]:
    """``{file: caption}`` from a captions file: CSV with a header ``file,caption`` (any case, other columns
    ignored; ``;`` or tab separated as spreadsheets in some locales export it, and ``.tsv``), JSONL with one
    ``{"file": ..., "caption": ...}`` per line, or one JSON document (a list of such objects or a
    ``{file: caption}`` object). File names are normalised by :func:`file_key`; a missing, empty or non-text
    caption, a file listed twice, a CSV row with more cells than the header (a caption with unquoted
    commas, which would be cut at the first) and a caption that runs on over rows of their own or to the
    end of the file (a double quote never closed) are errors naming the line, as is a file that lists no
    videos. A UTF-8 byte-order mark, UTF-16 text with its byte-order mark (a spreadsheet's "Unicode text")
    and rows with every cell empty (spreadsheet exports) are read."""
    return caption_rows(path)[0]


def caption_rows(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """:func:`read_captions` and where each file is named (``line 3``, or ``entry 2`` of a JSON document).
    A leading ``~`` of ``path`` is the home folder; its refusals name it as typed (``--captions '~/c.csv'
    ('/home/me/c.csv')``)."""
    from streamt2v.train.frozen import as_given

    p, named = home_path(path), named_path(path)
    if p.is_dir():
        raise ArgumentIsADirectoryError(
            as_given(path, Arg("captions")), f" is a folder; give the captions file ({CAPTION_FORMATS})"
        )
    if not p.is_file():
        raise ArgumentFileNotFoundError(as_given(path, Arg("captions")), " does not exist")
    suffix = p.suffix.lower()
    if suffix not in CAPTION_SUFFIXES:
        raise ValueError(
            f"captions file {named} must be {', '.join(CAPTION_SUFFIXES[:-1])} or {CAPTION_SUFFIXES[-1]}"
        )
    with open(p, "rb") as f:
        utf16 = f.read(2) in (b"\xff\xfe", b"\xfe\xff")  # a spreadsheet's "Unicode text" export
    if utf16:
        try:
            text = p.read_bytes().decode("utf-16").lstrip("\ufeff")
        except UnicodeDecodeError as err:
            raise ValueError(f"captions file {named} is not UTF-16 text ({err.reason})") from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    else:
        text = read_text_file(path, "captions file")
    if not text.strip():
        raise ValueError(f"captions file {named} is empty")
    if suffix in (".jsonl", ".json"):
        rows = _json_caption_rows(named, text)
    else:
        rows = _csv_caption_rows(named, text, "\t" if suffix == ".tsv" else None)
    out: dict[str, str] = {}
    lines: dict[str, str] = {}
    for n, file, caption in rows:
        # a line number (CSV, JSONL), else "entry N" of a JSON document
        first = f"line {n}" if isinstance(n, int) else str(n)
        at = f"{named}, {first}"
        if not isinstance(file, str) or not file.strip():
            raise ValueError(f"{at}: the file name must be a non-empty string, got {file!r}")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"{at}: the caption of {file!r} must be a non-empty string, got {caption!r}")
        key = file_key(file)
        if key in out:
            raise ValueError(f"{at}: {key!r} is listed twice (first at {lines[key]})")
        out[key], lines[key] = caption, first
    if not out:
        header = " (only a header)" if suffix in (".csv", ".tsv") else ""
        raise ValueError(f"captions file {named} lists no videos{header}")
    return out, lines


def named_at(names: list[str], lines: dict[str, str]) -> str:
    """``'a.mp4', 'b.mp4' (line 3, line 7)``: the first five of ``names``, ``...`` where there are more, and
    where the captions file names them."""
    where = [lines[f] for f in names[:5] if f in lines]
    return first_few([repr(f) for f in names], 5) + (f" ({', '.join(where)})" if where else "")


def check_every_video_captioned(
    folder: str | Path,
    videos: dict[str, Path],
    caps: dict[str, str],
    lines: dict[str, str],
    captions: str | Path,
) -> None:
    """Every video found in ``folder`` (``videos``: file key -> path) must have a caption in ``caps`` and
    every captioned name a file there; the error names the first five of either, with the likely cause (a
    misspelt name is in both lists, a name given from the working folder, a letter's case, a broken link).
    ``folder`` and ``captions`` as typed (a leading ``~`` expanded here), named so, then as read."""
    root = home_path(folder)
    named_folder, named_captions = (
        f"video folder {named_path(folder)}",
        f"captions file {named_path(captions)}",
    )
    missing = sorted(v for v in videos if v not in caps)
    absent = [f for f in caps if f not in videos and not (root / f).is_file()]
    if missing:
        # a misspelt name shows up in both lists: name both, so the two spellings can be compared
        also = (
            f"; it names {counted(len(absent), 'file', one='a')} not in the {named_folder}: "
            f"{named_at(absent, lines)}"
            if absent
            else ""
        )
        for a in absent:  # videos/a.mp4 for --data videos: a name from the working folder
            parts = a.split("/")
            tail = next(
                ("/".join(parts[k:]) for k in range(1, len(parts)) if "/".join(parts[k:]) in videos), None
            )
            if tail is not None:
                also += (
                    f" (names in the captions file are relative to the video folder: {a!r} is {tail!r} there)"
                )
                break
        spelt = {a.lower(): a for a in absent}
        cased = [(m, spelt[m.lower()]) for m in missing if m.lower() in spelt]
        if cased:
            also += (
                f" (file names are case-sensitive: {cased[0][0]!r} in the folder, "
                f"{cased[0][1]!r} in the captions)"
            )
        raise ValueError(
            f"no caption for {counted(len(missing), 'video', one='a')} in the {named_captions}: "
            f"{first_few([repr(m) for m in missing], 5)}{also}" + _broken_link(root, absent)
        )
    if absent and not videos:  # said first: the captions' names are not what is wrong
        raise FileNotFoundError(
            f"the {named_folder} holds no videos; the "
            f"{named_captions} names {counted(len(absent), 'file', one='a')} not in it: {named_at(absent, lines)}"
        )
    if absent:
        raise FileNotFoundError(
            f"the {named_captions} names {counted(len(absent), 'file', one='a')} not in the {named_folder}: "
            f"{named_at(absent, lines)}" + _broken_link(root, absent)
        )


def _broken_link(folder: Path, absent: list[str]) -> str:
    """``; 'a.mp4' is a link to X, which does not exist`` for the first of the ``absent`` names (or of their
    folders inside ``folder``) that is a link to nothing: ``ls`` lists it, so "not in the folder" alone
    puzzled (a dataset moved or unmounted); ``""`` when none is."""
    for name in absent:
        parts = Path(name).parts
        for k in range(1, len(parts) + 1):
            link = folder.joinpath(*parts[:k])
            if link.is_symlink() and not link.exists():
                return (
                    f"; {Path(*parts[:k]).as_posix()!r} is a link to {os.readlink(link)}, which does not "
                    "exist"
                )
            if not link.exists():
                break
    return ""


def _json_caption_rows(named: str, text: str) -> list[tuple[Any, Any, Any]]:
    """``(where, file, caption)`` of a JSONL file, or of one JSON document: a list of objects (``where``:
    ``entry N``) or a ``{file: caption}`` object (``where``: the file name)."""
    broken: json.JSONDecodeError | None = None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as err:
        whole, broken = None, err  # JSONL, or a broken document (named below)
    if isinstance(whole, list):
        rows = []
        for n, row in enumerate(whole, 1):
            if not isinstance(row, dict) or "file" not in row or "caption" not in row:
                raise ValueError(f'{named}, entry {n}: expected {{"file": ..., "caption": ...}}, got {row!r}')
            rows.append((f"entry {n}", row["file"], row["caption"]))
        return rows
    # {file: caption}, not a one-line JSONL file (whose object names "file" or "caption")
    if isinstance(whole, dict) and not {"file", "caption"} & set(whole):
        return [(f"entry {file!r}", file, caption) for file, caption in whole.items()]
    lines = text.split("\n")  # at \n alone: str.splitlines also cuts at U+2028, U+0085, \f, ...
    # a document over several lines ("[" or "{" alone on its first) whose JSON breaks: where it breaks (its
    # first line alone is no JSONL row, and was named as one)
    first = next(line.strip() for line in lines if line.strip())
    if broken is not None and (first.startswith("[") or first == "{"):
        raise ValueError(
            f"{named}, line {broken.lineno}: not valid JSON ({broken.msg}, column {broken.colno}): "
            f"{lines[broken.lineno - 1]!r}"
        )
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            cells = {cell.strip().lower() for cell in line.replace(";", ",").replace("\t", ",").split(",")}
            csv_header = not rows and {"file", "caption"} <= cells  # a CSV file named .json(l)
            raise ValueError(
                f"{named}, line {n}: not valid JSON ({err.msg}, column {err.colno}): {line!r}"
                + (": this is a CSV header; name the file .csv" if csv_header else "")
            ) from err
        try:
            rows.append((n, row["file"], row["caption"]))
        except (KeyError, TypeError) as err:
            raise ValueError(
                f'{named}, line {n}: expected {{"file": ..., "caption": ...}}, got {line!r}'
            ) from err
    return rows


def _csv_caption_rows(named: str, text: str, delimiter: str | None) -> list[tuple[Any, Any, Any]]:
    """``(line, file, caption)`` of a CSV file (``line``: where the row starts); the delimiter is ``,``
    unless the header line has none and has ``;`` or a tab (spreadsheets where ``,`` is the decimal mark
    export ``;``)."""
    header_line = text.lstrip("\n").split("\n", 1)[0]
    if delimiter is None:
        delimiter = ","
        if "," not in header_line:
            delimiter = next((d for d in (";", "\t") if d in header_line), ",")
    # lines end at \n alone (the text's CR and CRLF are LF already): not at U+2028, U+0085, \f, ...
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter)
    names: list[str] | None = None
    rows = []
    start = 1  # the line the next record starts at
    for cells in reader:
        n, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of bare commas
        if names is None:  # "File", " caption" (spreadsheets) read as file, caption
            names = [cell.strip().lower() for cell in cells]
            if not {"file", "caption"} <= set(names):
                looks_like_a_row = any(
                    Path(cell.strip()).suffix.lower() in READ_VIDEO_SUFFIXES for cell in cells
                )
                raise ValueError(
                    f"{named}, line {n}: the CSV header must have columns 'file' and 'caption', got {cells}"
                    + (
                        f": this is a row; put the header line {delimiter.join(['file', 'caption'])} above it"
                        if looks_like_a_row
                        else ""
                    )
                    + (
                        ": this is JSON; name the file .jsonl or .json"
                        if cells[0].lstrip().startswith(("{", "["))
                        else ""
                    )
                )
            twice = sorted({name for name in names if name in ("file", "caption") and names.count(name) > 1})
            if twice:
                raise ValueError(
                    f"{named}, line {n}: the CSV header names the column {twice[0]!r} twice: {cells}"
                )
            continue
        extra = [v for v in cells[len(names) :] if v.strip()]  # cells past the header's columns
        if extra:
            raise ValueError(
                f"{named}, line {n}: {len(names) + len(extra)} cells for the header's "
                f"{len(names)} ({delimiter.join(names)}): put a caption that "
                f"holds {'tabs' if delimiter == chr(9) else repr(delimiter)} in double quotes"
            )
        row = dict(zip(names, cells))
        file, caption = row.get("file"), row.get("caption")
        if isinstance(caption, str) and "\n" in caption:  # a multi-line caption, or a quote never closed
            for k, line in enumerate(caption.split("\n")[1:], 1):
                first = line.split(delimiter, 1)
                if len(first) == 2 and Path(first[0].strip()).suffix.lower() in READ_VIDEO_SUFFIXES:
                    raise ValueError(
                        f"{named}, line {n}: the caption of {file!r} runs on into line {n + k} ({line!r}), a row "
                        "of its own: close the double quote it opens (a quote inside a quoted caption "
                        'is written "")'
                    )
        rows.append((n, file, caption))
    if _ends_in_open_quote(text, delimiter):  # the last row: no later line shows where it should have ended
        last_is_caption = (
            bool(rows) and rows[-1][0] == n and names is not None and len(cells) == names.index("caption") + 1
        )
        what = f"the caption of {rows[-1][1]!r}" if last_is_caption else "a cell of this row"
        raise ValueError(
            f"{named}, line {n}: {what} runs on to the end of the file: close the double quote it opens (a quote "
            'inside a quoted caption is written "")'
        )
    if names is None:
        raise ValueError(f"{named}: no header line (the CSV header must have columns 'file' and 'caption')")
    return rows


def _ends_in_open_quote(text: str, delimiter: str) -> bool:
    """Whether CSV ``text`` ends inside a double-quoted cell (a quote never closed in its last row), which
    the csv module reads to the end of the text without a word."""
    end = "\ue000"  # a private-use character: a record of its own, unless a quote is still open before it
    records = list(csv.reader(io.StringIO(f"{text}\n{end}", newline="\n"), delimiter=delimiter))
    return records[-1] != [end]
