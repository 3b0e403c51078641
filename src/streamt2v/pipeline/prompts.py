"""Prompt schedules: different prompts over time for one long video (paper §4: every chunk is conditioned on
its own text; the APM anchor keeps the scene unless re-anchored).

Syntax, inline or in a text file: entries ``FRAME: prompt`` separated by ``;`` or newlines, e.g.
``0: a cat walks; 120: the cat runs``. In a file, only newlines separate entries (so prompts may contain
``;``), blank lines and lines starting with ``#`` are ignored. The entries must be in increasing frame order
(each frame once), the first at frame 0, all inside the video. Each chunk uses the prompt active at its first new frame.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamt2v.io.folders import home_path, named_path, read_text_file
from streamt2v.typed_values import SPELLED_DIGITS, as_index, integer_digits

logger = logging.getLogger(__name__)

# what separates a schedule's entries given inline (a file's are its lines)
_SEPARATOR = re.compile(r"[;\n]")
_ENTRY = re.compile(r"^\s*(-?\d+)\s*:(.*)$", re.DOTALL)
# '|' or ',' before what reads as an entry ('0: a cat|40: a dog', '0: a cat, 40: a dog'): another tool's
# separator or a list's, taken into the prompt; not before a time or ratio ('|2:1 final', ', 16:9'), whose
# colon a digit follows (see _stray_separators for the commas); nor before a number too long for a frame
_STRAY_SEPARATOR = re.compile(rf"\s*([|,])\s*(?=(\d{{1,{SPELLED_DIGITS}}})\s*:(?!\d))")


def _stray_separators(prompt: str, frame: int) -> list[re.Match[str]]:
    """The separators in the prompt of the entry at ``frame`` that stand before what reads as another entry
    (:data:`_STRAY_SEPARATOR`): each '|', and a ',' before a frame past the one before it that follows no
    number, as a list of entries would; '0: the countdown goes 3, 2, 1: liftoff' counts down."""
    found = []
    last = frame
    for m in _STRAY_SEPARATOR.finditer(prompt):
        at = int(m.group(2))
        after_number = prompt[: m.start()].rstrip()[-1:].isdigit()
        if m.group(1) == "," and (at <= last or after_number):
            continue
        found.append(m)
        last = at
    return found


def _split_at(prompt: str, separators: list[re.Match[str]], by: str) -> str:
    """``prompt`` with each of ``separators`` (matches in it) replaced by ``by``."""
    for m in reversed(separators):
        prompt = prompt[: m.start()] + by + prompt[m.end() :]
    return prompt


def _far_frame(digits: int, negative: bool, prompt: str) -> str:
    """The refusal of the entry of ``prompt`` at a frame of more than :data:`SPELLED_DIGITS` ``digits``: past
    the end of any video (a typo, a pasted number), counted rather than written out (Python's ``str()``
    refuses an int over 4300 digits)."""
    if negative:
        got = f"a negative integer of {digits} digits"
        return f"prompt schedule frame must be >= 0, got {got} (entry {prompt!r})"
    return f"prompt schedule entry {prompt!r} is at a frame of {digits} digits, past the end of any video"


class ScheduleEntryError(ValueError):
    """A schedule entry refused by :class:`PromptSchedule`; ``index`` is the entry's position, so a parser
    can say where it came from (a file's line)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class PromptSchedule:
    """``entries``: ``((frame, prompt), ...)`` starting at frame 0, strictly increasing; ``sources``: where
    each entry was read (``"prompt schedule file 'p.txt', line 3"``), for messages; not compared."""

    entries: tuple[tuple[int, str], ...]
    sources: tuple[str | None, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # lists as given by a caller (``PromptSchedule([[0, "a"], [8, "b"]])``) are kept as tuples (below for
        # the entries): a list made the schedule unhashable and unequal to the same schedule of tuples
        if isinstance(self.sources, list):
            object.__setattr__(self, "sources", tuple(self.sources))
        entries = []
        for entry in _entries_given(self.entries):
            ok = isinstance(entry, (tuple, list)) and len(entry) == 2
            # numpy integers too (frames from np.arange), as StreamConfig takes them; never a bool or 16.5
            frame = as_index(entry[0]) if ok else None
            if frame is None:
                raise ValueError(
                    f"prompt schedule entries are (frame: int, prompt: str) pairs, got {entry!r}"
                )
            if not isinstance(entry[1], str):
                raise ValueError(
                    f"the prompt at frame {frame} of the schedule must be a string, got {entry[1]!r}"
                )
            if (digits := integer_digits(frame)) > SPELLED_DIGITS:
                raise ScheduleEntryError(_far_frame(digits, frame < 0, entry[1]), len(entries))
            entries.append((frame, entry[1]))
        object.__setattr__(self, "entries", tuple(entries))
        # the order first: '40: b; 0: a' has its frame 0, and was told to start at frame 0
        for i, ((f0, p0), (f1, p1)) in enumerate(zip(self.entries, self.entries[1:]), 1):
            if f1 == f0:
                raise ScheduleEntryError(
                    f"prompt schedule frame {f1} is given twice ({p0!r} and {p1!r}); give each frame one prompt",
                    i,
                )
            if f1 < f0:
                frames = [str(f) for f, _ in self.entries]
                shown = ", ".join(frames[:12]) + (", ..." if len(frames) > 12 else "")
                raise ScheduleEntryError(
                    f"prompt schedule entries are out of frame order: frame {f1} follows frame {f0} (frames "
                    f"given: {shown}); list the entries in increasing frame order",
                    i,
                )
        if self.entries[0][0] != 0:
            raise ScheduleEntryError(
                f"a prompt schedule must start at frame 0, the first entry is at frame {self.entries[0][0]}",
                0,
            )
        for i, (frame, prompt) in enumerate(self.entries):
            if not prompt.strip():
                raise ScheduleEntryError(f"empty prompt at frame {frame} of the prompt schedule", i)

    @classmethod
    def constant(cls, prompt: str) -> PromptSchedule:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"the prompt must be a non-empty string, got {prompt!r}")
        return cls(((0, prompt.strip()),))

    def prompt_at(self, frame: int) -> str:
        """The prompt active at output frame ``frame``."""
        return self.entries[self.prompt_index(frame)][1]

    def prompt_index(self, frame: int) -> int:
        """The index of the entry active at output frame ``frame``."""
        if frame < 0:
            raise ValueError(f"frame must be >= 0, got {frame}")
        return bisect_right([f for f, _ in self.entries], frame) - 1

    def validate(self, num_frames: int) -> None:
        """Raise if an entry names a frame past the end of a ``num_frames``-frame video."""
        last = self.entries[-1][0]
        if last >= num_frames:
            where = self.sources[-1] if self.sources else None
            raise ValueError(
                f"{where + ': ' if where else ''}prompt schedule entry at frame {last} is past the end of the video "
                f"({num_frames} frames: valid frames are 0..{num_frames - 1})"
            )

    @property
    def is_constant(self) -> bool:
        return len(self.entries) == 1

    def format(self) -> str:
        """The inline form (``parse_schedule(s.format()) == s`` when no prompt contains ``;``)."""
        return "; ".join(f"{f}: {p}" for f, p in self.entries)

    def to_json(self) -> list[list]:
        return [[f, p] for f, p in self.entries]

    @classmethod
    def from_json(cls, data: list) -> PromptSchedule:
        return cls(tuple((int(f), str(p)) for f, p in data))


def _entries_given(entries: Any) -> tuple:
    """The entries a caller gave, as a tuple (any iterable of pairs: ``zip(frames, prompts)`` too); what is no
    such sequence is refused naming how to make one: a schedule string was read a character at a time
    (``got '0'``), a dict by its keys and one pair by its frame (``got 0``)."""
    if isinstance(entries, str):
        raise TypeError(
            f"PromptSchedule takes (frame, prompt) pairs, got the string {entries!r}: pass the string itself as "
            "the prompt, or parse it with streamt2v.pipeline.prompts.load_schedule(text)"
        )
    if isinstance(entries, dict):
        raise TypeError(
            "PromptSchedule takes (frame, prompt) pairs, got a dict: use PromptSchedule(tuple(d.items()))"
        )
    one_pair = isinstance(entries, (tuple, list)) and len(entries) == 2 and isinstance(entries[1], str)
    if one_pair and not isinstance(entries[0], (tuple, list, str)):
        raise TypeError(
            f"PromptSchedule takes a sequence of (frame, prompt) pairs, got one pair {tuple(entries)!r}: use "
            f"PromptSchedule(({tuple(entries)!r},))"
        )
    try:
        entries = tuple(entries)
    except TypeError:
        raise TypeError(
            f"PromptSchedule takes a sequence of (frame, prompt) pairs, got {type(entries).__name__}"
        ) from None
    if not entries:
        raise ValueError("a prompt schedule needs at least one entry")
    return entries


def as_schedule(prompt: str | PromptSchedule) -> PromptSchedule:
    """A :class:`PromptSchedule` as given; a string whose first entry (``#`` comments skipped, as the parser
    skips them) has the inline schedule form ``FRAME: prompt`` (``"0: a cat walks; 120: the cat runs"``)
    parsed as one; any other string (e.g. ``"3 red circles: bouncing"``) a constant prompt, with a warning when
    a later part reads as an entry (``"a cat walks; 120: the cat runs"``, a schedule without its ``0:``)."""
    if isinstance(prompt, PromptSchedule):
        return prompt
    if not isinstance(prompt, str):
        raise TypeError(
            f"the prompt must be a string or a PromptSchedule, got {type(prompt).__name__}{_prompt_hint(prompt)}"
        )
    if names_a_file(prompt):  # documented as never read, but a schedule file's name is a likely slip
        logger.warning(
            "prompt %r is taken as the prompt itself, though a file of that name exists: to use the file as a "
            "prompt schedule, pass load_schedule(%r) (from streamt2v.pipeline.prompts) as the prompt "
            "(GenerateConfig: prompt_schedule=%r)",
            prompt,
            prompt,
            prompt,
        )
    # the parts the parser reads: a schedule's text with a '# comment' line first is a schedule too
    parts = [p for p in _SEPARATOR.split(prompt) if p.strip() and not p.strip().startswith("#")]
    if parts and _ENTRY.match(parts[0]):
        return parse_schedule(prompt)
    later = next((p.strip() for p in parts[1:] if _ENTRY.match(p)), None)
    if later is not None:  # a schedule missing its frame-0 entry would otherwise pass unnoticed as one prompt
        logger.warning(
            "prompt %r is taken as one prompt, entries and all: its first part %r is not a 'FRAME: prompt' "
            "entry, though %r is; a prompt schedule starts with an entry at frame 0, e.g. '0: %s; %s'",
            prompt,
            parts[0].strip(),
            later,
            parts[0].strip(),
            later,
        )
    return PromptSchedule.constant(prompt)


def names_a_file(text: str) -> bool:
    """Whether ``text`` names an existing file (any suffix: :func:`load_schedule` reads any file); False for
    a text no file name can be."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a prompt too long for a file name, or holding a NUL
        return False


def _prompt_hint(prompt: Any) -> str:
    """How to pass what a caller gave instead of a prompt (a batch, a schedule as a dict or pairs)."""
    if isinstance(prompt, dict):
        return (
            "; a schedule {frame: prompt} is streamt2v.pipeline.prompts.PromptSchedule(tuple(d.items())) "
            "or the string '0: a cat walks; 120: the cat runs'"
        )
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, str) for p in prompt):
        return "; one video per call (no batches of prompts): " + (
            "pass the prompt itself"
            if len(prompt) == 1
            else f"call once for each of the {len(prompt)} prompts"
        )
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, (list, tuple)) for p in prompt):
        return (
            "; a schedule of (frame, prompt) pairs is streamt2v.pipeline.prompts.PromptSchedule(tuple(pairs))"
        )
    return ""


def unused_entries(schedule: PromptSchedule, chunk_starts: list[int]) -> list[tuple[int, str]]:
    """The entries no chunk uses: each chunk takes the prompt active at its first new frame, so an entry
    followed by another before the next chunk start is never seen."""
    used = {schedule.prompt_index(start) for start in chunk_starts}
    return [entry for i, entry in enumerate(schedule.entries) if i not in used]


def nearby_starts(starts: Sequence[int], frame: int) -> str:
    """The chunk ``starts`` around ``frame``, for messages (``"..., 16, 24, ..."``)."""
    i = next((k for k, start in enumerate(starts) if start > frame), len(starts))
    shown = starts[max(0, i - 2) : i + 2]
    return ", ".join(["..."] * (i > 2) + [str(v) for v in shown] + ["..."] * (i + 2 < len(starts)))


def reanchor_starts(
    schedule: PromptSchedule, streaming_starts: Sequence[int], anchor_prompt: str | None = None
) -> list[int]:
    """The starts of the streaming chunks that move the APM anchor with ``reanchor``: each one whose prompt
    differs from the anchor's (``anchor_prompt``, by default frame 0's; then that of the chunk that last
    moved it)."""
    anchor_prompt, moves = schedule.prompt_at(0) if anchor_prompt is None else anchor_prompt, []
    for start in streaming_starts:
        if schedule.prompt_at(start) != anchor_prompt:
            anchor_prompt = schedule.prompt_at(start)
            moves.append(start)
    return moves


def parse_schedule(text: str) -> PromptSchedule:
    """Parse ``"0: a cat walks; 120: the cat runs"`` (see module docstring)."""
    return _parse_parts([(None, raw) for raw in _SEPARATOR.split(text)], repr(text))


def _parse_parts(parts: list[tuple[str | None, str]], source: str) -> PromptSchedule:
    """The schedule of ``(where, raw entry)`` parts; ``where`` (e.g. ``"'p.txt', line 3"``) starts the
    message of an error in that entry. Blank parts and ``#`` comments are skipped."""
    entries: list[tuple[int, str]] = []
    wheres: list[str | None] = []
    for where, raw in parts:
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        at = f"{where}: " if where else ""
        m = _ENTRY.match(raw)
        if m is None:
            raise ValueError(
                f"{at}bad prompt schedule entry {raw.strip()!r}: expected 'FRAME: prompt', e.g. '0: a cat walks'"
            )
        typed = m.group(1)
        digits = len(typed.removeprefix("-").lstrip("0"))
        if digits > SPELLED_DIGITS:  # int() refuses over 4300 digits, a bare "Exceeds the limit"
            raise ValueError(f"{at}{_far_frame(digits, typed.startswith('-'), m.group(2).strip())}")
        frame = int(typed)
        if frame < 0:
            raise ValueError(f"{at}prompt schedule frame must be >= 0, got {frame}")
        entries.append((frame, m.group(2).strip()))
        wheres.append(where)
        found = _stray_separators(entries[-1][1], frame)
        stray = {m.group(1) for m in found}
        if stray:
            # a file's entries are its lines: a ';' there is part of the prompt
            separated = (
                "a schedule file's entries are separated by new lines"
                if where
                else "a schedule's entries are separated by ';' or new lines"
            )
            logger.warning(
                "%sthe prompt at frame %d is %r, entries and all: %s, not %s (e.g. %r)",
                at,
                frame,
                entries[-1][1],
                separated,
                " or ".join(f"'{c}'" for c in "|," if c in stray),
                f"{frame}: " + _split_at(entries[-1][1], found, "\n" if where else "; "),
            )
    if not entries:
        raise ValueError(
            f"empty prompt schedule {source}; expected entries like '0: a cat walks; 120: the cat runs'"
        )
    try:
        return PromptSchedule(tuple(entries), tuple(wheres))
    except ScheduleEntryError as err:
        if wheres[err.index] is None:
            raise
        raise ValueError(f"{wheres[err.index]}: {err}") from None


