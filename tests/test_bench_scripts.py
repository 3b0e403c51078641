"""The bench scripts as a user runs them (their ``__main__``), at the smallest sizes: one-line errors before
any timing, and what a stopped run (Ctrl-C, SIGTERM) keeps and says."""

from __future__ import annotations

import io
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


class Killed(Exception):
    """What the test's own SIGTERM handler raises: a script that does not take SIGTERM itself ends here."""


def run_script(monkeypatch: pytest.MonkeyPatch, script: str, *args: str) -> None:
    """``python bench/SCRIPT ARGS`` in this process (``SystemExit`` as the script exits)."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [script, *args])

    def on_sigterm(_signum, _frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        runpy.run_path(str(BENCH / script), run_name="__main__")
    except KeyboardInterrupt:  # would end the whole pytest session
        pytest.fail(f"{script} let KeyboardInterrupt out (a traceback for the user)")
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_line(monkeypatch, capsys, script: str, *args: str) -> tuple[int, str]:
    """The exit code and the last line on stderr of a script that exits."""
    with pytest.raises(SystemExit) as stop:
        run_script(monkeypatch, script, *args)
    err = capsys.readouterr().err.strip().splitlines()
    return stop.value.code, err[-1] if err else ""


def dated_since(text: str, before: datetime) -> bool:
    """Whether a results file says it was started between ``before`` and now: a file had no date, so one
    could not be told from an older one of the same machine and settings."""
    # with the machine's load then (other processes slowed a benchmark up to 50 times)
    stamps = re.findall(
        r"Started (\d{4}-\d\d-\d\d \d\d:\d\d) UTC \(load average (?:\d+\.\d\d|unknown) on \d+ cores?\)\.",
        text,
    )
    if len(stamps) != 1:
        return False
    when = datetime.strptime(stamps[0], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return before - timedelta(minutes=1) < when <= datetime.now(timezone.utc)


def stop_at_video(monkeypatch, kind: signal.Signals, at: int) -> None:
    """Send ``kind`` to this process as the ``at``-th timed video starts (the real stream() runs on)."""
    import streamt2v.pipeline.stream as stream_module

    real, calls = stream_module.stream, []

    def stream(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            os.kill(os.getpid(), kind)
        return real(*args, **kwargs)

    monkeypatch.setattr(stream_module, "stream", stream)


GENERATE = ("--preset", "tiny", "--steps", "1", "--threads", "1")


@pytest.mark.parametrize(
    ("kind", "code", "said"), [(signal.SIGTERM, 143, " (SIGTERM)"), (signal.SIGINT, 130, "")]
)
def test_generate_stopped_keeps_the_lengths_measured(monkeypatch, capsys, tmp_path, kind, code, said):
    """A generate benchmark stopped at its third length keeps the two measured, marked incomplete, and says
    so in one line; it wrote nothing before its end (and SIGTERM ended it silently, Ctrl-C in a traceback)."""
    stop_at_video(monkeypatch, kind, at=3)
    out = tmp_path / "g.md"
    status, line = exit_line(
        monkeypatch, capsys, "bench_generate.py", *GENERATE, "--lengths", "8", "8", "8", "--out", str(out)
    )
    assert status == code
    assert line == f"interrupted{said}: {out} keeps the 2 rows measured so far, marked incomplete"
    text = out.read_text()
    assert [ln.split("|")[1].strip() for ln in text.splitlines() if ln.startswith("| 8 ")] == ["8", "8"]
    assert "**Incomplete:**" in text
    assert not [p.name for p in tmp_path.iterdir() if p.name != "g.md"]  # no temporary left beside it


def test_train_sigterm_keeps_the_rows_and_no_run_folders(monkeypatch, capsys, tmp_path):
    """SIGTERM in the second row of the training benchmark: the first row is kept and said in one line, and
    its temporary run folders (checkpoints) are removed; they were left in the temp folder before."""
    import tempfile

    import streamt2v.train.loop as loop

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    real_train, calls = loop.train, []

    def train(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(loop, "train", train)
    out = tmp_path / "t.md"
    args = ("--runs", "clip", "--batch-sizes", "1", "2", "--warmup", "0", "--steps", "1", "--out", str(out))
    status, line = exit_line(monkeypatch, capsys, "bench_train.py", *args)
    assert (status, line) == (
        143,
        f"interrupted (SIGTERM): {out} keeps the 1 row measured so far, marked incomplete",
    )
    assert "| clip | clip | 1 |" in out.read_text()
    assert list(temp.iterdir()) == []


def test_stage_steps_past_the_schedule_are_one_line_before_timing(monkeypatch, capsys, tmp_path):
    """More steps than the noise schedule has: an error line naming them (was the SettingError traceback
    from inside the first timed video)."""
    status, line = exit_line(
        monkeypatch,
        capsys,
        "bench_generate.py",
        *GENERATE[:2],
        "--steps",
        "5000",
        "--lengths",
        "8",
        "--out",
        str(tmp_path / "g.md"),
    )
    assert status == 2
    assert line.startswith("bench_generate.py: error: init_steps=5000 is more than the 1000 timesteps")
    assert "--steps sets steps and init_steps" in line
    assert not (tmp_path / "g.md").exists()


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("bench_generate.py", ("--model", "FILE", "--lengths", "8"), "error: --model FILE: model folder"),
        (
            "bench_metrics.py",
            ("--clip-model", "FILE", "--frames", "2", "--size", "12"),
            "error: --clip-model: ",
        ),
        (
            "bench_demo.py",
            ("--video", "v.txt", "--frames", "8", "--repeats", "1"),
            "error: --video: cannot write",
        ),
    ],
)
def test_a_file_or_suffix_that_cannot_be_used_is_one_line(
    monkeypatch, capsys, tmp_path, script, args, expected
):
    """A model or CLIP path that is a file, a --video suffix no writer has: one ``error:`` line, exit 2,
    before any timing (were NotADirectoryError tracebacks, and the demo's came after all its videos)."""
    file = tmp_path / "notes.md"
    file.write_text("not a model\n")
    args = tuple(str(file) if a == "FILE" else str(tmp_path / a) if a == "v.txt" else a for a in args)
    expected = expected.replace("FILE", str(file))
    status, line = exit_line(monkeypatch, capsys, script, *args, "--out", f"{tmp_path}/")
    assert status == 2
    assert f"{script}: {expected}" in line
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]  # nothing measured, nothing written


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_where_no_file_can_be_created_is_refused_up_front(monkeypatch, capsys):
    """``--out`` in a folder no file can be created in (/proc; os.access says writable to root, so the check
    passed and the benchmark failed at its end)."""
    status, line = exit_line(
        monkeypatch,
        capsys,
        "bench_enhance.py",
        "--frames",
        "2",
        "--size",
        "4",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--out",
        "/proc/bench.md",
    )
    assert status == 2
    assert "error: --out: cannot write the results file '/proc/bench.md'" in line


