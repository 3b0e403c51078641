"""Recipe option values out of range are refused when the recipe is made, naming the option and the value.

Some are read only when samples or the export are written (``sample_steps``, ``scaling_samples``): a run
took every step and then failed in the library's words, and the resume that corrected the value was refused
as another recipe. Others silently trained something else (a negative ``kl_weight``) or failed at step 1."""

from __future__ import annotations

import numpy as np
import pytest

from streamt2v.train.recipes import make_recipe


@pytest.mark.parametrize(
    "recipe,option,message",
    [
        ("vae", {"scaling_samples": 0}, "vae option scaling_samples must be ≥ 1, got 0"),
        ("vae", {"kl_weight": -1}, "vae option kl_weight must be ≥ 0, got -1.0"),
        ("vae", {"edge_weight": -2}, r"vae option edge_weight must be ≥ 0 \(0 = off\), got -2.0"),
        ("vae", {"latent_noise": -0.5}, r"vae option latent_noise must be ≥ 0 \(0 = off\), got -0.5"),
        ("clip", {"max_length": 1}, r"clip option max_length must be ≥ 3 \(<bos>, a word, <eos>\), got 1"),
        ("clip", {"projection_dim": 0}, "clip option projection_dim must be ≥ 1, got 0"),
        ("clip", {"image_size": 2}, r"clip option image_size must be ≥ 4 \(patch_size\), got 2"),
        ("base", {"sample_steps": 0}, "base option sample_steps must be ≥ 1, got 0"),
        ("refiner", {"sample_steps": -1}, "refiner option sample_steps must be ≥ 1, got -1"),
        ("base", {"num_train_timesteps": 0}, "base option num_train_timesteps must be ≥ 1, got 0"),
        (
            "base",
            {"beta_end": -1},
            "^beta_start and beta_end must satisfy 0 < start ≤ end < 1, got 0.00085 and -1.0",
        ),
        ("stream", {"anchor_frames": 0}, "stream option anchor_frames must be ≥ 1, got 0"),
    ],
)
def test_an_option_out_of_range_is_refused_when_the_recipe_is_made(recipe, option, message):
    with pytest.raises(ValueError, match=message):
        make_recipe(recipe, **option)


def test_the_default_options_of_every_recipe_are_in_range():
    for recipe in ("vae", "clip", "base", "stream", "refiner"):
        make_recipe(recipe)


def test_an_option_of_another_type_given_to_the_recipe_class_is_named():
    # the recipe classes take their fields as given: a string failed inside math.isfinite with a bare TypeError
    from streamt2v.train.vae_recipe import VAERecipe

    with pytest.raises(ValueError, match="vae option kl_weight must be a finite number ≥ 0, got '1e-4'"):
        VAERecipe(kl_weight="1e-4")
    # an int too large for a float failed in math.isfinite with a bare OverflowError, then was refused as
    # "must be ≥ 1, got 1000…" (its 401 digits); over 4300 digits Python refuses to write it at all
    for value, shown in [
        (10**400, "an integer of 401 digits"),
        (-(10**5000), "a negative integer of 5001 digits"),
    ]:
        with pytest.raises(ValueError) as err:
            VAERecipe(layers_per_block=value)
        assert str(err.value) == f"vae option layers_per_block must be a finite number ≥ 1, got {shown}"
    # numpy numbers are numbers, kept as plain ones (the run config is JSON)
    made = VAERecipe(layers_per_block=np.int64(2), kl_weight=np.float32(1e-4))
    assert type(made.layers_per_block) is int and type(made.kl_weight) is float and made.layers_per_block == 2


def test_the_vaes_channels_are_checked_against_its_norm_groups_naming_both_options(capsys, tmp_path):
    """torch refused them at the build, naming no option: 'num_channels (8) must be divisible by num_groups
    (16)'."""
    from streamt2v.cli import main

    with pytest.raises(
        ValueError, match=r"^recipe 'vae' option block_out_channels=\(8, 16, -1\) must be whole numbers ≥ 1"
    ):
        make_recipe("vae", block_out_channels=(8, 16, -1))
    # an empty list was told its numbers must be ≥ 1
    with pytest.raises(ValueError, match=r"^recipe 'vae' option block_out_channels=\(\) is empty: give the"):
        make_recipe("vae", block_out_channels=[])
    out = str(tmp_path / "run")
    assert main(["train", "vae", "-o", out, "--cpu", "--set", "block_out_channels=[8,16,24]"]) == 2
    assert capsys.readouterr().err == (
        "error: recipe 'vae' option --set block_out_channels=[8,16,24] must be multiples of --set norm_num_groups=16 "
        "(its normalisations split each level's channels in that many groups): change either\n"
    )
    make_recipe("vae", block_out_channels=(8, 16), norm_num_groups=8)


