"""Real-data training set: a folder of videos plus a captions file, for every recipe.

The captions file is CSV with a header ``file,caption`` or JSONL with ``{"file": ..., "caption": ...}``
per line (read by :mod:`streamt2v.train.captions`); ``file`` is relative to the folder. Videos are
decoded with PyAV, centre-cropped to a square, resized (antialiased) to the training size and cut to a
clip of ``T`` frames at a random start; output ``(3, T, H, W)`` float in ``[-1, 1]``, the same samples as
:class:`MicroworldDataset` (with the APM anchor drawn from the first ``anchor_frames`` frames of the
source video, paper §4.2).

Sample ``i`` is a pure function of ``(seed, i)`` (file by a per-epoch permutation, start frame by
a seeded generator), so training on real data resumes exactly as on the microworld. A sample decodes its
anchor's frames from the start and seeks to its clip (the keyframe before it, then frames picked by their
timestamps), where the video's timestamps name its frames; otherwise (a variable frame rate, no
timestamps, ...) it decodes every frame up to its clip: the same sample either way.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from streamt2v.arguments import Arg, ArgumentFileNotFoundError, ArgumentNotADirectoryError, ArgumentValueError
from streamt2v.io.damage import shortfall_hint
from streamt2v.io.decoding import DecodedFrames
from streamt2v.io.folders import home_path, named_path
from streamt2v.io.frame_seek import pick_frames
from streamt2v.io.video import READ_VIDEO_SUFFIXES
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.captions import caption_rows, check_every_video_captioned, file_key
from streamt2v.train.run_folder import holds_a_run
from streamt2v.train.video_probe import VideoProbe, frame_rate, probe_video_file
from streamt2v.wording import counted, first_few, singular_or_plural


def _relative_to(
    caps: dict[str, str], folder: str | Path, captions: str | Path, lines: dict[str, str] | None = None
) -> dict[str, str]:
    """``caps`` with absolute file names inside ``folder`` made relative to it, as a folder scan names
    them; an absolute name outside it is an error naming it (and its line, from ``lines``). ``folder`` and
    ``captions`` as typed: named so, then as read (:func:`named_path`)."""
    if not any(Path(f).is_absolute() for f in caps):
        return caps
    root = home_path(folder)
    out: dict[str, str] = {}
    given: dict[str, str] = {}  # relative name -> the name the captions file gives it
    for name, caption in caps.items():
        f = name
        if Path(f).is_absolute():
            try:  # as written (the folder may be links to the files), else both with links resolved
                try:
                    inside = Path(os.path.abspath(f)).relative_to(os.path.abspath(root))
                except ValueError:
                    inside = Path(f).resolve().relative_to(root.resolve())
                f = file_key(inside.as_posix())
            except ValueError:
                at = f" ({lines[f]})" if lines and f in lines else ""
                raise ValueError(
                    f"captions file {named_path(captions)} names {f!r}, which is not in the video folder "
                    f"{named_path(folder)}{at}"
                ) from None
        if f in out:  # the same video by its absolute path and by its relative one: one caption was lost
            where = f" ({lines[given[f]]} and {lines[name]})" if lines else ""
            raise ValueError(
                f"captions file {named_path(captions)} lists {f!r} twice, as {given[f]!r} and as {name!r}"
                f"{where}: delete one"
            )
        out[f], given[f] = caption, name
    return out


def folder_files(folder: Path) -> Iterator[Path]:
    """Every file under ``folder``, in linked folders too (a folder of links to the parts of a dataset:
    ``Path.rglob`` does not enter them, so their videos were left out unseen); a link back to a folder
    already walked is not walked again."""
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        for name in names:
            yield Path(root) / name


def training_frame_rate(folder: str | Path, captions: str | Path) -> int:
    """The frame rate most of a folder's captioned videos have, rounded (``assemble --fps`` of a model
    trained on them; 29.97 is 30). A checked dataset knows it already
    (:meth:`VideoFolderDataset.frame_rate`)."""
    ds = VideoFolderDataset(folder, captions, ClipSpec())
    return most_common_rate(frame_rate(ds.paths[f]) for f in ds.files)


def most_common_rate(rates: Iterable[float]) -> int:
    """The rate most of ``rates`` have once rounded (the lowest of a tie)."""
    rounded = [round(r) for r in rates]
    if not rounded:
        raise ValueError("no frame rates to choose from: no videos")
    return max(sorted(set(rounded)), key=rounded.count)


class _FramesUnreadable(Exception):
    """A sample's frames failing to decode, or decoding to frames no clip can be cut from (a frame size that
    changes): what the check, which reads packets, cannot see. Its ``__cause__`` is the reader's
    ValueError."""


@contextmanager
def _reading_frames() -> Iterator[None]:
    """Turns a ValueError of the frame readers into :class:`_FramesUnreadable`, unless the file is gone or
    unreadable on disk (an OSError beneath it)."""
    try:
        yield
    except ValueError as err:
        if isinstance(err.__cause__, OSError):
            raise
        raise _FramesUnreadable() from err


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


# The option of the base, stream and refiner recipes that sets a clip's frames (--num-frames), which the check
# of a folder of videos all too short names; the VAE and CLIP recipes name theirs.
NUM_FRAMES = Arg("num_frames")


def _shorter_clips_advice(short: list[int], option: Arg, shortest_clip: int) -> tuple[object, ...]:
    """The advice for a folder whose videos (of ``short`` frames) are all too short: clips of the shortest
    video's frames, which keep every video, and of the longest's, which keep only the videos that long (the
    longest's alone was advised: following it, the check refused the shorter videos next); those of at least
    ``shortest_clip`` frames, the fewest a clip of the recipe holds."""
    usable = [n for n in short if n >= shortest_clip]
    if not usable:
        return (f"add videos of at least {shortest_clip} frames (the recipe's shortest clip)",)
    low, high = min(usable), max(usable)
    if low == high == min(short):
        whose = "the video's frames" if len(short) == 1 else "the videos' frames"
        return ("take shorter clips (", option._replace(value=high), f", {whose}) or add longer videos")
    # the shortest video's frames keep them all; else the fewest a clip takes keep the videos that long
    lowest = (
        "the shortest video's frames"
        if low == min(short)
        else "the longest video's frames"
        if low == high
        else f"the frames of the shortest video of {shortest_clip} frames or more"
    )
    parts: list[object] = ["take shorter clips ("]
    for frames, said in ((low, lowest), (high, "the longest video's frames"))[: 1 if low == high else 2]:
        if parts[1:]:
            parts.append("; or ")
        parts += [option._replace(value=frames), f", {said}"]
        if frames > min(short):  # following it, the check refuses the shorter ones
            parts.append(f", with the videos under {frames} frames moved out and their captions deleted")
    return (*parts, ") or add longer videos")


class VideoFolderDataset(Dataset):
    """``ds[i]`` → ``{"video": (3, T, H, W), "caption": str, "index": i[, "anchor": (3, H, W)]}``.

    Every video file in ``folder`` must have a caption and every caption a file (errors name them).
    Valid for every index ≥ 0 (epochs repeat with a new permutation); ``len()`` is the file count.
    """

    def __init__(self, folder: str | Path, captions: str | Path, spec: ClipSpec, seed: int = 0) -> None:
        from streamt2v.train.frozen import as_given

        # ~ expanded here, at use: the refusals name the folder as typed (--data '~/v' ('/home/me/v'))
        self.folder = home_path(folder)
        if self.folder.is_file():
            raise ArgumentNotADirectoryError(
                as_given(folder, Arg("data")), " is a file, not a folder of videos"
            )
        if not self.folder.is_dir():
            raise ArgumentFileNotFoundError(as_given(folder, Arg("data")), " does not exist")
        caps, lines = caption_rows(captions)
        self.captions_file = home_path(captions)
        captions_at = os.path.abspath(self.captions_file)
        # both as typed, then as read, for the messages: '~/v' ('/home/me/v')
        self.named_folder, self.named_captions = named_path(folder), named_path(captions)
        caps = _relative_to(caps, folder, captions, lines)
        lines = _relative_to(lines, folder, captions)
        videos: dict[str, Path] = {}  # file_key -> the path on disk
        hidden: list[str] = []  # videos in hidden files or folders (macOS's ._a.mp4), unless captioned
        others: list[str] = []  # files that are no video by their suffix
        # uncaptioned files in a training run's folder (--data . --out runs/base): its sample videos stopped
        # the run's next sample (which makes the dataset again) and its resumes as videos without a caption
        runs: list[str] = []
        is_run = functools.cache(holds_a_run)
        broken: list[str] = []  # links to files that are gone, unless captioned (then an error says so)
        for path in folder_files(self.folder):
            rel = path.relative_to(self.folder)
            key = file_key(rel.as_posix())
            if not path.is_file():
                if not path.exists() and key not in caps:
                    broken.append(key)
                continue
            if key not in caps and any(is_run(path.parents[k]) for k in range(len(rel.parts) - 1)):
                runs.append(key)
            elif path.suffix.lower() not in READ_VIDEO_SUFFIXES:
                if key not in caps and os.path.abspath(path) != captions_at:
                    others.append(key)
            elif any(part.startswith(".") for part in rel.parts) and key not in caps:
                hidden.append(key)
            elif key in videos:  # two files that file_key makes one name: one was dropped, silently
                a, b = ascii(videos[key].relative_to(self.folder).as_posix()), ascii(rel.as_posix())
                raise ValueError(
                    f"video folder {self.named_folder} holds {a} and {b}, one name to the captions file ({key!r}; Unicode "
                    "forms of a name, or a \\ in it, are one): rename one"
                )
            else:
                videos[key] = path
        check_every_video_captioned(folder, videos, caps, lines, captions)
        if not caps:
            raise ValueError(f"captions file {self.named_captions} lists no videos")
        # each group with why it is left out: a hidden video for having no caption, another file for being
        # no video, a run's file for being the run's
        not_used = [
            f"{len(names)} {what[len(names) > 1]} ({first_few([repr(n) for n in sorted(names)], 2)})"
            for names, what in (
                (hidden, ("hidden video file without a caption", "hidden video files without a caption")),
                (others, ("file that is not a video", "files that are not videos")),
                (runs, ("file in a training run's folder", "files in training runs' folders")),
                (broken, ("link to a missing file", "links to missing files")),
            )
            if names
        ]
        # what the scan left out, said by check(): a run checks its folder once, before its first step
        self._left_out = f"; not used: {' and '.join(not_used)}" if not_used else ""
        self.files = sorted(caps)
        self.captions = caps
        self.lines = lines  # where the captions file names each file ("line 3", "entry 2")
        self.paths = {f: videos.get(f, self.folder / f) for f in self.files}
        self.spec = spec
        self.seed = int(seed)
        self.frame_rates: dict[str, float] = {}  # file -> fps, as check() read them
        # file -> (size, mtime, what probe_video_file learnt of it), for the samples after check(): a few
        # numbers a file, as the dataset goes to each DataLoader worker
        self._probes: dict[str, tuple[int, int, VideoProbe]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _reach(self) -> int:
        """How many of a video's first frames a sample's clip or anchor can come from."""
        s = self.spec
        return max(s.max_start + s.num_frames, s.anchor_frames)

    def _probe(self, name: str) -> VideoProbe:
        """What :func:`~streamt2v.train.video_probe.probe_video_file` learns of the video ``name`` for this
        dataset's clips, read once while the file keeps its size and modification time: :meth:`check` reads
        every file, the samples use what it learnt."""
        path = self.paths[name]
        stat = path.stat() if path.is_file() else None  # else the probe names what the path is
        known = self._probes.get(name)
        if stat is not None and known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        probe = probe_video_file(path, self.spec.num_frames, self._reach())
        if stat is not None:
            self._probes[name] = (stat.st_size, stat.st_mtime_ns, probe)
        return probe

    def fingerprint(self) -> dict[str, Any]:
        """What the samples are drawn from, for a resume to compare: the number of videos and a digest of
        their names, sizes in bytes and captions (a video moved out, replaced or recaptioned changes it)."""
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f}\t{self.paths[f].stat().st_size}\t{self.captions[f]}\n".encode())
        return {"videos": len(self.files), "digest": digest.hexdigest()[:16]}

    def check(
        self, progress: bool | None = None, frames_option: Arg = NUM_FRAMES, shortest_clip: int = 1
    ) -> None:
        """Open every file now: one error naming every unreadable or too-short video (a folder of
        downloads rarely has only one), before a run spends hours to meet them; a log line says how many
        videos the run trains on and what the scan left out. Each file's packets are
        read (not decoded) as far as a sample can reach, for its frame count and timestamps
        (:func:`~streamt2v.train.video_probe.probe_video_file`); only a container that does not count its
        frames (WebM, MKV) has its first clip's frames decoded. A bar shows on
        a terminal (``progress`` None) for 50 files or more; videos of different frame rates are named
        in a warning (frames are taken as they are, so motion would run at different speeds). Videos all
        too short are told to take shorter clips (``frames_option``, the recipe's option for them), or where
        even the longest is under the recipe's ``shortest_clip``, to add longer videos."""
        import sys

        from streamt2v.progress_bars import progress_bar

        s = self.spec
        need = s.num_frames
        logging.getLogger(__name__).info(
            "%s in %s, captioned by %s%s",
            counted(len(self.files), "video"),
            self.named_folder,
            self.named_captions,
            self._left_out,
        )
        if progress is None:
            progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
        files = progress_bar(self.files, desc="checking videos", disable=not progress or len(self.files) < 50)
        bad: list[tuple[str, str]] = []  # (the error alone, the error in a list of several)
        bad_files: list[str] = []
        rates: dict[float, list[str]] = {}
        checked_rates: dict[str, float] = {}
        small: list[tuple[str, int]] = []  # videos upscaled to the training size: (name, shorter side)
        short: list[int] = []  # the frames of videos simply too short (not cut short or damaged)
        for f in files:
            try:
                probe = self._probe(f)
            except ValueError as err:
                bad.append((str(err), str(err)))
                bad_files.append(f)
                continue
            n, fps = probe.frames, probe.fps
            if n < need:
                said = f"video {named_path(str(self.paths[f]))} has {n} frames"
                if probe.dropped:  # ffprobe and players' file info count the frames an edit list drops
                    said += f" (its container lists {n + probe.dropped}; an edit list drops {probe.dropped})"
                # a file cut short or damaged, not one simply short, says so (its packets read, not decoded)
                hint = shortfall_hint(self.paths[f], n)
                bad.append((f"{said}; a clip needs {need}{hint}", said + hint))
                bad_files.append(f)
                if not hint:
                    short.append(n)
            rates.setdefault(round(fps, 2), []).append(f)
            checked_rates[f] = fps
            if 0 < probe.side < s.size:
                small.append((f, probe.side))
        # moving a video out alone stopped the next start at its caption, now naming a missing file
        if short and len(short) == len(self.files):
            # every video simply too short: moving them out, as below, would leave nothing to train on
            details = "; ".join(b for _, b in bad[:5]) + (
                f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
            )
            raise ArgumentValueError(
                f"every video in {self.named_folder} is too short for a {need}-frame clip: ",
                *_shorter_clips_advice(short, frames_option, shortest_clip),
                f": {details}",
            )
        where = ", ".join(self.lines[f] for f in bad_files[:5] if f in self.lines)
        where = f"{where} of {self.named_captions}" if where else ""
        if len(bad) == 1:
            where = f" ({where})" if where else ""
            raise ValueError(f"{bad[0][0]}; move it out of the folder and delete its caption{where}")
        if bad:
            more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise ValueError(
                f"{len(bad)} of {len(self.files)} videos in {self.named_folder} cannot give a {need}-frame clip "
                f"(move them out of the folder and delete their captions{': ' + where if where else ''}): "
                f"{'; '.join(b for _, b in bad[:5])}{more}"
            )
        self.frame_rates = checked_rates
        if small:
            logging.getLogger(__name__).warning(
                "%s in %s %s smaller than the training size %d and %s upscaled (blurred): %s",
                f"{len(small)} of {counted(len(self.files), 'video')}",
                self.named_folder,
                singular_or_plural(len(small), "is", "are"),
                s.size,
                singular_or_plural(len(small), "is", "are"),
                first_few([f"{name} ({side} px)" for name, side in small]),
            )
        if len(rates) > 1:
            by_count = sorted(rates.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            logging.getLogger(__name__).warning(
                "the videos in %s have %d frame rates (%s): frames are taken as they are, not resampled, "
                "so motion runs at different speeds; convert them to one rate",
                self.named_folder,
                len(rates),
                ", ".join(f"{fps:g} fps: {len(names)} (e.g. {names[0]})" for fps, names in by_count),
            )

    def frame_rate(self) -> int:
        """The frame rate most of the videos have, rounded (``assemble --fps``), as :meth:`check` read them:
        no file is opened again."""
        if not self.frame_rates:
            raise RuntimeError(f"the videos in {self.named_folder} are not checked yet: call check() first")
        return most_common_rate(self.frame_rates.values())

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            raise IndexError(f"sample index must be ≥ 0, got {index}")
        n = len(self.files)
        epoch, k = divmod(int(index), n)
        order = np.random.default_rng([self.seed, epoch, 0xF11E]).permutation(n)
        name = self.files[int(order[k])]
        try:
            return self._sample(index, name)
        except _FramesUnreadable as failed:  # not an error of its own words (a file replaced, too short)
            # damaged frames in a file whose packets the check read whole: the same sample fails again on
            # a plain resume, and a resume with the file moved out but still captioned stops at its caption
            err = failed.__cause__
            where = self.lines.get(name, "")
            caption = (
                f"its caption {where.split(' ')[0]} ({where} of {self.named_captions})"
                if where
                else "its caption"
            )
            raise ArgumentValueError(
                f"{err} (sample {index}; the check before the first step reads packets, not frames: move the "
                f"video out of the folder and delete {caption}, then ",
                Arg("resume", True),
                ")",
            ) from err

    def _sample(self, index: int, name: str) -> dict[str, Any]:
        """Sample ``index``, of the video ``name``."""
        path = self.paths[name]
        s = self.spec
        reach = self._reach()
        # The frames a clip or an anchor can come from are the first `reach`. Where their timestamps name
        # them (the check learnt it, reading packets, not decoding), the sample decodes the first frames
        # for its anchor and seeks to its clip; otherwise it decodes all of them, as far as `reach`.
        times = self._probe(name).times
        with _reading_frames():
            frames = None if times is not None else DecodedFrames(path, max_frames=reach)
        total = times.count if times is not None else len(frames)
        start, a = self._draw(index, path, total)
        wanted = [*range(start, start + s.num_frames), *([a] if a is not None else [])]
        with _reading_frames():
            picked = pick_frames(path, wanted, times) if times is not None else None
        if picked is None:
            if frames is None:  # seeking found what the timestamps did not promise: from the start
                with _reading_frames():
                    frames = DecodedFrames(path, max_frames=reach)
                start, a = self._draw(index, path, len(frames))
            # only the clip's and the anchor's frames converted to RGB
            with _reading_frames():
                picked = {i: frames.rgb(i) for i in (*range(start, start + s.num_frames), a) if i is not None}
        clip = np.stack([picked[i] for i in range(start, start + s.num_frames)])
        sample: dict[str, Any] = {
            "video": to_clip_tensor(clip, s.size),
            "caption": self.captions[name],
            "index": int(index),
        }
        if a is not None:
            sample["anchor"] = to_clip_tensor(picked[a][None], s.size)[:, 0]
        return sample

    def _draw(self, index: int, path: Path, total: int) -> tuple[int, int | None]:
        """Sample ``index``'s clip start and anchor frame (None without an anchor) in a video of ``total``
        frames (counted as far as a sample reaches)."""
        s = self.spec
        if total < s.num_frames:
            raise ValueError(f"video {named_path(str(path))} has {total} frames; a clip needs {s.num_frames}")
        rng = np.random.default_rng([self.seed, int(index), 0xC11B])
        start = int(rng.integers(0, min(s.max_start, total - s.num_frames) + 1))
        a = int(rng.integers(0, min(s.anchor_frames, total))) if s.anchor_frames > 0 else None
        return start, a
