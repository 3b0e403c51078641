"""io.folders: the check that an output's folder takes new files, run before slow work, and the refusal of an
existing output; the temporary folders of atomic_folder that a killed writer left; the permissions
atomic_write_file gives, the umask untouched."""

from __future__ import annotations

import logging
import os
import pickle
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from streamt2v.io.folders import (
    atomic_folder,
    atomic_folder_leftovers,
    atomic_folder_temporary,
    check_writable_parent,
    folder_listing,
    refuse_existing,
    remove_atomic_write_leftovers,
    remove_dead_writers_temporaries,
)
from streamt2v.io.weight_files import leftover_temporaries


def test_an_existing_output_names_the_python_argument_or_the_flag_not_both(tmp_path):
    """'res.csv' already exists (pass overwrite=True, --overwrite on the command line, ...): a Python caller
    was shown a flag and the command line a Python argument. The error names the argument, and the command
    line, which calls as_flags before showing it, the flag."""
    out = tmp_path / "res.csv"
    out.write_text("kept")
    with pytest.raises(FileExistsError) as info:
        refuse_existing(out)
    assert str(info.value) == f"{str(out)!r} already exists; pass overwrite=True to replace it"
    again = pickle.loads(pickle.dumps(info.value))  # e.g. from a worker process: the message travels
    assert str(info.value.as_flags()) == f"{str(out)!r} already exists; pass --overwrite to replace it"
    assert str(again) == f"{str(out)!r} already exists; pass overwrite=True to replace it"
    refuse_existing(out, overwrite=True)
    assert out.read_text() == "kept"


def test_a_folder_of_the_users_files_is_listed_by_its_first_names_and_how_many_more(tmp_path):
    """refuse_existing lists a folder it will not replace by its first 3 names and a count; an error's
    listing of a folder, by its first 10 and '...' (folders with a '/')."""
    out = tmp_path / "mine"
    out.mkdir()
    for name in "abcde":
        (out / f"{name}.txt").write_text("")
    (out / "sub").mkdir()
    with pytest.raises(FileExistsError, match=r"but holds a.txt, b.txt, c.txt and 3 more: overwriting"):
        refuse_existing(out, overwrite=True, model_folder=True)
    assert folder_listing(out) == "a.txt, b.txt, c.txt, d.txt, e.txt, sub/"
    for n in range(10):
        (out / f"f{n}").write_text("")
    assert folder_listing(out) == "a.txt, b.txt, c.txt, d.txt, e.txt, f0, f1, f2, f3, f4, ..."
    assert folder_listing(out / "sub") == "nothing"


def _no_named_probe(*args, **kwargs):
    raise AssertionError("a named probe file was created")


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="no unnamed files on this system")
def test_the_writability_probe_is_an_unnamed_file_a_kill_cannot_leave(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "mkstemp", _no_named_probe)
    check_writable_parent(tmp_path / "new" / "deeper" / "out.mp4", "output")  # nearest existing: tmp_path
    assert list(tmp_path.iterdir()) == []


def test_without_unnamed_files_a_named_probe_is_removed(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    check_writable_parent(tmp_path / "out.mp4", "output")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/1").is_dir(), reason="needs Linux procfs")
def test_a_folder_that_takes_no_files_is_named(tmp_path):
    # procfs refuses new files even to root, so this runs where the read-only folder tests are skipped
    with pytest.raises(
        PermissionError, match=r"^cannot write output '/proc/1/out.mp4': cannot create files "
    ):
        check_writable_parent("/proc/1/out.mp4", "output")
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match=rf"'{tmp_path / 'f'}' is a file, not a folder$"):
        check_writable_parent(tmp_path / "f" / "out.mp4", "output")


