"""Which samples and random draws each training step takes, so that a run can be repeated and split.

Sample ``i`` of a dataset is a pure function of ``(seed, i)`` and step ``s`` of a run consumes the global
sample indices ``((s * accum + m) * world + rank) * batch + j`` (:class:`IndexStream`); every random draw
of a micro-batch (noise, timesteps, condition dropout) comes from a CPU generator seeded by
``(seed, s, m * world + rank)``, the micro-batch's place in the step (:func:`step_seed`), and the global
torch RNG, which dropout layers draw from, is reseeded from the same triple before each micro-batch
(:data:`GLOBAL_RNG_STREAM`). A resumed run therefore repeats the uninterrupted one exactly, and a run on
``world`` processes with ``grad_accum = A`` takes the steps of a one-process run with ``grad_accum = world *
A`` (same samples, draws and averaged gradient, up to float summation order), so a multi-GPU run can be
checked, or continued, on fewer devices.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from streamt2v.train.train_config import TrainConfig


class IndexStream(Sampler[int]):
    """Global sample indices of one process from ``start_step`` on (endless)."""

    def __init__(self, start_step: int, cfg: TrainConfig, rank: int, world: int) -> None:
        self.start_step, self.cfg, self.rank, self.world = start_step, cfg, rank, world

    def __iter__(self) -> Iterator[int]:
        c = self.cfg
        k = self.start_step * c.grad_accum  # micro-batch counter
        while True:
            base = (k * self.world + self.rank) * c.batch_size
            yield from range(base, base + c.batch_size)
            k += 1


def step_seed(seed: int, step: int, micro: int, *, stream: int = 0x5EED) -> int:
    """Seed of the generator for the random draws of micro-batch ``micro`` of ``step``, numbered across
    processes (``micro * world + rank``) so the draws do not depend on how the step is split.
    ``stream`` tells independent seeds of the same micro-batch apart (:data:`GLOBAL_RNG_STREAM`)."""
    # the 0 keeps the draws of runs made when the rank was a separate entry (one process: rank 0)
    ss = np.random.SeedSequence([seed & 0xFFFFFFFF, step, micro, 0, stream])
    return int(ss.generate_state(1, np.uint64)[0] >> 1)


# The global torch RNG's seed for a micro-batch: dropout layers of the trained network draw from it, so
# it is reseeded per micro-batch rather than carried over (whatever else consumed it, e.g. a DataLoader
# starting after a resume, the masks stay those of the uninterrupted run).
GLOBAL_RNG_STREAM = 0xD209
