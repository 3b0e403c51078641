"""What ``streamt2v generate`` writes and what it never replaces: a user's folders and files (files only with
--overwrite), a file where a preview goes, no run directory after a failed start, and an output whose
first segment is shorter than the others."""

from __future__ import annotations

import torch

from conftest import FAST_CLI
from streamt2v.cli import main
from streamt2v.io.video import read_video


def test_cli_never_deletes_user_folders_and_needs_overwrite_for_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("x")
    for argv in (["-o", "mydocs"], ["-o", "o.mp4", "--png-dir", "mydocs"]):
        assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, *argv]) == 2
        err = capsys.readouterr().err
        assert "'mydocs'" in err and "thesis.txt" in err, err
    assert (docs / "thesis.txt").read_text() == "x" and not (tmp_path / "runs").exists()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--png-dir", "frames"]) == 0
    before = (tmp_path / "o.mp4").read_bytes()
    capsys.readouterr()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--seed", "5"]) == 2
    assert "'o.mp4' already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "o.mp4").read_bytes() == before
    argv = [
        "generate",
        "a cat",
        "--frames",
        "8",
        *FAST_CLI,
        "-o",
        "o.mp4",
        "--png-dir",
        "frames",
        "--overwrite",
    ]
    assert main([*argv, "--seed", "5"]) == 0
    assert (tmp_path / "o.mp4").read_bytes() != before
    # a resumed run replaces its own outputs, but not a file the user put into its PNG folder
    run = sorted((tmp_path / "runs").iterdir())[-1]
    (tmp_path / "frames" / "mine.txt").write_text("keep")
    capsys.readouterr()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 2
    assert "mine.txt" in capsys.readouterr().err
    assert (tmp_path / "frames" / "mine.txt").read_text() == "keep"
    (tmp_path / "frames" / "mine.txt").unlink()
    assert main(["generate", "--resume", str(run), "--no-progress"]) == 0


def test_an_output_over_its_input_is_refused_even_with_overwrite(tmp_path, monkeypatch, capsys):
    """Extending a video in place replaced the user's video with the extension, resized to the model's
    frames (ffmpeg refuses an output that is its input, too)."""
    monkeypatch.chdir(tmp_path)
    assert (
        main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "clip.mp4", "--png-dir", "frames"]) == 0
    )
    clip, frames = (tmp_path / "clip.mp4").read_bytes(), sorted((tmp_path / "frames").iterdir())
    capsys.readouterr()
    for inputs, output in (
        (["--init-video", "clip.mp4"], ["-o", "clip.mp4"]),
        (["--init-video", "frames"], ["-o", "new.mp4", "--png-dir", "frames"]),
        (["--init-image", "frames/frame_000000.png"], ["-o", "frames/frame_000000.png"]),
    ):
        assert main(["generate", "a cat", "--frames", "16", *FAST_CLI, *inputs, *output, "--overwrite"]) == 2
        assert f"is the {inputs[0]} input; give another output path" in capsys.readouterr().err
    assert (tmp_path / "clip.mp4").read_bytes() == clip and sorted((tmp_path / "frames").iterdir()) == frames
    assert not (tmp_path / "new.mp4").exists()


