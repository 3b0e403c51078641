"""What a conversion of the official checkpoint did (:class:`ConversionReport`: the tensors mapped, and every
one that was not mapped one-to-one, with its shape), the notes that advise arguments (:class:`Note`), and the
refusal of a checkpoint that does not match the model (:class:`CheckpointMismatchError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamt2v.arguments import NamesArguments, spelled
from streamt2v.wording import counted

_MAX_LISTED = 10

Shape = tuple[int, ...]

# the problems a report counts: (singular, plural)
_MISMATCHES = ("shape mismatch", "shape mismatches")
_UNMAPPED = ("checkpoint key with no place in the model", "checkpoint keys with no place in the model")
_MISSING = ("model tensor not in the checkpoint", "model tensors not in the checkpoint")


class Note(str):
    """A note of a :class:`ConversionReport` that advises arguments: the text names them as the Python API
    takes them (``init_unet``); :meth:`spelled` with ``flags`` as the command line's (``--init-unet``)."""

    parts: tuple[object, ...]

    def __new__(cls, *parts: object) -> Note:
        note = super().__new__(cls, spelled(parts, flags=False))
        note.parts = parts
        return note

    def spelled(self, *, flags: bool) -> str:
        return spelled(self.parts, flags=flags)


@dataclass
class ConversionReport:
    """What a conversion did: every key that was not mapped one-to-one is listed with its shape."""

    source: str
    out_dir: str | None = None
    fitting: dict[str, int] = field(default_factory=dict)  # component -> tensors that load (name + shape)
    unmapped: list[tuple[str, Shape]] = field(default_factory=list)  # official keys with no target
    ignored: list[tuple[str, Shape]] = field(default_factory=list)  # known-unused official keys
    missing: list[tuple[str, str, Shape]] = field(default_factory=list)  # (component, our key, shape)
    mismatched: list[tuple[str, str, Shape, Shape]] = field(
        default_factory=list
    )  # (official, ours, got, want)
    random_components: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoint_tensors: int = 0  # tensors in the checkpoint's state dict

    @property
    def mapped(self) -> dict[str, int]:
        """Component -> tensors mapped to one of the model of their shape: those that load (a mismatched one is
        made up, not mapped)."""
        return self.fitting

    @property
    def mostly_unfit(self) -> bool:
        """Fewer than half of the checkpoint's tensors fit the model: the wrong file or the wrong preset (its
        problems are then listed in part, not in thousands of lines)."""
        return 2 * sum(self.fitting.values()) < self.checkpoint_tensors

    @property
    def ok(self) -> bool:
        return not (self.unmapped or self.missing or self.mismatched or self.random_components)

    def summary(self) -> str:
        """The problems counted on one line (``problems`` lists them)."""
        parts = [
            counted(len(items), *what)
            for items, what in (
                (self.mismatched, _MISMATCHES),
                (self.unmapped, _UNMAPPED),
                (self.missing, _MISSING),
            )
            if items
        ]
        if self.random_components:
            parts.append(f"components absent from the checkpoint: {', '.join(self.random_components)}")
        return "; ".join(parts) if parts else "no problems"

    def problems(self, limit: int | None = _MAX_LISTED) -> str:
        """The problems listed, at most ``limit`` of each kind (None: all)."""
        lines = []

        def head(items: list[Any], what: tuple[str, str]) -> list[Any]:
            cut = limit is not None and len(items) > limit
            lines.append(counted(len(items), *what) + (f", first {limit}:" if cut else ":"))
            return items[:limit] if cut else items

        if self.mismatched:
            shown = head(self.mismatched, _MISMATCHES)
            lines += [f"  {o} -> {c}: checkpoint {g}, model {w}" for o, c, g, w in shown]
        if self.unmapped:
            lines += [f"  {k} {s}" for k, s in head(self.unmapped, _UNMAPPED)]
        if self.missing:
            lines += [f"  {c}: {k} {s}" for c, k, s in head(self.missing, _MISSING)]
        if self.random_components:
            lines.append(f"components absent from the checkpoint: {', '.join(self.random_components)}")
        return "\n".join(lines)

    def format(self, limit: int | None = None, *, flags: bool = False) -> str:
        """A human-readable summary (printed by ``streamt2v convert``); ``limit``: problems listed of each kind
        (None: all); ``flags``: the notes name the command line's flags, not the Python API's arguments."""
        lines = [f"source: {self.source}"]
        if self.out_dir:
            lines.append(f"written: {self.out_dir}")
        lines.append("mapped tensors: " + ", ".join(f"{c} {n}" for c, n in self.mapped.items()))
        if self.ignored:
            lines.append(
                f"ignored (unused open_clip text params, saved text position ids): {len(self.ignored)}"
            )
        problems = self.problems(limit=limit)
        lines.append(problems if problems else "all checkpoint tensors mapped; no model tensor missing")
        lines += [f"note: {n.spelled(flags=flags) if isinstance(n, Note) else n}" for n in self.notes]
        return "\n".join(lines)


class CheckpointMismatchError(NamesArguments, ValueError):
    """The checkpoint's keys or shapes do not match the model; ``report`` has the details.

    ``headline``: the error on one line, text and :class:`~streamt2v.arguments.Arg` parts (the arguments
    it advises, spelled for the Python API or the command line); the message adds ``problems`` (the
    listed problems) below it. :meth:`one_line` is the error without them.
    """

    def __init__(
        self, headline: str | Sequence[object], report: ConversionReport, problems: str = ""
    ) -> None:
        self.headline_parts = (headline,) if isinstance(headline, str) else tuple(headline)
        super().__init__(*self.headline_parts, *([f"\n{problems}"] if problems else []))
        self.report = report

    def one_line(self) -> CheckpointMismatchError:
        """This error without the listed problems (the command line prints the report once, above it)."""
        short = CheckpointMismatchError(self.headline_parts, self.report)
        short.flags = self.flags
        return short

    @property
    def headline(self) -> str:
        return str(self.one_line())