def test_run_all_passes_sigterm_on_and_says_which_benchmark_stopped(tmp_path):
    """SIGTERM to ``run_all.py`` (a time limit, ``kill``) stops the benchmark it runs, which says what it kept,
    and run_all exits 143 naming it; it used to die alone, leaving the benchmark running on."""
    cmd = [
        sys.executable,
        str(BENCH / "run_all.py"),
        "--only",
        "metrics",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("[1/1] metrics:")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1] == "interrupted: benchmark 'metrics' stopped; later ones not run"


class TerminalStderr(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_library_bars_only_at_a_terminal(monkeypatch, capsys, tmp_path, terminal):
    """Loading the shipped model with stderr not a terminal (a log, run_all's output piped): transformers'
    "Loading weights" bars are left out, as the command line leaves them out, the script's own lines kept
    and the bars switched back on after it; at a terminal they are shown as before (they were written into
    every log). The output starts with the machine (only the results file named it), and the results file
    gives the command (it gave none: a file from --lengths 80 240 read like the defaults')."""
    import transformers.utils.logging as transformers_logging

    if terminal:
        monkeypatch.setattr(sys, "stderr", TerminalStderr())
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    before = datetime.now(timezone.utc)
    run_script(
        monkeypatch,
        "bench_generate.py",
        "--model",
        "microworld",
        "--steps",
        "1",
        "--lengths",
        "8",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "g.md"),
    )
    captured = capsys.readouterr()
    err = sys.stderr.getvalue() if terminal else captured.err
    assert ("Loading weights" in err) == terminal
    # the script's own lines: the machine (as in the results file, for a log of the run), then each length
    machine, timed = captured.out.splitlines()[:2]
    assert machine.startswith("Machine: ") and " cores; torch " in machine and machine.endswith(" 1 thread.")
    assert timed.startswith("8 frames: ")
    # the results say how to reproduce them: the command as given, less where the results went
    assert (
        "Command: `python bench/bench_generate.py --model microworld --steps 1 --lengths 8 --threads 1`."
        in (tmp_path / "g.md").read_text()
    )
    assert dated_since((tmp_path / "g.md").read_text(), before)
    assert transformers_logging.is_progress_bar_enabled() == bars_were_on


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("bench_enhance.py", ("--out", ""), "error: --out is empty; give a file, or a folder ending in /"),
        ("bench_enhance.py", ("--out", "FILE/e.md"), "error: --out: 'FILE' is a file, not a folder"),
        (
            "bench_enhance.py",
            ("--out", "FILE/a/e.md"),
            "error: --out: cannot create the folder 'FILE/a': 'FILE' is a file, not a folder",
        ),
        ("run_all.py", ("--out", ""), "error: --out is empty; give a folder"),
        ("run_all.py", ("--out", "FILE"), "error: --out: 'FILE' is a file, not a folder"),
        (
            "bench_metrics.py",
            ("--backends", ","),
            "error: --backends names no backend, got ','; choose from dis, farneback, raft",
        ),
        *(
            (
                script,
                ("--prompt", " ", *small, "--out", "r.md"),
                "error: --prompt is empty (' '); give a prompt, or leave the flag out for the default",
            )
            for script, small in (
                ("bench_demo.py", ("--frames", "8", "--repeats", "1")),
                ("bench_generate.py", ("--lengths", "8", "--steps", "1")),
            )
        ),
    ],
)
def test_an_empty_or_impossible_out_is_one_line_naming_it(
    monkeypatch, capsys, tmp_path, script, args, expected
):
    """``--out ""`` wrote the results into the current folder (it is ``Path(".")``), a file where the
    results' folder would be said mkdir's "File exists" / "Not a directory", ``--backends ,`` called ','
    an unknown backend, and an empty ``--prompt`` was the demo's traceback after loading the models and
    generate's default prompt unsaid."""
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "notes.md"
    file.write_text("not a folder\n")
    args = tuple(a.replace("FILE", str(file)) for a in args)
    status, line = exit_line(monkeypatch, capsys, script, *args)
    assert (status, line) == (2, f"{script}: {expected.replace('FILE', str(file))}")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def test_the_scripts_ask_the_command_line_whether_stderr_is_a_terminal(monkeypatch):
    """bench/_common.py kept its own copy of the command line's private check; it now uses the public one,
    and the libraries' bars still go off only where stderr is no terminal, and come back as the script ends."""
    import transformers.utils.logging as transformers_logging

    import streamt2v.cli as cli

    monkeypatch.syspath_prepend(str(BENCH))
    import _common

    assert _common.stderr_is_terminal is cli.stderr_is_terminal
    closed = io.StringIO()
    closed.close()
    assert transformers_logging.is_progress_bar_enabled()
    for stderr, bars in (
        (TerminalStderr(), True),
        (io.StringIO(), False),
        (closed, False),
        (object(), False),
    ):
        monkeypatch.setattr(sys, "stderr", stderr)
        seen = []

        def main(seen=seen):
            _common.quiet_library_bars(("transformers",))
            seen.append(transformers_logging.is_progress_bar_enabled())

        _common.run(main)
        assert seen == [bars]
        assert transformers_logging.is_progress_bar_enabled()


