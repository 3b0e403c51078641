"""The flag each setting was typed as on a command's line, for refusals that name the flag as typed (an alias,
``-n`` for ``--frames``; a short flag inside a combined one, ``-vn 9``): generate's and enhance's."""

from __future__ import annotations

import argparse


def spellings(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, str]:
    """The flag each setting was typed as in ``argv`` (the command's own arguments), by its dest: an alias as
    typed (``--num-frames``, ``-n``, ``--out``), ``--frames=9`` and ``-n9`` as ``--frames`` and ``-n``, each
    short flag of a combined one (``-vn 9``: ``-v`` and ``-n``), an abbreviation (``--num-f``) as the flag it
    stands for; the last one typed where there are several."""
    flags = parser._option_string_actions  # argparse's own table of flag -> action (it has no public one)
    spelled: dict[str, str] = {}
    for token in argv:
        if token == "--":  # positionals only from here
            break
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            if name not in flags:  # an abbreviation: argparse took it as one flag
                name = next((flag for flag in flags if flag.startswith(name)), name)
            if name in flags:
                spelled[flags[name].dest] = name
        elif token.startswith("-"):
            # -vn 9: each letter a flag until one that takes a value, which the rest of the token is
            for letter in token[1:]:
                action = flags.get("-" + letter)
                if action is None:
                    break
                spelled[action.dest] = "-" + letter
                if action.nargs != 0:
                    break
    return spelled


def aliases_typed(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, str]:
    """The flags typed by another of their names in ``argv`` (:func:`spellings`), by the name a message gives
    them, their first (``{"--frames": "-n"}``)."""
    first = {action.dest: action.option_strings[0] for action in parser._option_string_actions.values()}
    return {first[dest]: flag for dest, flag in spellings(parser, argv).items() if first[dest] != flag}
