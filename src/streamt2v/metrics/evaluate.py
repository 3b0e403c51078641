"""Score a set of videos with the paper's metrics (paper §5.1, Table 1) and the microworld probes.

:func:`evaluate_videos` reads each video once, computes the requested metrics and returns an
:class:`EvaluationReport`: one record per video (``path`` + one key per metric: ``mawe``, ``scuts``,
``clip_score``, ``probe_identity``, ``probe_background_identity``, ``probe_motion``,
``probe_jump_ratio``, ``probe_caption_agreement``), the mean over videos of each metric (like Table 1),
and the videos that could not be scored (with the reason). Unreadable or unusable videos are skipped,
not fatal; invalid arguments (unknown metric, prompt count mismatch, missing CLIP weights) raise before
any video is processed. :meth:`EvaluationReport.save` writes JSON or CSV, a non-finite value as ``inf``,
``-inf`` or ``nan`` in both (in JSON the strings ``"inf"``, ``"-inf"``, ``"nan"``: infinite, such as a static
video's MAWE, and not measured, such as a probe without objects, stay apart).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamt2v.arguments import (
    Arg,
    ArgumentIsADirectoryError,
    ArgumentValueError,
    FlaggedArg,
    NamesArguments,
    naming_arguments,
)
from streamt2v.io.folders import ExistingOutputError, atomic_write_file, check_writable_parent, home_path
from streamt2v.io.frame_rates import DEFAULT_FPS
from streamt2v.metrics.boundaries import checked_plans
from streamt2v.metrics.flow import (
    DEFAULT_FLOW_SIZE,
    check_flow_backend,
    check_flow_settings,
    check_flow_size,
    note_farneback_upscale,
    require_raft,
)
from streamt2v.metrics.inputs import VideoLike, as_uint8_frames, check_positive
from streamt2v.metrics.mawe import OFFICIAL_COEFF, check_coeff, check_definition, mawe
from streamt2v.metrics.run_target import RunTargets, runs_as_outputs
from streamt2v.progress_bars import progress_bar
from streamt2v.wording import counted, singular_or_plural, unknown_names

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("mawe", "scuts", "clip", "probes")
#: a record's key that each metric always writes
METRIC_KEYS = {"mawe": "mawe", "scuts": "scuts", "clip": "clip_score", "probes": "probe_identity"}
#: ``flow_size`` in a report's config when the flow ran at each video's own size (``flow_size=None``)
NATIVE_FLOW_SIZE = "native"
DEFAULT_METRICS: tuple[str, ...] = ("mawe", "scuts")
# Column titles of the table (↓ lower is better, ↑ higher is better), paper Table 1 style.
TITLES = {
    "mawe": "MAWE↓",
    "scuts": "SCuts↓",
    "clip_score": "CLIP↑",
    "probe_identity": "identity↑",
    "probe_background_identity": "bg-id↑",
    "probe_motion": "motion",
    "probe_jump_ratio": "jump≈1",
    "probe_caption_agreement": "caption↑",
}


# the metrics asked for: metrics= to a Python caller, --metrics on the command line
_METRICS = FlaggedArg("metrics=", flag="--metrics")


def parse_metrics(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"mawe,scuts"`` or a sequence → validated metric names, in the order given; refused naming
    ``metrics=`` (``--metrics`` after :meth:`~streamt2v.arguments.NamesArguments.as_flags`)."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise ArgumentValueError(
            "no metric given in ", _METRICS, f" ({spec!r}); choose one or more of {','.join(METRICS)}"
        )
    if bad := unknown_names(names, METRICS):  # names, not a Python list's repr
        raise ArgumentValueError(
            f"unknown {singular_or_plural(len(bad), 'metric')} in ",
            _METRICS,
            f": {', '.join(bad)}; choose from {','.join(METRICS)}",
        )
    return tuple(dict.fromkeys(names))


@dataclass
class EvaluationReport:
    """Per-video records, their means and the skipped videos (``{"path": ..., "error": reason}``)."""

    records: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    # each entry of skipped with its error, whose reason as_flags spells for the command line; never saved
    _skip_errors: list[tuple[dict, Exception]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def skip(self, path: str, err: Exception) -> None:
        """Record the video ``path`` as skipped, its reason ``err``'s message (naming Python's arguments)."""
        entry = {"path": path, "error": str(err)}
        self.skipped.append(entry)
        self._skip_errors.append((entry, err))

    def as_flags(self) -> EvaluationReport:
        """A copy of this report whose skipped videos' reasons name the command line's flags where they name
        arguments (``use a larger flow size (--flow-size) or --flow farneback``, where a Python caller reads
        ``flow_size`` and ``flow='farneback'``): for the reader of a command line, in its lines and the file
        it writes, as :meth:`~streamt2v.arguments.NamesArguments.as_flags` is for an error. This report is
        left as it is."""
        flagged = EvaluationReport(copy.deepcopy(self.records), config=copy.deepcopy(self.config))
        errors = {id(entry): err for entry, err in self._skip_errors}
        for entry in self.skipped:
            err = errors.get(id(entry))  # None: an entry put in by hand, whose reason is only its text
            said = dict(entry)
            if isinstance(err, NamesArguments):
                said["error"] = err.spelled(flags=True)
            flagged.skipped.append(said)
            if err is not None:
                flagged._skip_errors.append((said, err))
        return flagged

    @property
    def keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for r in self.records:
            keys.update({k: None for k in r if k != "path"})
        return list(keys)

    @property
    def means(self) -> dict[str, float]:
        """Mean of each metric over the scored videos (``nan`` values ignored; ``inf`` propagates). The mean
        of ``frames`` is a frame count like the column's: to one decimal, an int when whole (``18``, ``18.5``),
        the same in the table, the CSV and the JSON."""
        out = {}
        for k in self.keys:
            vals = [
                r[k] for r in self.records if k in r and not (isinstance(r[k], float) and math.isnan(r[k]))
            ]
            out[k] = float(np.mean(vals)) if vals else math.nan
        if math.isfinite(out.get("frames", math.nan)):
            out["frames"] = _count(out["frames"])
        return out

    def as_dict(self) -> dict:
        return {"records": self.records, "mean": self.means, "skipped": self.skipped, "config": self.config}

    def table(self) -> str:
        """A plain-text table: one row per video (its file name; where two share one, such as ``runA/out.mp4``
        and ``runB/out.mp4``, the shortest end of its path that tells them apart) and a final ``mean`` row
        (paper Table 1 style)."""
        keys = self.keys
        titles = dict(TITLES)
        definition = self.config.get("mawe_definition")
        if definition not in (None, "official"):  # another scale: not comparable with the default's column
            titles["mawe"] = f"MAWE({definition})↓"
        head = ["video"] + [titles.get(k, k) for k in keys]
        names = _short_names([str(r["path"]) for r in self.records])
        rows = [[n] + [_fmt(r.get(k)) for k in keys] for n, r in zip(names, self.records)]
        means = self.means
        rows.append(["mean"] + [str(means[k]) if k == "frames" else _fmt(means[k]) for k in keys])
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

        def line(row: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            )

        sep = "-" * len(line(head))
        return "\n".join([line(head), sep, *map(line, rows[:-1]), sep, line(rows[-1])])

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``.json`` (records, mean, skipped, config) or ``.csv`` (one row per video + ``mean``; with
        skipped videos, their rows too and an ``error`` column), atomically. An existing file is a
        ``FileExistsError`` naming it, replaced only with ``overwrite=True``, as every writer of the library
        does; a folder is never replaced. Non-finite values are written ``inf``, ``-inf`` and ``nan`` in both:
        in JSON as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (strict JSON: jq and JavaScript reject a bare
        ``Infinity`` or ``NaN``; ``float()`` reads them back). ``"inf"`` is a value (a static video's MAWE, a
        jump ratio of objects that move only at chunk boundaries), ``"nan"`` one that could not be measured (a
        probe without objects, chunk boundaries or a caption naming a colour; a mean over no value); ``null``
        is only a config setting left at its default, and a metric not asked for has no key."""
        given, path = str(path), home_path(path)  # ~/report.json, as the command line's --out takes it
        suffix = path.suffix.lower()
        # a folder first: the existing-file refusal's overwrite=True would not do
        _check_report_name(path, given)
        if path.exists() and not overwrite:  # in the words of the folder's refusal: path= (--out) as given
            raise ExistingOutputError(
                _REPORT_PATH, f" {given!r} already exists; pass ", Arg("overwrite", True), " to replace it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                if suffix == ".json":
                    json.dump(_json_value(self.as_dict()), fh, indent=1, allow_nan=False)
                else:
                    writer = csv.writer(fh)
                    # a skipped video gets a row too (its metrics empty, the reason in an error column), so a
                    # table read from the CSV alone shows which videos of the set have no scores
                    error = ["error"] if self.skipped else []
                    writer.writerow(["path", *self.keys, *error])
                    for r in self.records:
                        writer.writerow([r["path"], *[r.get(k, "") for k in self.keys], *[""] * len(error)])
                    for s in self.skipped:
                        writer.writerow([s["path"], *[""] * len(self.keys), s["error"]])
                    means = self.means
                    writer.writerow(["mean", *[means[k] for k in self.keys], *[""] * len(error)])

        atomic_write_file(path, write)
        return path


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM in the command line) while :func:`evaluate_videos` runs: ``report`` holds the
    videos scored (and skipped, counted apart in the message) before it, of ``total``; ``of``: the total as the message says it (``5 videos
    and run folders``: :meth:`~streamt2v.metrics.run_target.RunTargets.counted`), by default ``total`` videos."""

    def __init__(self, report: EvaluationReport, total: int, of: str | None = None) -> None:
        scored, skipped = len(report.records), len(report.skipped)
        # the skipped apart: "their results" and "the videos scored" that follow are the scored ones alone
        split = f" ({scored or 'none'} scored, {skipped} skipped)" if skipped else ""
        super().__init__(f"stopped after {scored + skipped} of {of or counted(total, 'video')}{split}")
        self.report, self.total = report, total


def _short_names(paths: Sequence[str]) -> list[str]:
    """Each path's shortest ending (in whole parts) that no other path ends with."""
    parts = [Path(p).parts for p in paths]
    out = []
    for mine in parts:
        others = [p for p in parts if p != mine]
        k = next(
            (k for k in range(1, len(mine)) if all(p[-k:] != mine[-k:] for p in others)),
            len(mine),
        )
        out.append(str(Path(*mine[-k:])) if mine else "")
    return out


