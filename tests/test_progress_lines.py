"""The times in the log lines of long runs without a bar (stderr a log file: a batch job): generate's line per
chunk, stage 3's per step and per tenth of the decode, train's, each with the time so far and the time left
(streamt2v.progress_lines). A 1200-frame generate (149 chunks, 14 minutes) and its stage 3 logged how far
they got but no time; the clock here is a fake one, passed in."""

from __future__ import annotations

import logging
import re

import numpy as np
import torch

from conftest import cfg_for
from streamt2v.pipeline.enhance import _decode_progress, _step_line, enhance_latents
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.refiner import DEFAULT_SCHEDULER_CONFIG
from streamt2v.pipeline.run_writing import ChunkLines
from streamt2v.pipeline.stream import Chunk
from streamt2v.progress_lines import UnitRate, duration
from streamt2v.sampling.schedulers import make_scheduler
from streamt2v.train.progress import StepProgress


class FakeClock:
    """Seconds as a test sets them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def chunk(index: int, num_chunks: int, stage: int, start: int, stop: int, prompt: str = "a cat") -> Chunk:
    none = torch.zeros(0)
    return Chunk(index, num_chunks, stage, start, stop, prompt, none, none, none, prompt)


def test_durations_read_in_seconds_minutes_and_hours():
    seconds = (0, 44.6, 60, 90, 9.94 * 60, 12 * 60, 59.4 * 60, 3600, 3600 * 3.46)
    said = ["0 s", "45 s", "1 min", "1.5 min", "9.9 min", "12 min", "59 min", "1 h", "3.5 h"]
    assert [duration(s) for s in seconds] == said


def test_the_time_per_unit_is_timed_from_the_end_of_the_first():
    clock = FakeClock()
    rate = UnitRate(clock)
    clock.now = 50.0  # the first unit: start-up
    rate.done()
    assert rate.per_unit() is None and rate.times(3) == "50 s so far"
    clock.now = 60.0
    rate.done(2)
    assert rate.per_unit() == 5.0 and rate.times(3) == "1 min so far, 15 s left"
    assert rate.times(0) == "1 min so far"  # nothing left: no time left said


def test_a_time_left_below_a_second_says_under_1_s_not_0_s():
    """Fast units (a tiny model's chunks) left a time that rounded to "0 s left" while work was left."""
    clock = FakeClock()
    lines = ChunkLines(clock=clock)
    said = []
    for index, at in enumerate((0.5, 0.8, 1.0)):
        clock.now = at
        said.append(lines.line(chunk(index, 4, 2 if index else 1, index * 8, index * 8 + 8)))
    assert said[2] == "chunk 3/4 done: frames 16-23, prompt 'a cat' (1 s so far, under 1 s left)"
    rate = UnitRate(clock)
    rate.done()
    clock.now += 0.4
    rate.done()
    assert rate.times(3).endswith(", 1 s left")  # 1.2 s
    assert rate.times(2).endswith(", under 1 s left")  # 0.8 s
    assert rate.times(1).endswith(", under 1 s left")  # 0.4 s
    assert rate.times(0).endswith(" so far")  # nothing left: no time left said


def test_generate_s_chunk_lines_time_the_streaming_chunks_after_the_first():
    """The first chunk (stage 1: its own steps) and the first streaming one (its start-up) cost otherwise:
    a 149-chunk run's lines say the time left from the third chunk on, at the streaming chunks' rate."""
    clock = FakeClock()
    lines = ChunkLines(clock=clock)
    said = []
    for index, (at, start, stop) in enumerate([(30, 0, 16), (90, 16, 24), (96, 24, 32), (100, 32, 40)]):
        clock.now = at
        said.append(lines.line(chunk(index, 149, 2 if index else 1, start, stop)))
    assert said == [
        "chunk 1/149 done: frames 0-15, prompt 'a cat' (30 s so far)",
        "chunk 2/149 done: frames 16-23, prompt 'a cat' (1.5 min so far)",  # 60 s: compiling, say
        "chunk 3/149 done: frames 24-31, prompt 'a cat' (1.6 min so far, 15 min left)",  # 146 left at 6 s
        "chunk 4/149 done: frames 32-39, prompt 'a cat' (1.7 min so far, 12 min left)",  # 145 at 5 s
    ]


def test_the_time_left_counts_chunks_not_frames_and_ends_at_the_last():
    """The last chunk, trimmed to the frames asked for, is made whole: it takes a chunk's time, not a share
    by its frames. With stage 3 after, the time left is said to be before it."""
    clock = FakeClock()
    lines = ChunkLines(then_stage3=True, clock=clock)
    said = []
    for index, (at, start, stop) in enumerate(
        [(10, 0, 16), (20, 16, 24), (30, 24, 32), (40, 32, 40), (50, 40, 41)]
    ):
        clock.now = at
        said.append(lines.line(chunk(index, 5, 2 if index else 1, start, stop)))
    assert said[2:] == [
        "chunk 3/5 done: frames 24-31, prompt 'a cat' (30 s so far, 20 s left before stage 3)",
        "chunk 4/5 done: frames 32-39, prompt 'a cat' (40 s so far, 10 s left before stage 3)",
        "chunk 5/5 done: frame 40, prompt 'a cat' (50 s so far)",
    ]


def test_a_resumed_run_s_reencoded_chunks_are_not_timed():
    """A resumed run re-encodes its finished chunks (quickly) before making the next: that time is in the
    time so far, not in the time per chunk."""
    clock = FakeClock()
    lines = ChunkLines(clock=clock)
    clock.now = 40.0  # 20 stored chunks re-encoded
    said = []
    for index, at in zip(range(20, 23), (100, 110, 120)):
        clock.now = at
        said.append(lines.line(chunk(index, 30, 2, index * 8 + 8, index * 8 + 16)))
    assert said[0].endswith("(1.7 min so far)")  # this call's first streaming chunk: its start-up
    assert said[1:] == [
        "chunk 22/30 done: frames 176-183, prompt 'a cat' (1.8 min so far, 1.3 min left)",
        "chunk 23/30 done: frames 184-191, prompt 'a cat' (2 min so far, 1.2 min left)",
    ]


def test_an_extension_s_first_line_says_the_input_s_frames_are_kept():
    """An extension's first chunk is the input, unchanged: it takes no prompt, and its line said one."""
    clock = FakeClock()
    lines = ChunkLines(clock=clock)
    assert (
        lines.line(chunk(0, 6, 0, 0, 160))
        == "chunk 1/6 done: frames 0-159 of the input, kept unchanged (0 s so far)"
    )
    assert ChunkLines(clock=clock).line(chunk(0, 3, 0, 0, 1)) == (
        "chunk 1/3 done: frame 0 of the input, kept unchanged (0 s so far)"  # --init-image
    )


def test_an_extension_run_logs_its_input_s_frames_as_kept(tmp_path, model, caplog):
    first = generate(cfg_for(tmp_path, "src", n=8), model=model)
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.run_writing"):
        generate(cfg_for(tmp_path, "ext", n=16, init_video=str(first.output)), model=model)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("chunk ")]
    assert len(said) == 2, said
    assert re.fullmatch(r"chunk 1/2 done: frames 0-7 of the input, kept unchanged \(\d+ s so far\)", said[0])
    assert re.fullmatch(r"chunk 2/2 done: frames 8-15, prompt 'a red circle' \(\d+ s so far\)", said[1])


