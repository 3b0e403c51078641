"""Which videos ``evaluate`` scores: video files and PNG frame folders of a folder, loose frames and
nested folders, unfinished ``generate`` previews."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import write_x264_video as write_video
from streamt2v.cli import main
from test_metrics_probes import OBJS, make_video


def test_a_folder_of_videos_and_png_frame_folders(tmp_path, capsys):
    """``generate --png-dir`` outputs (folders of frames) are videos of a folder too, scored beside the video
    files in name order; hidden entries (writers' temporaries) and folders without frames are not; prompts
    may come from a pipe (``--prompts <(...)``)."""
    import os
    import threading

    from streamt2v.io.video import write_video as write_frames
    from streamt2v.metrics.video_search import find_videos
    from test_video_io import smooth_video

    write_video(tmp_path / "a.mp4", make_video(OBJS, t=12))
    write_video(tmp_path / "c.mp4", make_video(OBJS, t=6))
    (tmp_path / "c.mp4").rename(tmp_path / "c_phone.m4v")
    write_frames(tmp_path / "b_frames", smooth_video(t=12), fps=8)
    write_frames(tmp_path / ".b_frames_tmp", smooth_video(t=3), fps=8)
    (tmp_path / "c_notes").mkdir()
    (tmp_path / "c_notes" / "todo.txt").write_text("x")
    assert [p.name for p in find_videos(tmp_path)] == ["a.mp4", "b_frames", "c_phone.m4v"]
    # a folder holding frames itself is still one video
    assert find_videos(tmp_path / "b_frames") == [tmp_path / "b_frames"]

    read_end, write_end = os.pipe()  # what bash's <(...) hands over: /dev/fd/N, a pipe, not a regular file
    writer = threading.Thread(
        target=lambda: (os.write(write_end, b"first\nsecond\nthird\n"), os.close(write_end))
    )
    writer.start()
    try:
        argv = ["evaluate", str(tmp_path), "--prompts", f"/dev/fd/{read_end}", "--metrics", "scuts"]
        rc = main([*argv, "--out", str(tmp_path / "r.json"), "--no-progress"])
    finally:
        writer.join()
        os.close(read_end)
    assert rc == 0, capsys.readouterr().err
    records = json.loads((tmp_path / "r.json").read_text())["records"]
    names = [(r["path"].rsplit("/", 1)[-1], r["frames"]) for r in records]
    assert names == [("a.mp4", 12), ("b_frames", 12), ("c_phone.m4v", 6)]
    assert (
        main(["evaluate", str(tmp_path), "--prompts", str(tmp_path / "c_notes"), "--metrics", "probes"]) == 2
    )
    assert "is a folder" in capsys.readouterr().err


def test_loose_frames_beside_videos_are_named_and_a_nested_folder_is_pointed_to(video_dir, tmp_path, caplog):
    """A folder of videos with frame images of its own scored the videos and dropped the frames unseen; a
    folder whose videos are one level down said only 'no videos'."""
    import logging

    from streamt2v.io.video import write_pngs
    from streamt2v.metrics.video_search import find_videos

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(video_dir / "a_clean.mp4", mixed)
    write_pngs(mixed, make_video(OBJS, t=3))
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(mixed) == [mixed / "a_clean.mp4"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(  # all three named, no '...' after them (it said '(frame_000000.png, ...)')
        f"folder {str(mixed)!r} holds videos and 3 loose frame images (frame_000000.png, frame_000001.png, "
        "frame_000002.png), which are not scored"
    )
    nested = tmp_path / "nested"
    for method in ("sub", "other"):  # every one named: the error named only the first
        (nested / method).mkdir(parents=True)
        shutil.copy(video_dir / "a_clean.mp4", nested / method)
    with pytest.raises(ValueError) as err:
        find_videos(nested)
    assert str(err.value).endswith(
        "; the search is not recursive: 2 subfolders hold videos (other, sub); pass them, e.g. "
        f"{str(nested / 'other')!r}"
    )


def test_subfolders_of_videos_beside_a_folders_own_videos_are_named(video_dir, tmp_path, caplog):
    """``evaluate results/`` with a video in ``results/`` and each method's videos in a subfolder of it scored
    the one video and dropped the methods' folders without a word (the search is not recursive)."""
    import logging

    from streamt2v.io.video import write_pngs
    from streamt2v.metrics.video_search import find_videos

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "top.mp4")
    for method in ("framepack", "diffusers"):
        (tmp_path / method).mkdir()
        shutil.copy(video_dir / "a_clean.mp4", tmp_path / method / "a.mp4")
    (tmp_path / "frames").mkdir()
    write_pngs(tmp_path / "frames", make_video(OBJS, t=3))  # a video itself, and none left out
    (tmp_path / "notes").mkdir()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(tmp_path) == [tmp_path / "frames", tmp_path / "top.mp4"]
    assert [r.getMessage() for r in caplog.records] == [
        f"folder {str(tmp_path)!r}: left out 2 subfolders holding videos (diffusers, framepack), which are "
        f"not scored: the search is not recursive; pass them too, e.g. {str(tmp_path / 'diffusers')!r}"
    ]


