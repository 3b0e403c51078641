"""Infinite, deterministic microworld datasets for every training recipe, and the held-out eval set.

Sample ``i`` of a dataset with seed ``s`` is a pure function of ``(s, i)``: a scene seed is derived
from them, the scene drawn and a clip rendered at a random start frame of the (endless) source video.
Datasets are map-style over the integers in ``[0, 2**64)`` (``ds[i]``) and also iterable (each
DataLoader worker takes every ``num_workers``-th index), so a training run can resume at any sample index.

Training scene seeds lie in ``[0, 2**31)``; evaluation seeds (:data:`EVAL_PROMPTS`) in
``[2**31, 2**32)``, so the held-out set never meets a training scene.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.microworld.captions import caption_for, parse_caption
from streamt2v.microworld.render import FRAME_LIMIT, SceneSpec, render, sample_scene
from streamt2v.typed_values import as_index

TRAIN_SEED_LIMIT = 2**31
EVAL_SEED_BASE = 2**31
DATASET_SEED_LIMIT = 2**32  # a dataset seed is one 32-bit word of the scene seed's SeedSequence
INDEX_LIMIT = 2**64  # a sample index is two 32-bit words of it: index 2**64 drew the sample of index 1

# Held-out evaluation prompts and seeds (paper §5.1-style prompt set, microworld edition). The seeds
# are ≥ EVAL_SEED_BASE, which training never draws.
EVAL_PROMPTS: tuple[tuple[str, int], ...] = (
    ("a red circle bouncing on a blue background", EVAL_SEED_BASE + 0),
    ("a yellow square bouncing fast on a purple background", EVAL_SEED_BASE + 1),
    ("a white triangle bouncing slowly on a green striped background", EVAL_SEED_BASE + 2),
    (
        "an orange diamond bouncing fast on a black checkered background, camera panning left",
        EVAL_SEED_BASE + 3,
    ),
    ("a green circle and a red square bouncing fast on a white background", EVAL_SEED_BASE + 4),
    (
        "a blue diamond and a yellow triangle bouncing slowly on an orange gradient background",
        EVAL_SEED_BASE + 5,
    ),
    (
        "a purple square bouncing fast on a yellow striped background, camera panning right",
        EVAL_SEED_BASE + 6,
    ),
    ("a black circle and a white diamond bouncing fast on a red background", EVAL_SEED_BASE + 7),
    (
        "an orange triangle bouncing slowly on a blue checkered background, camera panning up",
        EVAL_SEED_BASE + 8,
    ),
    (
        "a red square and a blue circle bouncing fast on a green gradient background, camera panning down",
        EVAL_SEED_BASE + 9,
    ),
)


def eval_scene(prompt: str, seed: int) -> SceneSpec:
    """The ground-truth scene of an evaluation ``(prompt, seed)`` pair (for probes)."""
    return sample_scene(seed, parse_caption(prompt))


def _check_seed(seed: int) -> None:
    # only the low 32 bits reach the SeedSequence: -1 and 2**32 - 1 would draw the same samples
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < DATASET_SEED_LIMIT
    ):
        raise ValueError(f"dataset seed must be an int in [0, 2**32), got {seed!r}")


def _check_index(index: object) -> int:
    """``index`` as an int; a float (1.5 drew sample 1), a bool, a str or a slice is a TypeError."""
    value = as_index(index)
    if value is None:
        raise TypeError(f"a sample index must be an int, got {type(index).__name__} {index!r}")
    if not 0 <= value < INDEX_LIMIT:
        raise IndexError(f"sample index must be in [0, 2**64), got {value}")
    return value


def scene_seed(seed: int, index: int) -> int:
    """Training scene seed of sample ``index`` (an int in ``[0, 2**64)``) for dataset ``seed``: in
    ``[0, TRAIN_SEED_LIMIT)``."""
    index = _check_index(index)
    _check_seed(seed)
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index) >> 32, int(index) & 0xFFFFFFFF])
    return int(ss.generate_state(1, np.uint32)[0]) % TRAIN_SEED_LIMIT


@dataclass(frozen=True)
class ClipSpec:
    """What one sample holds: ``num_frames`` frames at ``size`` px, clip start in ``[0, max_start]``.

    ``anchor_frames > 0`` adds an anchor frame drawn from the first ``anchor_frames`` frames of the
    source video (the APM anchor, paper §4.2 / appendix: drawn from the first 16 frames).
    """

    num_frames: int = 16
    size: int = 32
    max_start: int = 200
    anchor_frames: int = 0

    def __post_init__(self) -> None:
        least = {"num_frames": 1, "size": 4, "max_start": 0, "anchor_frames": 0}
        for name, lo in least.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
                # num_frames and size are the recipes' options of those names (--num-frames, --size)
                named = Arg(name) if name in ("num_frames", "size") else f"ClipSpec {name}"
                raise ArgumentValueError(named, f" must be an int ≥ {lo}, got {value!r}")
        # numpy drew the start in int64 ('high is out of bounds' from 2**63) and frames repeat past 2**53
        if self.max_start + self.num_frames > FRAME_LIMIT or self.anchor_frames > FRAME_LIMIT:
            raise ArgumentValueError(
                "ClipSpec max_start + num_frames and anchor_frames",
                f" must be ≤ 2**53, got {self.max_start} + {self.num_frames} and {self.anchor_frames}",
            )


class MicroworldDataset(Dataset):
    """``ds[i]`` → ``{"video": (3, T, H, W) in [-1, 1], "caption": str, "index": i[, "anchor": (3, H, W)]}``.

    Infinite (every non-negative index is valid; ``len()`` is not defined) and deterministic in
    ``(seed, i)``; iterate it directly for an endless stream split across DataLoader workers.
    """

    def __init__(self, spec: ClipSpec, seed: int = 0, start: int = 0) -> None:
        _check_seed(seed)
        if (
            isinstance(start, bool)
            or not isinstance(start, (int, np.integer))
            or not 0 <= start < INDEX_LIMIT
        ):
            raise ValueError(f"start must be a sample index in [0, 2**64), got {start!r}")
        self.spec = spec
        self.seed = int(seed)
        self.start = int(start)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = _check_index(index)
        g = np.random.default_rng(scene_seed(self.seed, index))
        scene = sample_scene(g)
        s = self.spec
        start = int(g.integers(0, s.max_start + 1))
        sample: dict[str, Any] = {
            "video": render(scene, s.num_frames, s.size, start_frame=start),
            "caption": caption_for(scene),
            "index": int(index),
        }
        if s.anchor_frames > 0:
            k = int(g.integers(0, s.anchor_frames))
            sample["anchor"] = render(scene, 1, s.size, start_frame=k)[:, 0]
        return sample

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        i = self.start + wid
        while True:
            yield self[i]
            i += nw

    def stream(self) -> MicroworldStream:
        """This dataset as a torch ``IterableDataset`` (samples ``start, start + 1, ...``), for a
        ``DataLoader`` without a sampler: its workers split the indices. (A ``DataLoader`` given the
        dataset itself treats it as map-style and needs a sampler, since ``len()`` is not defined.)"""
        return MicroworldStream(self)


class MicroworldStream(IterableDataset):
    """The endless sample stream of a :class:`MicroworldDataset`; each DataLoader worker takes every
    ``num_workers``-th index (see :meth:`MicroworldDataset.stream`)."""

    def __init__(self, dataset: MicroworldDataset) -> None:
        self.dataset = dataset

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.dataset)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors, keep strings/ints as lists: ``video`` → ``(B, 3, T, H, W)``."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        vals = [s[key] for s in samples]
        out[key] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out