def load_schedule(spec: str | os.PathLike) -> PromptSchedule:
    """A schedule from a file path (entries one per line; UTF-8, with or without a BOM) or an inline string.

    An argument without any ``FRAME: prompt`` entry (no ``:``) is taken for a file name: a missing file or a
    folder is reported as such rather than parsed as a bad inline schedule. Errors in a file name the file
    and the line."""
    if isinstance(spec, str) and not spec.strip():  # Path("") is the working directory, a folder
        raise ValueError(
            f"empty prompt schedule {spec!r}; give a file or entries like '0: a cat walks; 120: the cat runs'"
        )
    path = home_path(spec)  # ~/schedule.txt, as the command line's flag takes it
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError:  # e.g. an inline schedule too long to be a file name
        is_file = is_dir = False
    named = named_path(spec)  # as given, then as read: '~/s.txt' ('/home/me/s.txt')
    if is_file:
        text = read_text_file(spec, "prompt schedule file")  # named as given
        lines = text.split("\n")  # read_text made \r\n and \r line ends \n
        parts = [(f"prompt schedule file {named}, line {n}", line) for n, line in enumerate(lines, 1)]
        return _parse_parts(parts, f"in file {named}")
    if is_dir:
        raise IsADirectoryError(f"prompt schedule {named} is a folder; give a file or an inline schedule")
    text = str(spec)
    if not any(part.strip() for part in _SEPARATOR.split(text)):  # only separators: '  ;  '
        raise ValueError(
            f"empty prompt schedule {text!r}; give a file or entries like '0: a cat walks; 120: the cat runs'"
        )
    if ":" not in text:
        raise FileNotFoundError(
            f"prompt schedule file {named} not found (an inline schedule has entries like "
            "'0: a cat walks; 120: the cat runs')"
        )
    if not any(_ENTRY.match(part) for part in _SEPARATOR.split(text)):  # e.g. 'C:/schedule.txt'
        raise FileNotFoundError(
            f"prompt schedule {named} is neither a file (none of that name) nor an inline schedule (entries "
            "like '0: a cat walks; 120: the cat runs')"
        )
    return parse_schedule(text)


def warn_unread_prompts(text_encoder: Any, prompts: Sequence[str]) -> None:
    """Log, once per prompt, what ``text_encoder`` will not read of it (unknown words, tokens cut off):
    a prompt the model cannot read makes a video that ignores it, with nothing else to say why."""
    for prompt in dict.fromkeys(prompts):
        problems = text_encoder.prompt_problems(prompt)
        if problems:
            logger.warning("prompt %r: %s", prompt, "; ".join(problems))
