"""Real-data training set: a folder of videos plus a captions file, for every recipe.

The captions file is CSV with a header ``file,caption`` or JSONL with ``{"file": ..., "caption": ...}``
per line; ``file`` is relative to the folder. Videos are decoded with PyAV, centre-cropped to a square,
resized (antialiased) to the training size and cut to a clip of ``T`` frames at a random start;
output ``(3, T, H, W)`` float in ``[-1, 1]``, the same samples as :class:`MicroworldDataset` (with
the APM anchor drawn from the first ``anchor_frames`` frames of the source video, paper §4.2).

Sample ``i`` is a pure function of ``(seed, i)`` (file by a per-epoch permutation, start frame by
a seeded generator), so training on real data resumes exactly as on the microworld.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from streamt2v.io.folders import read_text_file
from streamt2v.io.video import READ_VIDEO_SUFFIXES, decode_frames
from streamt2v.microworld.dataset import ClipSpec


def file_key(name: str) -> str:
    """How a video's relative path is matched between the folder and the captions file: ``/``-separated
    (``sub\\a.mp4`` from Windows is ``sub/a.mp4``), without ``./``, in Unicode NFC (macOS writes file
    names decomposed, editors compose them: ``ü`` would otherwise not match ``ü``)."""
    return unicodedata.normalize("NFC", Path(name.strip().replace("\\", "/")).as_posix())


def read_captions(path: str | Path) -> dict[str, str]:
    """``{file: caption}`` from a CSV (header ``file,caption``, any case) or JSONL captions file. File names
    are normalised by :func:`file_key`; a missing, empty or non-text caption and a file listed twice are
    errors naming the line. A UTF-8 byte-order mark and rows with every cell empty (spreadsheet exports)
    are skipped."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"captions file {p} does not exist")
    rows: list[tuple[int, Any, Any]] = []  # (line, file, caption)
    if p.suffix.lower() not in (".jsonl", ".json", ".csv"):
        raise ValueError(f"captions file {p} must be .csv or .jsonl")
    text = read_text_file(p, "captions file")
    if p.suffix.lower() in (".jsonl", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append((n, row["file"], row["caption"]))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f'{p}:{n}: expected {{"file": ..., "caption": ...}}, got {line!r}') from err
    else:
        reader = csv.DictReader(text.splitlines(keepends=True))
        if reader.fieldnames is not None:  # "File", " caption" (spreadsheets) read as file, caption
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
        if reader.fieldnames is None or not {"file", "caption"} <= set(reader.fieldnames):
            raise ValueError(
                f"{p}: the CSV header must have columns 'file' and 'caption', got {reader.fieldnames}"
            )
        rows = [
            (reader.line_num, row["file"], row["caption"])
            for row in reader
            if any(isinstance(v, str) and v.strip() for v in row.values())  # not a row of bare commas
        ]
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    for n, file, caption in rows:
        if not isinstance(file, str) or not file.strip():
            raise ValueError(f"{p}:{n}: the file name must be a non-empty string, got {file!r}")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"{p}:{n}: the caption of {file!r} must be a non-empty string, got {caption!r}")
        key = file_key(file)
        if key in out:
            raise ValueError(f"{p}:{n}: {key!r} is listed twice (first at line {lines[key]})")
        out[key], lines[key] = caption, n
    return out


def decode_video(path: Path, max_frames: int | None = None) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` frames of ``path`` (the first ``max_frames`` if given)."""
    return decode_frames(path, max_frames=max_frames)[0]


def frame_count(path: Path, max_frames: int | None = None) -> int:
    """Number of frames (container metadata, or by decoding when it has none: WebM, MKV), at most
    ``max_frames`` where decoded (enough to tell whether a clip fits without decoding a long video)."""
    import av

    if path.is_file() and path.stat().st_size == 0:
        return len(decode_video(path))  # refused there, saying the file is empty
    try:
        with av.open(str(path)) as container:
            n = container.streams.video[0].frames if container.streams.video else 0
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(f"cannot read video {path}: {err}") from err
    return int(n) if n > 0 else len(decode_video(path, max_frames=max_frames))


def to_clip_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` → centre square crop, antialiased resize → ``(3, T, size, size)`` in [-1, 1]."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # (T, 3, H, W)
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    x = x[:, :, top : top + s, left : left + s]
    if s != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x / 127.5 - 1.0).clamp(-1.0, 1.0).permute(1, 0, 2, 3).contiguous()  # (3, T, H, W)


