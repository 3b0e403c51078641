"""Errors naming arguments made from a helper's error (``naming_arguments``): of an importable class, of the
helper's kind, picklable, their errno kept as the attribute; an ``Arg`` keeps its spelling when copied."""

from __future__ import annotations

import copy
import pickle
import traceback

from streamt2v.arguments import (
    Arg,
    ArgumentFileNotFoundError,
    ArgumentRuntimeError,
    ArgumentValueError,
    FlaggedArg,
    NamesArguments,
    naming_arguments,
)
from streamt2v.io.conversion_report import Note


def raised_within(make) -> Exception:
    """What comes out of ``naming_arguments`` when ``make(placeholder)`` is raised inside it."""
    try:
        with naming_arguments("init_unet") as (name,):
            raise make(name)
    except Exception as err:
        return err
    raise AssertionError("nothing was raised")


def test_a_helpers_os_error_becomes_the_same_kind_naming_the_argument_and_pickles():
    err = raised_within(lambda name: FileNotFoundError(2, f"{name} '/x' has no unet/config.json"))
    assert type(err) is ArgumentFileNotFoundError and isinstance(err, FileNotFoundError)
    assert str(err) == "init_unet '/x' has no unet/config.json" and err.errno == 2  # no "[Errno 2]" text
    again = pickle.loads(pickle.dumps(err))  # the on-the-fly classes did not pickle
    assert type(again) is ArgumentFileNotFoundError and str(again) == str(err)
    assert str(err.as_flags()) == "--init-unet '/x' has no unet/config.json"


def test_a_helpers_value_error_becomes_an_argument_value_error():
    err = raised_within(lambda name: ValueError(f"{name} folder 'f' cannot be read"))
    assert type(err) is ArgumentValueError and isinstance(err, NamesArguments)
    assert str(err.as_flags()) == "--init-unet folder 'f' cannot be read"


def test_a_helpers_runtime_error_becomes_an_argument_runtime_error():
    """A RuntimeError passed through with its placeholder: ``\\x00init_unet\\x00 'x' is in use``."""
    err = raised_within(lambda name: RuntimeError(f"{name} 'x' is in use"))
    assert type(err) is ArgumentRuntimeError and str(err) == "init_unet 'x' is in use"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    assert str(err.as_flags()) == "--init-unet 'x' is in use"


def test_an_output_in_use_keeps_its_kind_naming_the_argument():
    from streamt2v.io.output_paths import OutputInUseError

    err = raised_within(lambda name: OutputInUseError(f"{name} 'x' is being written by another process"))
    assert type(err) is OutputInUseError and isinstance(err, RuntimeError)
    assert str(err) == "init_unet 'x' is being written by another process"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is OutputInUseError and str(again) == str(err)
    assert str(err.as_flags()) == "--init-unet 'x' is being written by another process"


def test_an_error_without_the_argument_passes_unchanged():
    err = raised_within(lambda name: PermissionError(13, "Permission denied"))
    assert type(err) is PermissionError


def test_an_error_already_naming_arguments_keeps_its_kind_and_its_own_arguments():
    """A helper's refusal that names an argument of its own (an existing output's ``overwrite=True``) was made
    an error of the built-in kind with that argument as text: the command line said ``pass overwrite=True``,
    and ``except ExistingOutputError`` missed it."""
    from streamt2v.io.folders import ExistingOutputError

    err = raised_within(lambda name: ExistingOutputError.advising_overwrite(f"{name} 'x'"))
    assert type(err) is ExistingOutputError
    assert str(err) == "init_unet 'x' already exists; pass overwrite=True to replace it"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    assert str(err.as_flags()) == "--init-unet 'x' already exists; pass --overwrite to replace it"


def test_an_arg_naming_no_value_keeps_its_spelling_when_copied_or_pickled():
    # copies named a value: 'pass --init-unet NAME_ONLY x'
    note = Note("pass ", Arg("init_unet"), " x")
    for other in (copy.deepcopy(note), pickle.loads(pickle.dumps(note))):
        assert other.spelled(flags=True) == "pass --init-unet x" and str(other) == "pass init_unet x"


def test_an_args_counted_value_reads_as_one_after_its_flag():
    """``--fps an integer of 401 digits is ...`` ran the value's words into the message's."""
    assert Arg("fps", 10**400).flag == "--fps (an integer of 401 digits)"
    assert Arg("fps", -(10**400)).flag == "--fps (a negative integer of 401 digits)"
    assert str(Arg("fps", 10**400)) == "fps=an integer of 401 digits"
    assert Arg("sizes", [10**400, 16]).flag == "--sizes [an integer of 401 digits, 16]"
    assert Arg("fps", 8).flag == "--fps 8"


def test_an_arg_of_a_flag_of_its_own_keeps_it_when_copied_or_pickled():
    for arg in (FlaggedArg("output", flag="-o"), FlaggedArg("ema_decay", None, flag="--ema-decay 0")):
        for again in (copy.copy(arg), copy.deepcopy(arg), pickle.loads(pickle.dumps(arg))):
            assert type(again) is FlaggedArg and again == arg and again.flag == arg.flag
    err = pickle.loads(pickle.dumps(ArgumentValueError("give ", FlaggedArg("output", flag="-o"), " a name")))
    assert str(err) == "give output a name" and str(err.as_flags()) == "give -o a name"


def test_convert_names_its_preset_argument_as_a_python_caller_spells_it(tmp_path):
    from streamt2v.io.checkpoints import convert_official_checkpoint

    missing = tmp_path / "missing.json"
    try:
        convert_official_checkpoint(tmp_path / "c.ckpt", tmp_path / "out", preset=str(missing))
    except FileNotFoundError as err:
        assert str(err).startswith(
            f"preset file {str(missing)!r} not found; give a preset name"
        )  # was --preset
        assert str(err.as_flags()).startswith(f"--preset file {str(missing)!r} not found")
    else:
        raise AssertionError("a missing preset file was not refused")


def test_errors_naming_arguments_keep_their_parts_spelling_and_errno_when_pickled_or_copied():
    # errno was lost (a constructor of the message alone), and so were a subclass's own attributes
    from streamt2v.io.conversion_report import CheckpointMismatchError, ConversionReport

    err = raised_within(lambda name: FileNotFoundError(2, f"{name} '/x' has no unet/config.json")).as_flags()
    for other in (pickle.loads(pickle.dumps(err)), copy.copy(err)):
        assert type(other) is ArgumentFileNotFoundError and other.errno == 2
        assert str(other) == "--init-unet '/x' has no unet/config.json" and other.args == (
            str(err.spelled(flags=False)),
        )
    report = ConversionReport(source="c.ckpt", checkpoint_tensors=3)
    mismatch = pickle.loads(
        pickle.dumps(CheckpointMismatchError(["bad; pass ", Arg("strict", False)], report, "a"))
    )
    assert (
        mismatch.report.source == "c.ckpt" and str(mismatch.one_line().as_flags()) == "bad; pass --no-strict"
    )


def test_an_error_naming_arguments_keeps_the_frames_where_it_was_raised():
    """The error made again was raised ``from`` the original's cause: its traceback began in
    ``naming_arguments``, and ``-v`` showed nothing of the helper that failed."""

    def helper_that_fails(name: str) -> None:
        raise ValueError(f"{name} '/x' is damaged")

    try:
        with naming_arguments("init_unet") as (name,):
            helper_that_fails(name)
    except ValueError as err:
        frames = [frame.name for frame in traceback.extract_tb(err.__traceback__)]
    assert "helper_that_fails" in frames
