"""How the command line is parsed: positionals after options (argparse's intermixed parsing) without its
two-round required-argument errors, unknown options, ``--``, ``-v`` anywhere, abbreviations, help."""

from __future__ import annotations

import argparse
import shlex

import pytest

from streamt2v import __version__
from streamt2v.cli import DOCS_NOTE, HELP_NAMES_DOCS, _Parser, build_parser, chosen_device, main


def _parse(line: str) -> argparse.Namespace:
    return build_parser().parse_args(shlex.split(line))


def _refused(line: str, capsys) -> tuple[str, str]:
    """The usage and error lines of a refused command line (exit 2, nothing on stdout)."""
    with pytest.raises(SystemExit) as exit_:
        main(shlex.split(line))
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("error:") == 1
    return err, err.splitlines()[-1]


@pytest.mark.parametrize(
    "line, prog, missing",
    [
        ("train", "train", "recipe, -o/--output/--out"),
        ("train --cpu -v", "train", "recipe, -o/--output/--out"),
        ("-v train --steps 3", "train", "recipe, -o/--output/--out"),
        ("enhance", "enhance", "input, --prompt, -o/--output/--out"),
        ("enhance --prompt p", "enhance", "input, -o/--output/--out"),
        ("enhance -o o.mp4 --steps 2", "enhance", "input, --prompt"),
        ("assemble model", "assemble model", "out_dir, --unet"),
        ("assemble refiner --dtype fp16", "assemble refiner", "out_dir, --unet"),
        ("evaluate --metrics scuts", "evaluate", "VIDEO_OR_DIR"),  # was "VIDEO_OR_DIR, VIDEO_OR_DIR"
    ],
)
def test_everything_missing_is_named_in_one_error(line, prog, missing, capsys):
    """Intermixed parsing checks the required options, then the positionals: ``train`` named ``--out`` and,
    once it was given, ``recipe``. Plain argparse names both at once, and so does the command line now."""
    _, error = _refused(line, capsys)
    assert error == f"streamt2v {prog}: error: the following arguments are required: {missing}"


@pytest.mark.parametrize(
    "line, prog, unknown, missing",
    [
        ("train --bogus", "train", "--bogus", "recipe, -o/--output/--out"),
        ("train --dta x", "train", "--dta (--data?)", "-o/--output/--out"),
        ("train vae --ot o", "train", "--ot (--out?)", "-o/--output/--out"),
        ("enhance in.mp4 --promt p", "enhance", "--promt (--prompt?)", "--prompt, -o/--output/--out"),
        ("assemble model --unt u out", "assemble model", "--unt (--unet?)", "--unet"),
        ("convert ckpt -q", "convert", "-q", "out_dir"),
        # a value that begins with a dash, an abbreviation, a negative number and a short flag's value are no
        # unknown options
        ("enhance i.mp4 -o o.mp4 --negative-prompt '-x y' --neg=n -q", "enhance", "-q", "--prompt"),
        ("assemble model --name -1 o -x", "assemble model", "-x", "--unet"),
    ],
)
def test_a_misspelt_flag_is_named_before_the_arguments_missing(line, prog, unknown, missing, capsys):
    """A misspelt flag (``--promt p``) is the likely cause of a missing argument: argparse named the missing
    ones alone (``the following arguments are required: --prompt``), never the flag with its hint."""
    _, error = _refused(line, capsys)
    assert error == (
        f"streamt2v {prog}: error: unrecognized arguments: {unknown}; the following arguments are required: "
        f"{missing}"
    )


@pytest.mark.parametrize(
    "line",
    [
        "train",
        "enhance --prompt p",
        "assemble model",
        "convert",
        "convert a --dtype fp16",
        "evaluate --metrics scuts",
        "train vae --out o --bogus x",
        "generate p --bogus",
        "generate --bogus p extra",
        "convert a --bogus b",
        "assemble model out --unet u --bogus",
        "train vae --out o -x",
        "generate p --frames 0",
        "generate --frames",
        "evaluate a --flow bogus b",
        "enhance --prompt p -o",
        "generate p --init 3",
        "train --compile vae --out o",
        "evaluate a.mp4 --metrics scuts -- b.mp4",
        "assemble model -- -out --unet u",
    ],
)
def test_a_refused_command_line_gets_plain_argparses_error(line, capsys, monkeypatch):
    """Usage and error as plain argparse gives them (the parser without intermixed parsing), for every
    command line plain argparse reads to the end: unknown options are unrecognized arguments, an option's
    bad value names the option, ``--compile`` takes the word after it (train's recipe), after ``--`` all is
    positional."""
    got = _refused(line, capsys)
    monkeypatch.setattr(_Parser, "parse_known_args", argparse.ArgumentParser.parse_known_args)
    assert got == _refused(line, capsys)


