"""The probes' chunk boundaries as :func:`~streamt2v.metrics.evaluate.evaluate_videos` takes them: one list of
frame indices for every video, or a list (or None, the default plan) per video, where each has its own plan
(a ``generate`` run's, as its manifest records it) (:func:`checked_plans`)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

from streamt2v.wording import counted


def checked_plans(
    boundaries: Sequence[int] | Sequence[Sequence[int] | None] | None, videos: int
) -> tuple[list[int] | list[list[int] | None] | None, bool]:
    """``(boundaries as lists, whether they hold one plan per video)`` for ``videos`` videos; refused (naming
    ``boundaries=``, or the item of it) unless each is a frame index >= 1."""
    if isinstance(boundaries, Mapping):  # a report's config["boundaries"] maps its videos' labels
        raise TypeError(
            "boundaries= takes one list of frame indices for every video, or a list (or None) per video in the "
            "videos' order, not a mapping: give [boundaries[path] for path in videos]"
        )
    if boundaries is not None and not isinstance(boundaries, (str, bytes)):
        boundaries = list(boundaries)  # read once: an iterator is empty after the look for per-video lists
    each = per_video(boundaries)
    if each:  # one plan a video, None for the default (a run folder's recorded plan beside other videos)
        if len(boundaries) != videos:
            raise ValueError(
                f"got {counted(videos, 'video')} but boundaries for {len(boundaries)}; give one list (or "
                "None) per video, or one list for all"
            )
        for j, b in enumerate(boundaries):
            if b is not None and (isinstance(b, str) or not isinstance(b, Sequence)):
                raise TypeError(f"boundaries[{j}] must be a list of frame indices or None, got {b!r}")
        return [
            None if b is None else _checked_boundaries(b, f"boundaries[{j}]")
            for j, b in enumerate(boundaries)
        ], True
    return (None if boundaries is None else _checked_boundaries(boundaries)), False


def per_video(boundaries: object) -> bool:
    """Whether ``boundaries`` (given, made a list, or read from a partial report) holds a list (or None) per
    video rather than one list of frame indices."""
    return isinstance(boundaries, (list, tuple)) and any(
        b is None or (isinstance(b, Sequence) and not isinstance(b, str)) for b in boundaries
    )


def _checked_boundaries(boundaries: Sequence[int], name: str = "boundaries") -> list[int]:
    """``boundaries`` as a list, refused unless each is a frame index >= 1 (``name``: the argument, or the
    item of it, as the error names it)."""
    boundaries = list(boundaries)
    bad = [b for b in boundaries if isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1]
    if bad:  # would otherwise skip every video with the same error
        raise ValueError(f"{name}: chunk boundaries must be frame indices >= 1, got {bad}")
    return boundaries
