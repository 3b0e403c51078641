"""Stage 3's output written as it is decoded, a slice of frames at a time: ``enhance_video(on_frames=)`` and
``streamt2v enhance``, which held the whole uint8 output until it was written (1200 frames at 720x1280:
3.3 GB beside the latents). The writer: ``test_video_file_writer.py``."""

from __future__ import annotations

import hashlib
import logging
import re
import tracemalloc

import numpy as np
import torch

from streamt2v.io.video import write_video
from streamt2v.pipeline.enhance import enhance_video
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.refiner import Refiner


def _contents(path) -> bytes | list[tuple[str, bytes]]:
    if path.is_dir():
        return [(p.name, p.read_bytes()) for p in sorted(path.iterdir())]
    return path.read_bytes()


def _peak_numpy_bytes(action):
    """``action()`` and the most memory Python and numpy took at once while it ran (torch's is not counted)."""
    tracemalloc.start()
    try:
        return action(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_enhance_video_hands_out_its_output_a_slice_at_a_time(refiner: Refiner, caplog) -> None:
    """on_frames: the decoded slices in order, the frames of the video returned, the output never held
    whole (the memory peaks at about a slice, not at the whole uint8 video), and a log line per tenth."""
    video = torch.rand(1, 3, 24, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    config = EnhanceConfig(
        chunk_frames=16, overlap=4, steps=1, resolution=(64, 64), decode_frames_per_slice=4
    )
    whole = enhance_video(video, "a red circle", refiner, config, as_uint8=True)
    assert whole.shape == (1, 24, 64, 64, 3)
    shapes, digest = [], hashlib.sha256()

    def keep_nothing(part: np.ndarray) -> None:  # as a writer: encodes the frames, keeps none
        shapes.append(part.shape)
        digest.update(part.tobytes())

    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.enhance"):
        out, peak = _peak_numpy_bytes(
            lambda: enhance_video(
                video, "a red circle", refiner, config, as_uint8=True, on_frames=keep_nothing
            )
        )
    assert out is None
    assert shapes == [(1, 4, 64, 64, 3)] * 6  # the decoder's slices, in order
    assert digest.hexdigest() == hashlib.sha256(whole.tobytes()).hexdigest()
    assert peak < whole.nbytes / 2, f"peak {peak} B for a {whole.nbytes} B output"
    logged = [r.getMessage() for r in caplog.records if "decoded" in r.getMessage()]
    said = [f"stage 3: {n}/24 frames decoded" for n in (4, 8, 12, 16, 20, 24)]  # was frame(s)
    assert [m.split(" (")[0] for m in logged] == said
    assert all(
        re.search(r" \([\d.]+ (s|min) so far(, (under 1 s|[\d.]+ (s|min)) left)?\)$", m) for m in logged
    ), logged  # the times


def test_cli_enhance_writes_each_slice_as_it_is_decoded_and_a_stop_there_continues(
    refiner: Refiner, tmp_path, caplog
) -> None:
    """Each decoded slice reaches the output's temporary before the next is decoded (the whole output was
    held and written at the end); stopped in the decode, no output or temporary is left, and the run
    continues from its saved last step to the same frames."""
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 20, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--steps", "1"]
    args += ["--chunk-frames", "8", "--overlap", "2", "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0  # folders of PNG frames: countable
    out, written = tmp_path / "frames", []

    def decoded(module, inputs, output) -> None:  # after the VAE decoder's call for a slice
        if type(module).__name__ == "Decoder":
            written.append(sum(len(list(d.iterdir())) for d in tmp_path.glob(".frames.tmp-*")))
            if len(written) == 3:
                raise KeyboardInterrupt

    hook = register_module_forward_hook(decoded)
    try:
        assert main([*args, "-o", str(out)]) == 130
    finally:
        hook.remove()
    assert written == [0, 8, 16]  # the frames of the slices before: was [0, 0, 0]
    assert not out.exists() and list(tmp_path.glob(".frames.tmp-*")) == []
    assert (tmp_path / ".frames.stage3.pt").is_file()
    with caplog.at_level(logging.INFO):
        assert main([*args, "-o", str(out)]) == 0
    assert "stage 3 continues after step 1 of 1" in caplog.text
    assert _contents(out) == _contents(tmp_path / "whole") and len(_contents(out)) == 20


def test_enhance_to_files_refuses_no_output_and_one_given_twice_before_any_work(tmp_path, refiner) -> None:
    """No path ran the whole enhancement for nothing; a path given twice was refused as "being written by
    another process" (this one)."""
    import pytest

    from streamt2v.pipeline.enhance_output import enhance_to_files

    video = torch.zeros(1, 3, 2, 16, 16)
    with pytest.raises(ValueError, match="^paths is empty: give the output file"):
        enhance_to_files(video, "a red circle", refiner, None, [], 8)
    with pytest.raises(ValueError, match=r"^paths names '.*a\.mp4' more than once$"):
        enhance_to_files(
            video, "a red circle", refiner, None, [tmp_path / "a.mp4", str(tmp_path / "a.mp4")], 8
        )
    assert list(tmp_path.iterdir()) == []


def test_the_decode_bar_is_closed_when_the_output_fails_midway(refiner: Refiner) -> None:
    """An error in on_frames (a full disk under the writer) left the decode bar open for as long as its
    traceback was held (the command's error handling): redrawn after the command's own last line."""
    import pytest
    from tqdm.auto import tqdm

    video = torch.zeros(1, 3, 8, 16, 16)
    config = EnhanceConfig(chunk_frames=8, overlap=2, steps=1, decode_frames_per_slice=2)
    written = []

    def full_disk(part: torch.Tensor) -> None:
        written.append(part.shape[2])
        if len(written) == 2:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as failed:
        enhance_video(video, "a red circle", refiner, config, on_frames=full_disk, progress=True)
    assert written == [2, 2]  # midway through the decode
    # the traceback, which holds the decode's generator, is still alive here, as in the command's handler
    assert failed.tb is not None and [b for b in tqdm._instances if b.desc == "decode"] == []
