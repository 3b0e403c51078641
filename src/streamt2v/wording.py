"""Wording shared by the package's messages."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``"1 chunk"``, ``"2 chunks"``: a count and its noun for messages (the noun given singular; ``plural``
    where adding an s is not English: ``counted(2, "process", "processes")``)."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural if plural is not None else noun + 's'}"


def with_article(word: str) -> str:
    """``word`` with its indefinite article: ``"an AutoencoderKL"``, ``"a UNet3DConditionModel"`` (a "you"
    sound: no word starting with U is given an)."""
    return f"{'an' if word[:1].upper() in 'AEIO' else 'a'} {word}"
