"""Which videos a target of ``streamt2v evaluate`` names: a video file, a folder of frame images (one video),
or a folder of videos and of folders of frames, with ``generate``'s unfinished previews and what cannot be
read left out, each with a warning (:func:`find_videos`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from streamt2v.arguments import ArgumentValueError
from streamt2v.io.folders import home_path, named_path
from streamt2v.io.output_paths import output_kind, preview_path_for
from streamt2v.io.video import IMAGE_SUFFIXES, READ_VIDEO_SUFFIXES
from streamt2v.metrics.run_target import (
    damaged_runs_held,
    first_no_run_why,
    held_runs,
    is_run_folder,
    no_run_why,
    replaced_run_manifest,
)
from streamt2v.wording import counted, first_few

logger = logging.getLogger(__name__)


def find_videos(target: str | os.PathLike, also_given: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """A video file; a folder of frame images (one video); or a folder of videos: its video files and its
    subfolders of frame images (``generate --png-dir`` outputs), sorted by name, not recursive, hidden
    entries (``.name``: temporaries), subfolders that cannot be read and ``generate``'s unfinished previews
    left out (a warning names the last two).
    A preview named directly (a shell glob passes them) is scored, with a warning.
    ``also_given``: the other targets of the same evaluation; a subfolder of videos among them is scored
    through them, so it is not said to be left out."""
    path = home_path(target)
    if path.is_file() or (path.is_dir() and _is_preview(path)):
        if _is_preview(path):  # `evaluate g/*.mp4` passes them too: scored as asked, but not unseen
            logger.warning(
                "%r looks like an unfinished `generate` preview (half a video, if generate was stopped or is "
                "still running); scoring it as given",
                str(path),
            )
        return [path]
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        # a link to a video that is gone (a moved dataset) is listed by ls: not dropped unseen
        gone = [
            p
            for p in entries
            if p.is_symlink() and not p.exists() and p.suffix.lower() in READ_VIDEO_SUFFIXES
        ]
        if gone:
            links = first_few([f"{p.name} -> {os.readlink(p)}" for p in gone], 1)
            _left_out(path, counted(len(gone), "link") + " to missing files", links)
        unreadable = [p for p in entries if p.is_dir() and _listing(p) is None]
        if unreadable:  # left out, as they were, but no longer unseen: one may hold the videos looked for
            said = counted(len(unreadable), "subfolder") + " that cannot be read"
            _left_out(path, said, _names(unreadable) + ": permission denied")
        # an interrupted or running `generate` leaves them: half a video each, not one of the set
        previews = [p for p in entries if _is_preview(p)]
        entries = [p for p in entries if p not in previews]
        videos = [p for p in entries if _is_video_file(p) or (p.is_dir() and _holds_frames(p))]
        if not videos and previews and not _holds_frames(path):
            raise ValueError(
                f"folder {str(path)!r} holds only unfinished `generate` previews "
                f"({', '.join(repr(str(p)) for p in previews)}); pass them by their paths to score them"
            )
        if previews:
            said = counted(len(previews), "unfinished `generate` preview")
            _left_out(path, said, _names(previews), "; pass one by its path to score it")
        if videos:
            loose = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            if loose:  # the folder's own frames are no video of the set: say so rather than drop them unseen
                logger.warning(
                    "folder %r holds videos and %s (%s), which are not scored; put "
                    "the frames of a video in a folder of their own",
                    str(path),
                    counted(len(loose), "loose frame image"),
                    _names(loose),
                )
            # a method's subfolder beside the folder's own videos was dropped unseen: the search is not recursive
            # one given as a target too (`evaluate d "d/sub"`, `evaluate . sub`) is scored: not left out
            # realpath, not Path.resolve: that raises on a symlink loop (`evaluate d loop`) before Python 3.13,
            # where the loop's own 'not found' is due
            given = {os.path.realpath(home_path(t)) for t in also_given}
            others = [
                p for p in entries if p.is_dir() and p not in videos and os.path.realpath(p) not in given
            ]
            runs = [p for p in others if is_run_folder(p)]  # their outputs lie elsewhere: dropped unseen
            if runs:
                how = f": a run folder is scored as its output when given itself, e.g. {str(runs[0])!r}"
                _left_out(path, counted(len(runs), "generate run folder"), _names(runs), how)
            # a run's folder whose manifest is damaged or cut short: no run, and no folder of videos to pass
            damaged = [p for p in others if p not in runs and no_run_why(p) is not None]
            if damaged:
                said = counted(len(damaged), "folder") + " of a run's files"
                _left_out(path, said, _names(damaged), first_no_run_why(damaged))
            nested = [p for p in others if p not in runs and p not in damaged and _holds_videos(p)]
            if nested:
                how = f", which are not scored: the search is not recursive; pass them too, e.g. {str(nested[0])!r}"
                _left_out(path, counted(len(nested), "subfolder") + " holding videos", _names(nested), how)
            return videos
        if _holds_frames(path):
            return [path]
        deeper = [p for p in entries if p.is_dir() and _holds_videos(p)]
        # a folder of runs (generate's runs/): each run folder is a target, its output scored (a run holding its
        # output is no subfolder of videos to pass: it would be scored at its plan)
        hint: tuple[object, ...] = held_runs(target) or (
            (
                f"; the search is not recursive: {counted(len(deeper), 'subfolder')} "
                f"{'holds' if len(deeper) == 1 else 'hold'} videos ({_names(deeper)}); pass "
                f"them, e.g. {str(deeper[0])!r}",
            )
            if deeper
            else replaced_run_manifest(target) or damaged_runs_held(target) or ()
        )
        raise ArgumentValueError(
            f"no videos ({', '.join(READ_VIDEO_SUFFIXES)}), frame images or folders of frame images in folder "
            f"{str(path)!r}",
            *hint,
        )
    raise FileNotFoundError(f"video or folder not found: {named_path(target)}")


def _left_out(folder: Path, said: str, names: str, then: str = "") -> None:
    """The warning that the search of ``folder`` left out what ``said`` counts (``names``: the first few), and
    ``then`` why or how to score them: one shape for every kind a search leaves out."""
    logger.warning("folder %r: left out %s (%s)%s", str(folder), said, names, then)


def _names(paths: Sequence[Path]) -> str:
    return first_few([p.name for p in paths])


def _is_preview(path: Path) -> bool:
    """Named as ``generate``'s playable preview of an unfinished output is (``preview_path_for``, whose rule
    it asks): ``out.partial.mp4`` for ``out.mp4``, a ``frames.partial`` folder of frames for a PNG output
    ``frames``. By its name only: an interrupted ``generate`` leaves the preview alone, without the output."""
    head, mark, tail = path.name.rpartition(".partial")
    if not mark:
        return False
    output = path.with_name(head + tail) if head + tail else None
    try:
        named = output is not None and preview_path_for(output) == path
        # a folder for a PNG output, a file for the others (a folder named out.partial.mp4 is no preview)
        named = named and (output_kind(output) == "png-dir") == path.is_dir()
    except ValueError:  # the output it would be the preview of is none generate writes (out.partial.txt)
        return False
    return named and (_holds_frames(path) if path.is_dir() else path.suffix.lower() in READ_VIDEO_SUFFIXES)


def _is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in READ_VIDEO_SUFFIXES and not path.name.startswith(".")


def _holds_videos(folder: Path) -> bool:
    return any(_is_video_file(p) for p in _listing(folder) or ())


def _holds_frames(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in _listing(folder) or ())


def _listing(folder: Path) -> list[Path] | None:
    """The entries of ``folder``; None where it cannot be read (a ``lost+found`` beside the videos stopped
    the whole evaluation with a bare 'Permission denied'; :func:`find_videos` names it in a warning)."""
    try:
        return list(folder.iterdir())
    except PermissionError:
        return None
