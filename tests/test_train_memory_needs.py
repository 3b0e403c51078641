"""A CPU run whose network and training state cannot fit in the machine's memory is refused before the
network is built (``train base --preset modelscope-1.7b`` on 23 GB without a GPU was killed by the kernel in
its first step, without a word), naming both figures and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamt2v.arguments import ArgumentRuntimeError
from streamt2v.cli import main
from streamt2v.train.loop import TrainConfig
from streamt2v.train.memory_needs import available_memory, check_training_memory
from streamt2v.train.recipes import make_recipe


def test_a_full_size_preset_is_refused_on_a_machine_of_23_gb_naming_both_figures():
    full = make_recipe("base", preset="modelscope-1.7b")
    with pytest.raises(ArgumentRuntimeError) as err:
        check_training_memory(full, TrainConfig(), available=23 * 10**9)
    said = str(err.value)
    assert said.startswith(
        "the base network of preset 'modelscope-1.7b' (1.41 billion parameters, all trained)"
    )
    assert "needs at least 28.2 GB of memory to train on the CPU" in said
    assert (
        "this machine has 23.0 GB available (free RAM and swap): train it on a GPU, or choose a smaller "
        in said
    )
    assert said.endswith("preset (tiny or small); without the EMA (ema_decay=None) at least 22.6 GB")
    flags = err.value.as_flags().spelled(flags=True)
    assert "a smaller --preset (tiny or small); without the EMA (--ema-decay 0) at least 22.6 GB" in flags
    # the stream's temporal base layers are frozen: counted as weights alone
    with pytest.raises(ArgumentRuntimeError, match=r"\(2\.12 billion parameters, 1\.58 billion trained\)"):
        check_training_memory(make_recipe("stream", preset="modelscope-1.7b"), TrainConfig(), 23 * 10**9)
    # each process of a launch on the machine holds its own
    check_training_memory(make_recipe("base"), TrainConfig(), available=50 * 10**6)
    with pytest.raises(ArgumentRuntimeError, match=", 2 processes each holding their own"):
        check_training_memory(make_recipe("base"), TrainConfig(), available=50 * 10**6, processes=2)
    check_training_memory(full, TrainConfig(), available=None)  # unknown (not Linux): not checked


def test_available_memory_is_free_ram_and_swap(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(
        "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\nSwapFree:        1000000 kB\n"
    )
    assert available_memory(meminfo) == 21_000_000 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")  # a kernel before 3.14
    assert available_memory(meminfo) is None
    assert available_memory(tmp_path / "absent") is None


def test_train_refuses_before_building_or_writing_anything(tmp_path, monkeypatch, capsys):
    from streamt2v.train import loop

    monkeypatch.setattr(loop, "available_memory", lambda: 10**6)  # 1 MB: the tiny preset needs more
    out = tmp_path / "run"
    assert main(["train", "base", "--out", str(out), "--vae", "nope", "--clip", "nope", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the base network of preset 'tiny' (") and "this machine has 0.0 GB" in err
    assert not out.exists()  # refused before the missing --vae would be found, at the build
