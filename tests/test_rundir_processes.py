"""Run directories across processes: a run killed (kill -9) before each of its atomic renames resumes or
takes a new run and keeps no temporaries, a folder another process is creating a run in is refused before
anything is written, and resumed writers remove the PNG folders a killed writer left. Run directories in one
process: ``test_rundir.py``."""

from __future__ import annotations

import pytest
import torch

from streamt2v.pipeline.rundir import RunDir

# A child process that creates a run and finishes two chunks, killed (SIGKILL) just before its K-th rename
# inside the run directory: every state `kill -9` can leave between two of its atomic steps. One process
# imports torch and streamt2v once, then forks a child per (PATH, K) and prints each child's exit code.
_KILLED_CHILDREN = """
import os, signal, sys, traceback
import torch
from streamt2v.pipeline.run_chunks import StoredChunk
from streamt2v.pipeline.rundir import RunDir

def killed_before_rename(path, k):
    renames = 0

    def hook(event, args):
        nonlocal renames
        if event == "os.rename" and os.fspath(args[1]).startswith(path):
            renames += 1
            if renames == k:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    run = RunDir.create(path, {"prompt": "a cat"}, num_chunks=3)
    for i in range(2):
        x = torch.zeros(1, 3, 4, 8, 8)
        run.save_chunk(StoredChunk(i, 1 if i == 0 else 2, 4 * i, 4 * i + 4, "a cat", x, x[:, :, :2], x[:, :, :1],
                                   "a cat"))

for path, k in zip(sys.argv[1::2], sys.argv[2::2]):
    pid = os.fork()
    if pid == 0:  # the child: its audit hook and its kill are its own
        try:
            killed_before_rename(path, int(k))
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def test_a_run_killed_at_any_step_resumes_or_takes_a_new_run_and_keeps_no_temporaries(tmp_path):
    import signal
    import subprocess
    import sys

    kills = range(1, 7)  # create: 2 renames, each chunk: 2 (chunk file, manifest)
    args = [str(a) for k in kills for a in (tmp_path / f"run{k}", k)]
    proc = subprocess.run([sys.executable, "-c", _KILLED_CHILDREN, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [int(code) for code in proc.stdout.split()] == [-signal.SIGKILL] * len(kills), proc.stderr
    for k in kills:
        path = tmp_path / f"run{k}"
        try:
            run = RunDir.open(path).lock()
        except FileNotFoundError as err:  # killed before the run existed: said so, and the folder takes one
            said = str(err)
            assert "nothing to resume" in said and f"(run_dir={str(path)!r} takes it)" in said, (k, said)
            assert f"(--run-dir {path} takes it)" in str(err.as_flags()), (k, said)
            run = RunDir.create(path, {"prompt": "a cat"}, num_chunks=3)
            assert run.num_finished == 0
        else:
            assert run.config == {"prompt": "a cat"}
            assert [run.load_chunk(i).stop for i in range(run.num_finished)] == [4, 8][: run.num_finished]
        left = sorted(p.name for p in path.rglob("*.tmp-*"))
        assert left == [], (k, left)  # what the killed process was writing is gone once the run is taken
        run.unlock()


def test_a_run_being_created_by_another_process_is_refused_before_anything_is_written(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "r"
    path.mkdir()
    holder = subprocess.Popen(  # another process has locked the folder and is about to write its run
        [
            sys.executable,
            "-c",
            "import sys; from streamt2v.io import locks; fh = locks.acquire(sys.argv[1]); print('held', "
            "flush=True); sys.stdin.read()",
            str(path / ".lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from streamt2v.pipeline.run_folders import RunInUseError

        pid = rf"\(pid {holder.pid}\)"
        with pytest.raises(
            RunInUseError, match=rf"'{path}' is in use by another process {pid}.* run_dir$"
        ) as err:
            RunDir.check_new(path)  # before any slow work
        assert str(err.value.as_flags()).endswith("choose another --run-dir")
        with pytest.raises(RunInUseError, match=pid):
            RunDir.create(path, {"mine": 1}, num_chunks=2)
        assert sorted(p.name for p in path.iterdir()) == [".lock"]  # its config.json is not overwritten
    finally:
        holder.communicate("")
    RunDir.create(path, {"mine": 1}, num_chunks=2)  # once it has ended, the folder is free


# A child process writing a PNG output folder that already holds an earlier output's frames, killed (SIGKILL)
# just before the rename that puts the new frames in place: by the streaming writer's finish (the earlier
# folder moved aside to .NAME.old-PID) or by write_video (the new frames in a .NAME.tmp-* folder).
_KILLED_PNG_WRITER = """
import os, signal, sys
import numpy as np
import torch
from pathlib import Path
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.io.video import write_video

path, how = Path(sys.argv[1]), sys.argv[2]

def hook(event, args):
    if event == "os.rename" and os.fspath(args[1]) == str(path):
        os.kill(os.getpid(), signal.SIGKILL)

frames = np.zeros((3, 8, 8, 3), np.uint8)
sys.addaudithook(hook)
if how == "stream":
    with StreamingVideoWriter(path, 8, overwrite=True) as w:
        w.append(torch.zeros(3, 3, 8, 8))
else:
    write_video(path, frames, 8, overwrite=True)
"""


def test_resumed_writers_remove_the_png_folders_a_killed_writer_left(tmp_path):
    import signal
    import subprocess
    import sys

    from streamt2v.io.output_paths import remove_stale_temporaries
    from streamt2v.io.video import write_video

    out = tmp_path / "pngs"
    user = tmp_path / ".pngs.old-mine"  # a folder of the user's with a matching name is never touched
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    for how, left in [("stream", ".pngs.old-"), ("write_video", ".pngs.tmp-")]:
        # an earlier output, replaced by the killed writer
        write_video(out, torch.zeros(1, 3, 2, 8, 8), 8, overwrite=True)
        proc = subprocess.run([sys.executable, "-c", _KILLED_PNG_WRITER, str(out), how], capture_output=True)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
        stale = {
            p for p in tmp_path.iterdir() if p.name.startswith((".pngs.tmp-", ".pngs.old-")) and p != user
        }
        assert any(p.name.startswith(left) and any(p.iterdir()) for p in stale), (how, sorted(stale))
        assert set(remove_stale_temporaries(out)) == stale
        names = sorted(p.name for p in tmp_path.iterdir())
        assert not any(n.startswith((".pngs.tmp-", ".pngs.old-")) for n in names if n != user.name), names
        assert (user / "notes.txt").read_text() == "mine"