class VideoFolderDataset(Dataset):
    """``ds[i]`` → ``{"video": (3, T, H, W), "caption": str, "index": i[, "anchor": (3, H, W)]}``.

    Every video file in ``folder`` must have a caption and every caption a file (errors name them).
    Valid for every index ≥ 0 (epochs repeat with a new permutation); ``len()`` is the file count.
    """

    def __init__(self, folder: str | Path, captions: str | Path, spec: ClipSpec, seed: int = 0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"video folder {self.folder} does not exist")
        caps = read_captions(captions)
        videos = {  # file_key -> the path on disk
            file_key(p.relative_to(self.folder).as_posix()): p
            for p in self.folder.rglob("*")
            if p.is_file() and p.suffix.lower() in READ_VIDEO_SUFFIXES
        }
        missing = sorted(v for v in videos if v not in caps)
        absent = [f for f in caps if f not in videos and not (self.folder / f).is_file()]
        if missing:
            # a misspelt name shows up in both lists: name both, so the two spellings can be compared
            also = f"; it names file(s) not in {self.folder}: {absent[:5]}" if absent else ""
            raise ValueError(
                f"no caption for video(s) {missing[:5]} in {captions} ({len(missing)} in all){also}"
            )
        if absent:
            raise FileNotFoundError(f"{captions} names file(s) not in {self.folder}: {absent[:5]}")
        if not caps:
            raise ValueError(f"{captions} lists no videos")
        self.files = sorted(caps)
        self.captions = caps
        self.paths = {f: videos.get(f, self.folder / f) for f in self.files}
        self.spec = spec
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.files)

    def check(self, progress: bool = True) -> None:
        """Open every file now (its container's frame count): raise on the first unreadable or
        too-short video, before a run spends hours to meet it."""
        from tqdm.auto import tqdm

        need = self.spec.num_frames
        files = tqdm(self.files, desc="checking videos", disable=not progress or len(self.files) < 50)
        for f in files:
            n = frame_count(self.paths[f], max_frames=need)
            if n < need:
                raise ValueError(f"video {self.paths[f]} has {n} frames; a clip needs {need}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            raise IndexError(f"sample index must be ≥ 0, got {index}")
        n = len(self.files)
        epoch, k = divmod(int(index), n)
        order = np.random.default_rng([self.seed, epoch, 0xF11E]).permutation(n)
        name = self.files[int(order[k])]
        path = self.paths[name]
        s = self.spec
        rng = np.random.default_rng([self.seed, int(index), 0xC11B])
        # only the frames a clip or an anchor can come from: not the whole of a long video
        frames = decode_video(path, max_frames=max(s.max_start + s.num_frames, s.anchor_frames))
        total = len(frames)
        if total < s.num_frames:
            raise ValueError(f"video {path} has {total} frames; a clip needs {s.num_frames}")
        start = int(rng.integers(0, min(s.max_start, total - s.num_frames) + 1))
        sample: dict[str, Any] = {
            "video": to_clip_tensor(frames[start : start + s.num_frames], s.size),
            "caption": self.captions[name],
            "index": int(index),
        }
        if s.anchor_frames > 0:
            a = int(rng.integers(0, min(s.anchor_frames, total)))
            sample["anchor"] = to_clip_tensor(frames[a : a + 1], s.size)[:, 0]
        return sample
