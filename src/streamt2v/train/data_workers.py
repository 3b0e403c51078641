"""The training loop's DataLoader worker processes: how they take stop signals, how they are ended, and how
an error inside one reaches the user."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch.utils.data import Dataset

from streamt2v.arguments import NamesArguments


def ignore_stop_signals(_worker_id: int) -> None:
    """``worker_init_fn`` of the DataLoader workers: Ctrl-C and SIGTERM are the main process's to handle.

    systemd, Slurm, ``timeout`` and ``kill -- -PGID`` signal every process of the job, and a terminal's
    Ctrl-C the whole foreground group: a worker killed by the SIGTERM made the main process fail with
    "DataLoader worker ... is killed by signal: Terminated" (exit 2, no resume command, even in a
    checkpoint's write) instead of stopping cleanly. The main process ends its workers when it stops
    (:func:`stop_workers`; they exit by themselves when it is killed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def stop_workers(batches: Iterator[Any]) -> None:
    """End the worker processes of a DataLoader iterator now, on every way out of the loop.

    Workers that ignore SIGTERM leave only when told to (torch's shutdown: a sentinel on their queues).
    Left to the iterator's garbage collection, an error's traceback can keep the iterator alive until the
    interpreter exits, where multiprocessing's exit handler terminates the workers (SIGTERM, ignored) and
    waits for them forever: a run with ``--num-workers`` and a bad sample hung instead of exiting. The
    shutdown is the iterator's own (private in torch; the one its ``__del__`` calls)."""
    shutdown = getattr(batches, "_shutdown_workers", None)  # absent without workers
    if shutdown is not None:
        shutdown()


class _RaisedInWorker:
    """An error a sample raised in a worker, carried to the main process in place of its batch."""

    def __init__(self, error: NamesArguments) -> None:
        self.error = error


class ErrorsTravelWhole(Dataset):
    """``dataset`` for the DataLoader workers: a sample's error that names arguments (:class:`NamesArguments`:
    "then resume=True", ``--resume`` on the command line) comes back as itself, not rebuilt from its text
    as torch does for a worker's error, which lost the parts the command line spells as flags."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, index: Any) -> Any:
        try:
            return self.dataset[index]
        except NamesArguments as err:
            return _RaisedInWorker(err)


class CollateOrError:
    """``collate_fn`` beside :class:`ErrorsTravelWhole`: a batch holding a sample's error is that error."""

    def __init__(self, collate: Callable[[Sequence[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, samples: Sequence[Any]) -> Any:
        raised = next((s for s in samples if isinstance(s, _RaisedInWorker)), None)
        return raised if raised is not None else self.collate(samples)


def next_batch(batches: Iterator[Any]) -> Any:
    """The next batch. An error raised in a worker is raised again with its own message: torch's holds the
    worker's whole traceback ("Caught ValueError in DataLoader worker process 0. Original Traceback ...
    ValueError: MESSAGE"), many lines where the dataset's errors are written as one; one that names
    arguments is raised as itself (:class:`ErrorsTravelWhole`)."""
    try:
        batch = next(batches)
    except Exception as err:
        message = worker_error_message(err)
        if message is None:
            raise
        try:
            plain = type(err)(message)
        except Exception:  # an exception type that takes other arguments: torch's message it is
            raise err from None
        raise plain from err
    if isinstance(batch, _RaisedInWorker):
        raise batch.error
    return batch


def worker_error_message(err: BaseException) -> str | None:
    """The original message of an error torch re-raised from a DataLoader worker, None for other errors."""
    text = str(err)
    if not text.startswith("Caught ") or "\nOriginal Traceback" not in text:
        return None
    head = f"{type(err).__qualname__}: "
    at = text.rfind(head)
    return text[at + len(head) :].strip() if at >= 0 else None
