"""What the stages-1–2 API does with what users hand it: setting types, frames of another convention,
in-place edits of yielded chunks, prompt schedules a chunk never sees, resume states, model placement."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch

from streamt2v.pipeline.generate import StreamingT2VPipeline
from streamt2v.pipeline.prompts import PromptSchedule, as_schedule, load_schedule
from streamt2v.pipeline.stream import StreamConfig, StreamState, stream

FAST = dict(steps=1, init_steps=1)


@pytest.fixture(scope="module")
def model():
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)


@pytest.mark.parametrize(
    "option, match",
    [
        (dict(steps=2.5), "steps must be an integer, got 2.5"),
        (dict(init_steps=2.5), "init_steps must be an integer, got 2.5"),
        (dict(chunk_frames=16.0), "chunk_frames must be an integer, got 16.0"),
        (dict(guidance="7"), "guidance must be a finite number, got '7'"),
        (dict(seed=True), r"seed must be an integer in \[0, 2\*\*64\), got True"),
        # stage 3 seeds a torch generator with it, which takes no larger seed
        (dict(seed=2**64), r"seed must be an integer in \[0, 2\*\*64\), got 18446744073709551616"),
        (dict(negative_prompt=None), "negative_prompt must be a string, got None"),
        (dict(num_frames=10**8), "num_frames must be at most 1,000,000 .*got 100,000,000"),
    ],
)
def test_stream_config_refuses_wrong_types_by_name(option, match):
    with pytest.raises(ValueError, match=match):
        StreamConfig(**{"num_frames": 8, **option})


def test_stream_config_takes_numpy_scalars_as_python_numbers():
    cfg = StreamConfig(num_frames=np.int64(8), seed=np.int64(3), guidance=np.float32(2.5))
    assert (cfg.num_frames, cfg.seed, cfg.guidance) == (8, 3, 2.5)
    assert type(cfg.seed) is int and type(cfg.guidance) is float  # JSON-serialisable in run configs


def test_frames_of_another_convention_are_refused_by_name(model):
    good = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    cfg = StreamConfig(num_frames=24, **FAST)
    with pytest.raises(ValueError, match=r"init_video has dtype torch.uint8.*127.5 - 1"):
        stream(model, "x", cfg, init_video=((good + 1) * 127.5).to(torch.uint8))
    with pytest.raises(ValueError, match=r"anchor_image has values in \[0, 255\]"):
        stream(
            model,
            "x",
            cfg,
            init_video=good,
            anchor_image=torch.full((1, 3, 64, 64), 255.0).index_fill_(1, torch.tensor([0]), 0),
        )
    bad = good.clone()
    bad[0, 0, 7, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="init_video has 1 NaN or infinite value"):
        stream(model, "x", cfg, init_video=bad)


def test_editing_a_yielded_chunk_changes_neither_the_input_nor_the_next_chunks(model):
    prefix = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    kept = prefix.clone()
    cfg = StreamConfig(num_frames=24, **FAST)
    untouched = [c.frames for c in stream(model, "a cat", cfg, init_video=prefix)]
    edited = []
    for chunk in stream(model, "a cat", cfg, init_video=prefix):
        edited.append(chunk.frames.clone())
        chunk.frames.mul_(0).add_(1)  # a caller post-processing in place
        chunk.tail.zero_()
        chunk.anchor.zero_()
    assert torch.equal(prefix, kept)
    assert len(edited) == len(untouched) == 3
    for a, b in zip(edited, untouched):
        assert torch.equal(a, b)


def test_a_schedule_entry_no_chunk_uses_is_named_in_a_warning(model, caplog):
    cfg = StreamConfig(num_frames=32, **FAST)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        chunks = list(stream(model, "0: a red circle; 17: a blue square; 24: a cat", cfg))
    assert [c.prompt for c in chunks] == ["a red circle", "a red circle", "a cat"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert "entry 17: 'a blue square' is never used" in warned[0] and "start at frames 0, 16, 24" in warned[0]


def test_a_schedule_entry_only_an_input_video_covers_is_named_in_a_warning(model, caplog):
    """Under an input video (its frames take no prompt) the schedule's mandatory frame-0 entry, followed by
    another before the first generated chunk, was never used, and nothing said so."""
    prefix = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    cfg = StreamConfig(num_frames=24, **FAST)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        chunks = list(stream(model, "0: a red circle; 4: a cat", cfg, init_video=prefix))
    assert [c.prompt for c in chunks][1:] == ["a cat", "a cat"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "entry 0: 'a red circle' is never used" in warned[0], warned
    assert "the chunks start at frames 8, 16" in warned[0]


@pytest.mark.parametrize(
    ("settings", "compared"),
    [
        ({"reanchor": True}, "which reanchor compares each chunk's prompt with"),
        # no chunk is under the anchor's prompt, and without reanchor the anchor keeps it
        (
            {"anchor_colour_match": 0.5},
            "which anchor_colour_match compares each chunk's prompt with, so "
            "anchor_colour_match matches no chunk",
        ),
        (
            {"reanchor": True, "anchor_colour_match": 0.5},
            "which reanchor and anchor_colour_match compare each chunk's prompt with",
        ),
    ],
)
def test_an_entry_only_an_input_covers_is_the_anchors_prompt_where_it_is_compared(
    model, caplog, settings, compared
):
    """Frame 0's entry under an input video was warned "never used", but it is the APM anchor's prompt: reanchor
    moves the anchor at the first chunk whose prompt differs from it, anchor_colour_match matches only the
    chunks under it."""
    prefix = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    cfg = StreamConfig(num_frames=24, **FAST, **settings)
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        chunks = list(stream(model, "0: a red circle; 4: a cat", cfg, init_video=prefix))
    assert chunks[1].anchor_prompt == ("a cat" if settings.get("reanchor") else "a red circle")  # it counts
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "never used" not in warned[0], warned
    assert warned[0] == (
        "prompt schedule entry 0: 'a red circle' is no chunk's prompt: each chunk takes the prompt active at its "
        f"first new frame, and the chunks start at frames 8, 16; it is the APM anchor's prompt, {compared}"
    )


@pytest.mark.parametrize("text", ["3 red circles: bouncing", "4K: a red circle", "a cat: walking"])
def test_a_plain_prompt_with_a_colon_is_a_prompt(text):
    assert as_schedule(text) == PromptSchedule.constant(text)


def test_inline_schedules_and_bad_entries():
    assert as_schedule(" 0: a cat; 16: a dog").entries == ((0, "a cat"), (16, "a dog"))
    with pytest.raises(ValueError, match="must start at frame 0, the first entry is at frame 1"):
        as_schedule("1: a red circle")
    with pytest.raises(TypeError, match="the prompt must be a string or a PromptSchedule, got NoneType"):
        as_schedule(None)
    with pytest.raises(ValueError, match=r"\(frame: int, prompt: str\) pairs, got \(8.5, 'b'\)"):
        PromptSchedule(((0, "a"), (8.5, "b")))
    with pytest.raises(ValueError, match=r"\(frame: int, prompt: str\) pairs, got \('0', 'a'\)"):
        PromptSchedule((("0", "a"),))
    with pytest.raises(ValueError, match="the prompt at frame 0 of the schedule must be a string, got 5"):
        PromptSchedule(((0, 5),))


def test_pipeline_names_unknown_options_and_explains_generator(model):
    pipe = StreamingT2VPipeline(model)
    with pytest.raises(TypeError, match=r"^unknown sampling option: generator \(chunk noise .*seed="):
        pipe("a cat", 8, generator=torch.Generator())
    with pytest.raises(TypeError, match=r"^unknown sampling option: num_inference_steps \("):
        pipe("a cat", 8, num_inference_steps=3)


def test_resume_states_that_do_not_fit_are_refused(model):
    cfg = StreamConfig(num_frames=32, **FAST)
    chunks = list(stream(model, "a cat", cfg))
    good = StreamState(2, chunks[1].tail, chunks[1].anchor, chunks[1].anchor_prompt)
    assert torch.equal(next(iter(stream(model, "a cat", cfg, resume=good))).frames, chunks[2].frames)
    for state, match in [
        (
            StreamState(2, chunks[1].tail, None, "a cat"),
            r"anchor must be a \(1, 3, 1..1, H, W\) tensor, got None",
        ),
        (
            StreamState(2, chunks[1].tail[..., :32, :32], chunks[1].anchor, "a cat"),
            "tail is 32x32; the model makes 64x64",
        ),
        (
            StreamState(9, chunks[1].tail, chunks[1].anchor, "a cat"),
            "cannot resume at chunk 9: the plan has 3 chunks",
        ),
        (StreamState(2, chunks[1].tail, chunks[1].anchor, None), "anchor_prompt must be a string, got None"),
    ]:
        with pytest.raises(ValueError, match=match):
            stream(model, "a cat", cfg, resume=state)


def test_model_placement_takes_auto_dtype_names_and_a_dtype_first(model, tmp_path):
    from streamt2v.models.bundle import StreamingT2VModel

    model.save_pretrained(tmp_path / "m")
    loaded = StreamingT2VModel.from_pretrained(tmp_path / "m", device="auto", torch_dtype="bf16")
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.to(torch.float32).vae.parameters()} == {torch.float32}
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError, match=r"dtype fp16 is not supported on device cpu; use one of fp32, bf16"
        ):
            StreamingT2VModel.from_pretrained(tmp_path / "m", device="cpu", torch_dtype=torch.float16)
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        StreamingT2VModel.from_pretrained(tmp_path / "m", torch_dtype="fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is of half precision on the CPU")
def test_a_half_precision_model_left_on_the_cpu_is_refused_before_sampling(tmp_path):
    """``from_pretrained(torch_dtype=torch.float16)`` without a device (diffusers' load, then ``.to("cuda")``)
    and no move: generation ran on the CPU in fp16, 8x slower than fp32, without a word."""
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    StreamingT2VModel.from_preset("tiny", device="cpu", seed=0).save_pretrained(tmp_path / "m")
    half = StreamingT2VModel.from_pretrained(tmp_path / "m", torch_dtype=torch.float16)
    with pytest.raises(
        ValueError, match=r"^the model is fp16 on cpu, which runs it very slowly or not at all"
    ):
        StreamingT2VPipeline(half).stream("a red circle", 8, steps=1, init_steps=1)  # raises before iterating
    frames = StreamingT2VPipeline(half.to(torch.bfloat16))("a red circle", 8, steps=1, init_steps=1)
    assert frames.shape[2] == 8


def test_building_a_preset_leaves_the_callers_random_state_alone():
    from streamt2v.models.bundle import StreamingT2VModel

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = StreamingT2VModel.from_preset("tiny", seed=1)
    assert torch.equal(torch.rand(3), expected)
    b = StreamingT2VModel.from_preset("tiny", seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.unet.state_dict().values(), b.unet.state_dict().values()))


def test_a_model_reloaded_from_its_folder_makes_the_same_video(tmp_path):
    from streamt2v.assets import microworld_model_dir
    from streamt2v.models.bundle import StreamingT2VModel

    shipped = StreamingT2VModel.from_pretrained(microworld_model_dir())  # fp16 files, converted: aligned
    shipped.save_pretrained(tmp_path / "m")  # fp32 files: loaded as views into the memory-mapped file
    reloaded = StreamingT2VModel.from_pretrained(tmp_path / "m")
    pipe_kw = dict(seed=0, steps=2, init_steps=2)
    a = StreamingT2VPipeline(shipped)("a red circle bouncing on a blue background", 24, **pipe_kw)
    b = StreamingT2VPipeline(reloaded)("a red circle bouncing on a blue background", 24, **pipe_kw)
    assert torch.equal(a, b)


def test_pipeline_placement_and_resume_from_a_received_chunk(model):
    pipe = StreamingT2VPipeline(model)
    assert pipe.to(torch.float32) is pipe and (pipe.device, pipe.dtype) == (
        torch.device("cpu"),
        torch.float32,
    )
    chunks = list(pipe.stream("a cat", 32, **FAST))
    last = chunks[1]
    state = StreamState(last.index + 1, last.tail, last.anchor, last.anchor_prompt)
    (resumed,) = list(pipe.stream("a cat", 32, resume=state, **FAST))
    assert torch.equal(resumed.frames, chunks[2].frames)


def test_prompts_the_text_encoder_cannot_read_are_warned_about(caplog):
    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.refiner import Refiner

    shipped = StreamingT2VModel.from_pretrained(microworld_model_dir())
    text = shipped.text_encoder
    assert text.prompt_problems("a red circle bouncing on a blue background") == []
    # said as words, not a Python list; one that is no word (a lone apostrophe, a '!') quoted
    assert text.prompt_problems("a cat walking on the red beach") == [
        "words unknown to the text encoder's tokenizer (read as <unk>): cat, walking, the, beach"
    ]
    assert text.prompt_problems("a dog's ball!") == [
        "words unknown to the text encoder's tokenizer (read as <unk>): dog, \"'\", s, ball, '!'"
    ]
    long = "a red circle and a yellow square bouncing fast on a blue striped background, camera panning left"
    assert text.prompt_problems(f"{long}, {long}") == [
        "39 tokens, of which the text encoder reads the first 24 (the rest is cut off)"
    ]
    schedule = "0: a cat walking on the red beach; 16: a red circle bouncing on a blue background"
    with caplog.at_level(logging.WARNING):
        list(StreamingT2VPipeline(shipped).stream(schedule, 24, steps=1, init_steps=1))
        refiner = Refiner.from_pretrained(microworld_refiner_dir())
        enhance_video(torch.zeros(1, 3, 8, 32, 32), "a dog", refiner, refiner.config(), progress=False)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "prompt 'a cat walking on the red beach': words unknown to the text encoder's tokenizer (read as "
        "<unk>): cat, walking, the, beach",
        "prompt 'a dog': word unknown to the text encoder's tokenizer (read as <unk>): dog",
    ]


def test_an_anchor_image_a_short_video_never_uses_is_named_in_a_warning(model, caplog):
    """With num_frames <= 16 there is no streaming chunk, so the APM never sees ``anchor_image``: the CLI
    warned about ``--anchor`` while the Python API dropped it without a word."""
    anchor = torch.rand(1, 3, 64, 64) * 2 - 1
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        short = StreamingT2VPipeline(model)("a cat", 16, anchor_image=anchor, **FAST)
    # the stream's own warnings (FAST's stage-2 steps on a one-chunk video are the pipeline's)
    warned = [r.getMessage() for r in caplog.records if r.name == "streamt2v.pipeline.stream"]
    assert short.shape[2] == 16
    assert len(warned) == 1 and warned[0].startswith("anchor_image is not used")
    assert "a 16-frame video is one stage-1 chunk (videos of more than 16 frames use it)" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        list(stream(model, "a cat", StreamConfig(num_frames=24, **FAST), anchor_image=anchor))
    assert caplog.records == []


@pytest.mark.parametrize(
    "name, frames, hint",
    [
        (
            "init_video",
            lambda v: v.permute(0, 2, 3, 4, 1),
            r"got \(1, 8, 64, 64, 3\) \(channels last .*permute\(0, 4, 1, 2, 3\)",
        ),
        (
            "init_video",
            lambda v: v.permute(0, 2, 1, 3, 4),
            r"got \(1, 8, 3, 64, 64\) \(\(B, T, C, H, W\)\? .*permute\(0, 2, 1, 3, 4\)",
        ),
        (
            "init_video",
            lambda v: v[0].permute(1, 0, 2, 3),
            r"got \(8, 3, 64, 64\) \(\(T, C, H, W\) frames\? .*\[None\]",
        ),
        (
            "init_video",
            lambda v: v.expand(2, -1, -1, -1, -1),
            r"got \(2, 3, 8, 64, 64\) \(one video per call",
        ),
        (
            "init_image",
            lambda v: v[:, :, 0].permute(0, 2, 3, 1),
            r"\(1, 3, H, W\), got \(1, 64, 64, 3\) \(channels last",
        ),
        (
            "init_image",
            lambda v: v[0, :, 0].permute(1, 2, 0),
            r"\(1, 3, H, W\), got \(64, 64, 3\) \(channels last",
        ),
        (
            "init_image",
            lambda v: v[:, :, :1],
            r"\(1, 3, H, W\), got \(1, 3, 1, 64, 64\) \(a one-frame video\?",
        ),
        (
            "anchor_image",
            lambda v: v[:, :, 0].permute(0, 2, 3, 1),
            r"\(1, 3, H, W\), got \(1, 64, 64, 3\) \(channels last",
        ),
    ],
)
def test_frames_in_another_layout_are_refused_with_the_shape_given_and_the_conversion(
    model, name, frames, hint
):
    """An image of the wrong layout was reported with a 5-D shape the caller never passed (``(1, 64, 1, 64,
    3)`` for a ``(1, 64, 64, 3)`` image) and a 5-D expected layout; now the shape given and how to convert."""
    video = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    with pytest.raises(ValueError, match=f"^{name} must be shaped .*{hint}"):
        stream(model, "a cat", StreamConfig(num_frames=24, **FAST), **{name: frames(video)})


def test_an_on_step_that_is_no_function_is_refused_before_any_chunk(model):
    with pytest.raises(
        TypeError, match=r"on_step must be a function on_step\(chunk, step, steps\) or None, got int"
    ):
        stream(model, "a cat", StreamConfig(num_frames=8, **FAST), on_step=3)  # raises before iterating


@pytest.mark.parametrize(
    "prompt, hint",
    [
        (["a cat", "a dog"], "got list; one video per call .*each of the 2 prompts"),
        (["a cat"], r"got list; one video per call \(no batches of prompts\): pass the prompt itself$"),
        (
            {0: "a cat", 8: "a dog"},
            r"got dict; a schedule \{frame: prompt\} is .*PromptSchedule\(tuple\(d.items\(\)\)\)",
        ),
        (
            [(0, "a cat"), (8, "a dog")],
            r"got list; a schedule of \(frame, prompt\) pairs is .*PromptSchedule\(tuple\(pairs\)\)",
        ),
    ],
)
def test_batches_and_schedules_in_other_forms_are_refused_with_what_to_pass(model, prompt, hint):
    with pytest.raises(TypeError, match=f"the prompt must be a string or a PromptSchedule, {hint}"):
        StreamingT2VPipeline(model)(prompt, 16, **FAST)
    schedule = PromptSchedule(tuple({0: "a cat", 8: "a dog"}.items()))  # the conversion the message gives
    assert [c.prompt for c in StreamingT2VPipeline(model).stream(schedule, 24, **FAST)] == ["a cat", "a dog"]


def test_options_of_other_video_pipelines_are_named_with_ours(model):
    with pytest.raises(TypeError) as err:
        StreamingT2VPipeline(model)("a cat", 8, num_inference_steps=3, guidance_scale=2.0, output_type="pil")
    text = str(err.value)
    assert text.startswith("unknown sampling options: guidance_scale, num_inference_steps, output_type (")
    assert "pass steps= for stage 2 and init_steps= for stage 1" in text
    assert "pass guidance= for stage 2 and init_guidance= for stage 1" in text
    assert "to_uint8_frames(video)" in text and "\n" not in text


def test_an_anchor_image_given_with_a_resume_state_is_named_as_unused(model, caplog):
    """A resumed stream takes its anchor from the state; an ``anchor_image`` given as well was dropped silently."""
    cfg = StreamConfig(num_frames=32, **FAST)
    chunks = list(stream(model, "a cat", cfg))
    state = StreamState(2, chunks[1].tail, chunks[1].anchor, chunks[1].anchor_prompt)
    other = torch.rand(1, 3, 64, 64) * 2 - 1
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.stream"):
        (resumed,) = list(stream(model, "a cat", cfg, resume=state, anchor_image=other))
    assert torch.equal(resumed.frames, chunks[2].frames)  # the state's anchor, as the message says
    assert [r.getMessage() for r in caplog.records] == [
        "anchor_image is not used when resuming: the stream continues with the resume state's anchor "
        "(set StreamState.anchor to change it)"
    ]


def test_a_trimmed_last_chunk_and_a_delayed_schedule_change_are_said(model, caplog):
    """A frame count that does not fill the last chunk, and a change between chunk starts, went unsaid."""
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.stream"):
        stream(model, "0: a red circle; 20: a blue square", StreamConfig(num_frames=30, **FAST))
        said = caplog.text
        caplog.clear()
        stream(model, "a red circle", StreamConfig(num_frames=10, **FAST))
        short = caplog.text
        caplog.clear()
        stream(model, "0: a red circle; 16: a blue square", StreamConfig(num_frames=32, **FAST))
    assert "30 frames: the last chunk, 2, makes 8 new frames and keeps 6, so 32 frames take as long" in said
    assert "entry 20: 'a blue square' takes effect at frame 24, where the next chunk starts" in said
    assert "10 frames: the last chunk, 0, makes 16 new frames and keeps 10, so 16 frames" in short
    assert caplog.text == ""  # a full last chunk, a change at a chunk start


def test_one_frame_and_one_chunk_messages_read_singular(model, caplog):
    """``--frames 1`` said '1 frames: the last chunk, ...', and an entry unused by a one-chunk video said
    'the chunks start at frames 0'."""
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.stream"):
        stream(model, "a red circle", StreamConfig(num_frames=1, steps=1, init_steps=1))
        stream(model, "0: a red circle; 8: a blue square", StreamConfig(num_frames=16, steps=1, init_steps=1))
    assert "1 frame: the last chunk, 0, makes 16 new frames and keeps 1" in caplog.text
    assert "entry 8: 'a blue square' is never used" in caplog.text
    assert "and the only chunk starts at frame 0" in caplog.text


def test_a_prompt_that_names_a_schedule_file_is_taken_as_the_prompt_with_a_warning(
    model, tmp_path, monkeypatch, caplog
):
    """pipe.stream("s1.txt", 24) made a video of the prompt 's1.txt' without a word: the schedule file of
    that name was never read (as documented), a slip nothing pointed out."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s1.txt").write_text("0: a red circle\n16: a blue square\n")
    pipe = StreamingT2VPipeline(model)
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        first, second = pipe.stream("s1.txt", 24, **FAST)
    assert first.prompt == second.prompt == "s1.txt"  # no behaviour change: the name is the prompt
    warned = [r.getMessage() for r in caplog.records if "file" in r.getMessage()]
    assert warned == [
        "prompt 's1.txt' is taken as the prompt itself, though a file of that name exists: to use the file "
        "as a prompt schedule, pass load_schedule('s1.txt') (from streamt2v.pipeline.prompts) as the prompt "
        "(GenerateConfig: prompt_schedule='s1.txt')"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        as_schedule("missing.txt")  # no such file: a prompt like any other
        as_schedule(".")  # a folder is no schedule file
        as_schedule("a red circle " * 30)  # longer than a file name may be
        schedule = load_schedule("s1.txt")  # the documented way
    assert caplog.text == ""
    assert schedule.entries == ((0, "a red circle"), (16, "a blue square"))


def test_the_rate_advice_for_an_init_video_names_only_an_fps_the_command_accepts(tmp_path, caplog):
    """The advice was '--fps <the input's rate>' whatever the outputs: --fps 60 for a 60 fps input, which a
    GIF output refuses (at most 50 fps), and a rate outside 0.01..1000 that every output refuses. It named
    the flags to a Python caller too, who reads init_video and fps=24; the command line its flags."""
    from streamt2v.arguments import logs_naming_flags
    from streamt2v.io.frame_rates import check_fps, check_gif_fps
    from streamt2v.pipeline.preflight import warn_rate_change

    path = tmp_path / "in.mp4"
    path.write_bytes(b"")  # only its existence matters here: the rate is given
    said = {}
    for gif in (False, True):
        for fps in (0.005, 4.0, 24.0, 50.0, 50.04, 60.0, 1200.0):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="streamt2v"):
                warn_rate_change(str(path), fps, 8.0, 16, gif=gif)
            said["python", gif, fps] = caplog.text
            assert "--" not in caplog.text
            caplog.clear()
            # as cli.generate runs the library
            with (
                caplog.at_level(logging.WARNING, logger="streamt2v"),
                logs_naming_flags("streamt2v.pipeline.preflight"),
            ):
                warn_rate_change(str(path), fps, 8.0, 16, gif=gif)
            said[gif, fps] = caplog.text
            for value in re.findall(r"--fps (\d[\d.]*)", caplog.text):
                check = check_gif_fps if gif else check_fps
                check(float(value), "--fps")  # the same command accepts every --fps the message names
    assert "pass --fps 24 to keep the input's rate" in said[False, 24.0]
    assert "pass --fps 50 to keep the input's rate" in said[True, 50.0]
    assert "so its 16 frames play 7.5x slower; pass --fps 60 to keep the input's rate" in said[False, 60.0]
    # a GIF output: the closest rate it plays, and how the input's frames play at it
    assert (
        "play 7.5x slower; a GIF plays at most 50 fps, so --fps 50 comes closest, where they play 1.2x "
        "slower; a video output (.mp4) without a GIF keeps the input's rate" in said[True, 60.0]
    )
    assert "--fps 50 comes closest, within 1% of the input's rate" in said[True, 50.04]
    assert (
        "--fps takes 0.01 to 1000, so --fps 1000 comes closest, where they play 1.2x slower"
        in said[False, 1200.0]
    )
    # an input slower than the output plays faster, by output / input (it said '0.5x faster')
    assert "its 16 frames play 2x faster; pass --fps 4 to keep" in said[False, 4.0]
    assert "--fps 0.01 comes closest, where they play 2x faster" in said[False, 0.005]
    assert f"--init-video {str(path)!r} plays at 24 fps" in said[False, 24.0]
    # a Python caller reads the arguments of generate's GenerateConfig
    assert f"init_video {str(path)!r} plays at 24 fps" in said["python", False, 24.0]
    assert "pass fps=24 to keep the input's rate" in said["python", False, 24.0]
    assert "fps takes 0.01 to 1000, so fps=1000 comes closest" in said["python", False, 1200.0]
    assert "fps=50 comes closest, within 1% of the input's rate" in said["python", True, 50.04]