def _count(mean: float) -> int | float:
    """A mean count (``frames``) as the column prints counts: to one decimal, an int when whole."""
    rounded = round(mean, 1)
    return int(rounded) if rounded.is_integer() else rounded


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.2f}" if abs(v) >= 10 or not math.isfinite(v) else f"{v:.3f}"


def check_report_path(path: str | os.PathLike) -> Path:
    """Raise (before any scoring) unless :meth:`EvaluationReport.save` can write ``path``: a ``.json`` or
    ``.csv`` name that is not a folder, whose nearest existing parent is a writable folder."""

    given, path = str(path), home_path(path)
    _check_report_name(path, given)
    with naming_arguments(_REPORT_PATH) as (name,):
        check_writable_parent(path, name)
    return path


# The report's file: save()'s and check_report_path's path=, the command line's --out.
_REPORT_PATH = FlaggedArg("path", flag="--out")


def _check_report_name(path: Path, given: str) -> None:
    """Refuse a report ``path`` (``given`` so: named as the caller wrote it) that is no ``.json`` or ``.csv``
    file name, or is a folder (save's and :func:`check_report_path`'s one wording)."""
    if path.suffix.lower() not in (".json", ".csv"):
        raise ArgumentValueError(_REPORT_PATH, f" must end in .json or .csv, got {given!r}")
    if path.is_dir():
        raise ArgumentIsADirectoryError(
            _REPORT_PATH, f" {given!r} is a folder; give a .json or .csv file name"
        )


