"""Captions that almost follow the microworld grammar (docs/microworld.md): a contradiction or a misplaced
word is refused, naming it, instead of being read as the last word said or in a misleading way."""

from __future__ import annotations

import pytest

from streamt2v.microworld.captions import parse_caption
from streamt2v.microworld.dataset import EVAL_PROMPTS

BG = "a red circle bouncing on a blue"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # each was read as its last word: 'fast', 'checker', 'stripes', 'up'
        ("a red circle bouncing slowly fast on a blue background", "two speeds: 'slowly' and 'fast'"),
        (f"{BG} striped checkered background", "two patterns: 'striped' and 'checkered'"),
        (f"{BG} plain striped background", "two patterns: 'plain' and 'striped'"),
        (f"{BG} background, camera panning left, camera panning up", "two pan directions: 'left' and 'up'"),
    ],
)
def test_contradictions_are_refused_naming_both_words(text, message):
    with pytest.raises(ValueError, match=message):
        parse_caption(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # each said "word X is not allowed after 'on'", though a colour, a shape and 'left' are allowed there
        (f"{BG} green background", "second background colour 'green' after 'blue'; objects are named before"),
        (f"{BG} background and a square", "shape 'square' after 'on'; objects are named before 'on'"),
        (f"{BG} background, camera left", "'left' must follow 'panning', as in ', camera panning left'"),
    ],
)
def test_misplaced_words_are_named_with_where_they_go(text, message):
    with pytest.raises(ValueError, match=message):
        parse_caption(text)


def test_unknown_words_are_named_as_written():
    # 'réd' was named as the words ['r', 'd']; a digit was dropped and the caption read
    with pytest.raises(ValueError, match=r"vocabulary: \['réd'\]"):
        parse_caption("a réd circle bouncing on a blue background")
    with pytest.raises(ValueError, match=r"vocabulary: \['2'\]"):
        parse_caption("a red circle bouncing on a blue background 2")


def test_a_caption_of_another_type_is_named():
    with pytest.raises(TypeError, match="a caption must be a str, got NoneType None"):
        parse_caption(None)  # was "'NoneType' object has no attribute 'lower'"


def test_forms_users_write_still_parse():
    c = parse_caption("A Red Circle  bouncing fast on a Blue striped background, camera panning left.")
    assert (c.objects, c.background, c.pattern, c.speed, c.pan) == (
        (("red", "circle"),),
        "blue",
        "stripes",
        "fast",
        "left",
    )
    # one word said twice (the same value) is no contradiction
    assert parse_caption(f"{BG} striped stripes background").pattern == "stripes"
    for prompt, _ in EVAL_PROMPTS:
        parse_caption(prompt)
