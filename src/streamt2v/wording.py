"""Wording shared by the package's messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence


def counted(count: int, noun: str, plural: str | None = None, *, one: str = "1") -> str:
    """``"1 chunk"``, ``"2 chunks"``: a count and its noun for messages (the noun given singular; ``plural``
    where adding an s is not English: ``counted(2, "process", "processes")``; ``one``: the word for a count
    of 1, ``counted(1, "file", one="a")`` is ``"a file"``, and ``"an image"``: :func:`with_article`)."""
    if count == 1 and one == "a":
        return with_article(noun)
    return f"{one if count == 1 else count} {singular_or_plural(count, noun, plural)}"


def singular_or_plural(count: int, noun: str, plural: str | None = None) -> str:
    """``noun`` for a ``count`` of 1, its plural (``noun`` and an s, or ``plural``) for any other: the noun of
    a list whose length a message does not say (``unknown settings: a, b``)."""
    if count == 1:
        return noun
    return plural if plural is not None else noun + "s"


def with_article(word: str) -> str:
    """``word`` with its indefinite article: ``"an AutoencoderKL"``, ``"a UNet3DConditionModel"`` (a "you"
    sound: no word starting with U is given an)."""
    return f"{'an' if word[:1].upper() in 'AEIO' else 'a'} {word}"


def close_name(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The one of ``known`` that ``name`` is likely a typo of (``stepz``: ``steps``), or None; ``cutoff``:
    how alike they must be (difflib's ratio; 0.8 where a wrong hint costs more, e.g. a model name whose
    closest preset is one of random weights)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_names(
    given: Iterable[str],
    known: Sequence[str],
    *,
    renamed: Mapping[str, str] | None = None,
    use: str = "use {}",
) -> list[str]:
    """The names of ``given`` that are not ``known``, sorted, each with a hint where there is one: the name it
    stands for where ``renamed`` says it is an earlier one (``num_inference_steps (use steps)``; ``use`` words
    the hint: ``"pass {}="`` to a Python caller), else a close name (``stepz (steps?)``). A name that is no
    plain word is quoted (``'mawe,scuts'``: one name, given as a list's item)."""
    named = []
    for name in sorted(set(given) - set(known)):
        shown = name if re.fullmatch(r"[\w.-]+", name) else repr(name)
        if renamed and renamed.get(name) in known:
            named.append(f"{shown} ({use.format(renamed[name])})")
        elif close := close_name(name, known):
            named.append(f"{shown} ({close}?)")
        else:
            named.append(shown)
    return named


def words_as_typed(words: Iterable[str]) -> str:
    """``words`` listed for a message (``cat, walking``), one that is no plain word quoted as it is read
    (``','``, ``"'"``, ``'!'``): a bare comma or space in the list reads as its separator."""
    return ", ".join(w if re.fullmatch(r"\w+(?:['-]\w+)*", w) else repr(w) for w in words)


def first_few(names: Sequence[str], at_most: int = 3) -> str:
    """The first ``at_most`` of ``names`` for a message, ``...`` for the rest (``a, b, c, ...``); all of them,
    and no ``...``, where there are no more."""
    return ", ".join(names[:at_most]) + (", ..." if len(names) > at_most else "")


def first_and_more(names: Sequence[str], at_most: int = 3) -> str:
    """The first ``at_most`` of ``names`` for a message and how many more there are (``a, b, c and 2 more``):
    where the count matters (the shards missing of a download); all of them where there are no more."""
    return ", ".join(names[:at_most]) + (f" and {len(names) - at_most} more" if len(names) > at_most else "")
