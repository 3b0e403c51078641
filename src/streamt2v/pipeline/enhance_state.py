"""Stage 3 survives a crash: its state after each denoising step, saved so that a rerun continues it.

Stage 3 is the longest stage at full size (official code: ~7 s/frame at 720² against ~1.4 s/frame for stages
1–2 at 256²), and its steps each cover the whole video (shared noise, eq. 7), so chunks cannot be kept as
stages 1–2 keep them. After every step :func:`~streamt2v.pipeline.enhance.enhance_latents` hands out an
:class:`EnhanceProgress`: the chunk state, the generator's state and the scheduler's (a multistep solver
remembers earlier model outputs). Continuing from it gives the same video, bit for bit, as the run that was
stopped. :class:`EnhanceStateFile` keeps the latest one in a file (written atomically), under a key of
everything the result depends on besides the refiner's weights: a file from another video, prompt, seed or
setting is set aside (kept, for that run to continue) and the stage starts over.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import logging
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamt2v.io.folders import atomic_write_file, home_path, remove_atomic_write_leftovers
from streamt2v.wording import counted

logger = logging.getLogger(__name__)

# The scheduler attribute holding its config (rebuilt from the refiner, never restored from a file).
_SCHEDULER_CONFIG_ATTRIBUTE = "_internal_dict"
# A state file's name + this + the first digits of its key: the state of another run, set aside.
STALE_INFIX = ".stale-"
# A state file's name + this: where versions before NAME.stale-KEY set a run's state aside (one for all runs).
LEGACY_STALE_SUFFIX = ".stale"


@dataclass
class EnhanceProgress:
    """Where :func:`~streamt2v.pipeline.enhance.enhance_latents` stands after ``steps_done`` steps."""

    steps_done: int
    x: torch.Tensor  # the sampling state: the chunk stack (n·B, C, F, h, w) or the whole video
    generator_state: torch.Tensor
    scheduler_state: dict[str, Any]


def scheduler_state(scheduler: Any) -> dict[str, Any]:
    """A diffusers scheduler's mutable state (step index, a multistep solver's earlier outputs, its sigmas):
    its attributes but the config. diffusers has no public state API; these are plain tensors and numbers."""
    # lists copied: diffusers shifts its list of earlier outputs in place at the next step
    return {
        k: list(v) if isinstance(v, list) else v
        for k, v in vars(scheduler).items()
        if k != _SCHEDULER_CONFIG_ATTRIBUTE
    }


def scheduler_settings(scheduler: Any) -> dict[str, Any]:
    """A scheduler's settings for the state key: its config without diffusers' bookkeeping (``_``-keys: its
    version, and the options it defaulted, listed in an order that changes from process to process)."""
    return {k: v for k, v in sorted(scheduler.config.items()) if not k.startswith("_")}


def restore_scheduler_state(scheduler: Any, state: dict[str, Any], device: torch.device) -> None:
    """Put ``state`` (from :func:`scheduler_state` of the same scheduler class, read on the CPU) back into a
    fresh ``scheduler`` whose timesteps are set. A tensor goes where the fresh scheduler keeps its own
    (diffusers keeps some on the CPU on purpose), a list's tensors (earlier model outputs) to ``device``."""
    if sorted(state) != sorted(scheduler_state(scheduler)):
        raise ValueError(
            f"the saved stage-3 state is of another scheduler: attributes {', '.join(sorted(state))}, this "
            f"{type(scheduler).__name__} has {', '.join(sorted(scheduler_state(scheduler)))}"
        )
    for name, value in state.items():
        current = getattr(scheduler, name)
        if isinstance(value, torch.Tensor) and isinstance(current, torch.Tensor):
            value = value.to(current.device)
        elif isinstance(value, list):
            value = [v.to(device) if isinstance(v, torch.Tensor) else v for v in value]
        setattr(scheduler, name, value)


def state_key(*parts: torch.Tensor | str | Iterable[Any] | None) -> str:
    """A digest of what a stage-3 result depends on (tensors by their values, the rest by ``repr``)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            _add_values(digest, part)
        else:
            digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


# The most elements of a tensor's piece :func:`_add_values` copies at once (16 MB of float32).
_DIGEST_PIECE = 1 << 22


def _add_values(digest: Any, tensor: torch.Tensor) -> None:
    """Feed ``tensor``'s dtype, shape and values to a hashlib ``digest``."""
    t = tensor.detach()
    digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():
        _add_bytes(digest, t)


