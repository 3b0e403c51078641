"""Values from JSON or the command line checked against a dataclass field's type (recipe options,
sampler settings), so a wrong type is one error naming the setting instead of a failure much later."""

from __future__ import annotations

import math
import numbers
import operator
import os
import re
from collections.abc import Callable
from dataclasses import fields
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

_BOOL_WORDS = {"true": True, "false": False}


def as_index(value: object) -> int | None:
    """``value`` as an int when it is an integer: an int, a numpy integer, a one-element integer tensor
    (what ``operator.index`` takes), not a bool; None for anything else (a float 16.5 is not 16)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number: a Python or numpy int or float, not a bool (Python's or numpy's)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_bool(value: object) -> bool | None:
    """``value`` as a Python bool when it is one, or a numpy bool (``np.bool_``, which is not an int); None
    for anything else (0 and 1 are no booleans here)."""
    if isinstance(value, bool):
        return value
    # numpy's bool (numpy 2 names it bool, 1.x bool_), told without importing numpy
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    return None


def plain_number(value: object) -> object:
    """``value`` with a numpy scalar as the Python bool, int or float it holds (in a list or tuple too), which
    JSON stores; anything else as it is (its checks are its consumer's)."""
    if isinstance(value, (list, tuple)):
        return type(value)(plain_number(v) for v in value)
    if (flag := as_bool(value)) is not None:
        return flag
    if is_number(value) and type(value).__module__ == "numpy":
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    return value


def is_finite(value: object) -> bool:
    """Whether the number ``value`` is finite as a float: an int too large for one (``10**400``) is not."""
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


def is_huge_integer(value: object) -> bool:
    """Whether ``value`` is an int too large for a float (``10**400``), whose ``str()`` is hundreds of
    characters long, or refused over 4300 digits."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and not is_finite(value)


# The most digits a message writes an integer with: every 64-bit one (seeds stop at 2**64, of 20 digits). A
# longer one is a typo whose digits no one reads (a seed of 300 digits filled the screen): it is counted.
SPELLED_DIGITS = 20

# The integers a tuple[int, ...] setting's items (a model's channels) may be: torch's sizes are 64-bit, and
# it refused a larger one with a bare TypeError ("Overflow when unpacking long long") once building began.
_ITEM_LIMIT = 2**63


def is_long_integer(value: object) -> bool:
    """Whether ``value`` is an int of more than :data:`SPELLED_DIGITS` digits, which a message counts
    (:func:`shown_number`) rather than writes out."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and abs(int(value)) >= 10**SPELLED_DIGITS
    )


def shown_value(value: object, spelled: Callable[[object], str] = repr) -> str:
    """``value`` as a message shows it, ``spelled`` (its repr unless told: ``str``, ``json.dumps``), but an
    int of more than :data:`SPELLED_DIGITS` digits in :func:`shown_number`'s words (``an integer of 401
    digits``), also inside dicts, lists, tuples and sets (a settings dict: ``{'steps': an integer of 401
    digits}``)."""
    if is_long_integer(value):
        return shown_number(value)
    if not holds_long_integer(value):
        return spelled(value)
    inner = repr if spelled is str else spelled  # str() of a container shows its items' reprs
    if isinstance(value, dict):
        opening, closing = spelled({})
        items = [f"{shown_value(k, inner)}: {shown_value(v, inner)}" for k, v in value.items()]
    elif isinstance(value, (set, frozenset)):  # steps={10**5000}: its repr meets Python's int limit
        opening, closing = "{", "}"
        items = [shown_value(v, inner) for v in value]
    else:  # a list or tuple, in the brackets ``spelled`` gives it (json.dumps: a tuple's too are [])
        opening, closing = spelled([] if isinstance(value, list) else ())
        items = [shown_value(v, inner) for v in value]  # type: ignore[attr-defined]
        if len(items) == 1 and closing == ")":
            items[0] += ","
    return f"{opening}{', '.join(items)}{closing}"