def test_a_subfolder_given_as_a_target_too_is_not_said_to_be_left_out(
    video_dir, tmp_path, monkeypatch, caplog
):
    """``evaluate data/videos "data/videos/sub dir"`` (or ``evaluate . "sub dir"`` inside it) scored the
    subfolder's video, yet warned that the subfolder was left out and should be passed too."""
    import logging

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "clip1.mp4")
    for sub in ("sub dir", "other"):
        (tmp_path / sub).mkdir()
        shutil.copy(video_dir / "a_clean.mp4", tmp_path / sub / "clip2.mp4")
    monkeypatch.chdir(tmp_path)
    for argv in ([str(tmp_path), str(tmp_path / "sub dir")], [".", "sub dir"], [".", "./sub dir/"]):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
            assert main(["evaluate", *argv, "--metrics", "scuts", "--no-progress"]) == 0
        # the subfolder not given is still named, alone
        [warning] = [r.getMessage() for r in caplog.records if r.name == "streamt2v.metrics.video_search"]
        assert ": left out 1 subfolder holding videos (other), which are not scored" in warning, warning


def test_links_to_missing_videos_and_unreadable_subfolders_do_not_stop_a_folder(
    video_dir, tmp_path, caplog, monkeypatch
):
    """A link to a video that is gone (a moved dataset) was dropped without a word; a subfolder that cannot be
    read (``lost+found``) stopped the whole evaluation with a bare 'Permission denied', then was left out
    without a word (it may hold the videos looked for)."""
    import logging
    from pathlib import Path

    from streamt2v.metrics.video_search import find_videos

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "a.mp4")
    (tmp_path / "b.mp4").symlink_to(tmp_path / "gone" / "b.mp4")
    (tmp_path / "lost+found").mkdir()
    iterdir = Path.iterdir

    def unreadable(folder):  # as a mode 000 folder is to anyone but root, who runs some of these tests
        if folder.name == "lost+found":
            raise PermissionError(13, "Permission denied", str(folder))
        return iterdir(folder)

    monkeypatch.setattr(Path, "iterdir", unreadable)
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(tmp_path) == [tmp_path / "a.mp4"]
    assert [r.getMessage() for r in caplog.records] == [
        f"folder {str(tmp_path)!r}: left out 1 link to missing files (b.mp4 -> {tmp_path / 'gone' / 'b.mp4'})",
        f"folder {str(tmp_path)!r}: left out 1 subfolder that cannot be read (lost+found: permission denied)",
    ]
    (tmp_path / "c.mp4").symlink_to(tmp_path / "gone" / "c.mp4")  # the first named, the rest counted
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        find_videos(tmp_path)
    assert caplog.records[0].getMessage() == (
        f"folder {str(tmp_path)!r}: left out 2 links to missing files (b.mp4 -> {tmp_path / 'gone' / 'b.mp4'}, ...)"
    )


