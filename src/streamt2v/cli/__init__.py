"""The ``streamt2v`` command line: parses flags into config objects and calls library functions.

Each subcommand lives in its own module ``streamt2v.cli.<name>`` exposing ``add_parser(subparsers)``
(which registers the subcommand and sets ``func``) and keeps heavy imports inside its run function, so
``streamt2v --help`` stays fast.

Exit codes: 0 success; 1 ``evaluate`` could score none of the videos; 2 a bad input or a failure (one
``error: ...`` line); 130 Ctrl-C (SIGINT); 141 the reader of stdout or stderr went away (``| head -1``), as
coreutils end then, quietly; 143 SIGTERM, which stops the run the way Ctrl-C does.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import NoReturn, TextIO

from streamt2v.arguments import NamesArguments
from streamt2v.cli import launched
from streamt2v.cli.flag_spellings import action_of, dash_value_hint, unknown_options, unrecognized_worded
from streamt2v.cli.interrupts import InterruptSaidElsewhere, sigterm_as_interrupt

# The exit status of a command whose reader went away (``streamt2v ... | head -1``): a coreutils tool is
# killed by SIGPIPE there, which a shell reports as 128 + 13. Python ignores SIGPIPE and raises
# BrokenPipeError instead; its docs' example exits 1, which is evaluate's "none scored" here.
READER_GONE = 141

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("generate", "enhance", "convert", "evaluate", "train", "assemble")

# The end of ``streamt2v --help``, and of a command's help that names a docs/ file: the wheel holds the package
# and its models, not docs/ (written for the repository, whose bench/ and tests/ they cite), so an installed
# user is told where the files named are.
DOCS_NOTE = (
    "The docs/*.md files that the help and some errors name are the documentation in streamt2v's source "
    "repository, beside its README.md; an installed package does not hold them."
)
# The commands whose help names a docs/ file, and so ends with DOCS_NOTE: named here, since formatting every
# command's help at each start to find them took ~40 ms (test_cli_parsing checks them against the help).
HELP_NAMES_DOCS: tuple[str, ...] = ("generate", "train")


class _ParseError(Exception):
    """An argparse error held back (``_Parser``) while another way of parsing the command line is tried."""


class _Commands(argparse._SubParsersAction):
    """The subcommands of a parser (``generate``, ``assemble model``): an argument its command does not take
    is that command's error, with its usage (``streamt2v generate: error: unrecognized arguments: --x``).
    argparse hands it back to the parser above, which showed its own usage and named no command."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        super().__call__(parser, namespace, values, option_string)
        extras = vars(namespace).pop(argparse._UNRECOGNIZED_ARGS_ATTR, None)
        if extras:
            self.choices[values[0]].refuse_unrecognized(extras)


# The actions argparse prints as it reaches them, then exits: a help, --version.
_PRINTS_AND_EXITS = (argparse._HelpAction, argparse._VersionAction)


def _prints_and_exits(parser: argparse.ArgumentParser, arg: str) -> bool:
    """Whether ``arg`` asks ``parser`` for a help or its --version: one such option, typed whole or abbreviated
    (``--he``), or combined short flags reaching one (``-vh``: argparse reads them one by one, each that takes
    no value leaving the rest to the next; in ``-hv`` the help comes first)."""
    if isinstance(action_of(parser, arg), _PRINTS_AND_EXITS):
        return True
    if arg[:1] not in parser.prefix_chars or arg[1:2] in parser.prefix_chars:  # no combined short flags
        return False
    for char in arg[1:]:
        action = parser._option_string_actions.get(arg[0] + char)
        if action is None or isinstance(action, _PRINTS_AND_EXITS):
            return action is not None
        if action.nargs != 0:  # what follows is its value (-o-h: the path "-h")
            return False
    return False


def _a_value_to(parser: argparse.ArgumentParser, arg: str) -> bool:
    """Whether ``parser`` takes ``arg``, which starts with a dash, as an option's value: a negative number
    (``--seed -1``), where none of its options looks like one (argparse's rule)."""
    return bool(parser._negative_number_matcher.match(arg)) and not parser._has_negative_number_optionals


