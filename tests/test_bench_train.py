"""bench/bench_train.py through its command line (main), on the CPU at the smallest sizes."""

from __future__ import annotations

import re
import runpy
import sys
import time
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", ["bench_train.py", *args])
    runpy.run_path(str(BENCH / "bench_train.py"), run_name="__main__")


def table_rows(path: Path) -> list[list[str]]:
    lines = [
        ln for ln in path.read_text().splitlines() if ln.startswith("| ") and not ln.startswith("| run ")
    ]
    return [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines]


def test_out_of_memory_is_a_row_and_the_rest_is_measured(monkeypatch, tmp_path):
    """A batch that does not fit (torch.OutOfMemoryError, which only a GPU raises: simulated here for one
    batch size around the real loop) is a row of the table, and the next batch is still measured; the
    benchmark used to end in the traceback with no results written."""
    import streamt2v.train.loop as loop

    real_train = loop.train

    def train(recipe, cfg, out_dir, **kw):
        if cfg.batch_size == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
        return real_train(recipe, cfg, out_dir, **kw)

    monkeypatch.setattr(loop, "train", train)
    out = tmp_path / "train.md"
    day = time.strftime("%Y-%m-%d", time.gmtime())
    run_bench(
        monkeypatch,
        "--runs",
        "clip",
        "--batch-sizes",
        "2",
        "1",
        "--warmup",
        "0",
        "--steps",
        "1",
        "--out",
        str(out),
    )
    rows = table_rows(out)
    assert [r[:4] for r in rows] == [
        ["clip", "clip", "2", "out of memory"],
        ["clip", "clip", "1", rows[1][3]],
    ]
    assert float(rows[1][4]) > 0  # s/step of the batch that fit
    assert "Incomplete" not in out.read_text()
    # the date it was measured (there was none): the day the run began (or the next, past midnight)
    dated = re.search(
        r"Started (\d{4}-\d\d-\d\d) \d\d:\d\d UTC \(load average (?:[\d.]+|unknown) on \d+ cores?\)\. Device cpu",
        out.read_text(),
    )
    assert dated and dated[1] >= day


_BACKEND_CALLS: list[int] = []


def _counting_backend(gm, example_inputs):  # compiles nothing, counts the graphs dynamo hands over
    _BACKEND_CALLS.append(len(example_inputs))
    return gm.forward


def test_compile_measures_every_row_compiled(monkeypatch, tmp_path):
    """Every measurement compiles, as a new process would: dynamo compiles one function for at most 8
    shapes per process and then runs it eagerly (a warning only), so the 9th and later rows of a
    ``--compile`` benchmark (13 runs at 3 batch sizes) were silently eager while the file said
    torch.compile."""
    from torch._dynamo import list_backends, register_backend

    if "counting_bench_backend" not in list_backends(exclude_tags=()):
        register_backend(_counting_backend, name="counting_bench_backend")
    calls = _BACKEND_CALLS

    # dynamo's limit lowered from 8 to 2 (torch._dynamo.config.recompile_limit): three rows then show it
    counts = []
    with torch._dynamo.config.patch(recompile_limit=2):
        for sizes in (["1", "2", "3"], ["3"]):  # three batch sizes in one benchmark, then the third alone
            calls.clear()
            args = ["--runs", "clip", "--batch-sizes", *sizes, "--warmup", "0", "--steps", "1"]
            out = str(tmp_path / f"{len(sizes)}.md")
            run_bench(monkeypatch, *args, "--compile", "counting_bench_backend", "--out", out)
            counts.append(len(calls))
    alone = counts[1]
    assert alone > 0
    # three rows compile three times what one row compiles (the third too)
    assert counts[0] == 3 * alone


def test_preset_times_the_unet_runs_at_another_architecture(monkeypatch, tmp_path):
    """``--preset small``: the stream run is timed at the small preset, on a random small base UNet (the
    shipped tiny base would be refused by the stream recipe at that preset)."""
    out = tmp_path / "r"
    run_bench(
        monkeypatch,
        *("--runs", "stream", "--preset", "small", "--batch-sizes", "1", "--warmup", "0", "--steps", "1"),
        *("--out", f"{out}/"),
    )
    path = out / "train_cpu_small.md"
    assert "UNet preset small (random weights)" in path.read_text()
    assert [r[:3] for r in table_rows(path)] == [["stream", "stream", "1"]]
