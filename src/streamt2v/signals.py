"""Holding off Ctrl-C and SIGTERM while a short piece of bookkeeping must finish (a checkpoint being
written, a stopped run being marked and unlocked): cut short, it leaves a run that says the wrong thing
about itself. The stop is not lost: the first one held is delivered when the block ends."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver the first one to the handler it had.

    Only the main thread can set handlers; elsewhere, or where a handler was not set from Python (it could
    not be restored), the block runs unprotected."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {kind: signal.getsignal(kind) for kind in kinds}
    if any(handler is None for handler in previous.values()):
        yield
        return
    for kind in kinds:
        signal.signal(kind, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)
        if held:
            signal.raise_signal(held[0])