def test_unfinished_generate_previews_in_a_folder_are_left_out_and_named(video_dir, tmp_path, caplog):
    """An interrupted (or running) ``generate -o out.mp4`` leaves its preview ``out.partial.mp4`` (a PNG
    output: ``frames.partial/``); scoring the outputs folder scored each as one more, shorter video of the
    set (and a prompts file then had one prompt too few)."""
    import logging

    from streamt2v.io.video import write_pngs
    from streamt2v.metrics.video_search import find_videos

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "a.mp4")
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "b.partial.mp4")
    (tmp_path / "frames.partial").mkdir()
    write_pngs(tmp_path / "frames.partial", make_video(OBJS, t=3))
    # named so, but generate writes no .m4v (nor previews of one): a video of the set, once left out too
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "take.partial.m4v")
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(tmp_path) == [tmp_path / "a.mp4", tmp_path / "take.partial.m4v"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "left out 2 unfinished `generate` previews (b.partial.mp4, frames.partial)" in warning
    # named by its path, a preview is scored
    assert find_videos(tmp_path / "b.partial.mp4") == [tmp_path / "b.partial.mp4"]
    assert find_videos(tmp_path / "frames.partial") == [tmp_path / "frames.partial"]


def test_a_generate_preview_named_directly_is_scored_with_a_warning(video_dir, tmp_path, caplog, capsys):
    """A shell glob (``evaluate g/*.mp4``) passes ``out.partial.mp4`` as a file: it was scored as one more
    video of the set without a word, though the same file in a folder scan is left out with a warning."""
    import logging

    from streamt2v.io.video import write_pngs

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "a.mp4")
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "a.partial.mp4")
    (tmp_path / "frames.partial").mkdir()
    write_pngs(tmp_path / "frames.partial", make_video(OBJS, t=3))
    argv = ["evaluate", *(str(tmp_path / n) for n in ("a.mp4", "a.partial.mp4", "frames.partial"))]
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert main([*argv, "--metrics", "scuts", "--no-progress"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line and line[0] != "-"]
    assert rows == ["video", "a.mp4", "a.partial.mp4", "frames.partial", "mean"]  # still scored, as asked
    assert [r.getMessage() for r in caplog.records] == [
        f"{str(tmp_path / n)!r} looks like an unfinished `generate` preview (half a video, if generate was "
        "stopped or is still running); scoring it as given"
        for n in ("a.partial.mp4", "frames.partial")
    ]


def test_a_folder_of_only_previews_is_refused_naming_them(video_dir, tmp_path, caplog):
    """A folder holding only ``take.partial.mp4`` said 'no videos (.mp4, ...) in folder' beside an .mp4;
    a ``notes.partial`` folder without frames (no preview of ``generate``) was left out as one."""
    import logging

    from streamt2v.metrics.video_search import find_videos

    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(video_dir / "a_clean.mp4", only / "take.partial.mp4")
    message = (
        f"folder {str(only)!r} holds only unfinished `generate` previews ({str(only / 'take.partial.mp4')!r}); "
        "pass them by their paths to score them"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        find_videos(only)
    mixed = tmp_path / "mixed"
    (mixed / "notes.partial").mkdir(parents=True)
    (mixed / "notes.partial" / "todo.txt").write_text("x")
    shutil.copy(video_dir / "a_clean.mp4", mixed / "a.mp4")
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.video_search"):
        assert find_videos(mixed) == [mixed / "a.mp4"]
    assert caplog.records == []


def test_a_symlink_loop_given_beside_a_folder_is_named_as_not_found(video_dir, tmp_path, monkeypatch, capsys):
    """``evaluate d loop`` with ``loop`` a link to itself said 'error: Symlink loop from ...' (Path.resolve
    raising while d's subfolders were checked against the other targets), not that the target is not found."""
    (tmp_path / "d").mkdir()
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "d" / "a.mp4")
    (tmp_path / "loop").symlink_to("loop")
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "d", "loop", "--metrics", "scuts", "--no-progress"]) == 2
    assert "video or folder not found: 'loop'" in capsys.readouterr().err