def test_stage_3_s_step_lines_say_the_steps_time_left_from_the_second():
    clock = FakeClock()
    rate = UnitRate(clock)
    said = []
    for i, at in enumerate((70, 100, 130, 160), start=1):
        clock.now = at
        said.append(_step_line(i, 4, rate))
    assert said == [
        "stage 3: step 1/4 done (1.2 min so far)",
        "stage 3: step 2/4 done (1.7 min so far, 1 min left for the steps)",
        "stage 3: step 3/4 done (2.2 min so far, 30 s left for the steps)",
        "stage 3: step 4/4 done (2.7 min so far)",
    ]


def test_a_generate_run_s_later_chunk_lines_say_the_time_left(tmp_path, model, caplog):
    """The chunks' rate lasts the run: one made afresh per chunk would never time one, and no line would say
    a time left (the tiny model's chunks take under a second: 'under 1 s left')."""
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.run_writing"):
        generate(cfg_for(tmp_path, "four", n=40), model=model)  # a chunk of 16, three of 8
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("chunk ")]
    assert [m.split(":")[0] for m in said] == [f"chunk {i}/4 done" for i in range(1, 5)]
    assert [" left)" in m for m in said] == [False, False, True, False], said


def test_stage_3_s_later_step_lines_say_the_steps_time_left(caplog):
    """The steps' rate lasts the call: one made afresh per step would never time one."""
    clock = FakeClock()

    def denoise(x: torch.Tensor, t: torch.Tensor, chunks: range) -> torch.Tensor:
        clock.now += 10.0  # a step: 10 s
        return 0.3 * torch.tanh(x)

    sched = make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG, timestep_spacing="trailing")
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.enhance"):
        enhance_latents(
            torch.randn(1, 4, 4, 2, 2),
            denoise,
            sched,
            EnhanceConfig(steps=4),
            generator=torch.Generator().manual_seed(0),
            clock=clock,
        )
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("stage 3: step")] == [
        "stage 3: step 1/4 done (10 s so far)",
        "stage 3: step 2/4 done (20 s so far, 20 s left for the steps)",
        "stage 3: step 3/4 done (30 s so far, 10 s left for the steps)",
        "stage 3: step 4/4 done (40 s so far)",
    ]


def test_stage_3_s_decode_lines_say_the_time_left(caplog):
    """A line at each tenth of the frames; the time per frame from the end of the first slice."""
    clock = FakeClock()

    def slices():
        for k in range(5):
            clock.now = 10.0 + 2.0 * k  # the first slice at 10 s, each later one 2 s
            yield np.zeros((1, 4, 2, 2, 3), np.uint8)

    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.enhance"):
        assert len(list(_decode_progress(slices(), 20, False, clock))) == 5
    assert [r.getMessage() for r in caplog.records] == [
        "stage 3: 4/20 frames decoded (10 s so far)",
        "stage 3: 8/20 frames decoded (12 s so far, 6 s left)",
        "stage 3: 12/20 frames decoded (14 s so far, 4 s left)",
        "stage 3: 16/20 frames decoded (16 s so far, 2 s left)",
        "stage 3: 20/20 frames decoded (18 s so far)",
    ]


def test_train_s_lines_take_the_same_clock(caplog):
    clock = FakeClock()
    steps = StepProgress("vae", 100, 0, bar=False, lines=True, clock=clock)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.progress"):
        for done in range(1, 62):  # a step a second after the first's 20
            clock.now = 19.0 + done
            steps.update(done, 0.5)
    assert [r.getMessage() for r in caplog.records] == [
        "vae: step 1/100, loss 0.5000, first step 20 s",
        "vae: step 61/100, loss 0.5000, 1 s/step, 1.3 min so far, 39 s left",  # steps 2-60 within the minute
    ]
