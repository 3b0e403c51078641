"""Caption grammar of the microworld: scene → caption and caption → scene constraints (DESIGN.md §6).

Grammar (words in CAPS are slots)::

    caption  := objects " bouncing" [" slowly" | " fast"] " on " article COLOUR [pattern] " background"
                [", camera panning " (left|right|up|down)]
    objects  := article COLOUR SHAPE [" and " article COLOUR SHAPE]
    article  := "a" | "an"            (written "an" before a vowel; both are read)
    pattern  := "striped" | "checkered" | "gradient"   (also read: "plain", "slow", "checker", ...)

e.g. "a red circle and a yellow square bouncing fast on a blue striped background, camera panning left".
The plain form "a COLOUR SHAPE bouncing on a COLOUR background" always parses (free speed, no pan).
"""

from __future__ import annotations

import re

from streamt2v.microworld.palette import BACKGROUND_PATTERNS, COLOURS, SHAPES
from streamt2v.microworld.render import PAN_DIRECTIONS, SPEEDS, SceneConstraints, SceneSpec

PATTERN_WORDS: dict[str, str] = {"stripes": "striped", "checker": "checkered", "gradient": "gradient"}
# Words read as patterns (synonyms included) → pattern name.
_PATTERN_READ: dict[str, str] = {
    "striped": "stripes",
    "stripes": "stripes",
    "checkered": "checker",
    "checker": "checker",
    "gradient": "gradient",
    "plain": "plain",
}
SPEED_WORDS: dict[str, str] = {"slow": "slowly", "fast": "fast"}
_SPEED_READ: dict[str, str] = {"slowly": "slow", "slow": "slow", "fast": "fast", "quickly": "fast"}
_FILLER = {"a", "an", "and", "bouncing", "on", "background", "camera", "panning", ","}

PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)

# Every word the grammar can produce or read, after the special tokens (ids 0–3: pad, unk, bos, eos).
# The order is fixed: token ids of a trained text encoder depend on it (append only).
VOCABULARY: tuple[str, ...] = SPECIAL_TOKENS + tuple(
    dict.fromkeys(
        ["a", "an", "and", "bouncing", "on", "background", ",", "camera", "panning"]
        + list(COLOURS)
        + list(SHAPES)
        + list(_PATTERN_READ)
        + list(_SPEED_READ)
        + [d for d in PAN_DIRECTIONS if d != "none"]
    )
)

_TOKEN_RE = re.compile(r"[a-z]+|,")
# Words as written (letters of any script, digits): 'réd' is named as itself, not as 'r' and 'd'.
_WRITTEN_WORD_RE = re.compile(r"[^\W_]+")


def tokenize_words(text: str) -> list[str]:
    """Lower-cased words and commas of ``text`` (the word-level tokenizer's pre-tokenization)."""
    return _TOKEN_RE.findall(text.lower())


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption_for(scene: SceneSpec) -> str:
    """The grammar's caption of ``scene`` (plain backgrounds and no pan are left unsaid)."""
    objs = " and ".join(f"{_article(o.colour)} {o.colour} {o.shape}" for o in scene.objects)
    bg = scene.background
    if scene.pattern != "plain":
        bg = f"{bg} {PATTERN_WORDS[scene.pattern]}"
    text = f"{objs} bouncing {SPEED_WORDS[scene.speed]} on {_article(scene.background)} {bg} background"
    if scene.pan_direction != "none":
        text += f", camera panning {scene.pan_direction}"
    return text


def plain_caption(colour: str, shape: str, background: str) -> str:
    """The plain form ``"a COLOUR SHAPE bouncing on a COLOUR background"``."""
    return f"{_article(colour)} {colour} {shape} bouncing on {_article(background)} {background} background"


