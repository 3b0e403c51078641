"""A ``generate`` run folder given to ``streamt2v evaluate``: its output, scored with the chunk boundaries its
manifest records (:func:`run_output`).

A video file does not name the run that made it (the output and the run folder are two paths of the user's
choosing, and nothing in the video points back), so the plan is taken only where the run folder itself is
given. The recorded plan is the one that matters for the jump ratio of an extended video (``--init-video``:
its first chunk is the input's frames) or of other chunk settings, which the default 16, 24, 32, ... misses.
A run with ``--enhance`` records its stage-3 output, whose frames are stage 2's: the same boundaries.
The command line and :func:`~streamt2v.metrics.evaluate.evaluate_videos` read their targets' run folders
through :func:`runs_as_outputs`, so the two cannot drift apart.

A run's own prompt (:func:`own_prompt`) is taken where none is given for it: a run records its prompts as
resolved, and one of a single prompt is scored by it (CLIP, the probes' caption). A run of a prompt schedule
has none of its own: no one of its prompts describes the whole video. Prompts given (a prompts file) are
every video's, runs' too: a file and a config never mix for one evaluation's runs unsaid.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from streamt2v.arguments import ArgumentValueError, FlaggedArg, NamesArguments
from streamt2v.io import locks
from streamt2v.io.folders import home_path, read_json_object
from streamt2v.io.output_paths import preview_path_for, previewed_output
from streamt2v.io.video import IMAGE_SUFFIXES
from streamt2v.pipeline.run_folders import (
    CONFIG,
    LOCK,
    MANIFEST,
    is_run,
    is_run_manifest,
    not_a_runs_manifest,
)
from streamt2v.pipeline.run_outputs import OUTPUTS, left_there
from streamt2v.wording import counted, first_few


class UnscorableRun(NamesArguments, ValueError):
    """A run folder whose output cannot be scored with its plan (unfinished, gone, replaced): ``evaluate`` skips
    it with this reason, as it skips a video it cannot read; its advice names the command line's commands
    after :meth:`as_flags`, the Python calls before."""


def is_run_folder(target: str | os.PathLike) -> bool:
    """Whether ``target`` is a ``generate`` run folder: ``config.json`` beside a ``manifest.json`` as a run
    writes it (a JSON object with its format version, chunks and status). A folder of videos that carries files
    of those names (a dataset's) is not one."""
    return is_run_manifest(_manifest_beside_config(target))


def _manifest_beside_config(folder: str | os.PathLike) -> object:
    """The ``manifest.json`` read of a folder that holds a run's two files (``config.json`` beside it), None
    for any other folder or a manifest no JSON."""
    path = home_path(folder)
    if not (path.is_dir() and is_run(path)):
        return None
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_name(run: str | os.PathLike) -> str:
    """The run folder as given, without a trailing slash (``runs/ext/`` is ``runs/ext``)."""
    return str(Path(run))


# videos= to a Python caller; the command line's targets are its words, typed once
_VIDEOS = FlaggedArg("videos", flag="the command line")
_PROMPTS = FlaggedArg("prompts=", flag="--prompts")


@dataclass
class RunTargets:
    """An evaluation's targets, each ``generate`` run folder among them as its output (:func:`runs_as_outputs`);
    the dicts are by place among the targets."""

    videos: list[object]  # the targets, a run folder as its output (one that cannot be scored: its name)
    runs: dict[int, str] = field(default_factory=dict)  # each run folder, as given (run_name)
    plans: dict[int, list[int]] = field(default_factory=dict)  # each scorable run's chunk boundaries
    unscorable: dict[int, UnscorableRun] = field(default_factory=dict)
    prompts: dict[int, str] = field(default_factory=dict)  # each scorable run's own prompt (own_prompt)
    schedules: set[int] = field(default_factory=set)  # the scorable runs of a prompt schedule
    # a folder given as a video that is none: one holding run folders (`runs/`), or a run's files whose manifest
    # is none a run writes; why, naming its runs or the manifest
    not_videos: dict[int, ArgumentValueError] = field(default_factory=dict)
    holding_runs: set[int] = field(default_factory=set)  # those of not_videos holding run folders

    def with_own_prompts(self, prompts: Sequence[str | None] | None) -> list[str | None] | None:
        """``prompts`` (one per target; None: none given), each run folder's own prompt where it has none."""
        if not self.prompts:
            return None if prompts is None else list(prompts)
        given = [None] * len(self.videos) if prompts is None else list(prompts)
        return [p if p is not None else self.prompts.get(i) for i, p in enumerate(given)]

    def without_prompt(self, prompts: Sequence[str | None] | None) -> list[str]:
        """The targets to be scored that ``prompts`` gives no prompt, as :func:`prompts_needed` names them."""
        skipped = self.unscorable.keys() | self.not_videos.keys()
        return [
            self.named(i)
            for i in range(len(self.videos))
            if i not in skipped and (prompts is None or prompts[i] is None)
        ]

    def prompt_refusal(self, prompts: Sequence[str | None] | None) -> ArgumentValueError | None:
        """The clip metric's refusal for want of prompts (:func:`prompts_needed`) where a target to be scored has
        no prompt in ``prompts`` (one per target, each run's own already in it: :meth:`with_own_prompts`;
        None: none given, and no run has one); None where each has one."""
        lacking = self.without_prompt(prompts)
        if not lacking:
            return None
        # none given: not listed, unless some targets are not videos (runs, a folder of them, a damaged run's)
        every = prompts is None and not self.runs and not self.not_videos
        # a run brings its own only where runs were given (or a folder of them): not a damaged run's folder
        return prompts_needed(None if every else lacking, bool(self.runs or self.holding_runs))

    def counted(self) -> str:
        """The targets, counted as ``evaluate``'s closing lines say them (none could be scored, stopped after):
        a run folder that cannot be scored counted as one, the rest as videos (a scorable run is its output)."""
        runs, count = len(self.unscorable), len(self.videos)
        if runs and runs == count:
            return counted(count, "run folder")
        if not runs:
            return counted(count, "video")
        return counted(count, "video and run folder", "videos and run folders")

    def named(self, i: int) -> str:
        """The target ``i`` for a message: a run folder as given (its output's path is none the user typed),
        a path quoted, an array by its place."""
        if i in self.runs:
            why = "of a prompt schedule" if i in self.schedules else "whose config records no prompt"
            return f"run folder {self.runs[i]!r} {why}"
        video = self.videos[i]
        return repr(str(video)) if isinstance(video, (str, os.PathLike)) else f"videos[{i}]"


def prompts_needed(lacking: Sequence[str] | None, runs: bool) -> ArgumentValueError:
    """The clip metric's refusal of videos without a prompt (``lacking``, named; None: every video, as no
    prompts were given), the command line's (``--prompts``) and Python's (``prompts=``); ``runs``: whether
    run folders were given, one of one prompt bringing its own."""
    own = "; a run folder of one prompt brings its own" if runs else ""
    listed = "" if lacking is None else f": none for {counted(len(lacking), 'video')} ({first_few(lacking)})"
    return ArgumentValueError("the clip metric needs ", _PROMPTS, f" (one prompt per video{own}){listed}")


def runs_as_outputs(
    videos: list[object], given_as: Sequence[str] | None = None, *, each_video_once: bool = False
) -> RunTargets:
    """``videos`` with each run folder among them (by its path) as its output, as ``evaluate`` (the command
    line and :func:`~streamt2v.metrics.evaluate.evaluate_videos`) takes one. A run folder given twice, or a
    run's output given also by its path (or as another run's), is refused: it would count twice in the
    means; with ``each_video_once`` (the command line's), a video given twice too. ``given_as``: how each of
    ``videos`` came in, as that refusal says it (the command line's ``a video of the folder 'd'``), by
    default its path quoted."""
    targets = RunTargets(list(videos))
    given: dict[str, tuple[str, bool, str]] = {}  # how each run folder and video was given, by its real path
    for i, video in enumerate(targets.videos):
        if not isinstance(video, (str, os.PathLike)):
            continue
        how = repr(str(video)) if given_as is None else given_as[i]
        if not is_run_folder(video):
            runs = held_runs(video)
            hint = runs or replaced_run_manifest(video) or damaged_runs_held(video)  # the command line's too
            if hint is not None:
                targets.not_videos[i] = ArgumentValueError(f"no image frames in folder {str(video)!r}", *hint)
            if runs is not None:
                targets.holding_runs.add(i)
            _once(given, os.path.realpath(home_path(video)), how, "video", str(video), True, each_video_once)
            continue
        name = targets.runs[i] = run_name(video)
        _once(given, os.path.realpath(home_path(video)), how, "run folder", name, False)
        try:
            output, targets.plans[i] = run_output(video)
        except UnscorableRun as err:
            targets.videos[i], targets.unscorable[i] = name, err
            continue
        targets.videos[i] = output
        recorded = recorded_prompts(video)
        if len(recorded or ()) > 1:  # named so where clip lacks a prompt for it
            targets.schedules.add(i)
        own = own_prompt(recorded)
        if own is not None:
            targets.prompts[i] = own
        how = f"the output of the run folder {name!r}"
        _once(given, os.path.realpath(output), how, "video", str(output), False)
    return targets


def _once(
    given: dict[str, tuple[str, bool, str]],
    real: str,
    how: str,
    what: str,
    name: str,
    plain: bool,
    plain_once: bool = False,
) -> None:
    """Note the path ``real`` (``name``, a ``what``), given ``how`` (as the message says it), refusing it given
    before where a run folder is either of them (``plain``: this one is not), or, with ``plain_once``, where
    both are plain videos (else scored each time: ``evaluate_videos`` keeps them). A video given plain is named
    as typed, before or after a run's output (its absolute path, from the manifest); of two, the later."""
    if real not in given:
        given[real] = (how, plain, name)
        return
    first, first_plain, first_name = given[real]
    if plain and first_plain and not plain_once:
        return
    raise given_twice(what, first_name if first_plain and not plain else name, first, how)


def given_twice(what: str, name: str, first: str, then: str) -> ArgumentValueError:
    """The refusal of the ``what`` ``name`` given twice, ``first`` and ``then`` (how each came in, as the
    message says it: ``'a.mp4'``, ``a video of the folder 'd'``); one wording for the command line's targets
    and ``videos=``."""
    said = "" if first == then else f" (as {first} and as {then})"
    return ArgumentValueError(f"{what} {name!r} is given twice in ", _VIDEOS, said)


def own_prompt(recorded: list[object] | None) -> str | None:
    """A run's own prompt from its ``recorded`` prompts (:func:`recorded_prompts`): its one prompt; None for a
    run of a prompt schedule (which of its prompts would score the whole video?) or a config that records none
    readable."""
    if recorded is None or len(recorded) != 1:
        return None
    prompt = recorded[0]
    return prompt if isinstance(prompt, str) and prompt.strip() else None


def recorded_prompts(run: str | os.PathLike) -> list[object] | None:
    """The prompts of the run in the folder ``run``, one per entry of its schedule as its ``config.json``
    records them; None where it records none readable."""
    try:
        config = json.loads((home_path(run) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entries = config.get("schedule_entries") if isinstance(config, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    if not all(isinstance(e, list) and len(e) == 2 for e in entries):
        return None
    return [e[1] for e in entries]


def held_runs(folder: str | os.PathLike) -> tuple[object, ...] | None:
    """For a folder given as a video that holds ``generate`` run folders (``runs/``), the end of the message
    saying so (``; it holds 2 generate run folders (a, b), ...``) and how to give them, and which folders of a
    run's files beside them are no run, to leave out (the folder's glob would be refused for them); None for
    any other (a folder of frames is a video)."""
    entries = _entries(folder)
    runs = [p for p in entries if p.is_dir() and is_run_folder(p)]
    if not runs or _holds_frame_images(entries):
        return None
    names = first_few([p.name for p in runs])
    pattern = str(Path(folder) / "*")
    damaged = _damaged_runs(entries)
    if damaged:
        more = counted(len(damaged), "more folder")
        verb, them = ("is", "it") if len(damaged) == 1 else ("are", "them")
        why = first_no_run_why(damaged)
        left = f"; {more} of a run's files {verb} no run ({_names(damaged)}){why}; leave {them} out"
    return (
        f"; it holds {counted(len(runs), 'generate run folder')} ({names}), each scored as its output when "
        "given: pass them, e.g. ",
        FlaggedArg(f"sorted(glob.glob({pattern!r}))", flag=repr(pattern)),
        *([left] if damaged else []),
    )


def replaced_run_manifest(folder: str | os.PathLike) -> tuple[str] | None:
    """For a folder given as a video that holds a run's files but a manifest none a run writes (no format
    version: replaced, or damaged) or one that is no JSON object (cut short), the end of the message saying so,
    as a resume says it (``RunDir.open``); None for any other (a folder of frames carrying a dataset's files of
    those names is a video)."""
    why = no_run_why(folder)
    if why is None or _holds_frame_images(_entries(folder)):
        return None
    return ("; " + why,)


def no_run_why(folder: str | os.PathLike) -> str | None:
    """Why ``folder``, holding a run's two files, is no run, as a resume says it (``RunDir.open``): its
    manifest is no JSON object (a write cut short), or none a run writes; None where it is a run, or holds no
    run's files (or they cannot be read)."""
    path = home_path(folder)
    if not (path.is_dir() and is_run(path)):
        return None
    try:
        manifest = read_json_object(Path(folder) / MANIFEST, "run manifest")
    except ValueError as err:
        return str(err)
    except OSError:
        return None
    return None if is_run_manifest(manifest) else not_a_runs_manifest(Path(folder), manifest, "run folder")


def damaged_runs_held(folder: str | os.PathLike) -> tuple[str] | None:
    """For a folder given as a video that holds folders of a run's files whose manifests are none a run writes
    or no JSON object (as :func:`replaced_run_manifest` tells them), the end of the message naming them and why
    the first is no run; None for any other (a folder of frames is a video)."""
    entries = _entries(folder)
    damaged = _damaged_runs(entries)
    if not damaged or _holds_frame_images(entries):
        return None
    why = first_no_run_why(damaged)
    return (f"; it holds {counted(len(damaged), 'folder')} of a run's files ({_names(damaged)}){why}",)


def _damaged_runs(entries: list[Path]) -> list[Path]:
    """The folders among ``entries`` that hold a run's files but are no run (:func:`no_run_why`)."""
    return [p for p in entries if p.is_dir() and no_run_why(p) is not None]


def first_no_run_why(damaged: Sequence[Path]) -> str:
    """Why the first of the ``damaged`` run folders (named before it) is no run: ``: 'rd/manifest.json' is
    ...``, ``; the first: ...`` of more; one wording for every message naming them."""
    first = ": " if len(damaged) == 1 else "; the first: "
    return f"{first}{no_run_why(damaged[0])}"


def _names(paths: Sequence[Path]) -> str:
    return first_few([p.name for p in paths])


def _entries(folder: str | os.PathLike) -> list[Path]:
    """The entries of ``folder``, sorted; none where it is no folder or cannot be read."""
    path = home_path(folder)
    try:
        return sorted(path.iterdir()) if path.is_dir() else []
    except OSError:
        return []


def _holds_frame_images(entries: list[Path]) -> bool:
    """Whether a folder's ``entries`` hold frame images: the folder is then a video (its frames), whatever else
    it holds (run folders, a dataset's ``manifest.json`` and ``config.json``), so no hint says otherwise."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in entries)


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