class _Parser(argparse.ArgumentParser):
    """Every parser, the subcommands' (and theirs: ``assemble model``) included, takes ``-v``, so it works
    before or after the subcommand. ``SUPPRESS``: a subcommand without ``-v`` leaves the top level's value.

    A command's positionals may also come after its options (``evaluate a.mp4 --metrics scuts b.mp4``),
    where a plain parse matches every positional at their first run and calls the later ones unrecognized
    arguments. Its parser parses plainly first and, only where that leaves arguments over, again as
    argparse's intermixed parsing does (the options first, then the positionals left). Plainly first, since
    intermixed parsing checks the required options and the positionals in two rounds (``train`` alone named
    ``--out`` and, once given, ``recipe``): a plain error names everything missing at once, and it is the
    one shown when intermixed parsing fails too. Parsers of subcommands (the top level, ``assemble``) cannot
    parse intermixed and parse as plain argparse does; so does a command line with ``--``, which argparse's
    intermixed parsing takes as a positional's (Python 3.10 to 3.13.0: ``generate -- -a`` made ``-a`` an
    unrecognized option): what follows it is positional anyway."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)
        self._intermixing = False
        self._holding_errors = False
        self._lacked: dict[str, str] = {}
        self._arguments: list[str] = []  # the command line parsed, for an error's hints
        self.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log debug messages, and show an error's traceback (exit status 1) instead of one line",
        )

    def error(self, message: str) -> NoReturn:
        if self._holding_errors:
            raise _ParseError(message)
        if launched.said_by_another_process_here(None, None):  # each process parsed the same command line
            time.sleep(launched.LEFT_TO_THE_FIRST_WAIT_S)
            self.exit(2)
        if message.startswith("the following arguments are required"):
            # a misspelt flag is the likelier cause (train --dat x: x taken as the recipe, --dat set aside),
            # and argparse names the missing ones alone, before it would name the flags it did not take
            unknown = unknown_options(self, self._arguments)
            if unknown:
                message = f"unrecognized arguments: {unrecognized_worded(self, unknown)}; {message}"
        # argparse prints the whole usage first (~30 lines for generate), which pushed the error off a
        # terminal's screen: one usage line instead, the error last, where the other errors are.
        self.exit(2, f"{self.short_usage()}\n{self.prog}: error: {message}\n")

    def short_usage(self) -> str:
        """One line: the command, what it requires and where all its options are listed
        (``usage: streamt2v enhance [options] --prompt PROMPT -o OUTPUT input (...)``)."""
        formatter = self._get_formatter()
        needed = [action for action in self._actions if action.required or not action.option_strings]
        formatter.add_usage(None, needed, [], prefix="")
        line = " ".join(formatter.format_help().split()).removeprefix(self.prog)
        return f"usage: {self.prog} [options]{line} (see {self.prog} --help)"

    def lacks(self, flag: str, message: str) -> None:
        """Refuse ``flag``, another command's that this one does not take, with ``message`` (how this command does
        what the flag does there) rather than as an unrecognized argument. The flag is not made an option:
        argparse would then match abbreviations to it too, and one of this command's own became ambiguous
        (``enhance --res`` could match --resolution and a hidden --resume)."""
        self._lacked[flag] = message

    def refuse_unrecognized(self, extras: list[str]) -> NoReturn:
        """Refuse ``extras``, the arguments no option or positional took, a misspelt flag with the one it is
        likely for (``--stpes (--steps?)``)."""
        self.error(f"unrecognized arguments: {unrecognized_worded(self, extras)}")

    def _refuse_options_before_command(self, args: list[str]) -> None:
        """Refuse the options among ``args`` before the command (``streamt2v -x``, ``streamt2v --frames 8
        generate``) that this parser does not take, naming them and, where they are the command's typed after
        them, saying so: argparse set them aside and then said the command was missing, or took an option's
        value for the command (``invalid choice: '8'``). A value that looks like an option (``--seed -1``) goes
        with the command's option. A help or --version argparse reaches, typed whole or abbreviated, is left
        to print (``-x --he``, ``-x -vh``; ``--frobnicate generate --help``), as before."""
        commands = next(a for a in self._actions if isinstance(a, _Commands))
        typed_command = next((a for a in args if a in commands.choices), None)
        command_parser = commands.choices.get(typed_command)
        unknown, rest, takes_value = [], [], False
        for at, arg in enumerate(args):
            if arg == "--" or arg == "-" or not arg.startswith("-"):  # the command (or what stands for it)
                rest = args[at:]
                break
            if takes_value and _a_value_to(command_parser, arg):  # the command's option before it takes it
                takes_value = False
                continue
            typed = arg.split("=", 1)[0]
            if typed not in self._option_string_actions and not self._get_option_tuples(typed):
                unknown.append(arg)
                action = action_of(command_parser, arg) if command_parser is not None else None
                takes_value = action is not None and action.nargs != 0 and "=" not in arg
        after = rest[1 : rest.index("--")] if "--" in rest else rest[1:]
        then = commands.choices.get(rest[0]) if rest else None  # the command, whose own help may follow it
        asked = [(self, a) for a in args[: len(args) - len(rest)]] + [(then, a) for a in after if then]
        if not unknown or any(_prints_and_exits(parser, a) for parser, a in asked):
            return
        command = commands.metavar
        own = ", ".join("/".join(a.option_strings) for a in self._actions if a.option_strings)
        where = f"a {command.lower()}'s own options go after it: {self.prog} {command} --help lists them"
        if (parser := command_parser) is not None:
            typed = [a.split("=", 1)[0] for a in unknown]
            if all(t in parser._option_string_actions or parser._get_option_tuples(t) for t in typed):
                said = "is {}'s option: put it" if len(typed) == 1 else "are {}'s options: put them"
                where = f"{', '.join(typed)} {said.format(typed_command)} after {typed_command}"
        where = f"{self.prog} takes {own} before its {command}; {where}"
        # --stpes (--steps?) by the command's flags, then --versoin (--version?) by streamt2v's own
        worded = unrecognized_worded(command_parser or self, unknown, self if command_parser else None)
        self.error(f"unrecognized arguments: {worded} ({where})")

    def _check_value(self, action: argparse.Action, value) -> None:
        """argparse's check of a choice, a command's typo (``generat``) or start (``gen``) with the command it is
        likely for."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as err:
            from streamt2v.wording import close_name

            if not isinstance(action, _Commands):
                raise
            typed = value.lower()  # GENERATE as Generate
            starting = [name for name in action.choices if name.startswith(typed)]
            close = starting[0] if len(starting) == 1 else close_name(typed, action.choices)
            if close is None:
                raise
            raise argparse.ArgumentError(action, f"{err.message}; did you mean {close}?") from None

    def _refuse_lacked(self, args: list[str]) -> None:
        """Refuse a flag this command lacks (:meth:`lacks`) among ``args``, typed whole or abbreviated, with
        or without ``=VALUE``, with what it says. Before parsing: a parse that fails first (``enhance --resume
        runs/x`` lacks --prompt) would name the missing arguments instead, to the very user the advice is
        for. A token that is (an abbreviation of) one of the command's own options is left to them."""
        for arg in args:
            if arg == "--":  # what follows is positional
                return
            typed = arg.split("=", 1)[0]
            if len(typed) <= 2 or not typed.startswith("--"):
                continue
            if typed in self._option_string_actions or self._get_option_tuples(typed):
                continue
            for flag, message in self._lacked.items():
                if flag.startswith(typed):
                    self.error(message)

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        self._arguments = args
        if self._lacked and not self._intermixing:
            self._refuse_lacked(args)
        if self._subparsers is not None:
            self._refuse_options_before_command(args)
        # parse_known_intermixed_args calls this again for each of its passes (before Python 3.13)
        if self._intermixing or self._subparsers is not None or "--" in args:
            return super().parse_known_args(args, namespace)
        try:
            # on a copy: the intermixed parse below must start from the namespace as given
            plain, extras = self._holding(super().parse_known_args, args, copy.copy(namespace))
        except _ParseError as err:
            try:  # a command line that only intermixed parsing reads (none of ours); else the plain error
                return self._holding(self._intermixed, args, namespace)
            except _ParseError:
                self.error(str(err))
        if not extras:  # every argument placed, where intermixed parsing places them too
            if namespace is None:
                return plain, extras
            vars(namespace).update(vars(plain))
            return namespace, extras
        return self._intermixed(args, namespace)

    def _match_argument(self, action: argparse.Action, arg_strings_pattern: str) -> int:
        """argparse's count of an option's values, its refusal for want of one saying how to give one that
        begins with a dash (:func:`dash_value_hint`): argparse takes it for an option, and said only
        ``expected one argument``."""
        try:
            return super()._match_argument(action, arg_strings_pattern)
        except argparse.ArgumentError as err:
            hint = dash_value_hint(self, action, self._arguments)
            if hint is None:
                raise
            raise argparse.ArgumentError(action, f"{err.message} ({hint})") from None

    def _get_option_tuples(self, option_string: str) -> list[tuple]:
        """The options an abbreviation may stand for, one per option: the names of one option all match
        (``generate --ou`` matched --output and its alias --out, and argparse called it ambiguous), and
        whichever is taken, the option is the same. (The tuples begin with the option's action in every
        Python since 3.10; their other fields changed in 3.12.)"""
        by_action: dict[int, tuple] = {}
        for match in super()._get_option_tuples(option_string):
            by_action.setdefault(id(match[0]), match)
        return list(by_action.values())

    def _intermixed(self, args: list[str], namespace):
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def _holding(self, parse, *args):
        """``parse(*args)``, its errors raised as ``_ParseError`` rather than printed with an exit."""
        self._holding_errors = True
        try:
            return parse(*args)
        finally:
            self._holding_errors = False


