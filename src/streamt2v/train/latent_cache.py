"""Training clips whose VAE latents are computed once (the ``latent_cache`` option of the video recipes).

Encoding every batch with the frozen VAE is 25–35% of a ``base`` step on the CPU (32×32 microworld,
``docs/training.md``). :class:`LatentCache` encodes the first ``num_clips`` samples of a dataset once,
up front, and then serves them for every sample index: index ``i`` is clip ``perm_e[i mod n]`` with
``perm_e`` a permutation drawn from ``(seed, e = i // n)``, so each pass visits every clip once in a new
order and a resumed run sees exactly the samples of an uninterrupted one. The trade is a finite
training set: choose ``num_clips`` so each clip is seen a few times over the run.

Samples carry ``"latents"`` (scaled VAE posterior modes, float32, exactly what the trainer would
compute) instead of the full ``"video"``; ``"video"`` keeps only the first ``pixel_frames`` frames
(float16), which the stream recipe still needs in pixels for its CAM conditioning. Other keys
(caption, anchor) are kept as they are.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from streamt2v.microworld.dataset import collate
from streamt2v.progress_bars import progress_bar

logger = logging.getLogger(__name__)


class LatentCache(Dataset):
    """``ds[i]`` → the cached sample of clip ``perm_{i // n}[i mod n]`` (module docstring)."""

    def __init__(
        self,
        source: Dataset,
        vae: Any,
        num_clips: int,
        seed: int = 0,
        pixel_frames: int = 0,
        batch_size: int = 16,
        progress: bool = True,
    ) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be ≥ 1, got {num_clips}")
        if pixel_frames < 0:
            raise ValueError(f"pixel_frames must be ≥ 0, got {pixel_frames}")
        self.num_clips = int(num_clips)
        self.seed = int(seed)
        if hasattr(source, "fingerprint"):  # a folder of videos: a resume compares what the clips came from
            self.fingerprint = source.fingerprint
        self._perms: dict[int, np.ndarray] = {}
        t0 = time.perf_counter()
        latents, pixels, extras = [], [], []
        bar = progress_bar(total=num_clips, desc="caching latents", unit="clip", disable=not progress)
        for start in range(0, num_clips, batch_size):
            batch = collate([source[i] for i in range(start, min(start + batch_size, num_clips))])
            video = batch.pop("video")  # (b, 3, T, H, W)
            latents.append(vae.encode(video).float().cpu())
            pixels.append(video[:, :, :pixel_frames].to(torch.float16))
            extras.extend(dict(zip(batch, vals)) for vals in zip(*batch.values()))
            bar.update(video.shape[0])
        bar.close()
        self.latents = torch.cat(latents)  # (n, c, T, h, w)
        self.pixels = torch.cat(pixels)  # (n, 3, pixel_frames, H, W)
        self.extras = extras
        mb = (self.latents.nbytes + self.pixels.nbytes) / 2**20
        logger.info(
            "latent cache: %d clips, %.0f MiB, built in %.0f s", num_clips, mb, time.perf_counter() - t0
        )

    def clip_of(self, index: int) -> int:
        """Which cached clip sample ``index`` serves."""
        if index < 0:
            raise IndexError(f"sample index must be ≥ 0, got {index}")
        epoch, pos = divmod(int(index), self.num_clips)
        perm = self._perms.get(epoch)
        if perm is None:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, epoch, 0xCAC4E])
            perm = self._perms.setdefault(epoch, rng.permutation(self.num_clips))
        return int(perm[pos])

    def __getitem__(self, index: int) -> dict[str, Any]:
        k = self.clip_of(index)
        sample = dict(self.extras[k])
        sample["latents"] = self.latents[k]
        sample["video"] = self.pixels[k].float()
        sample["index"] = int(index)
        return sample
