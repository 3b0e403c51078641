"""Wording shared by the package's messages."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``"1 chunk"``, ``"2 chunks"``: a count and its noun for messages (the noun given singular)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def with_article(word: str) -> str:
    """``word`` with its indefinite article: ``"an AutoencoderKL"``, ``"a UNet3DConditionModel"`` (a "you"
    sound: no word starting with U is given an)."""
    return f"{'an' if word[:1].upper() in 'AEIO' else 'a'} {word}"
