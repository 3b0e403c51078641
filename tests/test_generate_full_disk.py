"""A disk that fills during a run: every writer of generate (the streamed outputs' previews, the outputs written
at once, the run directory's chunks) stops with one readable line naming what it was writing, where the
encoders' own errors named no file ("[Errno 28] No space left on device") or were no OSError at all (the run
directory's chunk: safetensors' SafetensorError, reported as "unexpected").

The full disk is the process's file size limit (RLIMIT_FSIZE): a write past it fails as one past the end of
the disk does, with an errno and no file name."""

from __future__ import annotations

import resource
import signal
from contextlib import contextmanager

import pytest
import torch

from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.io.video import write_video
from streamt2v.pipeline.run_chunks import StoredChunk
from streamt2v.pipeline.rundir import RunDir


@contextmanager
def file_size_limit(nbytes: int):
    """Writes past ``nbytes`` of any file fail (EFBIG) while the block runs, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def _noise(t: int = 16) -> torch.Tensor:
    return torch.rand(1, 3, t, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_a_full_disk_while_a_preview_is_written_names_the_preview_and_its_output(tmp_path, name):
    final = tmp_path / name
    writer = StreamingVideoWriter(final, fps=8)
    try:
        with file_size_limit(600), pytest.raises(OSError) as caught:
            writer.append(_noise())
    finally:
        writer.abort()
    message = str(caught.value)
    assert message == (
        f"cannot write the preview {str(writer.preview_path)!r} of output {str(final)!r}: File too large"
    )
    assert "\n" not in message and not final.exists()


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_a_full_disk_while_an_output_is_written_at_once_names_it_and_leaves_nothing(tmp_path, name):
    final = tmp_path / name
    with file_size_limit(600), pytest.raises(OSError) as caught:
        write_video(final, _noise(), 8)
    assert str(caught.value) == f"cannot write output {str(final)!r}: File too large"
    assert list(tmp_path.iterdir()) == []  # no temporary left, no half-written output


def test_a_full_disk_while_a_chunk_is_saved_names_the_chunk_and_the_run_directory(tmp_path):
    run = RunDir.create(tmp_path / "run", {"a": 1}, num_chunks=2)
    video = _noise(8)
    chunk = StoredChunk(0, 1, 0, 8, "p", frames=video, tail=video, anchor=video[:, :, :1], anchor_prompt="p")
    with (
        file_size_limit(4096),
        pytest.raises(OSError, match=r"^cannot save chunk 0 in the run directory ") as caught,
    ):
        run.save_chunk(chunk)
    assert repr(str(tmp_path / "run")) in str(caught.value) and "\n" not in str(caught.value)
    run.unlock()
    again = RunDir.open(tmp_path / "run")  # the run holds no half-written chunk: it takes the chunk again
    assert again.num_finished == 0
    again.lock().save_chunk(chunk)
    assert torch.equal(RunDir.open(tmp_path / "run").load_chunk(0).tail, video)