def test_unknown_options_among_intermixed_positionals_are_named_alone(capsys):
    """Where only intermixed parsing places the positionals, what is left over is the unknown option (and a
    word after it that no positional takes), not the positionals a plain parse could not place."""
    assert _refused("evaluate a.mp4 --metrics scuts b.mp4 --bogus", capsys)[1] == (
        "streamt2v evaluate: error: unrecognized arguments: --bogus"
    )
    assert _refused("evaluate a.mp4 --bogus b.mp4", capsys)[1] == (
        "streamt2v evaluate: error: unrecognized arguments: --bogus b.mp4"
    )
    assert _refused("train --out o vae --metrics m extra", capsys)[1] == (
        "streamt2v train: error: unrecognized arguments: --metrics m extra"
    )


@pytest.mark.parametrize(
    "line, command",
    [
        ("generate --frobnicate", "generate"),
        ("train vae --out o --frobnicate", "train"),
        ("assemble model out --unet u --frobnicate", "assemble model"),
        ("--frobnicate generate", None),  # before any command: the top level's, with what it takes there
    ],
)
def test_an_unknown_option_is_the_error_of_its_command(line, command, capsys):
    """argparse gives what a command leaves over back to the parser above, which showed the top-level usage
    and named no command (``streamt2v: error: unrecognized arguments: --frobnicate`` after ``generate``)."""
    err, last = _refused(line, capsys)
    prog = f"streamt2v {command}" if command else "streamt2v"
    assert last.startswith(f"{prog}: error: unrecognized arguments: --frobnicate")
    assert (last == f"{prog}: error: unrecognized arguments: --frobnicate") == (command is not None)
    assert err.startswith(f"usage: {prog} [options]")


