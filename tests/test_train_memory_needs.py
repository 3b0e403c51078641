"""A CPU run whose network and training state cannot fit in the machine's memory is refused before the
network is built (``train base --preset modelscope-1.7b`` on 23 GB without a GPU was killed by the kernel in
its first step, without a word), naming both figures and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamt2v.arguments import ArgumentRuntimeError
from streamt2v.cli import main
from streamt2v.launcher import processes_on_this_machine
from streamt2v.train.loop import TrainConfig
from streamt2v.train.memory_needs import Available, available_memory, check_training_memory
from streamt2v.train.recipes import make_recipe


def test_a_full_size_preset_is_refused_on_a_machine_of_23_gb_naming_both_figures():
    full = make_recipe("base", preset="modelscope-1.7b")
    with pytest.raises(ArgumentRuntimeError) as err:
        check_training_memory(full, TrainConfig(), available=Available(23 * 10**9))
    said = str(err.value)
    assert said.startswith(
        "the base network of preset 'modelscope-1.7b' (1.41 billion parameters, all trained)"
    )
    assert "needs at least 28.2 GB of memory to train on the CPU" in said
    assert (
        "this machine has 23.0 GB available (free RAM and swap): train it on a GPU, or choose a smaller "
        in said
    )
    assert said.endswith(
        "preset (tiny or small); without the EMA (ema_decay=None) at least 22.6 GB; to try anyway: "
        "memory_check=False"
    )
    flags = err.value.as_flags().spelled(flags=True)
    assert (
        "a smaller --preset (tiny or small); without the EMA (--ema-decay 0) at least 22.6 GB; to try anyway: "
        "--no-memory-check" in flags
    )
    # the stream's temporal base layers are frozen: counted as weights alone; its base is a base run's
    with pytest.raises(ArgumentRuntimeError) as err:
        check_training_memory(
            make_recipe("stream", preset="modelscope-1.7b"), TrainConfig(), Available(23 * 10**9)
        )
    assert "(2.12 billion parameters, 1.58 billion trained)" in str(err.value)
    assert "smaller preset (tiny or small) and train a base run of that preset first;" in str(err.value)
    # each process of a launch on the machine holds its own
    check_training_memory(make_recipe("base"), TrainConfig(), available=Available(50 * 10**6))
    with pytest.raises(ArgumentRuntimeError, match=", 2 processes each holding their own"):
        check_training_memory(
            make_recipe("base"), TrainConfig(), available=Available(50 * 10**6), processes=2
        )
    check_training_memory(full, TrainConfig(), available=None)  # unknown (not Linux): not checked


def test_available_memory_is_free_ram_and_swap(tmp_path: Path):
    meminfo, none = tmp_path / "meminfo", tmp_path / "absent"
    meminfo.write_text(
        "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\nSwapFree:        1000000 kB\n"
    )
    assert available_memory(meminfo, none, none).size == 21_000_000 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")  # a kernel before 3.14
    assert available_memory(meminfo, none, none) is None
    assert available_memory(none, none, none) is None


def _cgroup(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_available_memory_is_at_most_what_the_containers_memory_cgroup_allows(tmp_path: Path):
    """A container's limit, which /proc/meminfo does not show: its limit less its use, the inactive file
    cache not counted as used, the least of the cgroup's and those above it; swap on top."""
    meminfo, proc, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text("MemAvailable:   20000000 kB\nSwapFree:        1000 kB\n")
    gib = 2**30
    # v2: the job's cgroup allows 8 GiB, uses 5 of which 2 are inactive file cache: 5 GiB left
    proc.write_text("0::/jobs/one\n")
    _cgroup(
        root / "jobs" / "one",
        {
            "memory.max": f"{8 * gib}\n",
            "memory.current": f"{5 * gib}\n",
            "memory.stat": f"anon 1\ninactive_file {2 * gib}\n",
        },
    )
    assert available_memory(meminfo, proc, root).size == 5 * gib + 1000 * 1024
    _cgroup(
        root / "jobs",
        {
            "memory.max": f"{4 * gib}\n",
            "memory.current": f"{5 * gib}\n",
            "memory.stat": f"inactive_file {2 * gib}\n",
        },
    )
    assert available_memory(meminfo, proc, root).size == 1 * gib + 1000 * 1024  # the parent allows less
    _cgroup(root / "jobs", {"memory.max": "max\n"})
    _cgroup(root / "jobs" / "one", {"memory.max": "max\n"})
    assert available_memory(meminfo, proc, root).size == 20_001_000 * 1024  # no limit: the machine's
    # v1, the host's path of a container whose own cgroup is mounted at the root
    proc.write_text("5:cpu,cpuacct:/docker/x\n4:memory:/docker/x\n0::/\n")
    _cgroup(
        root / "memory",
        {
            "memory.limit_in_bytes": f"{3 * gib}\n",
            "memory.usage_in_bytes": f"{2 * gib}\n",
            "memory.stat": f"inactive_file 5\ntotal_inactive_file {gib}\n",
        },
    )
    assert available_memory(meminfo, proc, root).size == 2 * gib + 1000 * 1024
    # the refusal says the figure is the container's (it said 'free RAM and swap')
    with pytest.raises(
        ArgumentRuntimeError, match=r"2\.1 GB available \(what this container's memory limit "
    ):
        check_training_memory(
            make_recipe("base", preset="modelscope-1.7b"),
            TrainConfig(),
            available_memory(meminfo, proc, root),
        )
    # a level whose memory.stat cannot be read keeps its limit (it was ignored): its use counted whole
    (root / "memory" / "memory.stat").unlink()
    assert available_memory(meminfo, proc, root).size == 1 * gib + 1000 * 1024
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's no limit
    assert available_memory(meminfo, proc, root) == (20_001_000 * 1024, "free RAM and swap")


