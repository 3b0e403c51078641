"""The paper's metrics (MAWE, SCuts, CLIP score; paper §5.1) and the microworld's ground-truth probes.

Public names are loaded on first use (PEP 562), so ``import streamt2v.metrics`` stays light:

- :func:`mawe`, :func:`mawe_from_flows` (``metrics.mawe``), :func:`compute_flows` (``metrics.flow``)
- :func:`scuts` (``metrics.scuts``)
- :func:`clip_score`, :func:`load_clip`, :class:`ClipScorer` (``metrics.clip_score``)
- :func:`probe_video` (``metrics.probes``)
- :func:`evaluate_videos`, :class:`EvaluationReport` (``metrics.evaluate``)

See ``docs/metrics.md`` for the definitions and conventions.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "compute_flows": "flow",
    "mawe": "mawe",
    "mawe_from_flows": "mawe",
    "MaweResult": "mawe",
    "scuts": "scuts",
    "clip_score": "clip_score",
    "load_clip": "clip_score",
    "ClipScorer": "clip_score",
    "probe_video": "probes",
    "ProbeResult": "probes",
    "evaluate_videos": "evaluate",
    "EvaluationReport": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
