"""An integer setting of hundreds of digits (a typo, a pasted number) is refused with its digits counted (``an
integer of 301 digits``), as typed_values.shown_number says it, not written out: a seed of 300 digits filled
the screen. A list setting's item too large for torch is refused naming the setting."""

from __future__ import annotations

import pytest

from streamt2v.cli import build_parser
from streamt2v.cli.setting_flags import ENHANCE_FLAGS, as_flags
from streamt2v.pipeline.chunking import plan_chunks
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.setting_checks import EnhanceSettingError, SettingError
from streamt2v.pipeline.step_counts import check_start_step, check_step_counts
from streamt2v.pipeline.stream_config import StreamConfig
from streamt2v.train.recipes import make_recipe

HUGE = 10**300  # a float holds it, so it is no "much smaller integer" refusal: each check says it
DIGITS = "an integer of 301 digits"


@pytest.mark.parametrize(
    "settings, said",
    [
        ({"seed": HUGE}, f"seed must be an integer in [0, 2**64), got {DIGITS}"),
        ({"seed": -HUGE}, f"seed must be an integer in [0, 2**64), got a negative {DIGITS[3:]}"),
        (
            {"num_frames": HUGE},
            f"num_frames must be at most 1,000,000 (the chunk plan is built up front), got {DIGITS}",
        ),
        ({"num_frames": -HUGE}, f"num_frames must be an integer >= 1, got a negative {DIGITS[3:]}"),
        ({"steps": -HUGE}, f"steps must be >= 1, got a negative {DIGITS[3:]}"),
        ({"cond_frames": -HUGE}, f"cond_frames must be >= 1, got a negative {DIGITS[3:]}"),
        ({"chunk_frames": -HUGE}, f"chunk_frames must be >= 2, got a negative {DIGITS[3:]}"),
        (
            {"chunk_frames": 16, "cond_frames": HUGE},
            f"chunk_frames (16) must be greater than cond_frames ({DIGITS})",
        ),
        ({"reanchor": HUGE}, f"reanchor must be true or false, got {DIGITS}"),
    ],
)
def test_a_stream_setting_of_hundreds_of_digits_is_refused_counting_them(settings, said):
    with pytest.raises(SettingError) as refused:
        StreamConfig(**{"num_frames": 16, **settings})
    assert said in str(refused.value)
    assert "0000" not in str(refused.value)


def test_a_chunk_of_hundreds_of_digits_is_refused_before_any_chunk():
    """chunk_frames=10**300 was taken, and the run failed in torch.randn with a bare TypeError ("Overflow
    when unpacking long long") after its folder was made."""
    with pytest.raises(SettingError, match=f"chunk_frames must be at most 256, got {DIGITS}: "):
        StreamConfig(num_frames=16, chunk_frames=HUGE)


def test_a_chunk_too_long_to_denoise_at_once_is_refused_before_any_chunk():
    """--chunk-frames 1000000 -n 16 was taken: stage 1 denoises a whole chunk at once, and the run was
    killed for memory (22 GB) minutes after its folder was made."""
    with pytest.raises(SettingError, match="^chunk_frames must be at most 256, got 1000000: a chunk's"):
        StreamConfig(num_frames=16, chunk_frames=1_000_000)
    with pytest.raises(SettingError, match="got 257: "):
        StreamConfig(num_frames=16, chunk_frames=257)
    with pytest.raises(SettingError, match="got 257: "):
        plan_chunks(16, chunk_frames=257)
    assert StreamConfig(num_frames=16, chunk_frames=256).chunk_frames == 256


def test_the_counts_checked_after_the_config_count_the_digits_too():
    with pytest.raises(SettingError, match=f"^steps={DIGITS} is more than the 1000 timesteps"):
        check_step_counts(StreamConfig(num_frames=24, steps=HUGE).resolved(), plan_chunks(24))
    # the shipped model recommends chunk_strength 0.9, whose refusal says how far stage 2 starts
    too_many = f"too close to the end for steps={DIGITS}; lower steps"
    with pytest.raises(SettingError, match=too_many) as refused:
        config = StreamConfig(num_frames=24, steps=HUGE, chunk_strength=0.9).resolved()
        check_step_counts(config, plan_chunks(24))
    assert "0000" not in str(refused.value)
    with pytest.raises(
        SettingError, match=f"^num_frames must be an integer >= 1, got a negative {DIGITS[3:]}$"
    ):
        plan_chunks(-HUGE)
    with pytest.raises(
        SettingError, match=f"^chunk_frames \\(16\\) must be greater than cond_frames \\({DIGITS}\\)"
    ):
        plan_chunks(24, chunk_frames=16, cond_frames=HUGE)


