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
    them) each says; and a WORLD_SIZE and RANK a job platform left without a launcher's LOCAL_RANK silence
    nothing."""
    (tmp_path / "f.txt").write_text("")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")

    def joined(*args, **kwargs):  # the accelerator joins the launch's processes: no check comes after it here
        raise RuntimeError("could not join the process group")

    monkeypatch.setattr("accelerate.Accelerator", joined)
    monkeypatch.setattr("streamt2v.cli.launched.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
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
    assert ("error: unrecognized arguments: --stepz (--steps?) 1" in capsys.readouterr().err) == said
    assert main(["train", "vae", "--out", str(tmp_path / "run"), "--cpu", "--no-progress"]) == 2
    assert "error: could not join the process group" in capsys.readouterr().err


@pytest.mark.parametrize(
    "rank, local_rank, said",
    [("0", "0", True), ("1", "1", False), ("3", "0", True), ("3", "1", False)],
)
def test_evaluate_under_a_launcher_is_refused_once_a_machine(
    tmp_path, capsys, monkeypatch, rank, local_rank, said
):
    """Each process of a launch ran the whole evaluation and wrote the same --out: it is refused before any
    video is read, saying how to run it, by the first process of each machine."""
    monkeypatch.setattr("streamt2v.cli.launched.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    out = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path / "missing.mp4"), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    expected = (
        "error: evaluate runs as one process, and a launcher (torchrun, accelerate launch) started it as 4 "
        "(WORLD_SIZE=4): each process would score every video and write the same --out; run it without the "
        "launcher, choosing its GPU with --device cuda:N\n"
    )
    assert err == (expected if said else "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rank, local_rank, said", [("0", "0", True), ("1", "1", False)])
def test_enhance_under_a_launcher_is_refused_once_a_machine(
    tmp_path, capsys, monkeypatch, rank, local_rank, said
):
    """Each process of a launch enhanced the whole video and wrote the same -o: it is refused before the video
    is read, as evaluate is."""
    monkeypatch.setattr("streamt2v.cli.launched.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    line = ["enhance", str(tmp_path / "missing.mp4"), "--prompt", "a", "-o", str(tmp_path / "o.mp4")]
    assert main([*line, "--no-progress"]) == 2
    expected = (
        "error: enhance runs as one process, and a launcher (torchrun, accelerate launch) started it as 2 "
        "(WORLD_SIZE=2): each process would enhance the whole video and write the same -o; run it without the "
        "launcher, choosing its GPU with --device cuda:N\n"
    )
    assert capsys.readouterr().err == (expected if said else "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rank, local_rank, said", [("0", "0", True), ("1", "1", False)])
@pytest.mark.parametrize(
    "line, why",
    [
        (
            ["generate", "a red circle", "--model", "tiny", "--frames", "8", "-o", "g.mp4"],
            "each process would make the whole video and write the same files; run it without the launcher, "
            "choosing its GPU with --device cuda:N",
        ),
        (
            ["generate", "--resume", "run"],
            "each process would make the whole video and write the same files; run it without the launcher, "
            "choosing its GPU with --device cuda:N",
        ),
        (
            ["convert", "streaming_t2v.ckpt", "model"],
            "each process would convert the whole checkpoint and write the same folder; run it without the "
            "launcher",
        ),
        (
            ["assemble", "model", "--unet", "runs/stream", "model"],
            "each process would assemble the whole model and write the same folder; run it without the launcher",
        ),
    ],
)
def test_generate_convert_and_assemble_under_a_launcher_are_refused_once_a_machine(
    tmp_path, capsys, monkeypatch, rank, local_rank, said, line, why
):
    """Each process of a launch generated the whole video (or converted the whole checkpoint, or assembled
    the whole model) and wrote the same files: refused before anything is read, as enhance and evaluate are."""
    monkeypatch.setattr("streamt2v.cli.launched.LEFT_TO_THE_FIRST_WAIT_S", 0.0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert main([*line, "--no-progress"]) == 2
    expected = (
        f"error: {line[0]} runs as one process, and a launcher (torchrun, accelerate launch) started it as 2 "
        f"(WORLD_SIZE=2): {why}\n"
    )
    assert capsys.readouterr().err == (expected if said else "")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_with_a_job_platforms_world_size_and_no_launcher_runs(tmp_path, capsys, monkeypatch):
    """A WORLD_SIZE and RANK left by a job platform, without a launcher's LOCAL_RANK: one process, run."""
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert main(["evaluate", str(tmp_path / "missing.mp4")]) == 2
    assert capsys.readouterr().err.startswith("error: video or folder not found")
