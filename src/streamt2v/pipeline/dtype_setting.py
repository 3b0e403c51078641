"""GenerateConfig's ``dtype``: the name a run records (:func:`dtype_field`), a saved config's
(:func:`stored_dtype`), and one checked against the device that runs it (:func:`checked_dtype`, a resume's)."""

from __future__ import annotations

import torch

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.config import DTYPE_NAMES
from streamt2v.memory import dtype_name, resolve_device, resolve_dtype, supported_dtypes


def dtype_field(dtype: str | torch.dtype | None) -> str:
    """GenerateConfig's ``dtype=`` as a run records it (``"fp32"``, ``"fp16"``, ``"bf16"``): a name
    (``"half"``, ``"float16"``) or a torch dtype, as the loaders take them (a torch dtype is no JSON for the
    run's config.json); None is fp32, as the loaders take it. An unknown one is refused naming ``dtype=``
    (``--dtype`` on the command line)."""
    if dtype is None:
        return "fp32"
    if not isinstance(dtype, (str, torch.dtype)):
        raise TypeError(
            f"dtype= takes a name (fp32, fp16, bf16) or a torch dtype, got {type(dtype).__name__}"
        )
    try:
        return dtype_name(resolve_dtype(dtype, None))
    except ValueError as err:  # "unknown dtype 'fp64'; use one of ...": its advice, after the argument
        advice = str(err).partition("; ")[2]
        what = "unsupported" if isinstance(dtype, torch.dtype) else "unknown"
        raise ArgumentValueError(Arg("dtype", dtype), f" is {what}; {advice}") from None


def stored_dtype(dtype: object) -> str:
    """A saved generate config's ``dtype`` (its key in config.json) as :func:`dtype_field` takes it, refused
    naming the key: a hand-edited one was named ``dtype=`` (``--dtype``), which nobody had given."""
    if dtype is None or isinstance(dtype, str):
        try:
            return dtype_field(dtype)
        except ValueError:
            pass
    raise ValueError(f"the generate config's dtype {dtype!r} is none of {', '.join(DTYPE_NAMES)}")


def checked_dtype(dtype: str | torch.dtype, device: str | torch.device) -> str:
    """``dtype=`` as a run records it (:func:`dtype_field`), refused if ``device`` does not run it (half
    precision on the CPU), naming it as given: ``dtype='half' (fp16)`` to a Python caller, ``--dtype fp16``
    on the command line."""
    name = dtype_field(dtype)
    check_dtype_on(name, resolve_device(device), the_runs=False, given=dtype)
    return name


def check_dtype_on(
    dtype: str, device: torch.device, *, the_runs: bool, given: str | torch.dtype | None = None
) -> None:
    """Refuse GenerateConfig's ``dtype`` (its recorded name) where ``device`` does not run it (half precision on
    the CPU): named as ``given`` (``dtype='half' (fp16)``; the name itself unless told), or (``the_runs``) as
    the resumed run's own, with how to continue it there."""
    supported = supported_dtypes(device)
    if resolve_dtype(dtype, None) in supported:
        return
    allowed = [dtype_name(d) for d in supported]
    if the_runs:  # not typed now: the run was made in it, on another device
        raise ArgumentValueError(
            f"the run's dtype {dtype} is not supported on device {device}; to continue it there, pass ",
            Arg("dtype", allowed[0]),
            f" (supported: {', '.join(allowed)})",
        )
    given = dtype if given is None else given
    also = "" if given == dtype else f" ({dtype})"
    raise ArgumentValueError(
        Arg("dtype", given), f"{also} is not supported on device {device}; use one of {', '.join(allowed)}"
    )