def test_an_unknown_compile_backend_lists_no_test_fixture(monkeypatch, capsys, tmp_path):
    """``--compile nope`` listed torch's test fixtures (relu_compile_error_TESTING_ONLY, ...) among the
    backends to choose from."""
    monkeypatch.chdir(tmp_path)
    status, line = exit_line(monkeypatch, capsys, "bench_generate.py", *GENERATE, "--compile", "nope")
    assert status == 2
    assert line.startswith(
        "bench_generate.py: error: --compile: unknown torch.compile backend 'nope'; choose one"
    )
    assert "inductor" in line and "TESTING_ONLY" not in line and "minifier" not in line
    assert list(tmp_path.iterdir()) == []


def test_the_metrics_results_give_the_command_as_run(monkeypatch, capsys, tmp_path):
    """bench_metrics.py wrote a command of its own making into its results, which left out --threads (and
    named --frames, --size and --probe-size where they were not given); it now gives the command as run, less
    --out, like the other scripts (``_common.command``)."""
    import torch

    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    before = datetime.now(timezone.utc)
    out = tmp_path / "m.md"
    args = (
        "--frames",
        "2",
        "--size",
        "12",
        "--backends",
        "dis",
        "--clip-model",
        "microworld",
        "--threads",
        "1",
    )
    try:
        run_script(monkeypatch, "bench_metrics.py", *args, "--out", str(out))
    finally:  # the script sets them for this whole process
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
    text = out.read_text()
    assert (
        f"Command: `python bench/bench_metrics.py {' '.join(args)}`: one synthetic video of 2 frames" in text
    )
    assert "| probes | - | 64×64 |" in text and "**Incomplete:**" not in text
    assert dated_since(text, before)