def _add_bytes(digest: Any, t: torch.Tensor) -> None:
    """Feed ``t``'s values in C order, as its contiguous CPU copy holds them, without copying it whole: a
    contiguous CPU tensor is read in place, any other a piece along its first dimension at a time (a video
    a caller lays out channels-last, (B, 3, T, H, W) over frames stored (T, H, W, 3), as read_video did
    before db4a7bf, was copied whole: 5.7 GB of float32 for 1200 frames at 480x832, beside the video)."""
    if (t.is_contiguous() and t.device.type == "cpu") or t.ndim <= 1 or t.numel() <= _DIGEST_PIECE:
        digest.update(t.to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy())
        return
    for part in t:
        _add_bytes(digest, part)


class EnhanceStateFile:
    """The latest :class:`EnhanceProgress` of one stage-3 run in ``path``, under ``key``."""

    def __init__(self, path: str | os.PathLike, key: str) -> None:
        self.path = home_path(path)  # ~/s.pt, as the command line takes it
        self.key = key

    def stale_path(self, key: str | None = None) -> Path:
        """Where the state of the run keyed ``key`` (default: this one) is set aside while another run uses
        ``path``: ``NAME.stale-KEY`` (the key's first 16 digits), one file per run, so setting a run's state
        aside never replaces another's."""
        return self.path.with_name(f"{self.path.name}{STALE_INFIX}{(key or self.key)[:16]}")

    def load(self) -> EnhanceProgress | None:
        """The saved progress, or None when there is none of this run. A file of another run is set aside
        under its own ``NAME.stale-KEY`` (with a warning); this run's state set aside there before (a run with
        another prompt or seed was started in between, and stopped) is taken back, so its steps are not
        lost. A state set aside is removed only when its own run takes it back (its run's output written,
        :func:`remove_state_file` removes it) or by the user: it is the only copy of that run's steps. A
        damaged file (cut short, changed, not a state) is a warning (it is overwritten at the next step); one
        that cannot be read now (an ``OSError``: its permissions, an I/O error) is raised, and it stays."""
        self._rename_legacy_stale()
        current = _read(self.path) if self.path.is_file() else None
        if isinstance(current, tuple) and current[0] == self.key:
            return current[1]
        own = self.stale_path()
        earlier = _read(own) if own.is_file() else None
        if isinstance(earlier, tuple) and earlier[0] == self.key:
            # the state set aside is this run's: swap it back, the other run's (if any) set aside in turn.
            # Two renames, each atomic: a run killed between them leaves both states under names load() reads
            other = self.stale_path(current[0]) if isinstance(current, tuple) else None
            if other is not None:
                os.replace(self.path, other)
            os.replace(own, self.path)
            logger.warning(
                "stage 3 continues from its own saved state, which a run of another video, prompt, seed or "
                "setting had set aside in %s%s",
                own.name,
                f" (that run's state is set aside in turn, in {other.name})" if other is not None else "",
            )
            return earlier[1]
        if isinstance(current, Exception):  # a file cut short by a full disk, or not ours: say why
            logger.warning("stage 3 starts over: cannot read its saved state %s (%s)", self.path, current)
        elif current is not None:
            other = self.stale_path(current[0])
            os.replace(self.path, other)
            logger.warning(
                "stage 3 starts over: its saved state %s is of another video, prompt, seed or setting (after "
                "%s); it is kept as %s, from which that run continues when run again",
                self.path,
                counted(current[1].steps_done, "step"),
                other.name,
            )
        return None

    def _rename_legacy_stale(self) -> None:
        """A state set aside by a version before ``NAME.stale-KEY`` lies in ``NAME.stale``, which nothing
        else reads: renamed (atomically) to its run's ``NAME.stale-KEY``, it is that run's to take back and
        named among those kept. Left where it is when unreadable or when that name is taken (a newer state
        of the same run)."""
        legacy = self.path.with_name(self.path.name + LEGACY_STALE_SUFFIX)
        if not legacy.is_file():
            return
        try:
            saved = _read(legacy)
        except OSError as err:  # not this run's state: an old file that cannot be read now stops nothing
            saved = err.__cause__ or err  # the reason alone, not the advice to run again
        if isinstance(saved, Exception):
            logger.warning(
                "cannot read the stage-3 state %s set aside by an earlier version (%s)", legacy, saved
            )
            return
        target = self.stale_path(saved[0])
        if target.exists():
            logger.warning(
                "the stage-3 state %s set aside by an earlier version is left there: its run has a newer one "
                "set aside, %s",
                legacy,
                target.name,
            )
            return
        os.replace(legacy, target)
        logger.info("the stage-3 state %s set aside by an earlier version is now %s", legacy, target.name)

    def save(self, progress: EnhanceProgress) -> None:
        """Write ``progress`` atomically (:func:`~streamt2v.io.folders.atomic_write_file`)."""
        state = {
            "key": self.key,
            "steps_done": progress.steps_done,
            "x": progress.x.detach().to("cpu"),
            "generator_state": progress.generator_state,
            "scheduler_state": {
                k: v.detach().to("cpu") if isinstance(v, torch.Tensor) else v
                for k, v in progress.scheduler_state.items()
            },
        }
        state["digest"] = _contents_digest(state)
        atomic_write_file(self.path, lambda tmp: torch.save(state, str(tmp)))


