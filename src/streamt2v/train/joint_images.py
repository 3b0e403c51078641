"""Joint image-video training data: each training clip comes with single frames of other videos.

Video diffusion models learn appearance faster when images are trained beside the clips, as 1-frame
videos (Ho et al. 2022, "Video Diffusion Models" §3.2; ModelScope T2V trains on images jointly): the
16 frames of one clip show one scene, so a batch of B clips teaches colours and shapes from only B
scenes, while B·K extra frames from other videos cost far less than B·K more clips.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

# The image dataset's seed is the run's seed plus this, so its videos are drawn apart from the clips'.
IMAGE_SEED_OFFSET = 0x1A6E5


class WithImages(Dataset):
    """``ds[i]`` = ``clips[i]`` plus ``"images"`` ``(K, 3, H, W)`` and ``"image_captions"`` (K strings).

    The images of sample ``i`` are items ``i·K … i·K+K-1`` of ``frames``, a 1-frame dataset of the same
    source built with its own seed, so they come from other videos than the clips and from each other.
    Valid for every index the wrapped datasets accept; ``len()`` is that of ``clips`` when it has one.
    """

    def __init__(self, clips: Dataset, frames: Dataset, per_clip: int) -> None:
        if per_clip < 1:
            raise ValueError(f"images per clip must be ≥ 1, got {per_clip}")
        self.clips = clips
        self.frames = frames
        self.per_clip = int(per_clip)
        if hasattr(clips, "fingerprint") or hasattr(frames, "fingerprint"):  # a resume compares them
            self.fingerprint = self._fingerprint

    def _fingerprint(self) -> dict[str, Any]:
        """The clips' fingerprint (a folder of videos'), with the images' under ``"images"`` where they are
        drawn from other videos or captions: what a resume compares to tell whether the samples changed."""
        clips, frames = (
            d.fingerprint() if hasattr(d, "fingerprint") else None for d in (self.clips, self.frames)
        )
        if clips is None or frames is None or frames == clips:
            return clips or frames
        return {**clips, "images": frames}

    def __len__(self) -> int:
        return len(self.clips)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.clips[index])
        k = self.per_clip
        items = [self.frames[index * k + j] for j in range(k)]
        for item in items:
            if item["video"].shape[1] != 1:
                raise ValueError(f"the image dataset must serve 1-frame clips, got {item['video'].shape[1]}")
        sample["images"] = torch.stack([item["video"][:, 0] for item in items])
        sample["image_captions"] = [item["caption"] for item in items]
        return sample