# ----------------------------------------------------------------------------- atomic_folder's temporaries
_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from streamt2v.io.folders import atomic_folder
with atomic_folder(Path(sys.argv[1]), model_folder=True) as tmp:
    (tmp / "unet").mkdir()
    (tmp / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\\1" * 200_000)
    print(tmp.name, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_write(out: Path) -> Path:
    """What `kill -9` of a process writing ``out`` with atomic_folder leaves beside it (its pid checked)."""
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(out)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    left = out.parent / run.stdout.strip()
    assert left.is_dir()
    return left


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and signal-0 liveness checks are POSIX")
def test_a_killed_writers_temporary_folder_is_removed_by_the_next_write_and_nothing_else(tmp_path):
    """Before: the temporary folder was named by a random suffix alone, so a killed `convert`'s (~13 GB at
    full size) stayed for good beside the output, and each kill added one. Now it carries the writer's pid:
    the next write of the same output removes those whose writer is dead, and nothing else."""
    out = tmp_path / "models" / "m"
    left = _killed_write(out)
    pid, host = atomic_folder_temporary(out).fullmatch(left.name).group("pid", "host")
    assert left.name.startswith(f".m.tmp-{pid}-") and pid.isdigit()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [
            out.parent / f".m.tmp-{sleeper.pid}-{host}-0123abcd",  # a running writer's
            out.parent / f".m.tmp-{pid}-0badc0de-0123abcd",  # another machine's (its pid means nothing here)
            out.parent / ".m.tmp-0123abcd",  # an earlier version's, writer unknown
            out.parent / f".m.tmp-{pid}-{host}-0123abcd.bak",  # not the exact name
            out.parent / f".other.tmp-{pid}-{host}-0123abcd",  # another output's
        ]
        for p in keep:
            p.mkdir()
        not_a_folder = out.parent / f".m.old-{pid}-{host}-0123abcd"
        not_a_folder.write_text("the user's")
        with atomic_folder(out, model_folder=True) as tmp:
            assert not left.exists()  # removed before this write begins
            (tmp / "model_index.json").write_text("{}")
        assert (out / "model_index.json").is_file()
        assert all(p.is_dir() for p in keep) and not_a_folder.read_text() == "the user's"
        assert sorted(p.name for p in out.parent.iterdir()) == sorted(
            [out.name, not_a_folder.name] + [p.name for p in keep]
        )
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.skipif(os.name != "posix", reason="signal-0 liveness checks are POSIX")
def test_this_process_leaves_its_own_running_write_and_removes_a_dead_one_with_its_pid(tmp_path):
    """A container's writer often has the same pid each run: a leftover named with this process's pid that is
    not one of its running writes is a dead process's and goes; a running write's (nested) stays."""
    out = tmp_path / "m"
    with atomic_folder(out) as first:
        (first / "x").write_text("1")
        host = atomic_folder_temporary(out).fullmatch(first.name)["host"]
        earlier = tmp_path / f".m.tmp-{os.getpid()}-{host}-0123abcd"
        earlier.mkdir()
        with atomic_folder(tmp_path / "n") as _:
            pass
        assert earlier.is_dir()  # another output's write does not touch m's
        with atomic_folder(out) as second:
            assert first.is_dir() and not earlier.exists()
            (second / "x").write_text("2")
    assert (out / "x").read_text() == "1"  # the outer write, finished last, replaced the inner one's


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and signal-0 liveness checks are POSIX")
def test_what_a_writer_killed_between_its_renames_moved_aside_is_kept_until_an_output_exists(tmp_path):
    """The ``.old-`` folder of a writer killed between moving ``out`` aside and renaming its new folder is
    the user's only copy while ``out`` is missing: kept and named; once an output exists, removed."""
    out = tmp_path / "m"
    left = _killed_write(out)
    moved_aside = left.with_name(left.name.replace(".tmp-", ".old-", 1))
    (moved_aside / "unet").mkdir(parents=True)
    found = atomic_folder_leftovers(out)
    assert found.replaced == [moved_aside] and found.dead == [left] and found.unknown == []
    note = leftover_temporaries(out)
    assert not left.exists() and moved_aside.is_dir()
    assert note == (
        f"what was at the output before a conversion or save into it was killed is kept at "
        f"{str(moved_aside)!r} (0 bytes); a conversion or save into the output removes it once an output is there again"
    )
    with atomic_folder(out) as tmp:
        (tmp / "x").write_text("new")
    assert moved_aside.is_dir()  # no output yet when this write began
    assert remove_dead_writers_temporaries(out) == [moved_aside] and not moved_aside.exists()


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and signal-0 liveness checks are POSIX")
def test_the_conversion_note_names_only_the_leftovers_it_does_not_remove(tmp_path, caplog):
    """commit 64ea0bf named every leftover temporary folder and removed none; now a dead writer's is
    removed (logged), and only what cannot be removed is named: an earlier version's, another machine's."""
    out = tmp_path / "models" / "streamingt2v"
    left = _killed_write(out)
    assert leftover_temporaries(out) is None and not left.exists()
    earlier = out.parent / ".streamingt2v.tmp-0123abcd"  # named without a pid: writer unknown
    elsewhere = out.parent / ".streamingt2v.old-12-0badc0de-0123abcd"
    for p in (earlier, elsewhere):
        (p / "unet").mkdir(parents=True)
        (p / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\1" * 150_000)
    left = _killed_write(out)
    with caplog.at_level(logging.INFO, logger="streamt2v.io.weight_files"):
        note = leftover_temporaries(out)
    assert not left.exists() and earlier.is_dir() and elsewhere.is_dir()
    assert note == (
        "2 temporary folders of an interrupted conversion or save are beside the output (0.3 MB): "
        f"remove them when none is running: rm -r {shlex.join([str(earlier), str(elsewhere)])}"
    )
    [removed] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert removed.startswith("removed 1 temporary folder (0.2 MB) a killed conversion or save left")
    assert removed.endswith(repr(str(left)))


def test_the_rm_advice_for_leftovers_runs_in_a_shell_whatever_the_path_holds(tmp_path):
    """The advice quoted the paths as Python does (repr): a path with both ' and " broke the command, and a
    $ in it was expanded by the shell. Run as printed, it removes exactly the named folders."""
    out = tmp_path / 'it\'s "$HOME" `x`' / "m"
    left = out.parent / ".m.tmp-0123abcd"  # named without a pid: named, not removed
    (left / "unet").mkdir(parents=True)
    keep = out.parent / "kept"
    keep.mkdir()
    note = leftover_temporaries(out)
    assert note is not None
    command = note.split("remove them when none is running: ", 1)[1]
    assert command.startswith("rm -r ")
    run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert not left.exists() and keep.is_dir()


_NAMESPACED_WRITE = """
from pathlib import Path
from streamt2v.io.folders import atomic_folder_temporary, remove_dead_writers_temporaries
import sys
out = Path(sys.argv[1])
remove_dead_writers_temporaries(out)
print(sorted(p.name for p in out.parent.iterdir() if atomic_folder_temporary(out).fullmatch(p.name)))
"""

# a new PID namespace (and user namespace, so no root is needed), with its own /proc
_UNSHARE_PID = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]


def test_a_writer_in_another_pid_namespace_on_the_same_host_is_never_judged_by_our_pids(tmp_path):
    """A container sharing the host's name (``--network host``) has its own pids: the host tag was the
    hostname alone, so a write there judged this process's running writer dead by its own pid table and
    deleted the folder being filled."""
    out = tmp_path / "m"
    with atomic_folder(out) as tmp:
        if shutil.which("unshare") is None:
            pytest.skip("no unshare command here")
        probe = subprocess.run(
            [*_UNSHARE_PID, sys.executable, "-c", "print(1)"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            pytest.skip(f"no PID namespaces here (unshare: {probe.stderr.strip()[:80]})")
        run = subprocess.run(
            [*_UNSHARE_PID, sys.executable, "-c", _NAMESPACED_WRITE, str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert tmp.is_dir() and tmp.name in run.stdout  # seen, and left to its writer
        (tmp / "done").write_text("")
    assert (out / "done").is_file()


def test_an_atomic_writes_leftovers_are_removed_but_a_running_writers_temporary_is_kept(tmp_path):
    """Removing a file's leftover temporaries (evaluate's partial file, stage 3's state) removed every
    ``.NAME.tmp-PID``: also the one another running process was writing, whose rename then failed."""
    out = tmp_path / "r.json.partial"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead, own = (out.with_name(f".{out.name}.tmp-{pid}") for pid in (int(ended.stdout), os.getpid()))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as running:
        try:
            live = out.with_name(f".{out.name}.tmp-{running.pid}")
            for p in (dead, own, live):
                p.write_text("{")
            assert remove_atomic_write_leftovers(out) == sorted([dead, own])
            assert live.is_file() and not dead.exists() and not own.exists()
        finally:
            running.kill()


def _umask_untouched(*args):
    raise AssertionError("os.umask called: setting it to read it changes it for every thread of the process")


@pytest.mark.parametrize("writer", ["safetensors", "torch", "bytes"])
def test_an_atomic_write_gets_the_umasks_mode_without_changing_the_umask(tmp_path, monkeypatch, writer):
    """atomic_write_file read the umask by os.umask(0) and back: for that moment a file created by another
    thread of the process (a library user generating in threads) got mode 0666. Its file still gets the
    umask's mode (safetensors makes its own 0600), now without the process's umask ever being set."""
    import torch
    from safetensors.torch import save_file

    from streamt2v.io.folders import atomic_write_file

    writes = {
        "safetensors": lambda tmp: save_file({"a": torch.zeros(2)}, str(tmp)),
        "torch": lambda tmp: torch.save({"a": 1}, str(tmp)),
        "bytes": lambda tmp: tmp.write_bytes(b"x"),
    }
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", _umask_untouched)
        atomic_write_file(tmp_path / "f", writes[writer])
        atomic_write_file(tmp_path / "f", writes[writer])  # over an existing file too
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o7777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_the_umask_is_read_without_setting_it(monkeypatch):
    """current_umask (the modes of output_paths' temporaries) reads the umask without os.umask."""
    from streamt2v.io.folders import current_umask

    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", _umask_untouched)
        assert current_umask() == 0o027
        monkeypatch.setattr("builtins.open", _no_proc)  # no /proc (macOS): a probe file tells it
        assert current_umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)


def _no_proc(*args, **kwargs):
    raise FileNotFoundError(2, "No such file or directory", str(args[0]))


def test_a_file_system_refusing_chmod_does_not_fail_an_atomic_write(tmp_path, monkeypatch):
    """Some FUSE and network file systems refuse chmod: the usual permissions are a courtesy, and every
    chunk, manifest and config.json write failed with it."""
    import torch
    from safetensors.torch import save_file

    from streamt2v.io.folders import atomic_write_file
    from streamt2v.io.output_paths import temp_sibling, temp_sibling_dir

    def refused(path, mode, *args, **kwargs):
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "chmod", refused)
    atomic_write_file(tmp_path / "c.safetensors", lambda tmp: save_file({"a": torch.ones(2)}, str(tmp)))
    assert (tmp_path / "c.safetensors").stat().st_size > 0
    assert temp_sibling(tmp_path / "out.mp4").is_file() and temp_sibling_dir(tmp_path / "frames").is_dir()


def test_a_saved_model_folder_gets_the_umasks_modes(tmp_path):
    """A model folder (save_pretrained, what `streamt2v assemble` and `convert` write) held its safetensors
    weights at 0600, unreadable to the group beside its 0644 configs: atomic_folder gives what it renames
    into place the umask's modes, files and folders."""
    from streamt2v.models.bundle import StreamingT2VModel

    old = os.umask(0o027)
    try:
        out = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0).save_pretrained(tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o7777 for p in [out, *out.rglob("*")]}
    assert any(name.endswith(".safetensors") for name in modes), modes
    wrong = {
        name: oct(mode) for name, mode in modes.items() if mode != (0o750 if (out / name).is_dir() else 0o640)
    }
    assert not wrong, wrong


def test_a_model_folder_saved_in_a_setgid_folder_keeps_the_bit(tmp_path):
    """In a group-shared folder (setgid, so what is made there gets its group) the saved model folder and its
    subfolders lost the bit when given the umask's modes: files added there later missed the shared group."""
    from streamt2v.models.bundle import StreamingT2VModel

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    out = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0).save_pretrained(shared / "m")
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert len(folders) > 1
    assert all(p.stat().st_mode & 0o2000 for p in folders), [oct(p.stat().st_mode) for p in folders]
