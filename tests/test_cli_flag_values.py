"""Values the command line refuses while it parses, naming the flag (exit 2, nothing run): empty paths (an
unset shell variable)."""

from __future__ import annotations

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
        (["evaluate", "a.mp4", "--out", ""], "--out"),
        (["evaluate", "a.mp4", "--metrics", "probes", "--prompts", ""], "--prompts"),
        # each named the working directory: '.' in the message, or its videos scored
        (["generate", PROMPT, "-o", ""], "-o/--output"),
        (["generate", "--resume", ""], "--resume"),
        (["generate", PROMPT, "--init-image", ""], "--init-image"),
        (["enhance", "", "--prompt", PROMPT, "-o", "o.mp4"], "input"),
        (["evaluate", ""], "VIDEO_OR_DIR"),
        (["assemble", "model", "", "--unet", "u"], "out_dir"),
        (["train", "vae", "--out", ""], "--out"),
    ],
)
def test_an_empty_path_is_refused_naming_its_flag(argv, flag, capsys):
    error = _refused(argv, capsys)
    assert error.endswith(f"error: argument {flag}: expected a path, got an empty string"), error
