"""A video of N frames is the first N frames of a longer one with the same seed and settings, also when its
last chunk is trimmed and colour matching is on (the shipped model's recommendation): the trimmed chunk was
matched on its kept frames only, so its frames differed from the longer video's."""

import pytest
import torch

from streamt2v.pipeline.generate import StreamingT2VPipeline

PROMPT = "a red circle"
FAST = dict(steps=1, init_steps=1, seed=5)


@pytest.mark.parametrize("match", [0.0, 0.5])
def test_a_trimmed_last_chunk_is_the_longer_videos_frames(model, match):
    pipe = StreamingT2VPipeline(model)
    longer = pipe(PROMPT, 32, anchor_colour_match=match, **FAST)  # its last chunk, 2: frames 24-31
    for n in (26, 30):  # chunk 2 keeps 2 or 6 of its 8 new frames
        video = pipe(PROMPT, n, anchor_colour_match=match, **FAST)
        assert video.shape[2] == n
        assert torch.equal(video, longer[:, :, :n]), n
    chunks = list(pipe.stream(PROMPT, 30, anchor_colour_match=match, **FAST))
    assert torch.equal(chunks[-1].tail, longer[:, :, 22:30])  # the video's last cond frames
