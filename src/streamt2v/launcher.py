"""What a launcher (torchrun, accelerate launch) that started this process as one of several told it in its
environment, read before the processes join their group: the command line's refusals and a training run's
memory check must know it before then. Some job platforms leave ``WORLD_SIZE`` and ``RANK`` (of their nodes)
in every container, where a command run by hand is a single process: a launcher sets ``LOCAL_RANK`` too."""

from __future__ import annotations

import os


def _positive(variable: str) -> int | None:
    text = os.environ.get(variable, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def launch_size() -> int:
    """The processes of the launch this process is one of (``WORLD_SIZE``, where a launcher started it:
    ``LOCAL_RANK`` set and a ``WORLD_SIZE`` > 1), 1 for a single process."""
    world = _positive("WORLD_SIZE")
    if world is None or not os.environ.get("LOCAL_RANK", "").strip():
        return 1
    return world


def launch_rank(variable: str) -> int | None:
    """This process's ``variable`` (``RANK``: in the launch, ``LOCAL_RANK``: on its machine) where a launcher
    started it as one of several (:func:`launch_size` > 1); None for a single process, or a rank that is no
    integer."""
    if launch_size() == 1:
        return None
    try:
        return int(os.environ.get(variable, "0").strip() or "0")
    except ValueError:
        return None


def processes_on_this_machine() -> int:
    """How many processes of this launch run on this machine: its ``LOCAL_WORLD_SIZE`` (which torchrun and
    accelerate launch set), else all of them (:func:`launch_size`); 1 for a single process."""
    world = launch_size()
    return 1 if world == 1 else _positive("LOCAL_WORLD_SIZE") or world


def first_on_this_machine() -> bool:
    """Whether this process is a single one or its machine's first of a launch (``LOCAL_RANK`` 0): the one
    that checks, and says, what every process of the machine would meet alike."""
    return not launch_rank("LOCAL_RANK")
