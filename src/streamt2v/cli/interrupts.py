"""SIGTERM taken the way Ctrl-C is, for the command line and the bench scripts.

A supervisor (``docker stop``, systemd, Slurm, ``timeout``) sends one SIGTERM and, after a grace period,
SIGKILL: that one signal must reach the clean-up (runs marked interrupted, temporaries removed) and the
exit code must say it came (143). Raised wherever the signal lands, its KeyboardInterrupt is lost in two
places in CPython, so there it is raised again a moment later:

- inside code run from a string (``exec``/``eval`` of text: the methods ``dataclasses`` and
  ``namedtuple`` build while a module is imported). CPython then records the KeyboardInterrupt as
  unhandled even when the command catches it, and a ``python -m`` process ends by SIGINT at exit instead
  of with the command's exit code;
- inside a ``__del__`` or a weakref callback (garbage collection, the import system's bookkeeping), where
  an exception is printed as "Exception ignored" and dropped: the run went on as if no signal had come.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from types import FrameType

# How long a KeyboardInterrupt that could not be raised waits before it is tried again: code run from a
# string (a dataclass's methods) is over in microseconds. After MAX_RETRIES it is raised wherever it lands:
# a SIGTERM is never put off for longer than about a second.
RETRY_S = 0.02
MAX_RETRIES = 50


class InterruptSaidElsewhere(KeyboardInterrupt):
    """Ends a command as an interrupt does (its clean-up, its exit status) without the "interrupted" line:
    another process of the same launch says it (a training run's main process, with how to continue)."""


def in_string_code(frame: FrameType | None, outside: Container[int] = ()) -> bool:
    """Whether ``frame`` or one of its callers runs the top level of code compiled from a string (the
    ``<module>`` of ``exec(text)`` or ``eval(text)``), which a KeyboardInterrupt must not leave; the walk
    stops at a frame whose id is in ``outside`` (the callers of the ``with`` block: the command started
    from ``python -c`` runs under a string's ``<module>`` from start to end)."""
    while frame is not None and id(frame) not in outside:
        code = frame.f_code
        if code.co_name == "<module>" and code.co_filename == "<string>":
            return True
        frame = frame.f_back
    return False


@contextmanager
def sigterm_as_interrupt() -> Iterator[Callable[[], bool]]:
    """Inside, SIGTERM (a supervisor's stop, ``timeout``, ``kill``) raises KeyboardInterrupt, as Ctrl-C does,
    so the same clean-up runs; a repeated SIGTERM is ignored, so it cannot cut that clean-up short. Yields a
    function telling whether a SIGTERM came (exit 143 rather than Ctrl-C's 130). Where the interrupt would
    be lost (see the module's docstring) it is raised again a moment later. Signal handlers can only be set
    in the main thread: elsewhere nothing is installed."""
    terminated = False
    owed = False  # a SIGTERM came and its KeyboardInterrupt has not been raised where it counts yet
    raised: BaseException | None = None  # the KeyboardInterrupt raised for it
    retries: list[threading.Timer] = []
    # the frames the block was entered from, alive (so their ids stay theirs) until it ends
    callers = list(_frames(sys._getframe()))
    outside = {id(f) for f in callers}
    retry_pending = False
    lock = threading.Lock()
    ended = False
    main_thread = threading.main_thread()

    def signal_main_thread() -> None:
        nonlocal retry_pending
        with lock:  # never once the handler is being restored: the signal would end the process
            retry_pending = False
            if ended:
                return
            if hasattr(signal, "pthread_kill"):
                # a real signal to the main thread, which also cuts a sleep or a blocking read short
                signal.pthread_kill(main_thread.ident, signal.SIGTERM)
            else:  # Windows: the handler is called at the main thread's next Python instruction
                _thread.interrupt_main(signal.SIGTERM)

    def raise_again_soon() -> None:
        nonlocal retry_pending
        # One at a time: on a busy machine, starting the timer can outlast RETRY_S, and the handler then
        # runs again inside this call (still under the string code), which scheduled timers without end.
        if retry_pending:
            return
        retry_pending = True
        timer = threading.Timer(RETRY_S, signal_main_thread)
        timer.daemon = True  # cannot hold the process at exit
        retries.append(timer)
        timer.start()

    def on_sigterm(signum, frame) -> None:
        nonlocal terminated, owed, raised
        if terminated and not owed:
            return
        terminated = owed = True
        if len(retries) < MAX_RETRIES and in_string_code(frame, outside):
            raise_again_soon()
            return
        owed = False
        raised = KeyboardInterrupt()
        raise raised

    def on_unraisable(unraisable) -> None:
        nonlocal owed
        # only the KeyboardInterrupt raised for the SIGTERM: a Ctrl-C lost during the clean-up is not
        # raised again into it
        if unraisable.exc_value is not None and unraisable.exc_value is raised and not owed:
            owed = True
            raise_again_soon()
            return
        previous_hook(unraisable)

    previous = None  # also None when the handler there was not set from Python: then none is restored
    previous_hook = sys.unraisablehook
    in_main_thread = threading.current_thread() is main_thread
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
        sys.unraisablehook = on_unraisable
    try:
        yield lambda: terminated
    finally:
        with lock:
            ended = True
        for timer in retries:
            timer.cancel()
        if in_main_thread:
            sys.unraisablehook = previous_hook
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        del callers


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back
