"""Wording shared by the package's messages."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``"1 chunk"``, ``"2 chunks"``: a count and its noun for messages (the noun given singular)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