def test_a_typed_value_takes_numpys_bool_and_refuses_an_integer_no_float_holds():
    """typed_values.typed_value (recipe options, sampler settings): kl_weight=10**400 failed with a bare
    OverflowError naming no option; np.bool_(True), which numpy comparisons give, was "must be true or
    false" though numpy numbers are taken as Python's."""
    from streamt2v.pipeline.stream import StreamConfig

    with pytest.raises(
        ValueError, match="^recipe 'vae' option kl_weight=an integer .* must be a finite number$"
    ):
        make_recipe("vae", kl_weight=10**400)
    config = StreamConfig(num_frames=16, reanchor=np.bool_(True))
    assert config.reanchor is True


@pytest.mark.parametrize("digits", [401, 5001])
def test_an_integer_no_float_holds_is_shown_by_its_digits(digits):
    """kl_weight=10**400 was refused in a message of 455 characters (the Arg's repr), 10**5000 with Python's
    bare "Exceeds the limit (4300 digits)": the value is now shown in words, to both callers."""
    with pytest.raises(ValueError) as err:
        make_recipe("vae", kl_weight=10 ** (digits - 1))
    said = f"recipe 'vae' option kl_weight=an integer of {digits} digits must be a finite number"
    assert str(err.value) == said
    assert str(err.value.as_flags()) == said.replace("kl_weight=", "--set kl_weight=")


@pytest.mark.parametrize("digits", [401, 5001])
def test_a_scheduler_option_no_float_holds_is_shown_by_its_digits(digits):
    from streamt2v.train.assemble_settings import checked_scheduler_options

    with pytest.raises(ValueError) as err:
        checked_scheduler_options({"beta_start": 10 ** (digits - 1), "num_train_timesteps": 10})
    huge = f"an integer of {digits} digits"
    assert str(err.value) == (
        f"scheduler_overrides={{'beta_start': {huge}, 'num_train_timesteps': 10}}: beta_start must be a finite "
        f"number, got {huge}"
    )
    assert str(err.value.as_flags()) == f"--scheduler-option beta_start must be a finite number, got {huge}"


@pytest.mark.parametrize("digits", [401, 5001])
def test_a_settings_dict_holding_an_integer_no_float_holds_is_shown_by_its_digits(digits):
    """The dicts of assemble's --enhance and --sampler were shown whole: 10**400 in a message of 972
    characters, 10**5000 refused with Python's bare "Exceeds the limit (4300 digits)" (repr and json.dumps of
    the dict). An integer setting that large is refused as one."""
    from streamt2v.train.assemble_settings import checked_enhance, checked_sampler

    huge = f"an integer of {digits} digits"
    too_large = "must be a much smaller integer"
    with pytest.raises(ValueError) as err:
        checked_enhance({"steps": 10 ** (digits - 1)})
    assert str(err.value) == f"enhance={{'steps': {huge}}}: steps {too_large}, got {huge}"
    assert str(err.value.as_flags()) == f"--enhance '{{\"steps\": {huge}}}': steps {too_large}, got {huge}"
    streaming = {"num_frames": 16, "num_cond_frames": 8}
    with pytest.raises(ValueError) as err:
        checked_sampler({"guidance": 10 ** (digits - 1)}, streaming)
    assert str(err.value) == f"sampler={{'guidance': {huge}}}: guidance must be a finite number, got {huge}"
    assert str(err.value.as_flags()) == (
        f"--sampler '{{\"guidance\": {huge}}}': guidance must be a finite number, got {huge}"
    )
    with pytest.raises(ValueError) as err:
        checked_sampler({"steps": 10 ** (digits - 1)}, streaming)
    assert str(err.value) == f"sampler={{'steps': {huge}}}: steps {too_large}, got {huge}"


def test_an_integer_option_no_float_holds_is_refused_naming_it():
    """make_recipe("vae", size=10**400) was taken, then the build failed with a bare OverflowError."""
    with pytest.raises(ValueError) as err:
        make_recipe("vae", size=10**400)
    said = "recipe 'vae' option size=an integer of 401 digits must be a much smaller integer"
    assert str(err.value) == said
    # the counted value in parentheses after the flag, where its words ran on into the message's
    flagged = said.replace("size=an integer of 401 digits", "--size (an integer of 401 digits)")
    assert str(err.value.as_flags()) == flagged


def test_a_container_is_shown_with_its_huge_integers_in_words():
    import json

    from streamt2v.typed_values import shown_value

    value = {"a": (10**400,), "b": [1, -(10**5000)], "c": "x"}
    assert shown_value(value) == (
        "{'a': (an integer of 401 digits,), 'b': [1, a negative integer of 5001 digits], 'c': 'x'}"
    )
    assert shown_value(value, json.dumps) == (
        '{"a": [an integer of 401 digits], "b": [1, a negative integer of 5001 digits], "c": "x"}'
    )
    assert shown_value(value, str) == shown_value(value)
    assert shown_value({"a": (1, 2)}, json.dumps) == '{"a": [1, 2]}'  # none: as spelled
