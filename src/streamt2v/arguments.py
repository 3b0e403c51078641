"""Errors whose advice names an argument of the call that raised them: ``pass overwrite=True`` to a Python
caller, ``pass --overwrite`` on the command line. The message is kept in parts, the arguments as
:class:`Arg`, so each reader gets one spelling and neither is rewritten out of the other's text; a helper
that names an argument in plain text (its ``what``) is given a placeholder by :func:`naming_arguments`. (The
settings errors of generate and enhance, which name fields of their configs by the dozen, are put in flags by
``cli.setting_flags.as_flags``'s tables instead: their field names are not their flags' names; so are
generate's stage-1/2 log lines, through :func:`logs_naming_flags`'s ``rename``.)"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

from streamt2v.typed_values import flag_value, shown_value


class _NameOnly:
    """:class:`Arg`'s value when the message names the argument, not a value for it."""

    def __repr__(self) -> str:
        return "NAME_ONLY"

    def __reduce__(self) -> str:
        # the one instance, by its module's name for it: a copied or pickled Arg named a value NAME_ONLY
        return "NAME_ONLY"


NAME_ONLY = _NameOnly()


class Arg(NamedTuple):
    """An argument as an error's message names it: ``name=value`` to the Python API (``overwrite=True``,
    ``strict=False``) and the command line's flag (``--overwrite``, ``--no-strict``: a switch's flag is the
    name with dashes, ``--no-`` before it for False); :data:`NAME_ONLY`: the name alone (``fps``, ``--fps``)."""

    name: str
    value: object = NAME_ONLY

    def __str__(self) -> str:
        # an int no float holds in words (kl_weight=10**400 made a message of 455 characters)
        return self.name if self.value is NAME_ONLY else f"{self.name}={shown_value(self.value)}"

    @property
    def flag(self) -> str:
        flag = "--" + ("no-" if self.value is False else "") + self.name.replace("_", "-")
        if self.value is NAME_ONLY or isinstance(self.value, bool):
            return flag
        return f"{flag} {flag_value(shown_value(self.value, str))}"


class FlaggedArg(Arg):
    """An argument whose flag is not made from its name: ``FlaggedArg("output", flag="-o")`` (``output`` to
    the Python API, ``-o`` on the command line), ``FlaggedArg("prompt", flag="PROMPT")`` (a positional),
    ``FlaggedArg("ema_decay", None, flag="--ema-decay 0")`` (another value), ``FlaggedArg("resume_generate",
    flag="--resume")`` (a function's call, not an argument). Copied and pickled with its flag."""

    _flag: str  # in the instance's __dict__, which a subclass of the NamedTuple has

    def __new__(cls, name: str, value: object = NAME_ONLY, *, flag: str) -> FlaggedArg:
        arg = super().__new__(cls, name, value)
        arg._flag = flag
        return arg

    def __getnewargs_ex__(self) -> tuple[tuple[object, ...], dict[str, object]]:
        # copy and pickle make it again with its flag (the NamedTuple's __getnewargs__ has name and value)
        return tuple(self), {"flag": self.flag}

    @property
    def flag(self) -> str:
        return self._flag


class RecipeOption(Arg):
    """A training recipe's option: ``name=value`` to the Python API (the recipe's field), ``--set name=value``
    on the command line (options without a flag of their own, or given by ``--set``), the value as ``--set``
    reads it (:meth:`as_set`)."""

    @property
    def flag(self) -> str:
        return f"--set {self.name}" + ("" if self.value is NAME_ONLY else f"={self.as_set(self.value)}")

    @staticmethod
    def as_set(value: object) -> str:
        """``value`` as ``--set`` reads it: JSON (``[32,64,64]``, not the Python tuple ``(32, 64, 64)``;
        ``true``, ``null``), a string as it is."""
        if isinstance(value, str):
            return value
        return shown_value(value, lambda v: json.dumps(v, separators=(",", ":"), default=str))


def flags_in_record(record: logging.LogRecord, rename: Callable[[str], str] | None = None) -> bool:
    """A logging filter: each :class:`Arg` among the record's arguments spelled as its flag; with ``rename``,
    the message then given to it (see :func:`logs_naming_flags`)."""
    if isinstance(record.args, tuple):
        record.args = tuple(arg.flag if isinstance(arg, Arg) else arg for arg in record.args)
    if rename is not None:
        record.msg, record.args = rename(record.getMessage()), None
    return True


