"""A ``generate`` run folder given to ``streamt2v evaluate``: its output, scored with the chunk boundaries its
manifest records (:func:`run_output`).

A video file does not name the run that made it (the output and the run folder are two paths of the user's
choosing, and nothing in the video points back), so the plan is taken only where the run folder itself is
given. The recorded plan is the one that matters for the jump ratio of an extended video (``--init-video``:
its first chunk is the input's frames) or of other chunk settings, which the default 16, 24, 32, ... misses.
A run with ``--enhance`` records its stage-3 output, whose frames are stage 2's: the same boundaries.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from streamt2v.arguments import FlaggedArg, NamesArguments
from streamt2v.io import locks
from streamt2v.io.folders import home_path, read_json_object
from streamt2v.io.output_paths import preview_path_for, previewed_output
from streamt2v.pipeline.run_folders import LOCK, MANIFEST, is_run, is_run_manifest
from streamt2v.pipeline.run_outputs import OUTPUTS, left_there


class UnscorableRun(NamesArguments, ValueError):
    """A run folder whose output cannot be scored with its plan (unfinished, gone, replaced): ``evaluate`` skips
    it with this reason, as it skips a video it cannot read; its advice names the command line's commands
    after :meth:`as_flags`, the Python calls before."""


def is_run_folder(target: str | os.PathLike) -> bool:
    """Whether ``target`` is a ``generate`` run folder: ``config.json`` beside a ``manifest.json`` as a run
    writes it (a JSON object with its format version, chunks and status). A folder of videos that carries files
    of those names (a dataset's) is not one."""
    path = home_path(target)
    if not (path.is_dir() and is_run(path)):
        return False
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return is_run_manifest(manifest)


def run_name(run: str | os.PathLike) -> str:
    """The run folder as given, without a trailing slash (``runs/ext/`` is ``runs/ext``)."""
    return str(Path(run))


def runs_as_outputs(
    videos: list[object],
) -> tuple[list[object], dict[int, list[int]], dict[int, UnscorableRun]]:
    """``videos`` with each run folder among them (by its path) as its output, as ``evaluate`` takes one:
    ``(the videos, each run's chunk plan by its place, each run that cannot be scored by its place)``; the
    latter keep their place, named by the run folder as given."""
    videos, plans, unscorable = list(videos), {}, {}
    for i, video in enumerate(videos):
        if isinstance(video, (str, os.PathLike)) and is_run_folder(video):
            try:
                videos[i], plans[i] = run_output(video)
            except UnscorableRun as err:
                videos[i], unscorable[i] = run_name(video), err
    return videos, plans, unscorable


def run_output(run: str | os.PathLike) -> tuple[Path, list[int]]:
    """The output of the complete run in the folder ``run`` and its chunk boundaries (the first frame of each
    chunk after the first, as its manifest records them). :class:`UnscorableRun`, naming the run, when the run
    is not complete or its output is gone or was replaced since the run wrote it (its plan is then no longer
    the video's)."""
    path, name = home_path(run), run_name(run)
    manifest = read_json_object(path / MANIFEST, "run manifest")
    status, output, chunks = manifest.get("status"), manifest.get("output"), manifest.get("chunks")
    if status != "complete":
        raise UnscorableRun(
            f"run folder {name!r} has no finished output to score: ", *_unfinished(path, name, manifest)
        )
    starts = [c.get("start") for c in chunks if isinstance(c, dict)] if isinstance(chunks, list) else []
    if not isinstance(output, str) or not starts or not all(isinstance(s, int) for s in starts):
        raise UnscorableRun(f"{str(path / MANIFEST)!r} is damaged: it names no output or no chunks' frames")
    video, boundaries = Path(output), starts[1:]
    if not video.exists():
        raise UnscorableRun(
            f"the output {output!r} of run folder {name!r} is gone (moved or removed); to score it where it is "
            "now, evaluate it on its own at the run's chunks: ",
            _alone_at(boundaries, "NEW_PATH"),
        )
    try:
        preview = preview_path_for(video)
    except ValueError:
        preview = None
    if not left_there(manifest, path / MANIFEST, video, preview):
        raise UnscorableRun(
            f"the output {output!r} of run folder {name!r} was replaced since the run wrote it, so the run's "
            "chunks may not be its frames; if it is still the run's video (copied back, converted), score it on "
            "its own at the run's chunks: ",
            _alone_at(boundaries, output),
        )
    return video, boundaries


def _alone_at(boundaries: list[int], path: str) -> FlaggedArg:
    """The call that scores the video ``path`` alone at ``boundaries``: in an evaluation of its own, for the
    plan given is every video's on the command line (the other runs would lose theirs)."""
    typed = ",".join(map(str, boundaries)) or "none"
    return FlaggedArg(
        f"evaluate_videos([{path!r}], boundaries={boundaries})",
        flag=f"streamt2v evaluate {shlex.quote(path)} --boundaries {typed}",
    )


def _unfinished(path: Path, name: str, manifest: dict) -> tuple[object, ...]:
    """Why the run in ``path`` (``name``: as given) has no output yet, and what to do: wait for the process running it, or
    finish it; its preview, where one is left, can be scored by its path."""
    preview = next(
        (p for p in (manifest.get(OUTPUTS) or {}) if previewed_output(p) is not None and Path(p).exists()),
        None,
    )
    or_preview = "" if preview is None else f", or score its preview by its path ({preview!r})"
    status, holder = manifest.get("status"), locks.holder(path / LOCK)
    if status == "running" and holder is not None:
        return (f"its run is still going on (process {holder}); wait for it to finish{or_preview}",)
    stopped = {"running": "stopped before finishing", "interrupted": "was interrupted", "failed": "failed"}
    if not isinstance(status, str) or status not in stopped:  # every run writes one of these (or complete)
        damaged = f"{str(path / MANIFEST)!r} is damaged"
        if status is None:
            return (f"its manifest records no status; {damaged}",)
        return (f"its status is {status!r}, not running, interrupted, failed or complete; {damaged}",)
    resume = FlaggedArg(f"resume_generate({name!r})", flag=f"streamt2v generate --resume {shlex.quote(name)}")
    return f"its run {stopped[status]}; finish it (", resume, f"){or_preview}"