def test_a_file_where_the_preview_goes_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys):
    """out.partial.mp4 was replaced by the preview and then renamed to out.mp4: the user's file was gone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.partial.mp4").write_text("mine")
    (tmp_path / "g.partial.gif").write_text("mine too")
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "out.mp4"]) == 2
    err = capsys.readouterr().err
    assert "error: 'out.partial.mp4', where the preview of output 'out.mp4' is written" in err, err
    assert "pass --overwrite" in err
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o2.mp4", "--gif", "g.gif"]) == 2
    assert "'g.partial.gif', where the preview of --gif 'g.gif'" in capsys.readouterr().err
    assert (tmp_path / "out.partial.mp4").read_text() == "mine" and not (tmp_path / "out.mp4").exists()
    assert not (tmp_path / "runs").exists()
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "out.mp4", "--overwrite"]) == 0
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 8 and not (tmp_path / "out.partial.mp4").exists()


def test_short_init_video_then_longer_chunks(tmp_path, monkeypatch):
    """A 2-frame H.264 segment followed by 8-frame ones used to fail remuxing ('returned 22')."""
    from streamt2v.io.video import write_video

    monkeypatch.chdir(tmp_path)
    write_video("v2.mp4", torch.rand(1, 3, 2, 32, 32) * 2 - 1, fps=8)
    assert (
        main(["generate", "a cat", "--init-video", "v2.mp4", "--frames", "10", "-o", "iv4.mp4", *FAST_CLI])
        == 0
    )
    assert read_video(tmp_path / "iv4.mp4")[0].shape[2] == 10


def test_failed_start_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv, match in [
        (["--cond-frames", "4"], "does not match the model's CAM"),
        (["--chunk-strength", "0.5", "--steps", "1000"], "too close to the end for --steps 1000"),
    ]:
        for _ in range(2):  # a rerun with the same --run-dir gives the same error, not "already holds a run"
            assert main(["generate", "a cat", "--frames", "24", *FAST_CLI, "--run-dir", "r", *argv]) == 2
            assert match in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_run_directory_in_a_png_output_folder_is_refused_up_front(tmp_path, monkeypatch, capsys):
    """``-o runs`` (the default run directory runs/<time>-<prompt> then lies in it) or ``-o frames --run-dir
    frames/run``: the folder's writer refused the run's own files as another's ("already holds files that are
    not frames ... ('20261125-...')") after the model had loaded, and left the folder behind."""
    monkeypatch.chdir(tmp_path)
    cases = [
        (["-o", "runs"], "is in the output folder 'runs'", "the default run directory is under 'runs'"),
        (["-o", "f", "--run-dir", "f/run"], "run directory 'f/run' is in the output folder 'f'", "give -o"),
        (
            ["-o", "o.mp4", "--png-dir", "p", "--run-dir", "p"],
            "in the --png-dir folder 'p'",
            "give --png-dir",
        ),
    ]
    for argv, where, how in cases:
        assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, *argv]) == 2
        err = capsys.readouterr().err
        assert where in err and how in err and "which is to hold only its frames" in err, err
        assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "f", "--run-dir", "f-run"]) == 0


def test_a_run_directory_at_an_output_files_path_is_refused_up_front(tmp_path, monkeypatch, capsys):
    """``-o x.mp4 --run-dir x.mp4``: the run's folder was made there, then the video refused as 'an existing
    folder', the folder left behind."""
    monkeypatch.chdir(tmp_path)
    for argv, what in ((["-o", "x.mp4"], "output"), (["-o", "o.mp4", "--gif", "x.mp4.gif"], "--gif")):
        run = argv[-1]
        assert main(["generate", "a cat", "--frames", "8", *FAST_CLI, *argv, "--run-dir", run]) == 2
        err = capsys.readouterr().err
        assert f"error: run directory {run!r} is the {what} path; give --run-dir another folder" in err, err
        assert list(tmp_path.iterdir()) == []


def test_a_png_dir_with_a_suffix_is_refused_up_front(tmp_path, monkeypatch, capsys):
    """``--png-dir frames.mp4`` wrote a second mp4 there, no PNG; ``--png-dir out/v.png`` was refused as
    'cannot write video to ...', --png-dir not named."""
    monkeypatch.chdir(tmp_path)
    for png_dir in ("frames.mp4", "out/v.png"):
        assert (
            main(["generate", "a cat", "--frames", "8", *FAST_CLI, "-o", "o.mp4", "--png-dir", png_dir]) == 2
        )
        err = capsys.readouterr().err
        assert f"error: --png-dir {png_dir!r} has a suffix: it names the folder of the PNG frames" in err, err
        assert list(tmp_path.iterdir()) == []


def test_the_low_resolution_folder_of_a_png_output_with_a_dot_has_no_suffix(tmp_path):
    """An existing frames folder "frames.v3" gave "frames.v3-lowres", refused as a file of unknown suffix."""
    from streamt2v.pipeline.preflight import lowres_path

    (tmp_path / "frames.v3").mkdir()
    assert lowres_path(tmp_path / "frames.v3") == tmp_path / "frames-v3-lowres"
    assert lowres_path(tmp_path / "frames") == tmp_path / "frames-lowres"
    assert lowres_path(tmp_path / "out.mp4") == tmp_path / "out.lowres.mp4"