@pytest.mark.parametrize(
    "line, usage, error",
    [
        (
            "generate x --frames abc",
            "streamt2v generate [options] [prompt]",
            "argument --frames/-n/--num-frames: expected an integer >= 1, got 'abc'",
        ),
        (  # -v shows a traceback for the other errors; a parse error has none (README)
            "-v generate x --frames abc",
            "streamt2v generate [options] [prompt]",
            "argument --frames/-n/--num-frames: expected an integer >= 1, got 'abc'",
        ),
        (
            "enhance in.mp4 -o x.mp4 -n 8",
            "streamt2v enhance [options] --prompt PROMPT -o OUTPUT input",
            "the following arguments are required: --prompt",
        ),
        (
            "assemble model out",
            "streamt2v assemble model [options] --unet UNET out_dir",
            "the following arguments are required: --unet",
        ),
        (
            "convert a b --dtype fp8",
            "streamt2v convert [options] checkpoint out_dir",
            "argument --dtype: invalid choice: 'fp8' (choose from 'fp32', 'fp16', 'bf16')",
        ),
        (
            "evaluate",
            "streamt2v evaluate [options] VIDEO_OR_DIR [VIDEO_OR_DIR ...]",
            "the following arguments are required: VIDEO_OR_DIR",
        ),
        (
            "train vae",
            "streamt2v train [options] -o OUT recipe",
            "the following arguments are required: -o/--output/--out",
        ),
        (
            "assemble refiner out",
            "streamt2v assemble refiner [options] --unet UNET out_dir",
            "the following arguments are required: --unet",
        ),
        ("", "streamt2v [options] COMMAND ...", "the following arguments are required: COMMAND"),
        (
            "nosuch p",
            "streamt2v [options] COMMAND ...",
            "argument COMMAND: invalid choice: 'nosuch' (choose from 'generate', 'enhance', 'convert', "
            "'evaluate', 'train', 'assemble')",
        ),
        # a command's typo or start: the command it is likely for
        (
            "generat p",
            "streamt2v [options] COMMAND ...",
            "argument COMMAND: invalid choice: 'generat' (choose from 'generate', 'enhance', 'convert', "
            "'evaluate', 'train', 'assemble'); did you mean generate?",
        ),
        (
            "assemble ref out",
            "streamt2v assemble [options] KIND ...",
            "argument KIND: invalid choice: 'ref' (choose from 'model', 'refiner'); did you mean refiner?",
        ),
        # an option before the command that the top level does not take: named (was "the following
        # arguments are required: COMMAND"; "--frames 8 generate" was "invalid choice: '8'")
        (
            "-x",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: -x (streamt2v takes -h/--help, -v/--verbose, --version before its COMMAND; "
            "a command's own options go after it: streamt2v COMMAND --help lists them)",
        ),
        (  # the command's, typed after them: said so
            "-v --frames 8 generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --frames (streamt2v takes -h/--help, -v/--verbose, --version before its "
            "COMMAND; --frames is generate's option: put it after generate)",
        ),
        (
            "--steps=2 --seed=3 generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --steps=2 --seed=3 (streamt2v takes -h/--help, -v/--verbose, --version "
            "before its COMMAND; --steps, --seed are generate's options: put them after generate)",
        ),
        (  # a negative value goes with the command's option: -1 was named an unrecognized option too
            "--seed -1 generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --seed (streamt2v takes -h/--help, -v/--verbose, --version before its "
            "COMMAND; --seed is generate's option: put it after generate)",
        ),
        (  # the command's flag misspelt before it: the flag it is likely for, as after the command
            "--stpes=3 generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --stpes=3 (--steps?) (streamt2v takes -h/--help, -v/--verbose, --version "
            "before its COMMAND; a command's own options go after it: streamt2v COMMAND --help lists them)",
        ),
        (  # streamt2v's own flag misspelt before a command: hinted by its flags too (was no hint)
            "--versoin generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --versoin (--version?) (streamt2v takes -h/--help, -v/--verbose, --version "
            "before its COMMAND; a command's own options go after it: streamt2v COMMAND --help lists them)",
        ),
        (  # and its negative, as after a command: --version only prints, so nothing to say
            "--no-version generate a",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --no-version (streamt2v takes -h/--help, -v/--verbose, --version before its "
            "COMMAND; a command's own options go after it: streamt2v COMMAND --help lists them)",
        ),
        (  # --unet is assemble model's, not assemble's
            "--unet u assemble model out",
            "streamt2v [options] COMMAND ...",
            "unrecognized arguments: --unet (streamt2v takes -h/--help, -v/--verbose, --version before its "
            "COMMAND; a command's own options go after it: streamt2v COMMAND --help lists them)",
        ),
        (  # capitals, as a typo is: the command meant (Generate had the hint, GENERATE none)
            "GENERATE p",
            "streamt2v [options] COMMAND ...",
            "argument COMMAND: invalid choice: 'GENERATE' (choose from 'generate', 'enhance', 'convert', "
            "'evaluate', 'train', 'assemble'); did you mean generate?",
        ),
    ],
)
def test_a_parse_error_is_a_usage_line_and_the_error(line, usage, error, capsys):
    """argparse printed the whole usage before the error (~30 lines for generate, off a terminal's screen):
    one line of usage, with what the command requires and where its options are, then the error, last."""
    err, _ = _refused(line, capsys)
    prog = usage.split(" [options]")[0]
    assert err.splitlines() == [f"usage: {usage} (see {prog} --help)", f"{prog}: error: {error}"]


@pytest.mark.parametrize(
    "line, same_as",
    [
        # positionals after options: as with the options first
        ("evaluate a.mp4 --metrics scuts b.mp4", "evaluate --metrics scuts a.mp4 b.mp4"),
        ("evaluate a --metrics=scuts b --flow dis c", "evaluate --metrics scuts --flow dis a b c"),
        ("evaluate a -v b --overwrite c", "evaluate --verbose --overwrite a b c"),
        ("-v evaluate a --out r.json b -v", "evaluate -v --out r.json a b"),
        ("train --out o vae --steps 3", "train vae --out o --steps 3"),
        ("train -v vae --out=o", "-v train vae --out o"),
        ("enhance --prompt p in.mp4 -o o.mp4", "enhance in.mp4 --prompt p --output o.mp4"),
        ("enhance --prompt=p -oo.mp4 in.mp4", "enhance in.mp4 --prompt p -o o.mp4"),
        ("convert a --dtype fp16 b", "convert --dtype fp16 a b"),
        ("assemble model --unet u out --fps 4", "assemble model out --unet u --fps 4"),
        (
            "assemble refiner --scheduler-option a=1 out --unet u",
            "assemble refiner out --unet u --scheduler-option a=1",
        ),
        ("generate --frames 8 p --seed 1", "generate p --frames 8 --seed 1"),
        # abbreviated long options (argparse's allow_abbrev), read plainly and intermixed
        ("generate p --frame 80", "generate p --frames 80"),
        ("generate --fra=80 p", "generate p --frames 80"),
        ("evaluate a --metr scuts b --ove", "evaluate --metrics scuts --overwrite a b"),
        ("train --ou o vae", "train vae --out o"),
        # after --, words starting with - are positionals
        ("evaluate --flow farneback -- -a.mp4 --b.mp4", "evaluate --flow farneback -- -a.mp4 --b.mp4"),
        ("convert --dtype fp16 -- -a b", "convert --dtype fp16 -- -a b"),
        ("generate --frames 8 -- '-a cat'", "generate --frames 8 -- '-a cat'"),
        ("evaluate -1 -", "evaluate -- -1 -"),
    ],
)
def test_command_lines_parse_as_before(line, same_as, monkeypatch):
    """Every command line read before reads the same (a guard: these parsed so before the plain parse came
    first). The reference line has its positionals last, where plain argparse reads it too."""
    got = vars(_parse(line))
    monkeypatch.setattr(_Parser, "parse_known_args", argparse.ArgumentParser.parse_known_args)
    assert {k: v for k, v in got.items() if k not in ("func", "parser")} == {
        k: v for k, v in vars(_parse(same_as)).items() if k not in ("func", "parser")
    }


def test_what_the_positionals_and_options_hold():
    args = _parse("-v evaluate a.mp4 --metrics scuts b.mp4 --flow dis c.mp4")
    assert (args.target, args.more, args.metrics, args.flow, args.verbose) == (
        "a.mp4",
        ["b.mp4", "c.mp4"],
        "scuts",
        "dis",
        True,
    )
    args = _parse("train --out o vae")
    assert (args.recipe, args.out, args.verbose) == ("vae", "o", False)
    args = _parse("generate --compile 'a cat' --frames 8")  # --compile takes the word: its own error says so
    assert (args.prompt, args.compile, args.frames) == (None, "a cat", 8)
    assert _parse("generate 'a cat' --frame 80").frames == 80


def test_a_line_only_intermixed_parsing_reads_is_read_and_the_namespace_given_is_filled():
    """A plain parse may fail where the intermixed one succeeds (a positional run of one word matched to
    the int, the optional choice before it left out); the intermixed result is then taken. The namespace
    passed in is the one filled and returned, after a plain parse or an intermixed one."""
    parser = _Parser(prog="t")
    parser.add_argument("kind", nargs="?", choices=["a", "b"])
    parser.add_argument("count", type=int)
    parser.add_argument("--opt")
    given = argparse.Namespace(kept=1)
    assert parser.parse_args(["a", "--opt", "x", "5"], given) is given
    assert vars(given) == {"kept": 1, "kind": "a", "count": 5, "opt": "x"}
    given = argparse.Namespace(kept=1)
    assert parser.parse_args(["--opt", "x", "a", "5"], given) is given
    assert vars(given) == {"kept": 1, "kind": "a", "count": 5, "opt": "x"}
    # evaluate's positionals: the plain parse leaves b over; the intermixed one starts from the namespace as
    # given, not from the plain parse's (where --tag's list already held t)
    parser = _Parser(prog="t")
    parser.add_argument("first")
    parser.add_argument("more", nargs="*")
    parser.add_argument("--tag", action="append")
    given = argparse.Namespace(kept=1)
    assert parser.parse_args(["a", "--tag", "t", "b"], given) is given
    assert vars(given) == {"kept": 1, "first": "a", "more": ["b"], "tag": ["t"]}


@pytest.mark.parametrize(
    "line, shown",
    [
        ("-x --help", "usage: streamt2v [-h]"),
        ("--frobnicate -h generate", "usage: streamt2v [-h]"),
        ("--frobnicate generate --help", "usage: streamt2v generate [-h]"),
        # --version too, and either abbreviated: they were refused (exit 2)
        ("-x --version", f"streamt2v {__version__}\n"),
        ("--version -x", f"streamt2v {__version__}\n"),
        ("-x --vers", f"streamt2v {__version__}\n"),
        ("-x --he", "usage: streamt2v [-h]"),
        ("-x generate --he", "usage: streamt2v generate [-h]"),
        # a help among combined short flags, as argparse reads them: they were refused (exit 2)
        ("-x -vh", "usage: streamt2v [-h]"),
        ("-x -hv", "usage: streamt2v [-h]"),
        ("-x generate -vh", "usage: streamt2v generate [-h]"),
    ],
)
def test_a_help_asked_for_is_printed_whatever_unknown_option_comes_before_the_command(line, shown, capsys):
    """The refusal of an unknown option before the command came first, where argparse printed the help
    asked for (exit 0), as before that refusal."""
    with pytest.raises(SystemExit) as exit_:
        main(shlex.split(line))
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(shown)


@pytest.mark.parametrize("line", ["-x -vx", "-x generate -o-h"])
def test_combined_short_flags_ask_no_help_where_argparse_reads_none(line, capsys):
    """A help only counts where argparse would reach it: not after an unknown flag (-vx), nor as the
    value of a flag taking one (-o-h: the output path "-h")."""
    err, _ = _refused(line, capsys)
    assert "unrecognized arguments: -x (" in err


def test_the_help_says_where_the_docs_files_it_names_are(capsys):
    """generate's and train's help named docs/generate.md and docs/training.md, which an installed package
    (the wheel) does not hold, without saying where they are: that help and the top level's now say it."""
    shown = {}
    for line in ["--help", "generate --help", "train --help", "convert --help"]:
        with pytest.raises(SystemExit):
            _parse(line)
        shown[line] = " ".join(capsys.readouterr().out.split())
    assert "docs/generate.md" in shown["generate --help"] and "docs/training.md" in shown["train --help"]
    note = (
        "The docs/*.md files that the help and some errors name are the documentation in streamt2v's source "
    )
    for line in ["--help", "generate --help", "train --help"]:
        assert note in shown[line] and shown[line].endswith("an installed package does not hold them.")
    assert "docs/" not in shown["convert --help"]  # a help naming none is left as it was


def test_the_commands_given_the_docs_note_are_those_whose_help_names_docs(monkeypatch):
    """HELP_NAMES_DOCS names the commands whose help names a docs/ file; the parser is built without
    formatting any help to find them (which took ~40 ms at every start)."""
    monkeypatch.setattr(_Parser, "format_help", lambda self: pytest.fail(f"{self.prog}'s help formatted"))
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    monkeypatch.undo()
    note = "".join(DOCS_NOTE.split())
    naming = set()
    for name, command in commands.items():
        # the help as shown, the note and line breaks taken out: a narrow terminal may break a long path
        shown = "".join(command.format_help().split())
        assert shown.endswith(note) == (name in HELP_NAMES_DOCS), name
        if "docs/" in shown.removesuffix(note):
            naming.add(name)
    assert naming == set(HELP_NAMES_DOCS)


@pytest.mark.parametrize("line", ["--help", "generate --help", "evaluate -h", "assemble model --help"])
def test_help_is_argparses(line, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        _parse(line)
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: streamt2v")
    monkeypatch.setattr(_Parser, "parse_known_args", argparse.ArgumentParser.parse_known_args)
    with pytest.raises(SystemExit):
        _parse(line)
    assert capsys.readouterr().out == shown


@pytest.mark.parametrize("word", ["cat", "sunset"])
def test_a_one_word_prompt_taken_by_compile_is_explained(word, capsys):
    """``--compile`` takes an optional backend, so ``generate --compile cat`` has no prompt left: said for
    any word that is no torch.compile backend (before: only for a prompt with a space in it)."""
    assert main(["generate", "--compile", word, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --compile took {word!r} as its backend and no PROMPT is left"), err
    # a backend's name is a backend: then only the prompt is missing
    assert main(["generate", "--compile", "aot_eager", "--no-progress"]) == 2
    assert capsys.readouterr().err == "error: give a PROMPT or --prompt-schedule\n"


def test_generate_and_enhance_take_the_other_commands_names_of_the_same_flags():
    """``--out`` (train's, evaluate's) was only an abbreviation of ``--output``, which a flag added later
    could make ambiguous; ``enhance --guidance`` (generate's name) was ambiguous already."""
    from streamt2v.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["generate", "p", "--out", "v.mp4"]).output == "v.mp4"
    args = parser.parse_args(["enhance", "in.mp4", "--prompt", "p", "--out", "o.mp4", "--guidance", "3"])
    assert (args.output, args.guidance_scale) == ("o.mp4", 3.0)


@pytest.mark.parametrize(
    "line, same_as",
    [
        ("generate p --ou v.mp4", "generate p -o v.mp4"),
        ("enhance in.mp4 --prompt p --ou o.mp4", "enhance in.mp4 --prompt p -o o.mp4"),
    ],
)
def test_an_abbreviation_of_the_names_of_one_option_is_that_option(line, same_as):
    """``--ou`` matched --output and its alias --out, and argparse called it ambiguous between them."""
    assert {k: v for k, v in vars(_parse(line)).items() if k not in ("func", "parser")} == {
        k: v for k, v in vars(_parse(same_as)).items() if k not in ("func", "parser")
    }


@pytest.mark.parametrize(
    "line, same_as",
    [
        (
            "enhance in.mp4 --prompt p --ou o.mp4 --guidance-s 3",
            "enhance in.mp4 --prompt p -o o.mp4 --guidance 3",
        ),
        ("evaluate a.mp4 --outp r.json", "evaluate a.mp4 --out r.json"),
        # a flag spelled as another command spells the same setting
        ("generate p --num-frames 8", "generate p --frames 8"),
        ("generate p --guidance-scale 3", "generate p --guidance 3"),
        (
            "enhance in.mp4 --prompt p -o o.mp4 --frames 8",
            "enhance in.mp4 --prompt p -o o.mp4 --max-frames 8",
        ),
        ("enhance in.mp4 --prompt p -o o.mp4 -n 8", "enhance in.mp4 --prompt p -o o.mp4 --max-frames 8"),
        ("evaluate a.mp4 -o r.json", "evaluate a.mp4 --out r.json"),
        ("evaluate a.mp4 --output r.json", "evaluate a.mp4 --out r.json"),
        ("train vae -o r", "train vae --out r"),
    ],
)
def test_one_setting_takes_each_commands_spelling(line, same_as):
    """A script that learned one command typed its spelling in another and got "unrecognized arguments"
    (``evaluate -o``, ``train --device cpu``, ``generate --num-frames``, ``enhance --frames``); their
    abbreviations are the option's too."""
    assert {k: v for k, v in vars(_parse(line)).items() if k not in ("func", "parser")} == {
        k: v for k, v in vars(_parse(same_as)).items() if k not in ("func", "parser")
    }


@pytest.mark.parametrize(
    "line, device",
    [
        ("generate p --cpu", "cpu"),
        ("generate p --device cpu", "cpu"),
        ("generate p --cpu --device auto", "cpu"),
        ("generate p", "auto"),
        ("train vae --output r --device cpu", "cpu"),
        ("train vae --out r --cpu", "cpu"),
        ("train vae --out r --device auto --cpu", "cpu"),
        ("train vae --out r", "auto"),
        ("enhance in.mp4 --prompt p -o o.mp4 --cpu", "cpu"),
        ("enhance in.mp4 --prompt p -o o.mp4 --device cpu", "cpu"),
    ],
)
def test_cpu_is_device_cpu(line, device):
    assert chosen_device(_parse(line)) == device


def test_cpu_and_another_device_are_refused_naming_both():
    """``--cpu --device cuda`` ran on the GPU (argparse took the last one given), ``--device cuda --cpu`` on
    the CPU."""
    for line in (
        "generate p --cpu --device cuda",
        "generate p --device cuda:1 --cpu",
        "enhance i --prompt p -o o --cpu --device cuda",
    ):
        with pytest.raises(ValueError, match=r"^--cpu and --device cuda(:1)? disagree: give one of them$"):
            chosen_device(_parse(line))


def test_train_device_names_how_to_choose_a_gpu(capsys):
    _, error = _refused("train vae --out r --device cuda:1", capsys)
    assert error.endswith(
        "expected auto or cpu, got 'cuda:1': training runs on the GPUs the launcher gives its "
        "processes (choose them with CUDA_VISIBLE_DEVICES=N)"
    ), error


def test_generate_prompt_is_enhances_spelling_of_prompt_and_a_file_is_a_schedule(
    tmp_path, monkeypatch, capsys
):
    """``generate --prompt "a cat"`` (enhance's spelling) was the abbreviation of --prompt-schedule and looked
    for a schedule file named 'a cat'; a file's name keeps being read as the schedule it was."""
    from streamt2v.cli.generate_prompt import take_prompt_option

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.txt").write_text("0: a cat\n")
    args = _parse("generate --prompt 'a cat'")
    take_prompt_option(args)
    assert (args.prompt, args.prompt_schedule) == ("a cat", None)
    assert capsys.readouterr().err == ""
    args = _parse("generate --prompt s.txt")
    take_prompt_option(args)
    assert (args.prompt, args.prompt_schedule) == (None, "s.txt")
    # said: a schedule file's errors would otherwise come from a flag that was given a prompt
    assert capsys.readouterr().err == "note: --prompt 's.txt' names a file: read as --prompt-schedule\n"
    for line, other in [
        ("generate 'a dog' --prompt 'a cat'", "PROMPT"),
        ("generate --prompt-schedule s.txt --prompt 'a cat'", "--prompt-schedule"),
    ]:
        with pytest.raises(ValueError, match=f"give either --prompt or {other}, not both"):
            take_prompt_option(_parse(line))


@pytest.mark.parametrize(
    "line, error",
    [
        ("generate p --stpes 3", "--stpes (--steps?) 3"),
        ("generate p -steps=3", "-steps=3 (--steps?)"),  # one dash for two
        ("enhance in.mp4 --prompt p -o o.mp4 --stpes 3", "--stpes (--steps?) 3"),
        ("evaluate a.mp4 --metrix scuts", "--metrix (--metrics?) scuts"),
        ("train vae --out o --stepz 1", "--stepz (--steps?) 1"),
        ("convert a b --dtpye fp16", "--dtpye (--dtype?) fp16"),
        ("assemble model out --unet u --overwite", "--overwite (--overwrite?)"),
        ("generate p --frobnicate", "--frobnicate"),  # like no flag: none named
        ("generate p --no-overwrite", "--no-overwrite (--overwrite is off unless given)"),
        # never the opposite of what was typed: --no-seed was (--seed?), --progress (--no-progress?)
        ("generate p --no-overwrit", "--no-overwrit (--overwrite is off unless given)"),
        ("generate p --no-seed 3", "--no-seed (--seed takes a value; leave it out for its default) 3"),
        ("generate p --no-model m", "--no-model (--model takes a value; leave it out for its default) m"),
        ("generate p --no-output o", "--no-output (--output takes a value; leave it out for its default) o"),
        ("generate p --no-png-dir", "--no-png-dir (--png-dir takes a value; leave it out for its default)"),
        ("generate p --no-dtype", "--no-dtype (--dtype takes a value; leave it out for its default)"),
        ("generate p --no-device", "--no-device (--device takes a value; leave it out for its default)"),
        ("convert a b --no-dtype", "--no-dtype (--dtype takes a value; leave it out for its default)"),
        ("generate p --no-anchor", "--no-anchor (--anchor takes a value; leave it out for its default)"),
        ("generate p --no-steps 3", "--no-steps (--steps takes a value; leave it out for its default) 3"),
        # a required flag has no default to leave it out for; --compile [BACKEND] takes no value to be on
        ("enhance i --prompt p -o o --no-output", "--no-output (--output takes a value and must be given)"),
        ("enhance i -o o --prompt p --no-prompt", "--no-prompt (--prompt takes a value and must be given)"),
        ("train vae --out o --no-output", "--no-output (--output takes a value and must be given)"),
        ("train vae --out o --no-compile", "--no-compile (--compile is off unless given)"),
        ("generate p --no-help", "--no-help"),  # help and --version only print: nothing to say
        ("train vae --out o --no-help", "--no-help"),
        ("generate p --no-enhanse", "--no-enhanse (--no-enhance?)"),  # a misspelt negative: the negative
        ("generate p --progress", "--progress (on unless --no-progress is given)"),
        ("train vae --out o --progress", "--progress (on unless --no-progress is given)"),
        ("convert a b --progres", "--progres (on unless --no-progress is given)"),
        ("convert a b --strict", "--strict (on unless --no-strict is given)"),
        ("generate p --STEPS 3", "--STEPS (--steps?) 3"),  # capitals as a typo (--Steps had a hint)
    ],
)
def test_a_misspelt_flag_is_refused_with_the_flag_it_is_likely_for(line, error, capsys):
    """``--stpes`` was refused as argparse's bare "unrecognized arguments: --stpes"; the negative of a flag
    that is off unless given, whose close name would be the flag it negates, says so."""
    command = line.split(" ", 2)[:2] if line.startswith("assemble") else line.split(" ", 1)[:1]
    assert _refused(line, capsys)[1] == (
        f"streamt2v {' '.join(command)}: error: unrecognized arguments: {error}"
    )


@pytest.mark.parametrize(
    "line, prog, flags, hint",
    [
        # -n is --frames: argparse took "-n x" for it, and said only "expected one argument"
        (
            "generate p --negative-prompt '-n x'",
            "generate",
            "--negative-prompt",
            "to give it '-n x', which begins with a dash, write --negative-prompt='-n x'",
        ),
        (
            "generate p --neg -blurry",
            "generate",
            "--negative-prompt",
            "to give it '-blurry', which begins with a dash, write --neg=-blurry",
        ),
        # of a flag given twice, the occurrence refused (the first has its value)
        (
            "generate p --negative-prompt '-x y' --negative-prompt -blurry",
            "generate",
            "--negative-prompt",
            "to give it '-blurry', which begins with a dash, write --negative-prompt=-blurry",
        ),
        # a number no Python's argparse reads as negative (-inf; -1e0 is one from 3.14 on), and a short
        # flag's value
        (
            "generate p --init-guidance -inf",
            "generate",
            "--init-guidance",
            "to give it '-inf', which begins with a dash, write --init-guidance=-inf",
        ),
        (
            "enhance i --prompt p -o -x.mp4",
            "enhance",
            "-o/--output/--out",
            "to give it '-x.mp4', which begins with a dash, write -o=-x.mp4",
        ),
    ],
)
def test_a_value_that_begins_with_a_dash_is_refused_with_how_to_give_it(line, prog, flags, hint, capsys):
    _, error = _refused(line, capsys)
    assert error == f"streamt2v {prog}: error: argument {flags}: expected one argument ({hint})"
    # the spelling it gives is read (-inf then meets --init-guidance's range)
    if "init-guidance" not in line:
        written = hint.rsplit(" write ", 1)[1]
        build_parser().parse_args([*shlex.split(line)[:-2], *shlex.split(written)])


@pytest.mark.parametrize(
    "line, prog, flags",
    [
        ("generate p --negative-prompt", "generate", "--negative-prompt"),
        ("generate p --negative-prompt --steps 3", "generate", "--negative-prompt"),
        # a flag abbreviated, a short flag with its value or others after it, a misspelt flag, a short flag
        # the command lacks, and --: each a flag, not a value (the hint said write --negative-prompt=--ou)
        ("generate p --negative-prompt --ou x.mp4", "generate", "--negative-prompt"),
        ("generate p --negative-prompt --he", "generate", "--negative-prompt"),
        ("generate p --negative-prompt -vn 9", "generate", "--negative-prompt"),
        ("generate p --negative-prompt -n9", "generate", "--negative-prompt"),
        ("generate p --negative-prompt --stpes 3", "generate", "--negative-prompt"),
        ("generate p --negative-prompt -q", "generate", "--negative-prompt"),
        ("generate p --negative-prompt -- x", "generate", "--negative-prompt"),
        ("train vae -o /tmp/t --data --ou x", "train", "--data"),
        # a flag given twice, the first time its value: the second lacks one (the hint quoted the first's)
        ("generate p --guidance -0 --guidance", "generate", "--guidance/--guidance-scale"),
        ("generate p --negative-prompt '-x y' --steps 3 --negative-prompt", "generate", "--negative-prompt"),
    ],
)
def test_a_value_left_out_gets_no_hint(line, prog, flags, capsys):
    """What follows is a flag, or nothing: the value was left out, not taken for an option."""
    _, error = _refused(line, capsys)
    assert error == f"streamt2v {prog}: error: argument {flags}: expected one argument"


def test_generate_takes_no_enhance_as_its_default():
    """Stage 3 is opt-in; ``--no-enhance``, typed to be sure it is off, was an unrecognized argument."""
    assert _parse("generate p --no-enhance").enhance is False
    assert _parse("generate p").enhance is None  # unset: off (None: no default in 3.10's help)
    assert _parse("generate p --no-enhance --enhance").enhance is True
    assert _parse("generate p --enhance --no-enhance").enhance is False


def test_the_flags_as_typed_skip_option_values_that_begin_with_a_dash():
    """An option's value is no flag however it begins (``--seed 5 --negative-prompt "-x y"``,
    ``--negative-prompt="-n blurry"``), and a word that argparse reads as a short flag with its value is that
    flag, space or not (``"-n 9"``: was skipped for its space, so a refusal of --frames named --frames). Each
    command line is one argparse accepts (``--negative-prompt "-n blurry"`` it refuses: -n is a flag)."""
    from streamt2v.cli.flag_spellings import spellings

    parser = build_parser()._subparsers._group_actions[0].choices["generate"]
    line = ["p", "--frames", "9", "--negative-prompt=-n blurry", "--num-f", "8", "-vn7"]
    valued = ["p", "--seed", "5", "--negative-prompt", "-x y"]
    spaced = ["p", "--frames", "9", "-n 8"]
    for accepted in (line, valued, spaced):
        parser.parse_args(accepted)
    assert spellings(parser, line[:4]) == {"frames": "--frames", "negative_prompt": "--negative-prompt"}
    assert spellings(parser, line[:6])["frames"] == "--num-frames"  # an abbreviation as its flag
    assert spellings(parser, line)["frames"] == "-n"
    assert spellings(parser, valued) == {"seed": "--seed", "negative_prompt": "--negative-prompt"}
    assert parser.parse_args(spaced).frames == 8
    assert spellings(parser, spaced) == {"frames": "-n"}