@pytest.mark.parametrize(
    "settings, said",
    [
        # was taken: the refiner's windows are denoised whole, as stage 1-2's chunks are
        ({"chunk_frames": HUGE}, f"^chunk_frames must be at most 256, got {DIGITS}: "),
        ({"chunk_frames": 257}, "^chunk_frames must be at most 256, got 257: "),
        ({"overlap": HUGE}, f"^chunk_frames \\(24\\) must be larger than overlap \\({DIGITS}\\)$"),
        ({"overlap": -HUGE}, f"^overlap must be >= 0, got a negative {DIGITS[3:]}$"),
        ({"steps": 10**30}, "^steps \\(an integer of 31 digits\\) must be <= start_step \\(600\\)"),
        ({"steps": -HUGE}, f"^steps must be >= 1, got a negative {DIGITS[3:]}$"),
        ({"start_step": -HUGE}, f"^start_step must be >= 1, got a negative {DIGITS[3:]}$"),
    ],
)
def test_a_stage3_setting_of_hundreds_of_digits_is_refused_counting_them(settings, said):
    with pytest.raises(EnhanceSettingError, match=said) as refused:
        EnhanceConfig(**settings)
    assert "0000" not in str(refused.value)


def test_a_setting_given_as_a_set_of_a_huge_integer_is_counted():
    """steps={10**5000} given to enhance_video: its advice wrote the set's repr, meeting Python's int limit."""
    from streamt2v.pipeline.enhance_config import settings_given_as_keywords

    advice = str(settings_given_as_keywords({"steps": {10**5000}}, None, ["video"]))
    assert advice.endswith(
        "pass config=refiner.config(steps=STEPS) (STEPS for steps, given as {an integer of 5001 digits})"
    )


def test_a_refiner_start_step_of_hundreds_of_digits_is_counted_in_either_spelling():
    with pytest.raises(EnhanceSettingError) as refused:
        check_start_step(EnhanceConfig(start_step=HUGE, steps=1), {"num_train_timesteps": 1000})
    assert str(refused.value).startswith(f"start_step={DIGITS} is past the refiner's noise schedule of 1000")
    flagged = f"--enhance-start-step ({DIGITS}) is past the refiner's noise schedule of 1000"
    assert as_flags(str(refused.value), ENHANCE_FLAGS).startswith(flagged)


def test_a_seed_of_a_20_digit_integer_is_still_written_out():
    with pytest.raises(SettingError, match=f"got {2**64}$"):
        StreamConfig(num_frames=16, seed=2**64)


@pytest.mark.parametrize("digits", [300, 5000])
def test_a_typed_seed_of_hundreds_of_digits_is_refused_counting_them(digits, capsys):
    """--seed 1000... (300 digits) was refused quoting all of them; 5000 digits too (Python's int() refuses
    more than 4300, which read as no integer)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "a cat", "--seed", "9" * digits])
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.endswith(
        f"argument --seed: expected an integer from 0 to {2**64 - 1}, got an integer of {digits} digits"
    )


@pytest.mark.parametrize(
    "typed, said",
    [
        ("0" * 20 + "1", "got '000000000000000000001'"),  # was "an integer of 21 digits"
        ("0" * 300 + "1", "got '1' after 300 leading zeros"),
        ("-" + "0" * 300 + "1", "got '-1' after 300 leading zeros"),
        ("-" + "0" * 300 + "9" * 25, "got a negative integer of 25 digits"),
    ],
)
def test_a_typed_integers_leading_zeros_are_not_counted(typed, said, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "a cat", "--chunk-frames", typed])
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.endswith(f"argument --chunk-frames: expected an integer >= 2, {said}")


def test_a_list_settings_item_too_large_for_torch_is_refused_naming_it():
    """block_out_channels=[10**400, 16] was taken, and building the VAE failed in torch with a bare TypeError
    ("Overflow when unpacking long long")."""
    for item in (10**400, HUGE, 2**63):
        with pytest.raises(
            ValueError, match="block_out_channels=.* must be a list of much smaller integers"
        ) as refused:
            make_recipe("vae", block_out_channels=(item, 16))
        assert "0000" not in str(refused.value)
    assert make_recipe("vae", block_out_channels=(32, 64)).block_out_channels == (32, 64)