# What reading a damaged or foreign state file raises, each seen with a saved state whose bytes were flipped one
# at a time or cut short (torch.load's zip reader and weights-only unpickler, the checks below); an OSError
# only as EINVAL (a seek before the start of a file cut short). Anything else (a file that cannot be read now:
# its permissions, an I/O error, no memory) propagates: taken for damage, the state was replaced by the next
# step's and the run's finished steps were lost.
_DAMAGED = (
    RuntimeError,
    EOFError,
    pickle.UnpicklingError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    AssertionError,
)


def _read(path: Path) -> tuple[str, EnhanceProgress] | Exception:
    """``(key, progress)`` saved in ``path``, or why it cannot be read when it is damaged or not a state;
    an ``OSError`` of reading it is raised, naming it (the file is kept)."""
    try:
        saved = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(saved, dict):
            raise ValueError(f"it holds a {type(saved).__name__}, not a stage-3 state")
        recorded = saved.pop("digest", None)  # None: a file of a version before digests, read as it is
        if recorded is not None and recorded != _contents_digest(saved):
            raise ValueError(
                "its contents differ from the digest saved with them: the file was changed or damaged"
            )
        key, steps_done = saved["key"], int(saved["steps_done"])
        return key, EnhanceProgress(
            steps_done, saved["x"], saved["generator_state"], dict(saved["scheduler_state"])
        )
    except _DAMAGED as err:
        return err
    except OSError as err:
        if err.errno == errno.EINVAL:
            return err
        raise OSError(
            err.errno,
            f"cannot read stage 3's saved state (it is kept: run again once it can be read): {err.strerror}",
            str(path),
        ) from err


def _contents_digest(state: dict[str, Any]) -> str:
    """A sha256 of a state file's contents (the values of its tensors and arrays, the rest by ``repr``).
    ``torch.load`` checks no checksum: a flipped bit in the saved sampling state would go on into the video
    unseen, as the chunks' digests (``rundir``) catch for stages 1–2."""
    digest = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                digest.update(f"{k!r}:".encode())
                add(value[k])
        elif isinstance(value, (list, tuple)):
            digest.update(f"{type(value).__name__}{len(value)}[".encode())
            for v in value:
                add(v)
            digest.update(b"]")
        elif isinstance(value, (torch.Tensor, np.ndarray)):
            _add_values(digest, torch.as_tensor(value))
        else:
            digest.update(repr(value).encode())
        digest.update(b"\0")

    add(state)
    return digest.hexdigest()


def remove_stale_state_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries (``.NAME.tmp-PID``, :func:`~streamt2v.io.folders.atomic_write_file`) that a
    process killed while saving the state file ``path`` left; call it holding the lock of what the state
    is for (no other process is saving it then). Returns what was removed."""
    return remove_atomic_write_leftovers(home_path(path))


def remove_state_file(path: str | os.PathLike) -> list[Path]:
    """Remove a stage-3 state file (its run's output is written). The states of other runs set aside beside
    it (``NAME.stale-KEY``, :meth:`EnhanceStateFile.load`; an earlier version's ``NAME.stale``) are kept,
    with a warning naming them: each holds the steps of a run that was stopped, and only that run, run
    again, or the user knows whether they are still wanted. Returns those kept."""
    path = home_path(path)
    path.unlink(missing_ok=True)
    kept = sorted(path.parent.glob(glob.escape(path.name + STALE_INFIX) + "*"))
    legacy = path.with_name(path.name + LEGACY_STALE_SUFFIX)  # one load() could not rename (unreadable)
    kept += [legacy] if legacy.is_file() else []
    if kept:
        logger.warning(
            "kept %s of other runs set aside in %s (%s): each is continued by its own run when that is "
            "started again; delete them if those runs are not wanted",
            counted(len(kept), "stage-3 state"),
            path.parent.absolute(),  # "." (an output in the working folder) says nothing in a log
            ", ".join(p.name for p in kept),
        )
    return kept