ENHANCE = ("--frames", "2", "--size", "4", "--steps", "1", "--repeats", "1", "--threads", "1")
NO_CUDA = pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--dtype", "fp16"),
            "error: dtype fp16 is not supported on device cpu; use one of fp32, bf16",
        ),
        pytest.param(
            ("--device", "cuda"),
            "error: device 'cuda' requested but CUDA is not available; use --device cpu or --device auto",
            marks=NO_CUDA,
        ),
        (
            ("--preset", "modelscope-1.7b", "--resolution", "100x100"),
            "error: --resolution 100x100 (HxW) must have sides divisible by 8, the refiner VAE's scale factor "
            "(e.g. 96x96)",
        ),
        (  # said in the library's words, whose steps is the flag's name
            ("--steps", "700"),
            "error: steps (700) must be <= start_step (600): SDEdit runs distinct timesteps below the start step",
        ),
        (
            ("--resolution", "0x8"),
            "error: argument --resolution: expected HxW with positive sides such as 720x1280, got '0x8'",
        ),
    ],
)
def test_enhance_device_dtype_and_canvas_are_one_line(monkeypatch, capsys, tmp_path, args, expected):
    """The enhancer benchmark's --device, --dtype, --preset and --resolution: what the machine lacks (fp16 on
    the CPU, CUDA) and a canvas the full-size VAE cannot encode are one ``error:`` line before anything is
    built or written (the full-size refiner takes seconds and gigabytes to build)."""
    status, line = exit_line(
        monkeypatch, capsys, "bench_enhance.py", *ENHANCE, *args, "--out", f"{tmp_path}/"
    )
    assert status == 2
    assert line.startswith(f"bench_enhance.py: {expected}")
    assert list(tmp_path.iterdir()) == []


def test_enhance_other_runs_report_rate_and_memory_the_default_keeps_its_table(monkeypatch, tmp_path):
    """A run other than the default (here bf16 on the CPU) writes its own file, named like bench_generate's,
    with frames/s and the process's max RSS beside the seconds; the default run keeps enhance_cpu.md and the
    columns of the committed one."""
    threads, before = torch.get_num_threads(), datetime.now(timezone.utc)
    try:
        run_script(monkeypatch, "bench_enhance.py", *ENHANCE, "--dtype", "bf16", "--out", f"{tmp_path}/")
        run_script(monkeypatch, "bench_enhance.py", *ENHANCE, "--out", f"{tmp_path}/")
    finally:  # the script sets it for this whole process
        torch.set_num_threads(threads)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enhance_cpu.md", "enhance_cpu_bf16.md"]
    lines = (tmp_path / "enhance_cpu_bf16.md").read_text().splitlines()
    assert lines[3].startswith("Tiny random-weight refiner at 8x8, bf16 on cpu, 2 frames")
    assert "| schedule | max_batch_chunks | seconds | s/frame | frames/s | process max RSS (MiB) |" in lines
    rows = [ln.split("|")[1:-1] for ln in lines if ln.startswith(("| chunk", "| batched"))]
    assert [cells[0].strip() for cells in rows] == ["chunk-sequential", "batched 2", "batched all"]
    for cells in rows:
        assert float(cells[4]) == pytest.approx(1 / float(cells[3]), rel=0.02)  # frames/s = 1 / (s/frame)
        assert float(cells[5]) > 0
    default = (tmp_path / "enhance_cpu.md").read_text()
    assert "| schedule | max_batch_chunks | seconds | s/frame |\n|---|---|---|---|\n" in default
    assert "frames/s" not in default and "bf16" not in default
    assert "Tiny random-weight refiner at 8x8, fp32 on cpu, 2 frames" in default  # its dtype was unsaid
    assert dated_since(default, before) and dated_since("\n".join(lines), before)