def logs_naming_flags(*loggers: str, rename: Callable[[str], str] | None = None) -> AbstractContextManager:
    """While within, the log lines of the library's ``loggers`` name the :class:`Arg` they carry as the
    command line's flags (``--batch-size 8``; ``batch_size=8`` to a Python caller): a command that runs the
    library says its flags, as its errors do (:meth:`NamesArguments.as_flags`). ``rename``: how the command
    names what those lines name by a setting's field name in plain text (generate's
    ``cli.setting_flags.as_flags``: ``init_video is 64x64`` as ``--init-video is 64x64``), applied to each
    whole message."""
    return logs_filtered(functools.partial(flags_in_record, rename=rename), *loggers)


def logs_with_args(convert: Callable[[object], object], *loggers: str) -> AbstractContextManager:
    """While within, each argument of the library's ``loggers``' lines (``logger.warning("%s ...", arg)``) as
    ``convert`` gives it: how a caller's context words the settings a line advises."""

    def each_arg(record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(convert(arg) for arg in record.args)
        return True

    return logs_filtered(each_arg, *loggers)


@contextmanager
def logs_filtered(rewrite: Callable[[logging.LogRecord], bool], *loggers: str) -> Iterator[None]:
    """While within, ``rewrite`` filters the lines of the library's ``loggers`` (and may reword them)."""
    for name in loggers:
        logging.getLogger(name).addFilter(rewrite)
    try:
        yield
    finally:
        for name in loggers:
            logging.getLogger(name).removeFilter(rewrite)


def spelled(parts: tuple[object, ...], *, flags: bool) -> str:
    """Text and :class:`Arg` ``parts`` as one message, the arguments named as flags (``flags``) or as the
    Python API's."""
    return "".join(p.flag if flags and isinstance(p, Arg) else str(p) for p in parts)


class NamesArguments(Exception):
    """An error whose message names arguments of the call that raised it: ``parts`` are text and
    :class:`Arg`. ``str()`` names them as the Python API takes them; after :meth:`as_flags` (the command
    line's, before it shows the error) as its flags. Combined with the built-in type it stands for:
    ``class ExistingOutputError(NamesArguments, FileExistsError)``."""

    def __init__(self, *parts: object) -> None:
        self.parts, self.flags = parts, False
        super().__init__(self.spelled(flags=False))

    def spelled(self, *, flags: bool) -> str:
        """The message, the arguments named as flags (``flags``) or as the Python API's."""
        return spelled(self.parts, flags=flags)

    def __str__(self) -> str:
        return self.spelled(flags=self.flags)

    def as_flags(self) -> NamesArguments:
        """This error, its message naming the command line's flags from now on."""
        self.flags = True
        return self

    def __reduce__(self) -> tuple[object, ...]:
        # pickled or copied (a worker's error sent to its parent) with its parts, spelling and, for an
        # OSError, its errno, which is no attribute of __dict__
        message = self.spelled(flags=False)
        return _made_again, (type(self), message, getattr(self, "errno", None)), self.__dict__


def _made_again(kind: type[NamesArguments], message: str, errno: int | None) -> NamesArguments:
    """A pickled :class:`NamesArguments` made again; its ``__dict__`` (parts, spelling, a subclass's own
    attributes) is restored after, so a subclass's ``__init__`` (which may take more) is not called."""
    err = kind.__new__(kind, message)
    err.args = (message,)  # OSError's __new__ leaves them to an __init__ of its subclass
    if errno is not None:
        err.errno = errno  # type: ignore[attr-defined]
    return err


class ArgumentValueError(NamesArguments, ValueError):
    """A ``ValueError`` naming arguments (:class:`NamesArguments`): ``fps must be an integer > 0`` to a
    Python caller, ``--fps must be ...`` on the command line."""


class ArgumentRuntimeError(NamesArguments, RuntimeError):
    """A ``RuntimeError`` naming arguments: ``lower lr`` to a Python caller, ``lower --lr`` on the command
    line."""


# The built-in errors of files and folders as errors naming arguments, for helpers that raise any of them
# with a name given by the caller (naming_arguments, below): module-level classes, so that an
# error pickles (a worker's, sent to its parent) and its traceback names an importable class.
class ArgumentOSError(NamesArguments, OSError):
    """An ``OSError`` naming arguments."""


class ArgumentFileNotFoundError(NamesArguments, FileNotFoundError):
    """A ``FileNotFoundError`` naming arguments."""


class ArgumentNotADirectoryError(NamesArguments, NotADirectoryError):
    """A ``NotADirectoryError`` naming arguments."""


class ArgumentIsADirectoryError(NamesArguments, IsADirectoryError):
    """An ``IsADirectoryError`` naming arguments."""


class ArgumentFileExistsError(NamesArguments, FileExistsError):
    """A ``FileExistsError`` naming arguments."""


class ArgumentPermissionError(NamesArguments, PermissionError):
    """A ``PermissionError`` naming arguments."""


# Most derived first: the first a raised error is an instance of gives the class naming arguments.
ARGUMENT_ERRORS: tuple[tuple[type[Exception], type[NamesArguments]], ...] = (
    (FileNotFoundError, ArgumentFileNotFoundError),
    (NotADirectoryError, ArgumentNotADirectoryError),
    (IsADirectoryError, ArgumentIsADirectoryError),
    (FileExistsError, ArgumentFileExistsError),
    (PermissionError, ArgumentPermissionError),
    (OSError, ArgumentOSError),
    (ValueError, ArgumentValueError),
    (RuntimeError, ArgumentRuntimeError),
)


# An argument's name in a message built before the caller's spelling is known (a helper's ``what``), see
# naming_arguments; a NUL is in no path, so it is no part of a name that a message quotes.
_NAME_MARK = re.compile(r"\x00(\w+)\x00")


def _naming(err: OSError | ValueError | RuntimeError, parts: list[object]) -> NamesArguments:
    """``err`` as the error of its kind naming arguments (:data:`ARGUMENT_ERRORS`:
    FileNotFoundError, ..., OSError, ValueError, RuntimeError), saying ``parts``; an OSError keeps its
    errno."""
    kind = next(named for base, named in ARGUMENT_ERRORS if isinstance(err, base))
    named = kind(*parts)
    if isinstance(err, OSError):
        named.errno = err.errno
    return named


@contextmanager
def naming_arguments(*names: str | Arg) -> Iterator[tuple[str, ...]]:
    """Placeholders for the arguments ``names`` in the messages of the errors raised within, by the code
    there or by the helpers it gives them to as their ``what`` (``resolve_model_path``, ``weights_variant``,
    ...): such an error (an OSError, ValueError or RuntimeError) comes out as the same kind of error naming
    them as the caller spells them, ``init_unet`` to Python and ``--init-unet`` on the command line
    (:class:`NamesArguments`). A name is an argument's, or an :class:`Arg` spelled its own way (a
    :class:`RecipeOption`: ``--set degrade_vae``)."""
    args = [name if isinstance(name, Arg) else Arg(name) for name in names]
    by_name = {arg.name: arg for arg in args}
    try:
        yield tuple(f"\x00{arg.name}\x00" for arg in args)
    except (OSError, ValueError, RuntimeError) as err:
        if isinstance(err, NamesArguments):
            # already naming arguments (an ExistingOutputError's overwrite=True): its own kind and Arg parts
            # kept, the names in its text parts made Arg too
            parts: list[object] = []
            for part in err.parts:
                pieces = _NAME_MARK.split(part) if isinstance(part, str) else [part]
                parts += [by_name.get(p, Arg(p)) if i % 2 else p for i, p in enumerate(pieces)]
            err.parts, err.args = tuple(parts), (spelled(tuple(parts), flags=False),)
            raise
        # an OSError made with an errno reads "[Errno N] message": the errno is kept as the attribute instead
        text = str(err) if not isinstance(err, OSError) or err.strerror is None else err.strerror
        pieces = _NAME_MARK.split(text)  # text, name, text, name, ..., text
        if len(pieces) == 1:
            raise
        named = _naming(err, [by_name.get(p, Arg(p)) if i % 2 else p for i, p in enumerate(pieces)])
        # the frames where it was raised kept (not this one), and its cause as the cause
        raise named.with_traceback(err.__traceback__) from err.__cause__
