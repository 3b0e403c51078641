"""Which refiner stage 3 runs without a refiner folder (``streamt2v enhance`` without ``--model``,
``generate --enhance`` without ``--refiner``): the shipped microworld refiner where it is for the frames,
else a random-weight stand-in where the caller lets one in, else a refusal (:func:`check_default_refiner`,
the one decision both commands ask)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.pipeline.refiner import Refiner, shipped_refiner

logger = logging.getLogger(__name__)


def load_refiner(
    spec: str | os.PathLike | None,
    base_frame_size: tuple[int, int],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str | None = None,
) -> Refiner:
    """The refiner in the local folder ``spec``, or the embedded default when ``spec`` is None, on ``device``
    in ``dtype`` (None: float32)."""
    if spec is None:
        return default_refiner(tuple(base_frame_size)).to(device=device, dtype=dtype)
    return Refiner.from_pretrained(spec, device=device, dtype=dtype)


def default_refiner_folder(base_frame_size: tuple[int, int]) -> Path | None:
    """The folder :func:`default_refiner` loads for frames of ``base_frame_size``: the shipped refiner when
    it works at twice that size, else None (a random-weight refiner stands in)."""
    try:
        folder, size = shipped_refiner()
    except FileNotFoundError:
        return None
    return folder if size == (2 * int(base_frame_size[0]), 2 * int(base_frame_size[1])) else None


# The largest input side the random-weight stand-in is made for: it shows the pipeline working, and above
# this its attention over a full-HD frame would take CPU-hours and tens of GB for nothing.
STAND_IN_MAX_SIDE = 256
# The argument that lets the stand-in in: GenerateConfig's and ``--random-refiner`` of generate and enhance;
# to a Python caller of check_default_refiner, its own.
STAND_IN_ARG = Arg("random_refiner", True)
_OWN_STAND_IN_ARG = Arg("stand_in", True)


def check_default_refiner(
    base_frame_size: tuple[int, int],
    *,
    stand_in: bool = True,
    subject: str | None = None,
    folder_arg: Arg | None = None,
    stand_in_arg: Arg = _OWN_STAND_IN_ARG,
    resize: bool = True,
) -> Path | None:
    """The one decision of which refiner stage 3 runs without a refiner folder, for frames of
    ``base_frame_size`` (``streamt2v enhance`` and ``generate --enhance`` both ask it, so they cannot drift):
    the shipped refiner's folder where it is for that size, else None, a random-weight stand-in, where
    ``stand_in`` lets one in (``--random-refiner``) and one is made for the size (even sides up to
    :data:`STAND_IN_MAX_SIDE` pixels). Any other size is refused (an :class:`ArgumentValueError`): the
    stand-in's output is noise, and the shipped refiner at another size does worse than bilinear upscaling.

    The refusal is in the caller's words: ``subject`` names the frames (default ``input frames are WxH
    (width x height)``), ``folder_arg`` and ``stand_in_arg`` the arguments that give a refiner folder and let
    the stand-in in (``streamt2v enhance``: ``--model DIR`` and ``--random-refiner``; default: a Python
    caller's, loading a folder with :func:`load_refiner` or :meth:`Refiner.from_pretrained`, and this
    function's ``stand_in=True``), ``resize`` whether resizing the frames is advice (an input video: yes; a
    model's frames: no)."""
    h, w = int(base_frame_size[0]), int(base_frame_size[1])
    folder = default_refiner_folder((h, w))
    if folder is not None:
        return folder
    limits = []  # what keeps the stand-in out
    if h % 2 or w % 2:  # it works at twice the input, which its VAE needs divisible by 4
        limits.append("where both sides are even (it works at twice the size, which must be divisible by 4)")
    if max(h, w) > STAND_IN_MAX_SIDE:
        limits.append(f"up to {STAND_IN_MAX_SIDE}x{STAND_IN_MAX_SIDE}")
    if stand_in and not limits:
        return None
    shipped, resized = _shipped_words(resize)
    subject = subject or f"input frames are {w}x{h} (width x height)"
    if folder_arg is not None:
        how: list[object] = ["pass ", folder_arg]
    else:  # a Python caller of this, default_refiner or load_refiner(None, ...): no argument takes a folder
        how = ["load one with load_refiner(DIR, ...) or Refiner.from_pretrained(DIR)"]
    parts: list[object] = [
        f"{subject} and {shipped}: stage 3 needs a refiner folder for this size (",
        *how,
        f"{resized})",
    ]
    if limits:  # the stand-in is named only where it would be taken: an odd size was told to ask for it
        if stand_in:
            parts.append(f"; a random-weight refiner stands in only {' and '.join(limits)}")
    else:
        parts += [
            "; ",
            stand_in_arg,
            " lets a random-weight refiner stand in (it shows the pipeline working; its output is noise, not an "
            "enhancement)",
        ]
    raise ArgumentValueError(*parts)


def _shipped_words(resize: bool) -> tuple[str, str]:
    """What the shipped refiner works on (``the shipped refiner works on 32x32 frames``), and the resize
    advice (``, or resize the video to 32x32``; empty without ``resize``)."""
    try:
        _, (sh, sw) = shipped_refiner()
    except FileNotFoundError:
        return "the shipped refiner is not installed", ""
    resized = f", or resize the video to {sw // 2}x{sh // 2}" if resize else ""
    return f"the shipped refiner works on {sw // 2}x{sh // 2} frames", resized


def names_shipped_refiner(spec: str | os.PathLike | None) -> bool:
    """Whether the refiner folder ``spec`` is the shipped refiner's (``microworld``, or its folder's path)."""
    from streamt2v.assets import names_shipped
    from streamt2v.io.folders import home_path

    if spec is None:
        return False
    if names_shipped(spec):
        return True
    try:
        return home_path(spec).resolve() == shipped_refiner()[0].resolve()
    except (OSError, TypeError):  # no shipped refiner, or a spec of no path: not the shipped one
        return False


def check_shipped_refiner_fits(
    spec: str | os.PathLike | None,
    base_frame_size: tuple[int, int],
    *,
    subject: str,
    folder_arg: Arg,
    resize: bool = True,
) -> None:
    """Refuse the shipped refiner given as a refiner folder ``spec`` (``--model microworld``, its path) for
    frames it is not for, as :func:`check_default_refiner` refuses it unasked: at another size it does worse
    than bilinear upscaling, and the refusal without a folder advised giving one."""
    if not names_shipped_refiner(spec) or default_refiner_folder(base_frame_size) is not None:
        return
    shipped, resized = _shipped_words(resize)
    raise ArgumentValueError(
        f"{subject} and {shipped} (",
        Arg(folder_arg.name, spec),
        "): at another size it does worse than bilinear upscaling; pass a refiner folder for this size",
        f"{resized}",
    )


def default_refiner(base_frame_size: tuple[int, int], *, seed: int = 0) -> Refiner:
    """The embedded default refiner at twice ``base_frame_size``: the shipped microworld refiner when the
    input is at the microworld's base size, otherwise a tiny **random-weight** one (with a warning)."""
    check_default_refiner(base_frame_size)  # odd sizes and sizes no default is for: one error, no warning
    in_h, in_w = int(base_frame_size[0]), int(base_frame_size[1])
    h, w = 2 * in_h, 2 * in_w
    folder = default_refiner_folder((in_h, in_w))
    if folder is not None:
        return Refiner.from_pretrained(folder)
    # one warning: the stand-in was asked for (--random-refiner) or a Python caller's default; why the shipped
    # refiner is not used is the refusal's news without it, not a second warning here
    logger.warning(
        "using a tiny RANDOM-WEIGHT refiner making %dx%d frames (the output shows the pipeline, not an "
        "enhancement; a refiner folder for this size enhances: enhance --model, generate --refiner)",
        w,
        h,
    )
    return Refiner.random((h, w), seed=seed)
