"""Values the command line refuses while it parses, naming the flag (exit 2, nothing run): empty paths and
backends (an unset shell variable), seeds outside the range the random generators take."""

from __future__ import annotations

import argparse

import pytest

from streamt2v.cli import build_parser

PROMPT = "a red circle bouncing on a blue background"


def _refused(argv: list[str], capsys) -> str:
    """The error line of a command line refused by argparse (exit 2, nothing on stdout). Parsed only: a line
    the parser takes must not start the command."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv, flag",
    [
        # each was dropped without a word: a video made from text alone, no PNGs, the default run folder
        (["generate", PROMPT, "--init-video", ""], "--init-video"),
        (["generate", PROMPT, "--png-dir", ""], "--png-dir"),
        (["generate", PROMPT, "--run-dir", ""], "--run-dir"),
        # results not written, exit 0; captions scored without prompts (nan)
        (["evaluate", "a.mp4", "--out", ""], "-o/--output/--out"),
        (["evaluate", "a.mp4", "--metrics", "probes", "--prompts", ""], "--prompts"),
        # each named the working directory: '.' in the message, or its videos scored
        (["generate", PROMPT, "-o", ""], "-o/--output/--out"),
        (["generate", "--resume", ""], "--resume"),
        (["generate", PROMPT, "--init-image", ""], "--init-image"),
        (["enhance", "", "--prompt", PROMPT, "-o", "o.mp4"], "input"),
        (["evaluate", ""], "VIDEO_OR_DIR"),
        (["assemble", "model", "", "--unet", "u"], "out_dir"),
        (["train", "vae", "--out", ""], "-o/--output/--out"),
    ],
)
def test_an_empty_path_is_refused_naming_its_flag(argv, flag, capsys):
    error = _refused(argv, capsys)
    assert error.endswith(f"error: argument {flag}: expected a path, got an empty string"), error


@pytest.mark.parametrize(
    "command", [["generate", PROMPT], ["enhance", "in.mp4", "--prompt", PROMPT, "-o", "o.mp4"]]
)
def test_a_seed_past_the_generators_range_is_refused_before_any_work(command, capsys):
    """torch's generators take seeds below 2**64: enhance (and generate's stage 3) failed after the video was
    read, the refiner loaded and stages 1-2 done, with "error: Overflow when unpacking long long"."""
    assert build_parser().parse_args([*command, "--seed", str(2**64 - 1)]).seed == 2**64 - 1
    error = _refused([*command, "--seed", str(2**64)], capsys)
    assert error.endswith(
        f"error: argument --seed: expected an integer from 0 to {2**64 - 1}, got '{2**64}'"
    ), error


@pytest.mark.parametrize("command", [["generate", PROMPT], ["train", "vae", "--out", "o"]])
def test_an_empty_compile_backend_is_refused(capsys, command):
    """``--compile ''`` ran uncompiled without a word (the empty name read as no --compile)."""
    error = _refused([*command, "--compile", ""], capsys)
    assert error.endswith(
        "error: argument --compile: expected a torch.compile backend such as inductor, got an empty string"
    ), error
    assert build_parser().parse_args([*command, "--compile"]).compile == "inductor"


def _options(parser: argparse.ArgumentParser, command: str):
    """(command, option) of every option taking a value, in ``parser`` and its subcommands' parsers."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{command} {name}")
        elif action.option_strings and action.nargs != 0 and action.dest not in ("help", "version"):
            yield command, action


def test_every_option_with_a_default_names_it_in_its_help():
    """A value used when the flag is left out is said in ``--help``: evaluate's --mawe-definition did not say
    that the official code's MAWE is scored unless --mawe-definition paper is given."""
    unsaid = [
        f"{command} {action.option_strings[-1]} (default {action.default!r})"
        for command, action in _options(build_parser(), "streamt2v")
        if action.default not in (None, "", [], argparse.SUPPRESS) and "default" not in (action.help or "")
    ]
    assert unsaid == []