def test_enhance_stopped_keeps_the_schedules_measured(monkeypatch, capsys, tmp_path):
    """SIGTERM in the second schedule (a GPU call's time limit: the full size takes minutes a schedule) keeps
    the first, marked incomplete, and says so in one line; the script wrote nothing before its end."""
    import streamt2v.pipeline.enhance as enhance_module

    real, calls = enhance_module.enhance_video, []

    def enhance_video(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(enhance_module, "enhance_video", enhance_video)
    out = tmp_path / "e.md"
    status, line = exit_line(monkeypatch, capsys, "bench_enhance.py", *ENHANCE, "--out", str(out))
    assert (status, line) == (
        143,
        f"interrupted (SIGTERM): {out} keeps the 1 row measured so far, marked incomplete",
    )
    text = out.read_text()
    assert "| chunk-sequential | 1 |" in text and "| batched" not in text
    assert "**Incomplete:**" in text


def test_enhance_full_size_refiner_has_the_official_refiners_size(monkeypatch):
    """``--preset modelscope-1.7b`` builds the official refiner's architecture: the ModelScope T2V UNet
    (1.41B parameters), the factor-8 VAE, a 23-layer 1024-wide text encoder, v-prediction, the 720x1280
    canvas, in the dtype asked for, leaving torch's default dtype as it was. Shapes only, on the meta device
    (the weights are 3.7 GB in bf16)."""
    monkeypatch.syspath_prepend(str(BENCH))
    build = runpy.run_path(str(BENCH / "bench_enhance.py"))["full_size_refiner"]
    refiner = build(torch.device("meta"), torch.bfloat16)
    assert torch.get_default_dtype() == torch.float32
    assert sum(p.numel() for p in refiner.unet.parameters()) == 1_411_233_860
    parts = (refiner.unet, refiner.vae, refiner.text_encoder)
    assert {p.dtype for part in parts for p in part.parameters()} == {torch.bfloat16}
    text = refiner.text_encoder.model.config
    assert (text.hidden_size, text.num_hidden_layers) == (1024, 23)
    assert refiner.unet.config.cross_attention_dim == 1024
    assert (refiner.vae.scale_factor, refiner.frame_size, refiner.prediction_type) == (
        8,
        (720, 1280),
        "v_prediction",
    )


@pytest.mark.parametrize(
    "given", [["--out", "/home/me/r.md"], ["--ou", "/home/me/r.md"], ["--o=/home/me/r.md"]]
)
def test_the_command_in_the_results_leaves_out_out_however_abbreviated(monkeypatch, given):
    # argparse takes --ou and --o for --out: the results file recorded the private path given with them
    monkeypatch.syspath_prepend(str(BENCH))
    from _common import command

    monkeypatch.setattr(sys, "argv", ["bench/bench_generate.py", "--lengths", "8", *given, "--steps", "1"])
    assert command() == "python bench/bench_generate.py --lengths 8 --steps 1"


def test_the_demo_says_each_video_as_it_is_made(monkeypatch, capsys, tmp_path):
    # it printed nothing until its table: minutes of silence at its defaults (3 videos of ~30 s)
    threads, before = torch.get_num_threads(), datetime.now(timezone.utc)
    try:
        run_script(monkeypatch, "bench_demo.py", "--frames", "8", "--steps", "1", "--init-steps", "1",
                   "--repeats", "2", "--out", str(tmp_path / "d.md"))  # fmt: skip
    finally:  # the script sets it for this whole process
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Machine: ")
    assert [line.split(":")[0] for line in lines[1:3]] == ["video 1/2", "video 2/2"]
    assert "stages 1-2 " in lines[1] and "stage 3 " in lines[1] and lines[3].startswith("# Demo")
    assert dated_since((tmp_path / "d.md").read_text(), before)


def test_the_demo_benchmarks_seed_is_checked_by_its_flag(monkeypatch, capsys, tmp_path):
    # a plain int: a negative seed or one past torch's 64 bits was refused later, by the pipeline, unnamed
    status, line = exit_line(monkeypatch, capsys, "bench_demo.py", "--seed", "-1", "--out", f"{tmp_path}/")
    assert status == 2 and line.endswith(
        f"error: argument --seed: expected an integer from 0 to {2**64 - 1}, got '-1'"
    ), line