def chosen_device(args: argparse.Namespace) -> str:
    """The device of ``--device`` and ``--cpu`` (train's name for ``--device cpu``), refused where they disagree
    (``--cpu --device cuda``: argparse would take the last one given)."""
    if args.cpu and args.device not in ("auto", "cpu"):
        raise ValueError(f"--cpu and --device {args.device} disagree: give one of them")
    return "cpu" if args.cpu else args.device


def _version() -> str:
    # the one place it is written (the build reads it too): an editable install's metadata keeps the version
    # it was installed with
    from streamt2v import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamt2v",
        description="StreamingT2V: long text-to-video generation (arXiv 2403.14773).",
        epilog=DOCS_NOTE,
    )
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"streamt2v {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for name in HELP_NAMES_DOCS:
        sub.choices[name].epilog = DOCS_NOTE
    return parser


# The libraries whose bars start as huggingface_hub's switch is when they are imported (transformers >= 5.6,
# pyproject's floor): switching hub's off before is enough, and importing one for its switch takes seconds.
_FOLLOWING_HUB: tuple[str, ...] = ("transformers",)


@contextmanager
def library_bars_off(libraries: tuple[str, ...] = ("diffusers", "transformers")) -> Iterator[None]:
    """Silence the progress bars of ``libraries`` (diffusers, transformers) and huggingface_hub (model
    loading: "Loading weights", downloads), restoring them afterwards (``main`` may run more than once in a
    process). Importing a library for its switch costs as much as using it (diffusers: seconds): one that
    follows hub's switch (transformers) and is not imported yet is left to follow it, and switched on
    again afterwards where hub's bars were on; a command that loads no model of a library leaves it out
    (``evaluate``)."""
    import huggingface_hub.utils as hub_utils

    hub_was_on = not hub_utils.are_progress_bars_disabled()
    later = [
        name for name in libraries if name in _FOLLOWING_HUB and f"{name}.utils.logging" not in sys.modules
    ]
    loggings = [importlib.import_module(f"{name}.utils.logging") for name in libraries if name not in later]
    were_on = [lib.is_progress_bar_enabled() for lib in loggings]
    hub_utils.disable_progress_bars()
    for lib in loggings:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, on in zip(loggings, were_on):
            if on:
                lib.enable_progress_bar()
        for name in later:  # imported while hub's bars were off, its own came off with them
            lib = sys.modules.get(f"{name}.utils.logging")
            if lib is not None and hub_was_on:
                lib.enable_progress_bar()
        if hub_was_on:
            hub_utils.enable_progress_bars()