def _parsers(parser: argparse.ArgumentParser):
    """``parser`` and its subcommands' parsers, at every depth."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_no_on_off_flag_has_a_default_python_3_10_would_print():
    """Python 3.10's BooleanOptionalAction appends "(default: False)" to the help of a flag whose default is
    not None (3.11 does not): generate --enhance had default=False, so its help ended so on 3.10 alone. Left
    unset, such a flag is None, as --reanchor is."""
    shown = [
        f"{parser.prog} {action.option_strings[0]} (default {action.default!r})"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if isinstance(action, argparse.BooleanOptionalAction) and action.default is not None
    ]
    assert shown == []


def test_an_empty_prompt_schedule_is_refused_naming_both_forms(capsys):
    # it is a file or the schedule itself: "expected a path" misled for the inline form
    error = _refused(["generate", "--prompt-schedule", " "], capsys)
    assert error.endswith(
        "error: argument --prompt-schedule: expected a schedule file or an inline schedule "
        "('0: a cat walks; 120: the cat runs'), got ' '"
    ), error
    assert (
        build_parser().parse_args(["generate", "--prompt-schedule", "0: a; 8: b"]).prompt_schedule
        == "0: a; 8: b"
    )


ENHANCE = ["enhance", "in.mp4", "--prompt", PROMPT, "-o", "o.mp4"]


@pytest.mark.parametrize(
    "command, flag, typed, said",
    [
        # each said the value as Python wrote the float back: 'got 0.0' for 0, 'got inf' for 1e999
        (["generate", PROMPT], "--fps", "0", "--fps: expected a finite number in [0.01, 1000], got '0'"),
        (
            ["generate", PROMPT],
            "--fps",
            "1e999",
            "--fps: expected a finite number in [0.01, 1000], got '1e999'",
        ),
        (
            ["generate", PROMPT],
            "--eta",
            "2",
            "--eta: expected a finite number in [0, 1] (0 = deterministic DDIM), got '2'",
        ),
        (
            ["generate", PROMPT],
            "--init-eta",
            "-1",
            "--init-eta: expected a finite number in [0, 1] (0 = deterministic DDIM), got '-1'",
        ),
        (
            ["generate", PROMPT],
            "--guidance",
            "-1",
            "--guidance/--guidance-scale: expected a finite number >= 0, got '-1'",
        ),
        (
            ["generate", PROMPT],
            "--init-guidance",
            "-0.5",
            "--init-guidance: expected a finite number >= 0, got '-0.5'",
        ),
        (
            ["generate", PROMPT],
            "--guidance-rescale",
            "2",
            "--guidance-rescale: expected a finite number in [0, 1] (0 = off), got '2'",
        ),
        (
            ["generate", PROMPT],
            "--init-guidance-rescale",
            "nan",
            "--init-guidance-rescale: expected a finite number in [0, 1] (0 = off), got 'nan'",
        ),
        (
            ["generate", PROMPT],
            "--noise-correlation",
            "1",
            "--noise-correlation: expected a finite number in [0, 1), got '1'",
        ),
        (
            ["generate", PROMPT],
            "--init-noise-correlation",
            "1.",
            "--init-noise-correlation: expected a finite number in [0, 1), got '1.'",
        ),
        (
            ["generate", PROMPT],
            "--anchor-colour-match",
            "3",
            "--anchor-colour-match: expected a finite number in [0, 1] (0 = off), got '3'",
        ),
        (
            ["generate", PROMPT],
            "--chunk-strength",
            "0",
            "--chunk-strength: expected a finite number in (0, 1] (1 = pure noise), got '0'",
        ),
        (ENHANCE, "--fps", "-1", "--fps: expected a finite number in [0.01, 1000], got '-1'"),
        (
            ENHANCE,
            "--guidance",
            "0",
            "--guidance-scale/--guidance: expected a finite number >= 1, got '0'",
        ),
        (
            ENHANCE,
            "--guidance-rescale",
            "2",
            "--guidance-rescale: expected a finite number in [0, 1], got '2'",
        ),
        # moved here from the run's checks (test_generate_cli), which said 'got nan', 'got inf'
        (
            ["generate", PROMPT],
            "--guidance",
            "nan",
            "--guidance/--guidance-scale: expected a finite number >= 0, got 'nan'",
        ),
        (
            ["generate", PROMPT],
            "--eta",
            "inf",
            "--eta: expected a finite number in [0, 1] (0 = deterministic DDIM), got 'inf'",
        ),
        (
            ["generate", PROMPT],
            "--fps",
            "1e-9",
            "--fps: expected a finite number in [0.01, 1000], got '1e-9'",
        ),
        # not a number at all: said as typed too (was "invalid float value: '0x'")
        (
            ENHANCE,
            "--guidance-scale",
            "0x",
            "--guidance-scale/--guidance: expected a finite number >= 1, got '0x'",
        ),
        # evaluate's --mawe-coeff, which said 'expected a number from 1e-06 to 1e+06'
        (
            ["evaluate", "a.mp4"],
            "--mawe-coeff",
            "0",
            "--mawe-coeff: expected a finite number in [1e-06, 1e+06], got '0'",
        ),
    ],
)
def test_a_number_flag_names_its_refused_value_as_typed(command, flag, typed, said, capsys):
    """A number flag's value out of its range is refused while parsing, as typed, the flag named by argparse,
    as an integer flag's is (the library's config named the field, then as Python writes the float)."""
    error = _refused([*command, flag, typed], capsys)
    assert error.endswith(f"error: argument {said}"), error


@pytest.mark.parametrize("command", ["generate", "enhance", "evaluate"])
def test_no_number_flag_is_a_plain_float(command):
    """``type=float`` takes anything float() does (inf, nan, 1e999) and leaves its refusal to a config that
    writes the value back reformatted: each number flag has its range's type instead."""
    parser = next(p for p in _parsers(build_parser()) if p.prog == f"streamt2v {command}")
    assert [action.option_strings for action in parser._actions if action.type is float] == []


