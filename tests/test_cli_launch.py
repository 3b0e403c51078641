"""The command line under a launcher (torchrun, accelerate launch: LOCAL_RANK and a WORLD_SIZE > 1), where
every process runs the same command."""

from __future__ import annotations

import pytest

from streamt2v.cli import main


@pytest.mark.parametrize(
    "rank, local_rank, said",
    [
        ("0", "0", True),  # the launch's main process
        ("1", "1", False),  # another process of its machine
        ("3", "0", True),  # another machine's first process: its files may differ, it says its own
        ("3", "1", False),
        ("1", None, True),  # a job platform's node rank, no launcher: a single process says all
    ],
)
def test_an_error_every_process_of_a_training_launch_meets_is_said_once_a_machine(
    tmp_path, capsys, monkeypatch, rank, local_rank, said
):
    """Every process of a launch printed the same error, of the command line or of the checks the run makes
    before its processes join their group: the machine's first process (LOCAL_RANK 0) alone says it now, the
    others end with the same exit status. What one process may meet alone (an error of the accelerator joining
    them) each says; evaluate, which each process of a launch runs whole on its own, says its errors in each;
    and a WORLD_SIZE and RANK a job platform left without a launcher's LOCAL_RANK silence nothing."""
    (tmp_path / "f.txt").write_text("")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")

    def joined(*args, **kwargs):  # the accelerator joins the launch's processes: no check comes after it here
        raise RuntimeError("could not join the process group")

    monkeypatch.setattr("accelerate.Accelerator", joined)
    monkeypatch.setattr("streamt2v.cli.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", rank)
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert main(["train", "vae", "--out", str(tmp_path / "f.txt" / "run"), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write --out") == said
    # an --out that is not empty and holds no run, found before the processes join
    assert main(["train", "vae", "--out", str(tmp_path / "full"), "--cpu", "--no-progress"]) == 2
    assert ("is not empty; pass --resume" in capsys.readouterr().err) == said
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "vae", "--out", str(tmp_path / "run"), "--stepz", "1"])
    assert exit_.value.code == 2
    assert ("error: unrecognized arguments: --stepz 1" in capsys.readouterr().err) == said
    assert main(["train", "vae", "--out", str(tmp_path / "run"), "--cpu", "--no-progress"]) == 2
    assert "error: could not join the process group" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.mp4")]) == 2
    assert capsys.readouterr().err.startswith("error: video or folder not found")