# the clip metric's model as each caller gives it (a ClipScorer only from Python)
_CLIP_MODEL = FlaggedArg(
    "clip_model= (a CLIP folder, a hub id, 'microworld' or a ClipScorer)",
    flag="--clip-model (a CLIP folder, a hub id, or 'microworld' for microworld videos)",
)


def clip_refusal(
    clip_model: object, targets: RunTargets, prompts: Sequence[str | None] | None
) -> ArgumentValueError | None:
    """Why the clip metric cannot score ``targets`` (:func:`~streamt2v.metrics.run_target.runs_as_outputs`) with
    ``clip_model`` and ``prompts`` (one per target; None: none given), or None; one order for
    :func:`evaluate_videos` and the command line. The model before the videos without a prompt: every
    evaluation with clip needs it, whatever its videos, and its refusal says what it may be (``'microworld'``,
    the shipped one); which videos lack a prompt depends on the targets (a run folder of one prompt brings its
    own, a folder of runs is skipped). Prompts that cannot be used (a count that is not one per video, an
    empty one; the command line's ``--prompts`` file unreadable) are refused before both, by both callers:
    they are read and checked first."""
    if clip_model is None:
        return ArgumentValueError("the clip metric needs ", _CLIP_MODEL)
    return targets.prompt_refusal(prompts)