def holds_long_integer(value: object) -> bool:
    """Whether ``value`` is, or holds in a dict, list, tuple or set, an int :func:`shown_value` counts in
    words."""
    if isinstance(value, dict):
        return any(holds_long_integer(k) or holds_long_integer(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(holds_long_integer(v) for v in value)
    return is_long_integer(value)


def shown_number(value: object) -> str:
    """``value`` as an error shows it: its repr, but for an int of more than :data:`SPELLED_DIGITS` digits
    (``10**400``) ``an integer of 401 digits``, counted without ``str()``, which refuses ints over 4300
    digits and would make a message of hundreds of characters."""
    if is_long_integer(value):
        return f"{'a negative' if value < 0 else 'an'} integer of {integer_digits(value)} digits"
    return repr(value)


def integer_digits(value: int) -> int:
    """How many digits the int ``value`` is written with, counted without ``str()`` (:func:`shown_number`)."""
    size = abs(int(value))
    if size < 10:
        return 1
    digits = int(math.log10(size)) + 1  # log10 rounds near a power of ten: set right below
    if size < 10 ** (digits - 1):
        digits -= 1
    elif size >= 10**digits:
        digits += 1
    return digits


# shown_number's words for an integer it counts, which a flag's value shows in parentheses (flag_value)
COUNTED_INTEGER = r"(?:an|a negative) integer of \d+ digits"


def flag_value(shown: str) -> str:
    """A value as a message shows it (:func:`shown_value`), as it follows a flag: a counted integer's words in
    parentheses (``--steps (an integer of 25 digits)``), which otherwise run on into the message's."""
    return f"({shown})" if re.fullmatch(COUNTED_INTEGER, shown) else shown


def shown_text(text: str) -> str:
    """``text``, a value as the user typed it (a flag's), quoted as a message shows it, but an integer of
    more than :data:`SPELLED_DIGITS` digits in words (``an integer of 301 digits``), as :func:`shown_number`
    shows the number, its leading zeros not counted; one of fewer typed with a run of zeros too long to
    quote is quoted without them (``'1' after 300 leading zeros``)."""
    typed = text.strip()
    digits = typed.removeprefix("-").removeprefix("+").replace("_", "")
    if not (digits.isascii() and digits.isdigit()):
        return repr(text)
    significant = digits.lstrip("0") or "0"
    if len(significant) > SPELLED_DIGITS:
        return f"{'a negative' if typed.startswith('-') else 'an'} integer of {len(significant)} digits"
    if len(text) <= 2 * SPELLED_DIGITS:
        return repr(text)
    zeros = len(digits) - len(significant)
    return f"{'-' * typed.startswith('-') + significant!r} after {zeros} leading zeros"


def typed_value(value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` (bool, int, float, str, ``str | None``, ``tuple[int, ...]``), or a
    ValueError saying what it must be. Text spellings are accepted where they are unambiguous: a boolean
    as true/false, a tuple as a list, a path object for a string; an int for a float; numpy scalars as the
    Python number they hold. A bool is never taken for a number. ``X | None`` takes None or an ``X``."""
    options = get_args(hint)
    if get_origin(hint) in (Union, UnionType) and len(options) == 2 and type(None) in options:
        if value is None:
            return None
        hint = next(option for option in options if option is not type(None))
    if hint is bool:
        if (flag := as_bool(value)) is not None:
            return flag
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        raise ValueError("must be true or false")
    if hint is int:
        if is_huge_integer(value):  # no count, size or seed of ours is that large: a mistake (10**400)
            raise ValueError("must be a much smaller integer")
        if is_number(value) and isinstance(value, numbers.Integral):
            return int(value)
        raise ValueError("must be an integer")
    if hint is float:
        if is_number(value) and is_finite(value):
            return float(value)
        raise ValueError("must be a finite number")
    if hint in (str, str | None):
        if isinstance(value, (str, os.PathLike)):
            return str(value)
        if value is None and hint is not str:
            return None
        raise ValueError("must be a string")
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        ):
            if item is int and any(abs(v) >= _ITEM_LIMIT for v in value):
                raise ValueError("must be a list of much smaller integers")
            return tuple(value)
        raise ValueError(f"must be a list of {item.__name__}s")
    return value  # other annotations are the consumer's to check


def type_fields(instance: Any) -> None:
    """Every field of the (frozen) dataclass ``instance`` as its annotated type (:func:`typed_value`: numpy
    scalars become Python numbers, a bool is no number), or a ValueError naming the field; annotations
    :func:`typed_value` does not know are left to the class's own checks. For ``__post_init__``."""
    hints = get_type_hints(type(instance))
    for f in fields(instance):
        value = getattr(instance, f.name)
        try:
            object.__setattr__(instance, f.name, typed_value(value, hints[f.name]))
        except ValueError as err:
            raise ValueError(f"{f.name} {err}, got {shown_value(value)}") from None