@pytest.mark.parametrize(
    "command, flag, typed, value",
    [
        (["generate", PROMPT], "--fps", "0.01", 0.01),
        (["generate", PROMPT], "--chunk-strength", "1", 1.0),
        (["generate", PROMPT], "--noise-correlation", "0", 0.0),
        (["generate", PROMPT], "--guidance", "0", 0.0),
        (ENHANCE, "--fps", "1000", 1000.0),
        (ENHANCE, "--guidance-scale", "1", 1.0),
    ],
)
def test_a_number_flag_takes_the_ends_of_its_range(command, flag, typed, value):
    args = build_parser().parse_args([*command, flag, typed])
    assert getattr(args, flag[2:].replace("-", "_")) == value


# Each number flag of generate that fills a StreamConfig setting, with the ends of its range (None: none):
# generate's types copy the config's checks, so that a value is refused as typed while parsing.
_STREAM_FLAG_ENDS = [
    ("--frames", "num_frames", 1, None),  # the config's upper end (the chunk plan's) is its own
    ("--seed", "seed", 0, 2**64 - 1),
    ("--steps", "steps", 1, None),
    ("--init-steps", "init_steps", 1, None),
    ("--chunk-frames", "chunk_frames", 2, None),
    ("--cond-frames", "cond_frames", 1, None),
    ("--guidance", "guidance", 0.0, None),
    ("--init-guidance", "init_guidance", 0.0, None),
    ("--guidance-rescale", "guidance_rescale", 0.0, 1.0),
    ("--init-guidance-rescale", "init_guidance_rescale", 0.0, 1.0),
    ("--anchor-colour-match", "anchor_colour_match", 0.0, 1.0),
    ("--eta", "eta", 0.0, 1.0),
    ("--init-eta", "init_eta", 0.0, 1.0),
    ("--noise-correlation", "noise_correlation", 0.0, 1.0),
    ("--init-noise-correlation", "init_noise_correlation", 0.0, 1.0),
    ("--chunk-strength", "chunk_strength", 0.0, 1.0),
]


@pytest.mark.parametrize("flag, setting, low, high", _STREAM_FLAG_ENDS)
def test_a_number_flag_of_generate_has_its_settings_range(flag, setting, low, high):
    """At each end of the range, just past it and just inside it, generate's flag takes a value exactly where
    StreamConfig does, so the two copies of the range cannot drift; and each end is one (a value past it is
    refused, whether the end itself is taken or not: [0, 1) and (0, 1] too)."""
    import math

    from streamt2v.pipeline.stream_config import StreamConfig

    parser = build_parser()

    def flag_takes(value) -> bool:
        try:
            parser.parse_args(["generate", PROMPT, f"{flag}={value!r}"])  # =: -1 is no flag
        except SystemExit:
            return False
        return True

    def config_takes(value) -> bool:
        try:
            StreamConfig(**{"num_frames": 8, setting: value})
        except ValueError:
            return False
        return True

    for end, outward in ((low, -math.inf), (high, math.inf)):
        if end is None:
            continue
        if isinstance(end, int):
            step = 1 if outward > 0 else -1
            probes = [end - step, end, end + step]
        else:
            probes = [math.nextafter(end, -outward), end, math.nextafter(end, outward)]
        taken = {value: (flag_takes(value), config_takes(value)) for value in probes}
        assert all(by_flag == by_config for by_flag, by_config in taken.values()), (flag, taken)
        assert taken[probes[0]] == (True, True) and taken[probes[2]] == (False, False), (flag, taken)


def test_every_number_flag_of_generate_for_a_stream_setting_is_checked_against_it():
    """A new number flag of generate is added to _STREAM_FLAG_ENDS (stage 3's fill EnhanceConfig, whose
    ranges hang on each other; --fps is the writers' range, which frame_rate imports)."""
    parser = next(p for p in _parsers(build_parser()) if p.prog == "streamt2v generate")
    typed = {
        action.option_strings[0]
        for action in parser._actions
        if getattr(action.type, "__qualname__", "").split(".")[0] in ("number_in", "integer_at_least")
        and not action.dest.startswith("enhance_")
    }
    assert typed == {flag for flag, *_ in _STREAM_FLAG_ENDS}
