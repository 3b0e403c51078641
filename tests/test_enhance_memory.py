"""Stage 3's memory on a long input: the input video, which the caller holds, is read in place, never
copied whole (a long high-resolution input's float pixels are the largest tensor of a run)."""

from __future__ import annotations

import hashlib

import torch

from conftest import SMALL
from streamt2v.pipeline import enhance_state
from streamt2v.pipeline.enhance import enhance_video
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.enhance_state import state_key


class _CopySpy(torch.Tensor):
    """A video that records every new tensor of its shape (a copy) made from it or from a view of it (views
    stay spies; anything else is a plain tensor)."""

    copies: list[str]
    whole: torch.Size  # the video's shape

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **(kwargs or {}))
        source = next(a for a in args if isinstance(a, _CopySpy)) if args else None
        if not isinstance(out, torch.Tensor) or source is None:
            return out
        if out.untyped_storage().data_ptr() == source.untyped_storage().data_ptr():
            view = out.as_subclass(cls)
            view.copies, view.whole = source.copies, source.whole
            return view
        if out.shape == source.whole:
            source.copies.append(getattr(func, "__name__", str(func)))
        return out


def test_the_input_video_is_not_copied_whole(refiner, tmp_path, monkeypatch) -> None:
    """enhance_video kept a clamped copy of the video for the whole run, and the stage-3 state key made a
    contiguous one of a video as read ((B, 3, T, H, W) over frames stored (T, H, W, 3)): at 1200 frames of
    480x832 two more copies of 5.7 GB beside the caller's."""
    # channels-last (as read_video's were; a caller's may be), longer than a VAE slice (not the whole video)
    frames = (torch.rand(1, 12, 32, 32, 3) * 2 - 1).permute(0, 4, 1, 2, 3)
    # the key read in pieces smaller than the video, as a long video's are
    monkeypatch.setattr(enhance_state, "_DIGEST_PIECE", 1024, raising=False)
    spy = frames.as_subclass(_CopySpy)
    spy.copies, spy.whole = [], frames.shape
    out = enhance_video(
        spy, "a red circle", refiner, EnhanceConfig(**SMALL), seed=0, state_file=tmp_path / "state.pt"
    )
    assert spy.copies == []
    assert torch.equal(out, enhance_video(frames, "a red circle", refiner, EnhanceConfig(**SMALL)))
    # values outside [-1, 1] within check_pixels' tolerance are still clamped, as it clamps them
    over = frames.clone()
    over[0, 0, 0, 0, 0] = 1.4
    same = frames.clone()
    same[0, 0, 0, 0, 0] = 1
    assert torch.equal(
        enhance_video(over, "a red circle", refiner, EnhanceConfig(**SMALL)),
        enhance_video(same, "a red circle", refiner, EnhanceConfig(**SMALL)),
    )
    # the key, read a piece at a time, is that of the contiguous copy as before: a state saved by an
    # earlier version is still continued
    old = hashlib.sha256()
    whole = frames.contiguous()
    old.update(f"{whole.dtype}{tuple(whole.shape)}".encode())
    old.update(whole.reshape(-1).view(torch.uint8).numpy())
    old.update(b"\0")
    assert state_key(frames) == old.hexdigest()