def test_the_estimate_counts_the_text_encoders_width_not_the_presets():
    """The cross-attention layers take the micro-CLIP's width (64), not the preset's 1024."""
    import streamt2v

    clip = str(Path(streamt2v.__file__).parent / "assets" / "microworld")
    preset, micro = (
        make_recipe("base", preset="modelscope-1.7b", clip=c).parameter_counts()[0] for c in ("", clip)
    )
    assert (preset, micro) == (1_411_233_860, 1_387_272_260)


def test_train_refuses_before_building_or_writing_anything(tmp_path, monkeypatch, capsys):
    from streamt2v.train import loop

    monkeypatch.setattr(
        loop, "available_memory", lambda: Available(10**6)
    )  # 1 MB: the tiny preset needs more
    out = tmp_path / "run"
    # --cpu: a GPU run is not checked
    command = ["train", "base", "--out", str(out), "--vae", "nope", "--clip", "nope", "--steps", "1", "--cpu"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the base network of preset 'tiny' (") and "this machine has 0.0 GB" in err
    assert err.endswith("; to try anyway: --no-memory-check")
    assert not out.exists()  # refused before the missing --vae would be found, at the build
    assert main([*command, "--no-memory-check"]) == 2  # not checked: the build finds no --vae
    assert "--vae" in capsys.readouterr().err.strip().splitlines()[-1]


def test_swap_counts_no_more_than_the_containers_swap_limit_allows(tmp_path: Path):
    """SwapFree is the machine's: a container's cgroup may allow less of it (v2's memory.swap.max, each level
    that sets one), or less of RAM and swap together (v1's memory.memsw.limit_in_bytes)."""
    meminfo, proc, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text("MemAvailable:   20000000 kB\nSwapFree:        8000000 kB\n")
    ram, gib = 20_000_000 * 1024, 2**30
    proc.write_text("0::/jobs/one\n")
    _cgroup(root / "jobs" / "one", {"memory.swap.max": f"{3 * gib}\n", "memory.swap.current": f"{gib}\n"})
    assert available_memory(meminfo, proc, root) == (
        ram + 2 * gib,
        "free RAM and what this container's swap limit still allows",
    )
    _cgroup(root / "jobs", {"memory.swap.max": f"{gib}\n", "memory.swap.current": f"{gib // 2}\n"})
    assert available_memory(meminfo, proc, root).size == ram + gib // 2  # the parent allows less
    _cgroup(root / "jobs", {"memory.swap.max": "0\n", "memory.swap.current": "0\n"})  # no swap at all
    assert available_memory(meminfo, proc, root).size == ram
    _cgroup(root / "jobs", {"memory.max": f"{4 * gib}\n", "memory.current": f"{gib}\n"})
    assert available_memory(meminfo, proc, root) == (
        3 * gib,
        "what this container's memory and swap limits still allow",
    )
    for level in (root / "jobs", root / "jobs" / "one"):  # "max": no limit
        _cgroup(level, {"memory.max": "max\n", "memory.swap.max": "max\n"})
    assert available_memory(meminfo, proc, root) == (ram + 8_000_000 * 1024, "free RAM and swap")
    # v1: memory.memsw caps RAM and swap together, the inactive file cache not counted as used
    proc.write_text("4:memory:/docker/x\n")
    _cgroup(
        root / "memory" / "docker" / "x",
        {
            "memory.limit_in_bytes": f"{4 * gib}\n",
            "memory.usage_in_bytes": f"{gib}\n",
            "memory.memsw.limit_in_bytes": f"{6 * gib}\n",
            "memory.memsw.usage_in_bytes": f"{2 * gib}\n",
            "memory.stat": f"total_inactive_file {gib}\n",
        },
    )
    assert available_memory(meminfo, proc, root) == (
        5 * gib,
        "what this container's memory and swap limit still allows",
    )
    # a RAM and swap limit that leaves more than RAM and swap: the RAM limit alone counts
    (root / "memory" / "docker" / "x" / "memory.memsw.limit_in_bytes").write_text(f"{100 * gib}\n")
    assert available_memory(meminfo, proc, root) == (
        4 * gib + 8_000_000 * 1024,
        "what this container's memory limit still allows, and swap",
    )


@pytest.mark.parametrize(
    "environment, processes",
    [
        ({}, 1),
        ({"WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}, 4),
        ({"WORLD_SIZE": "8", "LOCAL_RANK": "1"}, 8),  # a launcher that does not say: all of them
        ({"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, 1),  # a job platform's, no launcher: one process
        ({"WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}, 1),
    ],
)
def test_the_processes_on_this_machine_are_counted_before_they_join(monkeypatch, environment, processes):
    for name in ("WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert processes_on_this_machine() == processes


@pytest.mark.parametrize(
    "rank, local_rank, first",
    [("0", "0", True), ("1", "1", False), ("2", "0", True), ("3", "1", False)],
)
def test_a_launchs_memory_is_checked_by_the_first_process_of_each_machine_before_they_join(
    tmp_path, monkeypatch, capsys, rank, local_rank, first
):
    """Checked after the accelerator joined a launch's processes, each process said the refusal. It is checked
    before they join, counting the processes of the machine (LOCAL_WORLD_SIZE), by the first of each machine
    alone: each reading the free memory itself, another refused alone left the first waiting to join (until
    the launcher killed it, without a word). The others go on to join, and the launcher stops them when the
    first exits."""
    from streamt2v.train import loop

    def joined(*args, **kwargs):  # the accelerator joins the launch's processes
        raise RuntimeError("could not join the process group")

    monkeypatch.setattr("accelerate.Accelerator", joined)
    monkeypatch.setattr("streamt2v.cli.launched.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
    # 50 MB: the tiny base run fits once, not twice
    monkeypatch.setattr(loop, "available_memory", lambda: Available(50 * 10**6))
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    command = ["train", "base", "--out", str(tmp_path / "run"), "--steps", "1", "--cpu", "--no-progress"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert (", 2 processes each holding their own" in err) == first
    assert ("error: could not join the process group" in err) != first
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # fits: the accelerator is made
    assert main(command) == 2
    assert "error: could not join the process group" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_what_an_earlier_run_of_the_process_fixed_is_told_before_the_memory(tmp_path, monkeypatch):
    """The memory check came before the check of what an earlier run in the process fixed (its precision, its
    device): a second run was refused for the memory, and with it resized, for its precision after all."""
    from accelerate.state import AcceleratorState

    from conftest import tiny_vae
    from streamt2v.train import loop
    from streamt2v.train.loop import train

    train(tiny_vae(), TrainConfig(steps=1, batch_size=1), tmp_path / "a", progress=False, export=False)
    was = AcceleratorState().mixed_precision  # this process's first run's, if none ran before
    other = "bf16" if was == "no" else "no"
    monkeypatch.setattr(loop, "available_memory", lambda: Available(1000))
    base = make_recipe("base", vae="nope", clip="nope")
    with pytest.raises(
        ValueError, match=f"^an earlier run in this process trained with mixed_precision='{was}'"
    ):
        train(base, TrainConfig(steps=1, mixed_precision=other, cpu=True), tmp_path / "b", progress=False)


@pytest.mark.parametrize("accelerator", ["xpu", "npu", "torch_xla"])
def test_a_run_on_another_accelerator_than_cuda_is_not_the_cpus(monkeypatch, accelerator):
    """trains_on_the_cpu knew CUDA and MPS alone: on Intel's XPU or Ascend's NPU, which accelerate trains on, a
    run was checked for the CPU's memory and fp16 was refused as needing a GPU; so it did for XLA (TPUs)."""
    import accelerate.state
    import accelerate.utils
    import torch

    from streamt2v.train.train_config import trains_on_the_cpu

    monkeypatch.setattr(accelerate.state, "is_initialized", lambda: False)  # no earlier run's state
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    for name in ("mps", "mlu", "sdaa", "musa", "npu", "hpu", "xpu", "neuron", "torch_xla"):
        monkeypatch.setattr(accelerate.utils, f"is_{name}_available", lambda *a, **k: False, raising=False)
    assert trains_on_the_cpu(False)
    monkeypatch.setattr(accelerate.utils, f"is_{accelerator}_available", lambda *a, **k: True)
    assert not trains_on_the_cpu(False)
    assert trains_on_the_cpu(True)


def test_only_the_presets_smaller_than_the_runs_are_advised():
    """The refusal advised "a smaller preset (tiny or small)" whatever the run's preset: for small it named
    small itself, for tiny two presets no smaller."""
    from streamt2v.config import PRESETS, PRESETS_BY_SIZE
    from streamt2v.train.memory_needs import smaller_presets

    assert sorted(PRESETS_BY_SIZE) == sorted(PRESETS)  # every preset is ranked
    # each preset's network is bigger than the one before it
    sizes = [make_recipe("base", preset=p).parameter_counts()[0] for p in PRESETS_BY_SIZE]
    assert sizes == sorted(sizes)
    assert smaller_presets("modelscope-1.7b") == ["tiny", "small"] and smaller_presets(None) == []
    for preset, advice in (("small", ", or choose a smaller preset (tiny);"), ("tiny", None)):
        with pytest.raises(ArgumentRuntimeError) as err:
            check_training_memory(make_recipe("base", preset=preset), TrainConfig(), Available(10**6))
        said = str(err.value)
        assert "train it on a GPU" in said
        if advice is None:
            assert "smaller" not in said and "train it on a GPU; to try anyway: memory_check=False" in said
        else:
            assert advice in said
