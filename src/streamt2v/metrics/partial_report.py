"""What a stopped ``streamt2v evaluate --out FILE`` keeps: ``FILE.partial`` beside the results file.

MAWE takes minutes per long video on a CPU (bench/results/metrics_cpu.md), so a comparison set takes hours,
and a Ctrl-C, a SIGTERM or a crash lost every score. The scores are written to ``FILE.partial`` after every
video (atomically); ``--resume`` takes them back, each only while its video (size and modification time;
for a folder of frames, its files') and its prompt are as they were, and the settings and the devices the
networks ran on are the same. The partial file is removed once ``FILE`` is written. Skipped videos are tried again on a resume.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.io.folders import atomic_write_file, remove_atomic_write_leftovers
from streamt2v.metrics.boundaries import per_video
from streamt2v.metrics.devices import check_same_devices
from streamt2v.metrics.evaluate import NATIVE_FLOW_SIZE
from streamt2v.wording import counted

PARTIAL_FORMAT = 1


def partial_path(out: str | os.PathLike) -> Path:
    """``results.json`` -> ``results.json.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def video_stamp(video: str | os.PathLike) -> list[int]:
    """What tells a video file (or folder of frames) changed since it was scored: ``[size, mtime_ns]`` of a
    file, ``[files, total size, newest mtime_ns, its own mtime_ns]`` of a folder."""
    path = Path(video)
    if path.is_dir():  # the folder's own time changes with a frame renamed, added or removed
        stats = [p.stat() for p in path.iterdir() if p.is_file()]
        newest = max((s.st_mtime_ns for s in stats), default=0)
        return [len(stats), sum(s.st_size for s in stats), newest, path.stat().st_mtime_ns]
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def save_partial(
    out: str | os.PathLike,
    config: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    stamps: Mapping[str, Any],
) -> Path:
    """Write the records scored so far (``stamps``: each record's path -> ``{"video": video_stamp, "prompt":
    its prompt or None}``, and ``"boundaries"``: its own chunk plan where it has one) to ``out``'s partial
    file, atomically; returns its path."""
    path = partial_path(out)
    data = {
        "format": PARTIAL_FORMAT,
        "config": dict(config),
        "records": [dict(r) for r in records],
        "stamps": {str(r["path"]): stamps[str(r["path"])] for r in records},
    }
    path.parent.mkdir(parents=True, exist_ok=True)  # as the results file's (EvaluationReport.save)
    # allow_nan: the values go back to Python only (an infinite MAWE, a probe's nan), exactly
    atomic_write_file(path, lambda tmp: tmp.write_text(json.dumps(data, allow_nan=True), encoding="utf-8"))
    return path


def load_partial(
    out: str | os.PathLike, config: Mapping[str, Any], stamps: Mapping[str, Any]
) -> tuple[dict[str, dict], int]:
    """The records of ``out``'s partial file that still hold: ``(records by path, how many were left out)``
    (a video changed, removed from the set or given another prompt). Raises if there is no partial file,
    it is unreadable, or it was made with other settings than ``config`` (naming them) or its networks
    ran on other devices."""
    path = partial_path(out)
    if not path.is_file():
        raise FileNotFoundError(
            f"nothing to resume: no {str(path)!r} (a stopped evaluation into {str(out)!r} leaves it; one that "
            "finished removes it)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != PARTIAL_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {PARTIAL_FORMAT}")
        kept, records, old_stamps = dict(data["config"]), list(data["records"]), dict(data["stamps"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"cannot resume from {str(path)!r}: it is not a partial evaluation this version reads ({err}); "
            "start over with --overwrite instead of --resume"
        ) from None
    # where the networks ran: refused apart below, saying which device to give (a partial file of a version that
    # did not record it has no "devices": not compared)
    kept_devices = kept.pop("devices", {})
    # an earlier version kept each video's plan by place, which no flag typed: the plans are in the stamps now,
    # so the records are kept by them (a run's video, whose stamp now holds its plan, is scored again)
    if per_video(kept.get("boundaries")):
        kept["boundaries"] = None
    now = {k: v for k, v in config.items() if k != "devices"}
    # in the config's order (the results file's), each side's metrics in the order given
    changed = tuple(
        (k, kept.get(k), now.get(k))
        for k in dict.fromkeys([*now, *kept])
        if not _same(k, kept.get(k), now.get(k))
    )
    if changed:
        raise ArgumentValueError(
            f"cannot resume from {str(path)!r}: it was scored with other settings (",
            ChangedSettings("settings", changed),
            "); give the same ones, or start over with --overwrite instead of --resume",
        )
    check_same_devices(kept_devices, config.get("devices", {}), str(path))
    # another set's scores (the same --out for another folder): not dropped unsaid
    if records and not any(str(r.get("path")) in stamps for r in records):
        raise ValueError(
            f"cannot resume from {str(path)!r}: it holds the scores of "
            f"{counted(len(records), 'other video')} (such as {str(records[0].get('path'))!r}), none of those "
            "given; give those videos, or start over with "
            "--overwrite instead of --resume"
        )
    reuse = {
        str(r["path"]): r
        for r in records
        if str(r.get("path")) in stamps and old_stamps.get(str(r["path"])) == stamps[str(r["path"])]
    }
    return reuse, len(records) - len(reuse)


def _same(key: str, kept: Any, now: Any) -> bool:
    """Whether a setting is unchanged; the metrics as a set: the order given only orders the report's
    columns."""
    if key == "metrics":
        return sorted(kept or []) == sorted(now or [])
    return kept == now


class ChangedSettings(Arg):
    """The settings a resume changes (``value``: ``(key, kept, now)`` of :func:`evaluation_config`'s fields)
    as each caller names them: ``metrics: ['mawe', 'scuts'] -> ['mawe']`` to Python, the flags with their
    values as typed on the command line (``--metrics mawe,scuts -> mawe``, ``--flow-size 64 -> 0``)."""

    def __str__(self) -> str:
        return "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in self.value)

    @property
    def flag(self) -> str:
        return "; ".join(
            f"{Arg(key).flag} {_as_typed(old)} -> {_as_typed(new)}" for key, old, new in self.value
        )


def _as_typed(value: Any) -> str:
    """A recorded setting as its flag takes it: a list comma-separated (``--boundaries []``: ``none``), the
    videos' own size as ``--flow-size 0``, a number as short as typed (``9.5``, not ``9.50``)."""
    if value is None:
        return "(not given)"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "none"
    if value == NATIVE_FLOW_SIZE:
        return "0"
    if isinstance(value, float):
        return f"{value:g}"
    return shlex.quote(str(value))


def remove_partial(out: str | os.PathLike) -> None:
    """Remove ``out``'s partial file, and the temporaries of writers of it killed mid-write (``kill -9``)."""
    partial_path(out).unlink(missing_ok=True)
    remove_atomic_write_leftovers(partial_path(out))
