"""How the command line names the flags typed: the flag each setting was typed as, for refusals that name the
flag as typed (an alias, ``-n`` for ``--frames``; a short flag inside a combined one, ``-vn 9``); the option a
token names (:func:`option_named`), the one reading of an abbreviation the command line's checks use; and the
flag a misspelt one is likely for (:func:`unrecognized_worded`), in every command's refusal; the options argparse
sets aside (:func:`unknown_options`); how to give an option a value that begins with a dash
(:func:`dash_value_hint`)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator


def option_named(parser: argparse.ArgumentParser, arg: str) -> tuple[argparse.Action, str] | None:
    """The option of ``parser`` that ``arg`` (``--he``, ``--out=x``) names and the flag it stands for, typed
    whole or as the start of one option alone (argparse's abbreviation rule: ``--ou`` is --output, whose alias
    --out it also starts); None for a value or an unknown or ambiguous option."""
    typed = arg.split("=", 1)[0]
    if not typed.startswith(tuple(parser.prefix_chars)):
        return None
    if typed in parser._option_string_actions:  # argparse's table of flag -> action (it has no public one)
        return parser._option_string_actions[typed], typed
    matches = parser._get_option_tuples(typed) if parser.allow_abbrev else []
    return (matches[0][0], matches[0][1]) if len(matches) == 1 else None


def action_of(parser: argparse.ArgumentParser, arg: str) -> argparse.Action | None:
    """The option of ``parser`` that ``arg`` names (:func:`option_named`), or None."""
    named = option_named(parser, arg)
    return named[0] if named else None


def spellings(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, str]:
    """The flag each setting was typed as in ``argv`` (the command's own arguments, as the parser took them),
    by its dest: an alias as typed (``--num-frames``, ``-n``, ``--out``), ``--frames=9`` and ``-n9`` as
    ``--frames`` and ``-n``, each short flag of a combined one (``-vn 9``: ``-v`` and ``-n``), an abbreviation
    (``--num-f``) as the flag it stands for; the last one typed where there are several. An option's value is
    no flag, though it begins with a dash (``--seed 5 --negative-prompt "-x y"``: argparse takes a word with a
    space that starts no short flag as a value); one that starts a short flag is that flag, space or not
    (``"-n 9"`` is ``-n`` with the value " 9": argparse refuses ``--negative-prompt "-n blurry"`` for want of
    a value, ``--negative-prompt="-n blurry"`` is the way to give it)."""
    spelled: dict[str, str] = {}
    for _, named in _options_typed(parser, argv):
        spelled.update((action.dest, flag) for action, flag in named)
    return spelled


def _options_typed(
    parser: argparse.ArgumentParser, argv: list[str]
) -> Iterator[tuple[str, list[tuple[argparse.Action, str]]]]:
    """Each word of ``argv`` that is no option's value, up to ``--`` (what follows it is positional), with
    the options of ``parser`` it names and the flag each was typed as: a long flag whole, abbreviated or with
    ``=VALUE`` (:func:`option_named`), and each short flag of a combined one up to the first that takes a
    value, which the rest of the word is (``-vn9``: ``-v`` and ``-n``); none for a positional or an option
    the parser lacks. The word after an option that takes one value and was not given it within the word is
    that value, whatever it is (``--negative-prompt "-x y"``; argparse refuses a flag there, see
    :func:`dash_value_hint`)."""
    flags = parser._option_string_actions
    value_next = False  # the word is the value of the option before it
    for token in argv:
        if value_next:
            value_next = False
            continue
        if token == "--":
            return
        named: list[tuple[argparse.Action, str]] = []
        if token.startswith("--"):
            option = option_named(parser, token)
            if option:
                named.append(option)
                value_next = option[0].nargs is None and "=" not in token
        elif token.startswith("-"):
            for at, letter in enumerate(token[1:], 2):
                action = flags.get("-" + letter)
                if action is None:
                    break
                named.append((action, "-" + letter))
                if action.nargs != 0:
                    value_next = action.nargs is None and at == len(token)
                    break
        yield token, named


def aliases_typed(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, str]:
    """The flags typed by another of their names in ``argv`` (:func:`spellings`), by the name a message gives
    them, their first (``{"--frames": "-n"}``)."""
    first = {action.dest: action.option_strings[0] for action in parser._option_string_actions.values()}
    return {first[dest]: flag for dest, flag in spellings(parser, argv).items() if first[dest] != flag}


def unrecognized_worded(
    parser: argparse.ArgumentParser, extras: list[str], also: argparse.ArgumentParser | None = None
) -> str:
    """``extras``, arguments ``parser`` took no option or positional for, for its refusal: a misspelt flag
    with the one it is likely for (``--stpes (--steps?)``, ``-steps`` and ``--STEPS`` too). A hint never names
    the opposite of what was typed: ``--no-X`` (or a near miss) of a flag that is off unless given or takes a
    value says so (``--no-seed (--seed takes a value; leave it out for its default)``; a required one: it must
    be given), and ``--X`` where only ``--no-X`` exists says that X is on unless it is given. ``also``: the
    parser whose flags are hinted where ``parser``'s give none (the top-level one of a command's:
    ``streamt2v --versoin generate``)."""
    worded = []
    for arg in extras:
        typed = arg.split("=", 1)[0]
        if len(typed) > 2 and typed[0] == "-" and " " not in typed and not option_named(parser, typed):
            name = typed.lstrip("-").lower()
            hint = _hint(parser, name) or (_hint(also, name) if also is not None else None)
            arg += f" ({hint})" if hint else ""
        worded.append(arg)
    return " ".join(worded)


def _hint(parser: argparse.ArgumentParser, name: str) -> str | None:
    """The hint for ``name``, a flag ``parser`` lacks, as typed without its dashes
    (:func:`unrecognized_worded`)."""
    from streamt2v.wording import close_name  # here: difflib is no cost to a command line that parses

    flags = parser._option_string_actions
    # compared without their dashes, which made any two flags alike (--frobnicate: --frames?)
    known = [flag[2:] for flag in flags if flag.startswith("--")]
    negatives = [flag for flag in known if flag.startswith("no-")]
    # the negative of a flag (or a near miss of one) that has none, or a misspelt one
    if name.startswith("no-"):
        positives = [flag for flag in known if not flag.startswith("no-")]
        meant = close_name(name[3:], positives, cutoff=0.7)  # an exact match is the closest
        if meant is None:
            close = close_name(name, negatives, cutoff=0.7)
            return f"--{close}?" if close else None
        if "no-" + meant in known:
            return f"--no-{meant}?"
        action = flags[f"--{meant}"]
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return None  # --no-help: nothing to say of a flag that only prints
        # --compile [BACKEND] (nargs="?", default None) is as off unless given as a plain switch
        if action.nargs == 0 or (action.nargs == "?" and not action.default):
            return f"--{meant} is off unless given"
        if action.required:
            return f"--{meant} takes a value and must be given"
        return f"--{meant} takes a value; leave it out for its default"
    if "no-" + name in negatives:
        return f"on unless --no-{name} is given"
    close = close_name(name, known, cutoff=0.7)
    if close in negatives and not name.startswith("no"):  # --progres: --no-progress is its opposite
        return f"on unless --{close} is given"
    return f"--{close}?" if close else None


def unknown_options(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """The arguments of ``argv`` that argparse sets aside as unrecognized options of ``parser`` (``--dat``,
    ``-x``), as typed: a value is no option though it begins with a dash (``--seed 5 --neg "-x y"``), nor a
    negative number where no option looks like one, nor a word with a space that starts no option; what
    follows ``--`` is positional."""
    negatives_are_values = not parser._has_negative_number_optionals
    return [
        token
        for token, named in _options_typed(parser, argv)
        if not named
        and token.startswith("-")
        and token != "-"
        and " " not in token
        and not (negatives_are_values and parser._negative_number_matcher.match(token))
    ]


def dash_value_hint(parser: argparse.ArgumentParser, action: argparse.Action, argv: list[str]) -> str | None:
    """How to give ``action`` (an option of ``parser`` that takes one value) the value that follows it in
    ``argv`` and begins with a dash, which argparse took for an option and so refused the option for want of
    a value (``--negative-prompt "-n x"``: ``-n`` is --frames): after ``=``, ``--negative-prompt='-n x'``.
    The occurrence refused is the first whose next word argparse reads as an option (``--guidance -0
    --guidance``: -0 is the first one's value, the second lacks one). None where that word is likely a flag,
    the value left out (:func:`_a_dash_value`), or nothing follows."""
    if not action.option_strings or action.nargs not in (None, 1):
        return None
    for token, following in zip(argv, argv[1:]):
        if token == "--":
            return None
        named = option_named(parser, token)
        if named is None or named[0] is not action or "=" in token:
            continue
        # "--" ends the options, so this occurrence lacks a value (argparse never asks _parse_optional of it,
        # which would call it an ambiguous abbreviation)
        if following != "--" and parser._parse_optional(following) is None:
            continue  # argparse took it as this occurrence's value
        if not _a_dash_value(parser, following):
            return None
        return f"to give it {following!r}, which begins with a dash, write {token}={shlex.quote(following)}"
    return None


def _a_dash_value(parser: argparse.ArgumentParser, word: str) -> bool:
    """Whether ``word``, which argparse read as an option, is likely a value that begins with a dash: one
    with a space (``"-n x"``, which argparse read as -n with the value " x"), or a single-dash word of more
    than one letter that starts none of the parser's short flags (``-blurry``, ``-x.mp4``, ``-inf``). Not
    ``--``, a long flag typed whole, abbreviated or misspelt (``--ou``, ``--stpes``), a short flag with its
    value or others after it (``-n9``, ``-vn``), nor a short flag the parser lacks (``-q``)."""
    if " " in word:
        return True
    if word.startswith("--"):
        return False
    return len(word) > 2 and word[:2] not in parser._option_string_actions
