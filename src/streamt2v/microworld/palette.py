"""The microworld's colour palette and shape names (DESIGN.md §6).

The renderer draws with these exact RGB values and the probes (``metrics/probes.py``) segment frames
by nearest palette colour, so both sides must read them from here.
"""

from __future__ import annotations

# Saturated, well separated colours (uint8 RGB). Object and background colours share one palette;
# a scene never uses the same colour for an object and its background.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "orange": (245, 130, 20),
    "purple": (140, 40, 190),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")

BACKGROUND_PATTERNS: tuple[str, ...] = ("plain", "stripes", "checker", "gradient")


def colour_rgb(name: str) -> tuple[int, int, int]:
    """RGB of a palette colour, or a ValueError naming the allowed colours."""
    try:
        return COLOURS[name]
    except KeyError:
        raise ValueError(f"unknown colour {name!r}; the palette has {', '.join(sorted(COLOURS))}") from None


# How far a background pattern's second shade moves away from the background colour. Small enough that
# every shade stays nearest (in RGB) to its own palette colour, so probes can name the background.
PATTERN_SHADE_AMOUNT = 0.18


def pattern_shade(name: str) -> tuple[int, int, int]:
    """The second shade of a patterned background: the colour darkened (black: lightened) a little.

    Stripes, checker and gradient patterns blend between ``colour_rgb(name)`` and this shade (DESIGN.md
    §6); it stays in the colour's family (nearest palette colour is still ``name``).
    """
    r, g, b = colour_rgb(name)
    if max(r, g, b) < 64:  # too dark to darken: lighten towards white instead
        return tuple(round(c + PATTERN_SHADE_AMOUNT * (255 - c)) for c in (r, g, b))  # type: ignore[return-value]
    return tuple(round(c * (1.0 - PATTERN_SHADE_AMOUNT)) for c in (r, g, b))  # type: ignore[return-value]
