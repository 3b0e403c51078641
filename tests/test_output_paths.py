"""io/output_paths.py and the writers' checks before any work: nothing the user made is lost (an
existing output kept unless overwrite=True, a folder of the user's never replaced), bad paths, rates and
names too long refused, one writer per output (its lock), and a killed write's leftovers removed."""

from __future__ import annotations

import os
import re

import pytest
import torch

from streamt2v.io.frame_rates import check_fps
from streamt2v.io.output_paths import check_output_path, remove_stale_temporaries
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.io.video import read_video, write_video
from test_video_io import smooth_video


# ----------------------------------------------------------------------------- nothing the user made is lost
def test_existing_folder_with_user_files_is_never_replaced(tmp_path, monkeypatch):
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("x")
    with pytest.raises(FileExistsError, match=r"mydocs.*thesis\.txt"):
        write_video(docs, smooth_video(t=2), fps=8)
    with pytest.raises(FileExistsError, match="thesis.txt"):
        StreamingVideoWriter(docs, fps=8)
    assert (docs / "thesis.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydocs"]
    # an earlier PNG output is replaced (with overwrite), also when it is the preview folder
    frames = tmp_path / "frames"
    write_video(frames, smooth_video(t=3), fps=8)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        check_output_path(frames)
    write_video(frames, smooth_video(t=2), fps=8, overwrite=True)
    assert len(list(frames.iterdir())) == 2
    # a user file that appears in the frames folder before the end stops the replacement
    w = StreamingVideoWriter(frames, fps=8, overwrite=True)
    w.append(smooth_video(t=2))
    (frames / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        w.finish()
    w.abort()
    assert (frames / "notes.txt").read_text() == "mine"
    # the working directory and its parents are never output folders
    monkeypatch.chdir(docs)
    for target in (".", "..", str(tmp_path)):
        with pytest.raises(ValueError, match="working directory"):
            check_output_path(target, overwrite=True)
        with pytest.raises(ValueError, match="working directory"):
            write_video(target, smooth_video(t=2), fps=8, overwrite=True)
    assert (docs / "thesis.txt").read_text() == "x"


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    """write_video replaced an existing file by default (overwrite=True), whatever it was: a user's video
    given the output's name was lost without a word. It is kept unless overwrite=True is passed, and the
    error names the path and the keyword; an earlier PNG output likewise."""
    import re

    def refused(path, what):
        return rf"^output '{re.escape(str(path))}' {what}; pass overwrite=True to replace it"

    files = {tmp_path / "mine.mp4": b"the user's video", tmp_path / "mine.gif": b"GIF89a the user's"}
    for path, data in files.items():
        path.write_bytes(data)
        with pytest.raises(FileExistsError, match=refused(path, "already exists") + "$"):
            write_video(path, smooth_video(t=2), fps=8)
        assert path.read_bytes() == data
    frames = write_video(tmp_path / "frames", smooth_video(t=3), fps=8)
    with pytest.raises(
        FileExistsError, match=refused(frames, "already holds the frames of an earlier output")
    ):
        write_video(frames, smooth_video(t=2), fps=8)
    assert len(list(frames.iterdir())) == 3
    # nothing was left beside them (no temporary, no lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "mine.gif", "mine.mp4"]
    for path in [*files, frames]:
        assert write_video(path, smooth_video(t=2), fps=8, overwrite=True) == path
        assert read_video(path)[0].shape[2] == 2
    empty = tmp_path / "empty"  # an empty folder holds nothing to lose
    empty.mkdir()
    write_video(empty, smooth_video(t=2), fps=8)
    assert len(list(empty.iterdir())) == 2


def test_the_streaming_writer_keeps_an_existing_output_unless_overwrite(tmp_path):
    """StreamingVideoWriter replaced an existing file by default (overwrite=True), unlike write_video: a
    user's video given the output's name, or at its preview path, was lost without a word. Without
    overwrite=True it is refused before anything is written, in write_video's words, and kept byte for byte;
    a folder where a file output's preview goes is refused up front (it failed after the first chunk)."""
    import re

    def refused(named, what):
        return rf"^{named} {what}; pass overwrite=True to replace it$"

    def output(path):
        return f"output '{re.escape(str(path))}'"

    mine = {tmp_path / "mine.mp4": b"the user's video", tmp_path / "mine.gif": b"GIF89a the user's"}
    for path, data in mine.items():
        path.write_bytes(data)
        with pytest.raises(FileExistsError, match=refused(output(path), "already exists")):
            StreamingVideoWriter(path, fps=8)
        assert path.read_bytes() == data
    preview = tmp_path / "clip.partial.mp4"  # a stopped writer's preview, or the user's file of that name
    preview.write_bytes(b"the user's clip")
    named = (
        rf"'{re.escape(str(preview))}', where the preview of output '{re.escape(str(tmp_path / 'clip.mp4'))}' "
        r"is written during the run,"
    )
    stopped = r"already exists \(a stopped run's preview\? resume_generate continues that run\)"
    with pytest.raises(FileExistsError, match=refused(named, stopped)):
        StreamingVideoWriter(tmp_path / "clip.mp4", fps=8)
    assert preview.read_bytes() == b"the user's clip"
    frames = write_video(tmp_path / "frames", smooth_video(t=3), fps=8)
    with pytest.raises(
        FileExistsError, match=refused(output(frames), "already holds the frames of an earlier output")
    ):
        StreamingVideoWriter(frames, fps=8)
    assert len(list(frames.iterdir())) == 3
    (tmp_path / "dir.partial.mp4").mkdir()
    with pytest.raises(
        IsADirectoryError, match=r"dir\.partial\.mp4', where the preview of output .*dir\.mp4' .* is a folder"
    ):
        StreamingVideoWriter(tmp_path / "dir.mp4", fps=8, overwrite=True)
    # nothing was left beside them (no segments, no lock)
    names = ["clip.partial.mp4", "dir.partial.mp4", "frames", "mine.gif", "mine.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for path in [*mine, tmp_path / "clip.mp4", frames]:
        with StreamingVideoWriter(path, fps=8, overwrite=True) as w:
            w.append(smooth_video(t=2))
        assert read_video(path)[0].shape[2] == 2
    assert not preview.exists()  # renamed to clip.mp4
    empty = tmp_path / "empty"  # an empty folder holds nothing to lose
    empty.mkdir()
    with StreamingVideoWriter(empty, fps=8) as w:
        w.append(smooth_video(t=2))
    assert len(list(empty.iterdir())) == 2


def test_a_stopped_runs_preview_is_refused_naming_how_to_resume_as_the_caller_does(
    tmp_path, monkeypatch, capsys
):
    """A file where a preview goes was refused with '--resume continues that run' to a Python caller too,
    who continues a run with resume_generate. The advice names resume_generate and overwrite=True to
    Python, --resume and --overwrite on the command line (as the error's other arguments are)."""
    import pickle

    from conftest import FAST_CLI
    from streamt2v.cli import main

    monkeypatch.chdir(tmp_path)  # generate's default run folder: runs/
    out = tmp_path / "clip.mp4"
    (tmp_path / "clip.partial.mp4").write_bytes(b"a stopped run's preview")
    with pytest.raises(FileExistsError) as info:
        check_output_path(out, preview=True)
    python = (
        "(a stopped run's preview? resume_generate continues that run); pass overwrite=True to replace it"
    )
    assert str(info.value).endswith(python) and "--" not in str(info.value)
    assert str(pickle.loads(pickle.dumps(info.value))).endswith(python)  # from a worker process too
    assert main(["generate", "x", "--frames", "8", *FAST_CLI, "-o", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.endswith(
        "(a stopped run's preview? --resume continues that run); pass --overwrite to replace it"
    )
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_check_output_path_refuses_existing_files_and_bad_parents(tmp_path):
    out = write_video(tmp_path / "out.mp4", smooth_video(t=2), fps=8)
    with pytest.raises(FileExistsError, match=r"out\.mp4.*overwrite=True"):
        check_output_path(out)
    with pytest.raises(FileExistsError, match="out.mp4"):
        StreamingVideoWriter(out, fps=8, overwrite=False)
    assert check_output_path(out, overwrite=True) == out
    with pytest.raises(NotADirectoryError, match=r"out\.mp4/x\.mp4.*is a file"):
        check_output_path(out / "x.mp4")
    with pytest.raises(
        ValueError, match=r"use one of \.mp4, \.mov, .*, \.gif, or a folder"
    ):  # not a list's repr
        check_output_path(tmp_path / "e.txt")
    (tmp_path / "d.mp4").mkdir()
    with pytest.raises(IsADirectoryError, match="d.mp4"):
        check_output_path(tmp_path / "d.mp4", overwrite=True)
    assert check_output_path(tmp_path / "new" / "sub" / "v.gif") == tmp_path / "new" / "sub" / "v.gif"
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("fps", [0, -1, float("inf"), float("nan"), 1e-9, 1e9])
def test_fps_must_be_finite_and_sane(tmp_path, fps):
    message = re.escape(f"fps must be a finite number between 0.01 and 1000, got {fps!r}")  # names the value
    with pytest.raises(ValueError, match=message):
        check_fps(fps)
    with pytest.raises(ValueError, match=message):
        StreamingVideoWriter(tmp_path / "o.mp4", fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_png_folder_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = write_video(tmp_path / "frames", smooth_video(t=2), fps=8)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # not mkdtemp's 0700


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_one_writer_per_output(tmp_path, name):
    """A second writer of an output being written is refused before it touches anything; the first one's
    preview and result are intact; a lock file a killed writer left is free again."""
    from streamt2v.io.output_paths import OutputInUseError, output_lock_path, preview_path_for

    out = tmp_path / name
    first = StreamingVideoWriter(out, fps=8)
    first.append(smooth_video(t=3))
    preview_before = sorted(p.name for p in preview_path_for(out).iterdir()) if name == "frames" else None
    with pytest.raises(OutputInUseError, match=rf"'{out}' is being written by another process \(pid \d+\)"):
        StreamingVideoWriter(out, fps=8)
    with pytest.raises(OutputInUseError, match="another process"):
        check_output_path(out)
    with pytest.raises(OutputInUseError, match="another process"):
        write_video(out, smooth_video(t=2), fps=8)
    with pytest.raises(OutputInUseError, match="another process"):
        remove_stale_temporaries(out)  # the live writer's segments are not stale
    if preview_before is not None:
        assert sorted(p.name for p in preview_path_for(out).iterdir()) == preview_before
    first.append(smooth_video(t=2, seed=1))
    first.finish()
    assert read_video(out)[0].shape[2] == 5
    assert not output_lock_path(out).exists()
    # a lock file left by a writer that was killed (no process holds it) does not stop the next one
    output_lock_path(out).write_text("12345\n")
    check_output_path(out, overwrite=True)
    write_video(out, smooth_video(t=2), fps=8, overwrite=True)
    assert read_video(out)[0].shape[2] == 2
    assert not output_lock_path(out).exists()


def test_outputs_held_through_slow_work_are_written_with_their_lock(tmp_path):
    """``outputs_locked`` keeps other writers off outputs (their folders made) until the block ends; the
    holder writes them with ``held_lock`` and the lock files are gone afterwards."""
    from streamt2v.io.output_paths import OutputInUseError, output_lock_path, outputs_locked

    out, gif = tmp_path / "out.mp4", tmp_path / "new" / "out.gif"
    with outputs_locked([out, gif]) as (out_lock, gif_lock):
        for path in (out, gif):
            with pytest.raises(OutputInUseError, match=rf"'{path}' is being written by another process"):
                check_output_path(path, overwrite=True)
            with pytest.raises(OutputInUseError, match="another process"):
                StreamingVideoWriter(path, fps=8)
        with pytest.raises(ValueError, match=r"held_lock .* is not the lock of .*out\.gif"):
            write_video(gif, smooth_video(t=2), fps=8, held_lock=out_lock)
        write_video(out, smooth_video(t=2), fps=8, held_lock=out_lock)
        write_video(gif, smooth_video(t=3), fps=8, held_lock=gif_lock)
        with pytest.raises(OutputInUseError, match="another process"):  # still held after the write
            check_output_path(out, overwrite=True)
    assert read_video(out)[0].shape[2] == 2 and read_video(gif)[0].shape[2] == 3
    assert not output_lock_path(out).exists() and not output_lock_path(gif).exists()
    check_output_path(out, overwrite=True)


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_output_names_must_leave_room_for_the_names_beside_them(tmp_path, suffix):
    """The longest name the writers can handle works end to end (preview, temporaries, lock); one byte more
    is refused before any work, naming the limit."""
    from streamt2v.io.output_paths import DERIVED_NAME_EXTRA

    limit = 255 - DERIVED_NAME_EXTRA
    longest = tmp_path / ("v" * (limit - len(suffix)) + suffix)
    with StreamingVideoWriter(longest, fps=8) as w:
        w.append(smooth_video(t=2))
        w.append(smooth_video(t=1))
    assert read_video(longest)[0].shape[2] == 3
    write_video(longest, smooth_video(t=2), fps=8, overwrite=True)
    too_long = tmp_path / ("v" * (limit + 1 - len(suffix)) + suffix)
    with pytest.raises(ValueError, match=rf"is {limit + 1} bytes long.*use at most {limit}"):
        check_output_path(too_long)
    with pytest.raises(ValueError, match="bytes long"):
        StreamingVideoWriter(too_long, fps=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]


@pytest.mark.parametrize("size", [246, 250, 255, 300])
@pytest.mark.parametrize("preview", [False, True])
def test_a_name_too_long_for_the_lock_beside_it_is_refused_naming_the_limit(tmp_path, size, preview):
    """A name the folder could hold but not its lock or preview (``.NAME.lock``) is refused as too long
    before the lock is looked up, not with the system's 'File name too long' naming the hidden lock file."""
    from streamt2v.io.output_paths import DERIVED_NAME_EXTRA

    out = tmp_path / ("a" * (size - 4) + ".mp4")
    with pytest.raises(ValueError, match=rf"is {size} bytes long.*use at most {255 - DERIVED_NAME_EXTRA}"):
        check_output_path(out, preview=preview)


def test_a_write_removes_what_a_killed_write_of_it_left(tmp_path):
    """write_video (enhance's output, evaluate's none) left a killed write's hidden temporary beside the
    output forever (a long high-resolution video's worth of bytes); only generate's writer cleaned up."""
    stale = [tmp_path / ".v.tmp-ab12cd34.mp4", tmp_path / ".frames.tmp-ab12cd34"]
    stale[0].write_bytes(b"\0" * 100)
    stale[1].mkdir()
    (stale[1] / "frame_000000.png").write_bytes(b"")
    keep = [tmp_path / ".v.tmp-ab12cd34.mov", tmp_path / ".frames.tmp-mine"]
    keep[0].write_bytes(b"")
    keep[1].mkdir()
    (keep[1] / "notes.txt").write_text("mine")
    write_video(tmp_path / "v.mp4", smooth_video(t=2), fps=8)
    write_video(tmp_path / "frames", smooth_video(t=2), fps=8)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["v.mp4", "frames", *(p.name for p in keep)])


@pytest.mark.parametrize("writer", ["write_video", "StreamingVideoWriter"])
def test_an_output_another_writer_finished_before_the_lock_is_not_replaced(tmp_path, monkeypatch, writer):
    """The existing-output check ran before the lock only: a writer that finished the same output between
    the two had its new video replaced without overwrite=True."""
    import streamt2v.io.output_paths as output_paths

    out = tmp_path / "o.mp4"
    real_lock = output_paths.lock_output

    def lock_after_the_other_writer(path):
        out.write_bytes(b"the other writer's video")  # it finished just before this one's lock
        return real_lock(path)

    monkeypatch.setattr(output_paths, "lock_output", lock_after_the_other_writer)
    with pytest.raises(FileExistsError, match="o.mp4' already exists; pass overwrite=True"):
        if writer == "write_video":
            write_video(out, torch.zeros(3, 2, 8, 8), fps=8)
        else:
            StreamingVideoWriter(out, fps=8)
    assert out.read_bytes() == b"the other writer's video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]  # its lock released, nothing left


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_an_output_being_written_is_refused_as_such_before_its_preview_is_taken_for_a_stopped_runs(
    tmp_path, name
):
    """generate checks each output with its preview before any work: the preview of an output another
    process is writing is that process's, so the refusal names the process, not a stopped run's preview to
    continue with --resume or to replace with --overwrite (which would only be refused in turn)."""
    from streamt2v.io.output_paths import OutputInUseError

    out = tmp_path / name
    first = StreamingVideoWriter(out, fps=8)
    try:
        first.append(smooth_video(t=3))
        for overwrite in (False, True):
            with pytest.raises(
                OutputInUseError, match=rf"'{out}' is being written by another process \(pid \d+\)"
            ):
                check_output_path(out, preview=True, overwrite=overwrite)
    finally:
        first.abort()


def test_a_write_error_named_keeps_its_class_errno_and_reason():
    """The error naming what was written is of the class raised (a caller catching PermissionError or PyAV's
    error classes still can), with its errno; a class that cannot be made with a message is an OSError."""
    import errno

    import av.error

    from streamt2v.io.output_paths import naming_write_errors

    class Odd(OSError):
        def __init__(self, a, b, c):
            super().__init__(a)

    raised = [
        PermissionError(errno.EACCES, "Permission denied"),
        av.error.OSError(errno.ENOSPC, "No space left on device"),
        Odd("no room", 2, 3),
    ]
    for err, kind in zip(raised, (PermissionError, av.error.OSError, OSError)):
        with pytest.raises(kind) as caught, naming_write_errors("output 'out.mp4'"):
            raise err
        assert caught.value.errno == err.errno and caught.value.__cause__ is err
        reason = err.strerror or str(err)
        assert str(caught.value) == f"cannot write output 'out.mp4': {reason}"
    assert type(caught.value) is OSError


def test_a_folder_holding_the_users_files_is_refused_with_advice_a_resume_can_follow(tmp_path):
    """It said 'choose another folder', which a resume (whose outputs are the run's) cannot do."""
    folder = tmp_path / "out.partial"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(
        FileExistsError, match=r"\('notes.txt'\); refusing to replace it: move those files out of it"
    ):
        check_output_path(tmp_path / "out", preview=True)


def test_a_write_error_named_pickles_as_its_class_with_its_errno_and_message():
    """A full disk in a worker process (multiprocessing, ProcessPoolExecutor) reaches its parent pickled: PyAV's
    classes, rebuilt to read the message alone, raised PicklingError ('not the same object as
    av.error.OSError'), and Python's lost their errno on the way."""
    import errno
    import pickle

    import av.error

    from streamt2v.io.output_paths import naming_write_errors

    raised = [
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        av.error.OSError(errno.ENOSPC, "No space left on device"),
        av.error.PermissionError(errno.EACCES, "Permission denied"),
    ]
    for err in raised:
        with pytest.raises(type(err)) as caught, naming_write_errors("output 'out.mp4'"):
            raise err
        again = pickle.loads(pickle.dumps(caught.value))
        assert type(again) is type(caught.value) and isinstance(again, type(err))
        assert (str(again), again.errno) == (f"cannot write output 'out.mp4': {err.strerror}", err.errno)
        # named twice (a writer inside another's naming): made from the class named first, so it pickles too
        with (
            pytest.raises(type(err)) as caught,
            naming_write_errors("run 'r'"),
            naming_write_errors("chunk 1"),
        ):
            raise err
        again = pickle.loads(pickle.dumps(caught.value))
        assert (
            type(again).__mro__[1] is type(err)
            and str(again) == f"cannot write run 'r': cannot write chunk 1: {err.strerror}"
        )


def test_the_streaming_writer_removes_what_a_killed_writer_of_its_output_left(tmp_path):
    """write_video removed what a writer of its output killed mid-write left beside it (it holds the output's
    lock, so those files are stale); the streaming writer, which claimed its output in its own code, left
    them. Both claim an output in one place now (output_paths.claim_output)."""
    segments = tmp_path / ".clip.mp4.segments-x1y2"
    segments.mkdir()
    (segments / "seg_000000.mp4").write_bytes(b"a killed writer's segment")
    temporary = tmp_path / ".clip.partial.tmp-x1y2.mp4"
    temporary.write_bytes(b"a killed writer's preview, half written")
    with StreamingVideoWriter(tmp_path / "clip.mp4", fps=8) as writer:
        assert not segments.exists() and not temporary.exists()
        writer.append(smooth_video(t=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_streaming_writer_and_a_writer_of_its_previews_name_are_refused_together(tmp_path):
    """The preview of 'a.gif' is 'a.partial.gif', also an output's name: a streaming writer of 'a.gif' moved
    that output, written meanwhile, to 'a.gif' at its finish (or wrote over it), and removed its writer's
    temporary as a killed writer's. Whichever comes second is refused, naming both; the first goes on."""
    from streamt2v.io.output_paths import OutputInUseError
    from streamt2v.io.streaming_writer import VideoFileWriter

    other = VideoFileWriter(tmp_path / "a.partial.gif", fps=10)
    other.write(smooth_video(t=2))
    with pytest.raises(OutputInUseError) as caught:
        StreamingVideoWriter(tmp_path / "a.gif", fps=10)
    assert str(caught.value) == (
        f"the preview {str(tmp_path / 'a.partial.gif')!r} of output {str(tmp_path / 'a.gif')!r} would be "
        f"written over an output of that name, which process {os.getpid()} is writing; choose another output, "
        "or wait for that process to finish"
    )
    other.write(smooth_video(t=2))
    assert read_video(other.finish())[0].shape[2] == 4
    assert not (tmp_path / ".a.gif.lock").exists()  # the refused writer's lock is given back

    (tmp_path / "a.partial.gif").unlink()
    streaming = StreamingVideoWriter(tmp_path / "a.gif", fps=10)
    streaming.append(smooth_video(t=2))
    with pytest.raises(OutputInUseError) as caught:
        write_video(tmp_path / "a.partial.gif", smooth_video(t=3), fps=10, overwrite=True)
    assert str(caught.value) == (
        f"output {str(tmp_path / 'a.partial.gif')!r} is the name of the preview of output "
        f"{str(tmp_path / 'a.gif')!r}, which process {os.getpid()} is writing; choose another name for this output"
    )
    assert read_video(streaming.finish())[0].shape[2] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


@pytest.mark.parametrize(
    "cleaned, live, temporary",
    [
        ("a.mp4", "a.partial.mp4", ".a.partial.tmp-x1y2.mp4"),  # a.partial.mp4's own temporary
        ("a.partial.mp4", "a.mp4", ".a.partial.tmp-x1y2.mp4"),  # a.mp4's preview's temporary
        ("a.mp4", None, ".a.tmp-1.tmp-x1y2.mp4"),  # a temporary of a.tmp-1.mp4, whose name begins the same
        ("frames", None, ".frames.tmp-1.mp4.segments-x1y2"),  # a writer of frames.tmp-1.mp4 begins
    ],
)
def test_the_temporaries_another_output_may_own_are_not_removed_as_stale(tmp_path, cleaned, live, temporary):
    """remove_stale_files took every name its patterns matched for a killed writer's of its output: the same
    names may be another output's temporaries, of a writer still going (its lock held: they are left to it
    until it ends), or derived from a name that begins like this output's (never this output's)."""
    from streamt2v.io import locks
    from streamt2v.io.output_paths import lock_output

    if temporary.endswith(".mp4"):
        (tmp_path / temporary).write_bytes(b"being written")
    else:
        (tmp_path / temporary).mkdir()  # no segment in it yet
    held = lock_output(tmp_path / live) if live else None
    assert remove_stale_temporaries(tmp_path / cleaned) == []
    assert (tmp_path / temporary).exists()
    if held is not None:  # once that writer is gone, what it left is stale
        locks.release(held, remove=True)
        assert remove_stale_temporaries(tmp_path / cleaned) == [tmp_path / temporary]


def test_an_earlier_png_output_stays_in_place_when_its_replacement_cannot_be_put_there(tmp_path):
    """replace_dir moved the earlier output aside (.NAME.old-PID), then put the new folder in its place: when
    that failed (the preview folder removed meanwhile) the output was gone from its path, hidden where the
    next write removes it as a killed writer's. It is put back, and the error raised."""
    import shutil

    frames = write_video(tmp_path / "frames", smooth_video(t=3), fps=8)
    writer = StreamingVideoWriter(frames, fps=8, overwrite=True)
    writer.append(smooth_video(t=2))
    shutil.rmtree(writer.preview_path)
    with pytest.raises(FileNotFoundError):
        writer.finish()
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert read_video(frames)[0].shape[2] == 3


def test_a_png_outputs_preview_folder_that_is_a_link_is_refused_naming_it(tmp_path):
    """A 'frames.partial' that is a symbolic link to a folder failed the writer (after generate's model had
    loaded) with 'Cannot call rmtree on a symbolic link', naming no path; refused before, naming it."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "frame_000000.png").write_bytes(b"a frame")
    (tmp_path / "frames.partial").symlink_to(target)
    message = (
        f"{str(tmp_path / 'frames.partial')!r}, where the preview of output {str(tmp_path / 'frames')!r} is "
        f"written during the run, is a symbolic link (to {str(target)!r}); the preview is a folder of its own, "
        f"renamed to {str(tmp_path / 'frames')!r} at the end: remove the link (what it points to stays), or "
        "choose another output"
    )
    for make in (
        lambda: check_output_path(tmp_path / "frames", preview=True),  # generate's checks before any work
        lambda: StreamingVideoWriter(tmp_path / "frames", fps=8),
    ):
        with pytest.raises(FileExistsError, match=re.escape(message)):
            make()
    assert [p.name for p in target.iterdir()] == ["frame_000000.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "frames.partial"]
