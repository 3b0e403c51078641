"""The paper's metrics (MAWE, SCuts, CLIP score; paper §5.1) and the microworld's ground-truth probes.

- :func:`mawe`, :func:`mawe_from_flows`, :func:`compute_flows` — MAWE and optical flow
- :func:`scuts` — number of scene cuts (PySceneDetect ``AdaptiveDetector``)
- :func:`clip_score`, :func:`load_clip`, :class:`ClipScorer` — text–frame CLIP similarity ×100
- :func:`probe_video` — microworld probes from frames alone
- :func:`evaluate_videos`, :class:`EvaluationReport` — score a list of videos (``streamt2v evaluate``)

The functions ``mawe``, ``scuts`` and ``clip_score`` share their names with their modules; they are
imported here eagerly so that the package attribute is always the function. Transformers is imported
only when a CLIP model is loaded, PySceneDetect (and PyAV) only when scene cuts are counted. See
``docs/metrics.md`` for definitions and conventions.
"""

from __future__ import annotations

from streamt2v.metrics.clip_score import ClipScorer, clip_score, load_clip
from streamt2v.metrics.evaluate import EvaluationReport, evaluate_videos
from streamt2v.metrics.flow import compute_flows
from streamt2v.metrics.mawe import MaweResult, mawe, mawe_from_flows
from streamt2v.metrics.probes import ProbeResult, probe_video
from streamt2v.metrics.scuts import scuts

__all__ = [
    "ClipScorer",
    "EvaluationReport",
    "MaweResult",
    "ProbeResult",
    "clip_score",
    "compute_flows",
    "evaluate_videos",
    "load_clip",
    "mawe",
    "mawe_from_flows",
    "probe_video",
    "scuts",
]
