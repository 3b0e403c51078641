"""A resume of a long run holds no more of its video in memory than the run did: the finished chunks are read
back one at a time to be written again (all of them were read into a list first, every frame in float32 and
every chunk's conditioning frames with it: ~2 GB at 256x256 for 1200 frames, growing with the length)."""

from __future__ import annotations

import gc

import pytest

from conftest import Crash, cfg_for
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate
from streamt2v.pipeline.run_chunks import StoredChunk


def _chunks_in_memory() -> int:
    gc.collect()
    return sum(type(o) is StoredChunk for o in gc.get_objects())  # type(): no proxy asked its __class__


@pytest.mark.parametrize("init_video", [False, True])
def test_a_resume_reads_the_finished_chunks_one_at_a_time(tmp_path, model, init_video):
    inputs = {}
    if init_video:  # chunk 0 is the input video, which the resumed stream needs too
        inputs["init_video"] = str(generate(cfg_for(tmp_path, "src", n=16), model=model).output)
    ref = generate(cfg_for(tmp_path, "ref", n=72, **inputs), model=model)

    def crash(chunk):
        if chunk.index == 4:
            raise Crash()

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, "b", n=72, **inputs), model=model, on_chunk=crash)
    held = []
    res = resume_generate(
        tmp_path / "run-b", model=model, on_chunk=lambda chunk: held.append(_chunks_in_memory())
    )
    assert len(held) == 3 and max(held) <= 2  # at most the last chunk's state and the input video's chunk
    assert res.output.read_bytes() == ref.output.read_bytes()