def library_bars_off_if_quiet(
    args: argparse.Namespace, libraries: tuple[str, ...] = ("diffusers", "transformers")
) -> AbstractContextManager[None]:
    """:func:`library_bars_off` of ``libraries`` where the command runs without bars (``args.no_progress``:
    ``--no-progress``, or a stderr that is no terminal), else nothing; none where ``libraries`` is empty (a
    command loading no model there). A command that sets ``own_library_bars`` wraps its model loading in it
    after its first checks, so that a refusal of its arguments imports none of them."""
    return library_bars_off(libraries) if args.no_progress and libraries else nullcontext()


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr`` is a terminal, where progress bars are shown; False for a log file or a pipe,
    and for a stderr replaced by an object without ``isatty`` or closed (no error). The command line and
    the bench scripts (``bench/_common.py``) leave their progress bars out when it is False."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def say(line: str, stream: TextIO | None = None) -> None:
    """Write a line and its newline in one call (to ``stream``, stderr by default): ``print`` writes them in
    two, and on a write-through stream (a launcher's, ``PYTHONUNBUFFERED``) another process's line can land
    between them. main's final lines and train's result lines go through it."""
    (sys.stderr if stream is None else stream).write(line + "\n")


def _readers_gone() -> list[TextIO]:
    """``sys.stdout`` and ``sys.stderr``, those whose reader went away: a pipe whose reading end is closed
    (poll: POLLERR), a socket whose peer is (POLLHUP). A BrokenPipeError from elsewhere (a pipe to another
    process) is no reader gone. None where it cannot be asked: no poll (Windows), a stream without a file."""
    if not hasattr(select, "poll"):
        return []
    gone = []
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):  # None, replaced (a StringIO) or closed
            continue
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0)):
            gone.append(stream)
    return gone