def parse_caption(text: str) -> SceneConstraints:
    """Read a caption of the grammar back into :class:`SceneConstraints` (``None`` = unsaid).

    Objects are the ``COLOUR SHAPE`` pairs before ``on``; the background is the colour after ``on``
    and an optional pattern word; a speed word anywhere sets the speed; ``panning DIR`` sets the pan
    (a background without pattern word is ``plain``; no ``panning`` means no pan when the caption
    names a background). Raises ``ValueError`` naming unknown words or a missing part.
    """
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a str, got {type(text).__name__} {text!r}")
    words = tokenize_words(text)
    if not words:
        raise ValueError(f"caption {text!r} has no words; e.g. {plain_caption('red', 'circle', 'blue')!r}")
    unknown = [w for w in _WRITTEN_WORD_RE.findall(text.lower()) if w not in VOCABULARY]
    if unknown:
        raise ValueError(
            f"caption {text!r} has words outside the microworld vocabulary: {unknown}; "
            f"known words: {', '.join(sorted(set(VOCABULARY) - set(SPECIAL_TOKENS)))}"
        )
    if "on" in words:
        split = words.index("on")
        head, tail = words[:split], words[split + 1 :]
    else:
        head, tail = words, []

    said: dict[str, tuple[str, str]] = {}  # slot → (value, word): a second, different value contradicts it

    def once(slot: str, word: str, value: str) -> str:
        first = said.setdefault(slot, (value, word))
        if first[0] != value:  # 'slowly fast' was read as the last word said
            raise ValueError(f"caption {text!r} names two {slot}s: {first[1]!r} and {word!r}")
        return value

    objects: list[tuple[str | None, str | None]] = []
    pending_colour: str | None = None
    speed: str | None = None
    for w in head:
        if w in COLOURS:
            if pending_colour is not None:
                objects.append((pending_colour, None))
            pending_colour = w
        elif w in SHAPES:
            objects.append((pending_colour, w))
            pending_colour = None
        elif w in _SPEED_READ:
            speed = once("speed", w, _SPEED_READ[w])
        elif w in _FILLER:
            continue
        else:
            raise ValueError(f"caption {text!r}: word {w!r} is not allowed before 'on'")
    if pending_colour is not None:
        objects.append((pending_colour, None))
    if not 1 <= len(objects) <= 2:
        raise ValueError(f"caption {text!r} names {len(objects)} objects; a scene has 1 or 2")
    named = [colour for colour, _ in objects if colour is not None]
    if len(set(named)) != len(named):
        raise ValueError(f"caption {text!r}: its objects need distinct colours, got {named}")

    background = pattern = pan = None
    i = 0
    while i < len(tail):
        w = tail[i]
        if w in COLOURS and background is None:
            background = w
        elif w in COLOURS:
            raise ValueError(
                f"caption {text!r} names a second background colour {w!r} after {background!r}; "
                "objects are named before 'on'"
            )
        elif w in _PATTERN_READ:
            pattern = once("pattern", w, _PATTERN_READ[w])
        elif w in _SPEED_READ:
            speed = once("speed", w, _SPEED_READ[w])
        elif w == "panning":
            if i + 1 >= len(tail) or tail[i + 1] not in PAN_DIRECTIONS:
                raise ValueError(f"caption {text!r}: 'panning' must be followed by left/right/up/down")
            pan = once("pan direction", tail[i + 1], tail[i + 1])
            i += 1
        elif w in SHAPES:
            raise ValueError(f"caption {text!r}: shape {w!r} after 'on'; objects are named before 'on'")
        elif w in PAN_DIRECTIONS:
            raise ValueError(f"caption {text!r}: {w!r} must follow 'panning', as in ', camera panning {w}'")
        elif w not in _FILLER:
            raise ValueError(f"caption {text!r}: word {w!r} is not allowed after 'on'")
        i += 1
    if background is not None:
        pattern = pattern or "plain"
        pan = pan or "none"
        for colour, _ in objects:
            if colour == background:
                raise ValueError(f"caption {text!r}: an object has the background colour {colour!r}")
    assert pattern is None or pattern in BACKGROUND_PATTERNS
    assert speed is None or speed in SPEEDS
    return SceneConstraints(
        objects=tuple(objects), background=background, pattern=pattern, speed=speed, pan=pan
    )
