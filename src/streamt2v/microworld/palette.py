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
        raise ValueError(f"unknown colour {name!r}; the palette has {sorted(COLOURS)}") from None