def _to_devnull(streams: list[TextIO]) -> None:
    """Point the files of ``streams`` at the null device, as Python's docs advise for a BrokenPipeError: the
    interpreter flushes them at exit, which failed again ("Exception ignored ... BrokenPipeError") and
    turned the exit status into 120."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams:
            os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: this process's, ``sys.argv[1:]``) and return its exit code. The
    process's signal handlers are left as they were (SIGTERM's is restored when the command ends)."""
    return _run(argv, as_program=False)


def entry() -> int:
    """The ``streamt2v`` command and ``python -m streamt2v``: :func:`main` on the process's command line, except
    that once the command is interrupted a further Ctrl-C is ignored, as the process is about to end anyway
    (one while the interpreter shuts down, in torch's exit handlers, printed a traceback or ended the process
    by SIGINT instead of with 130). Only a program may do that: ``main`` in a caller's process must not."""
    try:
        return _run(None, as_program=True)
    finally:
        # however the command ended (a stop or an error reported after the table's reader went away), the
        # interpreter's last flush must not fail on a stream that leads nowhere ("Exception ignored", 120)
        _to_devnull(_readers_gone())


def _run(argv: list[str] | None, *, as_program: bool) -> int:
    if as_program and getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        # as stderr does: a stdout whose encoding lacks a character (a Windows code page) failed on evaluate's
        # "MAWE↓" or a file name, after the work was done (one that already escapes, as surrogateescape, is kept)
        sys.stdout.reconfigure(errors="backslashreplace")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as given (train prints it back as the resume command)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Bars redraw with "\r": in a log file (stderr not a terminal) they are noise, so none by default.
    quiet = getattr(args, "no_progress", False) or not stderr_is_terminal()
    if hasattr(args, "no_progress"):
        args.no_progress = quiet
    # The libraries' bars go off around the whole command, unless it sets own_library_bars and switches them
    # off itself after its first checks (library_bars_off_if_quiet: generate, enhance, convert, evaluate,
    # assemble): diffusers is imported for its switch (seconds, with torch), which a command refusing its
    # arguments must not wait for. Train imports it for its recipes before its first check anyway;
    # transformers is not imported (it follows hub's switch).
    libraries_quiet = quiet and not getattr(args, "own_library_bars", False)

    # SIGTERM (docker stop, systemd, Slurm) takes the Ctrl-C path: runs are marked interrupted and
    # temporaries removed.
    with ExitStack() as stop_signals_ignored, sigterm_as_interrupt() as terminated:

        def interrupted(err: KeyboardInterrupt) -> int:
            # a subcommand may say what was kept and how to continue (train: the resume command)
            detail = f": {err}" if str(err) else ""
            if as_program and threading.current_thread() is threading.main_thread():
                # the run is stopped and cleaned up: a second Ctrl-C from here to the end of the process (entry)
                # is ignored, and so is a second SIGTERM, whose default handler comes back as the block ends
                # (it killed the process by the signal instead of the exit status 143)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                stop_signals_ignored.callback(signal.signal, signal.SIGTERM, signal.SIG_IGN)
            if not isinstance(err, InterruptSaidElsewhere):
                say(f"interrupted{' (SIGTERM)' if terminated() else ''}{detail}")
            return 143 if terminated() else 130

        try:
            with library_bars_off() if libraries_quiet else nullcontext():
                code = int(args.func(args) or 0)
            if sys.stdout is not None:  # a buffered stdout whose reader is gone fails here, not at exit
                try:
                    sys.stdout.flush()
                except BrokenPipeError:
                    if code == 0:
                        raise
                    # a command that failed (evaluate scoring none) and said so on stderr: its code stands
            return code
        except KeyboardInterrupt as err:
            return interrupted(err)
        except Exception as err:
            gone = _readers_gone() if isinstance(err, BrokenPipeError) else []
            if gone:  # not an error of the command: the outputs it wrote are whole, its lines unread
                if as_program:  # a caller's process (main) keeps its own files
                    _to_devnull(gone)
                # unless the pipe broke while the command printed what it had before it failed or was stopped
                # (convert's report, evaluate's table): that, not the pipe, is the news
                stopped_by = err.__context__
                if isinstance(stopped_by, KeyboardInterrupt):
                    return interrupted(stopped_by)
                if not isinstance(stopped_by, Exception) or isinstance(stopped_by, BrokenPipeError):
                    return READER_GONE
                err = stopped_by
            if args.verbose:
                raise
            if terminated():
                # A SIGTERM inside an import can leave a library half imported, and the next use of it fails
                # (RecursionError, "cannot load module more than once"): the stop, not the error, is the news.
                say(f"interrupted (SIGTERM); the command then failed: {err}")
                return 143
            if launched.said_by_another_process_here(args.command, err):
                time.sleep(launched.LEFT_TO_THE_FIRST_WAIT_S)
                return 2
            if isinstance(err, NamesArguments):
                err.as_flags()  # its advice names this command's flags (--overwrite), not Python's arguments
            if isinstance(err, (ValueError, OSError, RuntimeError)):
                # Library errors are written to be read by people: show the message, not a traceback.
                say(f"error: {err}")
                return 2
            # not one of ours: say what it is and how to see where it came from
            kind = type(err)
            # a library's own type by its module too (cv2.error, not "error: error:"); the message on one line
            name = (
                kind.__qualname__
                if kind.__module__ == "builtins"
                else f"{kind.__module__}.{kind.__qualname__}"
            )
            message = " ".join(str(err).split())
            say(f"error: {name}: {message} (unexpected; run again with -v for the traceback)")
            return 2