def check_mawe_settings(
    coeff: float, flow: str = "dis", raft_weights: str | os.PathLike | None = None
) -> None:
    """Raise (before any video is scored) on a MAWE setting that would fail for every video."""
    check_coeff(coeff, "mawe_coeff")
    if flow == "raft":
        require_raft(raft_weights)


def checked_prompts(prompts: Sequence[str], videos: int) -> list[str]:
    """``prompts`` as a list, refused unless it holds one prompt per video."""
    if isinstance(prompts, str):
        raise TypeError(f"prompts must be a list (one per video), got the single str {prompts!r}")
    prompts = list(prompts)
    if len(prompts) != videos:
        raise ValueError(
            f"got {counted(videos, 'video')} but {counted(len(prompts), 'prompt')}; give one prompt per video"
        )
    return prompts


def evaluation_config(
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    clip_model=None,
    flow: str = "dis",
    flow_size: int | None = DEFAULT_FLOW_SIZE,
    mawe_coeff: float = OFFICIAL_COEFF,
    mawe_definition: str = "official",
    boundaries: Sequence[int] | Mapping[str, Sequence[int] | None] | None = None,
    raft_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """The settings a report's scores depend on, as :func:`evaluate_videos` records them in its ``config``;
    ``boundaries``: one list for all videos, or each video's by its record's ``path`` (None: the default
    plan); ``devices``: where its networks ran (:func:`~streamt2v.metrics.devices.network_devices`)."""
    from streamt2v.metrics.devices import network_devices

    metrics = parse_metrics(metrics)
    return dict(
        metrics=list(metrics),
        flow=flow,
        # None (the CLI's --flow-size 0) is the videos' own size: "native", since null in the config means
        # a setting left at its default (720), at which the MAWE differs
        flow_size=NATIVE_FLOW_SIZE if flow_size is None else flow_size,
        mawe_coeff=mawe_coeff,
        mawe_definition=mawe_definition,
        raft_weights=None if raft_weights is None else str(raft_weights),
        clip_model=None if clip_model is None else str(clip_model),
        # the probes' jump ratio depends on them; None: the StreamingT2V plan 16, 24, 32, ...; each video's by
        # its path where videos have their own (run folders): matched to records, a skipped video's too
        boundaries=None
        if boundaries is None
        else {str(k): None if b is None else list(b) for k, b in boundaries.items()}
        if isinstance(boundaries, Mapping)
        else list(boundaries),
        devices=network_devices(metrics, flow, clip_model, device),
    )


def evaluate_videos(
    videos: Sequence[VideoLike],
    prompts: Sequence[str] | None = None,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    clip_model=None,
    flow: str = "dis",
    flow_size: int | None = DEFAULT_FLOW_SIZE,
    mawe_coeff: float = OFFICIAL_COEFF,
    mawe_definition: str = "official",
    boundaries: Sequence[int] | Sequence[Sequence[int] | None] | None = None,
    fps: float = DEFAULT_FPS,
    progress: bool = False,
    raft_weights: str | os.PathLike | None = None,
    clip_batch_size: int = 32,
    names: Sequence[str] | None = None,
    reuse: Mapping[str, dict] | None = None,
    on_video: Callable[[EvaluationReport], None] | None = None,
    device: str | torch.device | None = None,
) -> EvaluationReport:
    """Score ``videos`` (paths, uint8 ``(T, H, W, 3)`` arrays or ``[-1, 1]`` tensors). A ``generate`` run
    folder's path stands for its output, recorded by that path, at the chunk boundaries its manifest records
    (``boundaries`` given win), and its prompt its config's where it has one and ``prompts`` gives it none;
    a run that cannot be scored so (unfinished, its output gone or replaced), a folder of runs, or a run's
    folder whose manifest has lost its format version (naming the manifest), is skipped with its reason, as an
    unreadable video is; a run given twice, or with its output, is refused (the command line's reading of
    them: :func:`~streamt2v.metrics.run_target.runs_as_outputs`).

    ``metrics``: any of ``mawe``, ``scuts``, ``clip``, ``probes``. ``clip`` needs ``prompts`` (one per
    video; None in it: a video without one, such as a run folder that brings its own) and ``clip_model`` (a
    folder, hub id or :class:`~streamt2v.metrics.clip_score.ClipScorer`).
    ``probes`` use the prompts as captions when given, and chunk ``boundaries`` (default ``None``: the
    StreamingT2V plan 16, 24, 32, … of :func:`~streamt2v.metrics.probes.probe_video`; indices past a
    video's end are dropped): one list for all videos, or a list per video where each has its own plan (a
    run's), None in it for a video of the default plan; the report's config then maps each video's ``path``
    to its list (one video given twice keeps one). ``names`` label in-memory videos in the records. Videos
    of fewer than 2 frames are skipped when MAWE is asked for (it needs a pair), scored otherwise. Ctrl-C raises
    :class:`EvaluationInterrupted` (a ``KeyboardInterrupt``) whose ``report`` holds the videos scored so far.
    ``reuse``: records already scored, by their ``path``: those videos are not read again (a resumed run,
    :mod:`streamt2v.metrics.partial_report`); ``on_video(report)`` is called after each video (scored,
    reused or skipped) with the report so far. ``device`` (``"auto"``, ``"cpu"``, ``"cuda:1"``, a
    ``torch.device``): where the CLIP and RAFT networks run (the other metrics run on the CPU); None, each
    one's default: CLIP on the CPU, RAFT on the GPU when there is one. A ``ClipScorer`` given keeps its own
    device (one on another is refused).
    """
    from streamt2v.metrics.clip_score import ClipScorer, check_batch_size, check_prompt, load_clip
    from streamt2v.metrics.probes import probe_video
    from streamt2v.metrics.scuts import scuts

    chosen = parse_metrics(metrics)
    if isinstance(videos, (str, os.PathLike)):  # list("a.mp4") would be five one-letter "videos"
        raise TypeError(
            f"videos must be a list of videos, got the single path {str(videos)!r}; wrap it in a list"
        )
    # a run folder is its output, at its manifest's chunk boundaries unless boundaries= are given
    targets = runs_as_outputs(list(videos))  # a run folder given twice refused, as on the command line
    videos, plans = targets.videos, targets.plans
    unscorable = {**targets.unscorable, **targets.not_videos}  # skipped in their places, with why
    if not videos:
        raise ValueError("no videos to evaluate")
    check_flow_backend(flow)
    check_definition(mawe_definition)
    if "mawe" in chosen:
        check_flow_settings(flow, flow_size)
    else:
        check_flow_size(flow_size)
    check_positive(fps, "fps")
    if boundaries is None and plans and "probes" in chosen:
        boundaries = [plans.get(i) for i in range(len(videos))]
    boundaries, per_video = checked_plans(boundaries, len(videos))
    if "mawe" in chosen:
        check_mawe_settings(mawe_coeff, flow, raft_weights)
    for label, record in (reuse or {}).items():  # scores taken back must be of the metrics asked for
        lacking = [m for m in chosen if METRIC_KEYS[m] not in record]
        if lacking:
            raise ValueError(f"reuse[{label!r}] has no {lacking[0]!r} (asked for): score that video again")
    if prompts is not None:
        prompts = checked_prompts(prompts, len(videos))
    if names is not None and len(names) != len(videos):
        raise ValueError(f"got {counted(len(videos), 'video')} but {counted(len(names), 'name')}")
    if {"clip", "probes"} & set(chosen):  # the metrics that read them; a run's own prompt where none is given
        prompts = targets.with_own_prompts(prompts)
        for j, p in enumerate(prompts or ()):
            if p is not None:  # None: the video has none (the probes take no caption; clip refuses it)
                check_prompt(p, f"prompts[{j}]")
    given_device = device  # named in errors as the caller gave it ('auto'), beside what it resolved to
    if device is not None:  # an absent GPU named before any model is loaded or video read
        from streamt2v.memory import resolve_device

        device = resolve_device(device)
    labels = [
        names[i] if names is not None else str(v) if isinstance(v, (str, os.PathLike)) else f"video_{i}"
        for i, v in enumerate(videos)
    ]
    # CLIP (seconds to load, maybe a download) only where a video will be read: not for targets all skipped
    # (run folders that cannot be scored) or all taken back from reuse=
    reads_any = any(i not in unscorable and label not in (reuse or {}) for i, label in enumerate(labels))
    scorer = None
    if "clip" in chosen:
        if refusal := clip_refusal(clip_model, targets, prompts):
            raise refusal
        check_batch_size(clip_batch_size, "clip_batch_size")
        if (
            isinstance(clip_model, ClipScorer)
            and device is not None
            and not _same_device(clip_model.device, device)
        ):
            resolved = "" if str(given_device) == str(device) else f" (here {device})"
            raise ValueError(
                f"clip_model is a ClipScorer on {clip_model.device}, not on device {str(given_device)!r}{resolved}: "
                "load it there (load_clip(..., device=)) or leave device out"
            )
        if isinstance(clip_model, ClipScorer):
            scorer = clip_model
        elif reads_any:
            scorer = load_clip(clip_model, device)
    report = EvaluationReport(
        config=evaluation_config(
            metrics=chosen,
            clip_model=clip_model,
            flow=flow,
            flow_size=flow_size,
            mawe_coeff=mawe_coeff,
            mawe_definition=mawe_definition,
            boundaries=dict(zip(labels, boundaries)) if per_video else boundaries,
            raft_weights=raft_weights,
            device=device,
        )
    )
    noted = flow != "farneback"  # Farneback's failing on upscaled frames, said once (note_farneback_upscale)
    said = _as_given(targets, labels)
    # counted by hand, not iterated: an iterated bar closes itself after the last target, naming it
    bar = progress_bar(total=len(videos), desc="evaluate", unit="video", disable=not progress)
    try:
        for i, video in enumerate(videos):
            label = labels[i]
            # after the counts, so a narrow terminal cuts the name, not how far the evaluation got
            bar.set_postfix_str(" ".join(said[i][:2]))
            if reuse is not None and label in reuse:
                report.records.append(dict(reuse[label]))
                if on_video is not None:
                    on_video(report)
                bar.update()
                continue
            try:
                if i in unscorable:  # a run folder whose output cannot be scored at its plan
                    raise unscorable[i]
                frames = as_uint8_frames(video, min_frames=1)
                if len(frames) < 2 and "mawe" in chosen:  # SCuts, CLIP and the probes take one frame too
                    raise ValueError(
                        f"the video has {len(frames)} frame; MAWE needs at least 2 (the flow of a pair)"
                    )
                record: dict = {"path": label, "frames": int(frames.shape[0])}
                if "mawe" in chosen:
                    noted = noted or note_farneback_upscale(*frames.shape[1:3], flow_size, label)
                    res = mawe(
                        frames,
                        coeff=mawe_coeff,
                        definition=mawe_definition,
                        flow=flow,
                        flow_size=flow_size,
                        raft_weights=raft_weights,
                        device=device,
                        progress=progress,  # a 240-frame video at 720x720 takes minutes: a bar per video
                        name=label,  # an infinite MAWE is logged naming the video
                    )
                    record["mawe"] = res.mawe
                if "scuts" in chosen:
                    record["scuts"] = scuts(frames, fps=fps)
                if scorer is not None:
                    record["clip_score"] = scorer.score(frames, prompts[i], batch_size=clip_batch_size)
                if "probes" in chosen:
                    mine = boundaries[i] if per_video else boundaries
                    b = None if mine is None else [x for x in mine if x < len(frames)]
                    caption = prompts[i] if prompts is not None else None
                    record.update(
                        probe_video(frames, caption=caption, boundaries=b, progress=progress).as_dict()
                    )
            except (ValueError, FileNotFoundError, OSError, RuntimeError) as err:
                # Reported by the caller from report.skipped (the CLI prints one line per skipped video).
                logger.debug("skipping %s: %s", label, err, exc_info=True)  # -v: where it came from
                report.skip(label, err)
                outcome = "skipped"  # why: the caller says it, once
            else:
                report.records.append(record)
                outcome = "done"
            if on_video is not None:
                on_video(report)
            bar.update()
            if not progress:  # a batch job's log says how far the run got (once on_video kept it)
                what, name, output = said[i]
                logger.info("%s %d/%d %s: %s%s", what, i + 1, len(videos), outcome, name, output)
    except KeyboardInterrupt:  # the videos scored so far are not lost with the rest (the CLI prints them)
        raise EvaluationInterrupted(report, len(videos), targets.counted()) from None
    finally:  # the bar left counts the targets: it names none of them (not the last)
        bar.set_postfix_str("", refresh=False)
        bar.close()
    return report


def _as_given(targets: RunTargets, labels: list[str]) -> list[tuple[str, str, str]]:
    """Each target as the user gave it, for the bar and the log lines: what it is, its name and, for a run
    folder scored, its output (the record's path, which the user did not type)."""
    return [
        ("run folder", targets.runs[i], "" if i in targets.unscorable else f" (its output {label})")
        if i in targets.runs
        else ("video", label, "")
        for i, label in enumerate(labels)
    ]


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether ``a`` and ``b`` are one device (``cuda`` is the current GPU, ``cuda:0`` too where no index
    is given to tell them apart)."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _json_value(value: Any) -> Any:
    """``value`` with every non-finite float as the string ``"inf"``, ``"-inf"`` or ``"nan"``, as the CSV and
    the table write them: strict JSON (jq and JavaScript reject a bare ``Infinity`` or ``NaN``) in which
    infinite and not measured stay apart (``null`` was both). ``float()`` reads them back."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value
