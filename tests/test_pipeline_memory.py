"""The whole video is held once: ``pipe(...)`` copies each chunk into the video as it comes, and stage 3
reads a run's finished chunks into its input one at a time (both kept every chunk's frames in a list to be
joined at the end: the video twice, 1.9 GB instead of 0.9 for 1200 frames at 256x256)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from conftest import cfg_for
from streamt2v.pipeline.generate import StreamingT2VPipeline, generate
from streamt2v.pipeline.rundir import RunDir
from streamt2v.pipeline.stream import StreamState

FAST = dict(steps=1, init_steps=1, seed=3)


class _Watched(StreamingT2VPipeline):
    """A pipeline that notes, as each chunk is handed out, how many earlier chunks' frames are alive."""

    alive: list[int]

    def stream(self, *args, **kwargs):
        chunks = super().stream(*args, **kwargs)
        self.alive = []

        def watched():
            frames = []
            for chunk in chunks:
                gc.collect()
                self.alive.append(sum(ref() is not None for ref in frames))
                frames.append(weakref.ref(chunk.frames))
                yield chunk

        return watched()


def test_pipe_copies_each_chunk_into_the_video_as_it_comes(model):
    pipe = _Watched(model)
    video = pipe("a cat", 40, **FAST)
    assert len(pipe.alive) == 4 and max(pipe.alive) <= 1  # the chunk being copied; kept in a list: 3
    chunks = list(StreamingT2VPipeline(model).stream("a cat", 40, **FAST))
    assert torch.equal(video, torch.cat([c.frames for c in chunks], dim=2))
    # resumed, the video is the frames from the resumed chunk on, as before
    last = chunks[1]
    state = StreamState(last.index + 1, last.tail, last.anchor, last.anchor_prompt)
    rest = pipe("a cat", 40, resume=state, **FAST)
    assert torch.equal(rest, torch.cat([c.frames for c in chunks[2:]], dim=2))
    # resumed after its last chunk: no frames left to make, an empty video (was torch.cat's error)
    last = chunks[-1]
    done = StreamState(last.index + 1, last.tail, last.anchor, last.anchor_prompt)
    assert pipe("a cat", 40, resume=done, **FAST).shape == (1, 3, 0, *video.shape[3:])


@pytest.fixture(scope="module")
def model32():
    """The tiny preset at 32x32 frames: the embedded refiner is then the shipped one, at its single step."""
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)


def test_stage_3_reads_the_run_a_chunk_at_a_time(tmp_path, model32, monkeypatch):
    load = RunDir.load_chunk
    frames, alive = [], []

    def watched(self, index):
        gc.collect()
        alive.append(sum(ref() is not None for ref in frames))
        chunk = load(self, index)
        frames.append(weakref.ref(chunk.frames))
        return chunk

    monkeypatch.setattr(RunDir, "load_chunk", watched)
    result = generate(cfg_for(tmp_path, "a", n=40, enhance={}), model=model32)
    assert len(alive) == 4 and max(alive) <= 1  # the chunk being copied; kept in a list: 3
    monkeypatch.undo()
    run = RunDir.open(result.run_dir)
    expected = torch.cat([run.load_chunk(i).frames for i in range(run.num_finished)], dim=2)
    assert torch.equal(run.read_video(), expected)