@pytest.mark.parametrize(
    "name, given, told",
    [
        (
            "init_video",
            "uint8 frames",
            "a uint8 numpy array (8, 64, 64, 3): streamt2v.io.video.from_uint8_frames(x)",
        ),
        (
            "init_video",
            "frames list",
            "a list of uint8 numpy frames (64, 64, 3): streamt2v.io.video.from_uint8_frames(x)",
        ),
        (
            "init_video",
            "uint8 channels first",
            "a uint8 numpy array (1, 3, 8, 64, 64): "
            "streamt2v.io.video.from_uint8_frames(x[0].transpose(1, 2, 3, 0))",
        ),
        (
            "init_video",
            "float frames",
            "a float64 numpy array (8, 64, 64, 3) in [-1, 1]: torch.from_numpy(x).permute(3, 0, 1, 2)[None].float()",
        ),
        (
            "init_video",
            "float frames list",
            "a list of float64 numpy frames (64, 64, 3) in [-1, 1]: "
            "torch.from_numpy(np.stack(x)).permute(3, 0, 1, 2)[None].float()",
        ),
        (
            "init_image",
            "uint8 frames",
            "a uint8 numpy array (8, 64, 64, 3), the first frame as the image: "
            "streamt2v.io.video.from_uint8_frames(x[:1])[:, :, 0]",
        ),
        (
            "anchor_image",
            "float image",
            "a float64 numpy array (64, 64, 3) in [-1, 1]: torch.from_numpy(x).permute(2, 0, 1)[None].float()",
        ),
        ("init_video", "path", "a video file is read by streamt2v.io.video.read_video(path)[0]"),
        (
            "init_image",
            "PIL",
            "a PIL image: streamt2v.io.video.from_uint8_frames(np.asarray(img.convert('RGB'))",
        ),
        (
            "init_image",
            "uint8 image",
            "a uint8 numpy array (64, 64, 3): streamt2v.io.video.from_uint8_frames(x[None])",
        ),
        ("anchor_image", "image path", "an image file is read by streamt2v.io.video.read_image(path)"),
    ],
)
def test_frames_that_are_no_tensor_are_refused_with_the_conversion_that_makes_them_one(
    model, tmp_path, name, given, told
):
    """A numpy array, a path or a PIL image was refused 'init_video must be a torch.Tensor of pixels in [-1,
    1], got ndarray' with no conversion (a uint8 tensor was told from_uint8_frames). The conversion told is
    code that runs: its result passes the stream's input check."""
    from PIL import Image

    import streamt2v
    from streamt2v.io.video import write_video
    from streamt2v.pipeline.stream_inputs import check_frames

    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    write_video(tmp_path / "v.mp4", frames, fps=8)
    Image.fromarray(frames[0]).save(tmp_path / "a.png")
    floats = frames / 127.5 - 1
    values = {
        "uint8 frames": frames,
        "frames list": list(frames),
        "uint8 channels first": frames.transpose(3, 0, 1, 2)[None],
        "float frames": floats,
        "float frames list": list(floats),
        "float image": floats[0],
        "path": str(tmp_path / "v.mp4"),
        "PIL": Image.fromarray(frames[0]),
        "uint8 image": frames[0],
        "image path": str(tmp_path / "a.png"),
    }
    value = values[given]
    with pytest.raises(TypeError) as err:
        stream(model, "a cat", StreamConfig(num_frames=24, **FAST), **{name: value})
    said = str(err.value)
    assert said.startswith(
        f"{name} must be a torch.Tensor of pixels in [-1, 1], got {type(value).__name__}; "
    )
    assert told in said
    code = re.split(r": | by ", said.split("; ", 1)[1], maxsplit=1)[1].split(" (it returns")[0]
    scope = {"streamt2v": streamt2v, "np": np, "torch": torch, "x": value, "img": value, "path": value}
    converted = eval(code, scope)  # the text told, run
    image = name != "init_video"
    assert check_frames(name, converted, 64, image=image).shape == (
        (1, 3, 1, 64, 64) if image else (1, 3, 8, 64, 64)
    )


def test_stream_config_refuses_every_bad_seed_in_one_wording_first():
    """StreamConfig checked a torch.Generator seed before the types and every seed again after them: a
    float or text seed was refused by the type check alone ('seed must be an integer, got 1.5'), without the
    range that from_preset(seed=) and a Generator's refusal say, and a bad seed came after other settings."""
    for seed, got in ((1.5, "1.5"), ("5", "'5'"), (True, "True"), (-1, "-1")):
        with pytest.raises(ValueError) as caught:
            StreamConfig(num_frames=8, seed=seed, steps="x")  # the seed first, the other setting after
        assert str(caught.value) == f"seed must be an integer in [0, 2**64), got {got}"
    seed = StreamConfig(num_frames=8, seed=np.int64(5)).seed  # a numpy integer still taken, as an int
    assert seed == 5 and type(seed) is int
