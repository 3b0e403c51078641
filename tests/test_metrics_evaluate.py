"""The evaluate library function and the ``streamt2v evaluate`` command, end to end on small files."""

from __future__ import annotations

import json
import math
import re
import shutil

import av
import numpy as np
import pytest

from streamt2v.cli import main
from streamt2v.metrics.evaluate import evaluate_videos
from test_metrics_clip import save_tiny_clip
from test_metrics_probes import OBJS, make_video


def write_video(path, frames, fps=8):
    # Deliberately not streamt2v.io.video.write_video: this probe threshold was set on swscale's RGB->YUV
    # conversion. Both centre the chroma samples, but swscale filters rows with [1, 3, 3, 1] / 8 where our
    # writer (deterministic, for byte-identical resume) averages 2x2 blocks; on these frames ours is closer
    # to the RGB (mean error 2.5 vs 2.9) yet the small shapes' caption agreement is 0.875 vs 0.958.
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "12"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def exit_status(argv):
    """``main(argv)``'s exit status, also where argparse refuses the command line (``SystemExit``)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    clean = make_video(OBJS, t=40)
    write_video(d / "a_clean.mp4", clean)
    cut = np.concatenate([make_video(OBJS, t=20), make_video(OBJS, bg="green", pattern="checker", t=20)])
    write_video(d / "b_cut.mp4", cut)
    (d / "c_broken.mp4").write_bytes(b"not a video at all")
    return d


def test_cli_end_to_end_json_and_csv(video_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle and a yellow square on a blue striped background\nx\ny\n")
    clip = save_tiny_clip(tmp_path / "clip")
    out = tmp_path / "res.json"
    rc = main(
        [
            "evaluate",
            str(video_dir),
            "--prompts",
            str(prompts),
            "--metrics",
            "mawe,scuts,clip,probes",
            "--clip-model",
            str(clip),
            "--flow-size",
            "64",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "c_broken.mp4" in captured.err and "skipped" in captured.err
    assert "mean" in captured.out and "MAWE" in captured.out
    data = json.loads(out.read_text())
    recs = {r["path"].rsplit("/", 1)[-1]: r for r in data["records"]}
    assert set(recs) == {"a_clean.mp4", "b_cut.mp4"}
    assert [s["path"].rsplit("/", 1)[-1] for s in data["skipped"]] == ["c_broken.mp4"]
    assert recs["a_clean.mp4"]["scuts"] == 0 and recs["b_cut.mp4"]["scuts"] == 1
    assert data["mean"]["scuts"] == 0.5
    assert recs["a_clean.mp4"]["probe_identity"] == 1.0
    assert recs["a_clean.mp4"]["probe_caption_agreement"] >= 0.9  # lossy H.264 edges
    assert -100 <= recs["a_clean.mp4"]["clip_score"] <= 100
    assert math.isfinite(recs["a_clean.mp4"]["mawe"]) and recs["a_clean.mp4"]["mawe"] > 0

    csv_out = tmp_path / "res.csv"
    assert (
        main(
            [
                "evaluate",
                str(video_dir / "a_clean.mp4"),
                "--metrics",
                "scuts",
                "--out",
                str(csv_out),
                "--no-progress",
            ]
        )
        == 0
    )
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "path,frames,scuts" and lines[-1].startswith("mean,")


def test_cli_errors(video_dir, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("only one\n")
    assert main(["evaluate", str(video_dir), "--prompts", str(prompts), "--metrics", "probes"]) == 2
    assert "3 video(s) but 1 prompt(s)" in capsys.readouterr().err
    two = tmp_path / "two.txt"
    two.write_text("a\nb\nc\n")
    assert (
        main(["evaluate", str(video_dir), "--prompts", str(two), "--clip-model", str(tmp_path / "nope")]) == 2
    )
    assert "CLIP weights folder not found" in capsys.readouterr().err
    assert main(["evaluate", str(video_dir / "c_broken.mp4"), "--metrics", "scuts", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "none of the 1 video(s) could be scored" in err, repr(err)
    assert main(["evaluate", str(video_dir), "--metrics", "mawe,fvd"]) == 2
    assert "unknown metric" in capsys.readouterr().err


def test_library_bad_videos_are_skipped_with_reasons():
    good = make_video(OBJS, t=8)
    rep = evaluate_videos([good, good[:1], good[:0]], metrics="mawe", flow_size=None)
    assert len(rep.records) == 1
    reasons = [s["error"] for s in rep.skipped]
    assert "1 frame" in reasons[0] and "0 frame" in reasons[1]
    static = np.repeat(good[:1], 4, axis=0)
    rep = evaluate_videos([static, good], metrics=["mawe"], flow_size=None, names=["static", "moving"])
    assert rep.records[0]["mawe"] == math.inf and rep.means["mawe"] == math.inf
    assert "inf" in rep.table()


def test_package_exports_functions_not_modules():
    import streamt2v.metrics as metrics
    import streamt2v.metrics.mawe  # noqa: F401  (a submodule import must not shadow the function)

    assert callable(metrics.mawe) and callable(metrics.scuts) and callable(metrics.clip_score)


def test_cli_bad_settings_fail_once_before_scoring(video_dir, tmp_path, capsys, monkeypatch):
    import streamt2v.metrics.evaluate as ev

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    clean = str(video_dir / "a_clean.mp4")
    for argv, message in [
        (["--mawe-coeff", "0"], "argument --mawe-coeff: expected a number from 1e-06 to 1e+06, got '0'"),
        (["--mawe-coeff", "nan"], "argument --mawe-coeff: expected a number from 1e-06 to 1e+06, got 'nan'"),
        (["--mawe-coeff", "inf"], "argument --mawe-coeff: expected a number from 1e-06 to 1e+06, got 'inf'"),
        (["--flow", "raft"], "needs torchvision"),
        (["--metrics", ""], "no metric given"),
        (["--metrics", " , "], "no metric given"),
        (["--out", str(tmp_path / "r.txt")], "--out must end in .json or .csv"),
        (["--out", "/proc/x.json"], "cannot write --out '/proc/x.json'"),
        (["--out", str(video_dir / "a_clean.mp4" / "r.json")], "is a file, not a folder"),
    ]:
        assert exit_status(["evaluate", clean, "--no-progress", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and message in err, (argv, err)
    assert scored == []


def test_cli_skipped_video_reported_once(video_dir, capsys, caplog):
    caplog.set_level("INFO")
    assert main(["evaluate", str(video_dir), "--metrics", "scuts", "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "c_broken.mp4" in line]
    logged = [r for r in caplog.records if r.levelno >= 20 and "c_broken.mp4" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("skipped ") and logged == []


def test_library_bad_arguments_raise_before_scoring(monkeypatch, tmp_path):
    import streamt2v.metrics.evaluate as ev

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    good = make_video(OBJS, t=8)
    folder = save_tiny_clip(tmp_path / "clip")
    for kwargs, error, message in [
        (dict(videos="a.mp4"), TypeError, "got the single path 'a.mp4'; wrap it in a list"),
        (dict(prompts="a red circle", metrics="probes"), TypeError, "got the single str 'a red circle'"),
        (dict(fps=float("nan")), ValueError, "fps must be a finite number > 0, got nan"),
        (
            dict(flow_size=64.0),
            TypeError,
            "flow size must be an int, a (height, width) pair of ints or None, got 64.0",
        ),
        (dict(flow_size=4), ValueError, "flow size must be at least 8×8 pixels, got 4×4"),
        # --flow-size 0 is the native size on the command line; in Python that is None
        (dict(flow_size=0), ValueError, "at least 8×8 pixels, got 0×0 (None keeps the video's own size)"),
        (dict(mawe_coeff=math.inf), ValueError, "coefficient c must be a finite number > 0, got inf"),
        (
            dict(boundaries=[16, 0], metrics="probes"),
            ValueError,
            "chunk boundaries must be frame indices >= 1, got [0]",
        ),
        (
            dict(prompts=[None], metrics="clip", clip_model=folder),
            TypeError,
            "prompts[0] must be a non-empty str",
        ),
        (
            dict(prompts=["x"], metrics="clip", clip_model=folder, clip_batch_size=0),
            ValueError,
            "batch_size must be an int >= 1, got 0",
        ),
    ]:
        kwargs = {"videos": [good], **kwargs}
        with pytest.raises(error, match=re.escape(message)):
            evaluate_videos(**kwargs)
    assert scored == []


def test_library_uint8_and_bad_float_tensors():
    import torch

    good = make_video(OBJS, t=8)
    u = torch.from_numpy(good).permute(3, 0, 1, 2)[None]  # uint8 (1, 3, T, H, W)
    rep = evaluate_videos([good, u, u.float(), u.float() / 127.5 - 1], metrics="mawe", flow_size=None)
    assert [r["path"] for r in rep.records] == ["video_0", "video_1", "video_3"]
    assert rep.records[0]["mawe"] == rep.records[1]["mawe"] == pytest.approx(rep.records[2]["mawe"])
    assert rep.skipped[0]["path"] == "video_2" and "pixels are in [-1, 1]" in rep.skipped[0]["error"]


def test_a_folder_of_videos_and_png_frame_folders(tmp_path, capsys):
    """``generate --png-dir`` outputs (folders of frames) are videos of a folder too, scored beside the video
    files in name order; hidden entries (writers' temporaries) and folders without frames are not; prompts
    may come from a pipe (``--prompts <(...)``)."""
    import os
    import threading

    from streamt2v.io.video import write_video as write_frames
    from streamt2v.metrics.evaluate import find_videos
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


def test_dis_flow_on_frames_under_12_pixels_is_one_readable_error(monkeypatch):
    """OpenCV's DIS refuses frames whose larger side is under 12 pixels with a multi-line ``cv2.error``,
    which ended ``streamt2v evaluate`` on a folder holding one tiny video (native size, ``--flow-size 0``)
    and on every video with ``--flow-size 8..11``: the video is now skipped, and the setting refused before
    scoring, each with one line naming the size."""
    import streamt2v.metrics.evaluate as ev
    from streamt2v.metrics.mawe import mawe

    tiny = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    good = make_video(OBJS, t=6)
    rep = evaluate_videos([tiny, good], metrics="mawe", flow_size=None, names=["tiny", "good"])
    assert [r["path"] for r in rep.records] == ["good"]
    assert rep.skipped[0]["path"] == "tiny" and "at least 12 pixels, got 8x8" in rep.skipped[0]["error"]
    assert "\n" not in rep.skipped[0]["error"]
    # Farneback works on such frames
    assert math.isfinite(mawe(tiny, flow="farneback", flow_size=None).mawe)
    # the size matters for MAWE only
    assert evaluate_videos([good], metrics="scuts", flow_size=10).records[0]["scuts"] == 0

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    with pytest.raises(
        ValueError, match=re.escape("a flow size with a side of at least 12 pixels, got 10x10")
    ):
        evaluate_videos([good], metrics="mawe", flow_size=10)
    assert scored == []
    with pytest.raises(ValueError, match="at least 12 pixels"):
        mawe(good, flow_size=(8, 11))


def test_a_prompts_file_that_does_not_hold_strings_is_refused_naming_the_file(video_dir, tmp_path, capsys):
    """A JSON prompt that is a number or null was scored as the text "1" or "None"; a file that is not JSON or
    not UTF-8 failed with the decoder's message alone, naming neither the file nor --prompts."""
    from pathlib import Path

    from streamt2v.metrics.evaluate import read_prompts

    videos = [Path("a.mp4"), Path("b.mp4")]
    cases = [
        ("list.json", "[1, null]", "prompts file '{}': entry 0 is 1, not a string"),
        (
            "map.json",
            '{"a.mp4": "a red circle", "b": null}',
            "prompts file '{}': the entry 'b' is null, not a string",
        ),
        ("bad.json", "not json", "prompts file '{}' is not valid JSON (Expecting value: line 1 column 1"),
        (
            "latin.txt",
            b"a r\xe9d circle\nx\n",
            "prompts file '{}' is not UTF-8 text (invalid continuation byte",
        ),
    ]
    for name, content, message in cases:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ValueError, match=re.escape(message.format(path))):
            read_prompts(path, videos)
    (tmp_path / "ok.json").write_text('{"a": "x", "b.mp4": "y"}')
    assert read_prompts(tmp_path / "ok.json", videos) == ["x", "y"]
    # a byte-order mark (Windows editors) does not start the first prompt
    (tmp_path / "bom.txt").write_bytes("\ufeffa red circle\r\na blue square\r\n".encode())
    assert read_prompts(tmp_path / "bom.txt", videos) == ["a red circle", "a blue square"]
    assert (
        main(["evaluate", str(video_dir), "--prompts", str(tmp_path / "list.json"), "--metrics", "probes"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "entry 0 is 1, not a string" in err, err


def test_progress_shows_the_flow_pairs_of_each_video(capsys):
    """MAWE is the long part (minutes for 240 frames at 720x720), but ``evaluate`` showed only the bar over
    videos, which stood at 0/1 for a single video until the end."""
    evaluate_videos([make_video(OBJS, t=4)], metrics="mawe", flow_size=None, progress=True)
    err = capsys.readouterr().err
    assert "MAWE (dis)" in err and "/3 " in err, err


def test_json_results_are_strict_json_with_inf_and_nan_apart(tmp_path):
    """A static video's MAWE (inf) and the caption probe without prompts (nan) were written as bare
    Infinity/NaN, which jq and JavaScript's JSON.parse reject; then both as null, so a reader could not tell
    infinite from not measured. They are the strings "inf" and "nan", as the CSV writes them."""
    d = tmp_path / "v"
    d.mkdir()
    write_video(d / "still.mp4", np.repeat(make_video(OBJS, t=1), 6, axis=0))
    out = tmp_path / "r.json"
    args = ["evaluate", str(d), "--metrics", "mawe,probes", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0

    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    data = json.loads(out.read_text(), parse_constant=refuse)
    record = data["records"][0]
    assert record["mawe"] == "inf" and data["mean"]["mawe"] == "inf"
    assert record["probe_caption_agreement"] == "nan" == data["mean"]["probe_caption_agreement"]
    assert record["frames"] == 6 and record["probe_motion"] == 0.0
    assert math.isinf(float(record["mawe"])) and math.isnan(float(record["probe_caption_agreement"]))
    assert data["config"]["boundaries"] is None  # null: a setting left at its default
    # the CSV names them the same way
    assert main([*args, "--out", str(tmp_path / "r.csv")]) == 0
    row = dict(zip(*[line.split(",") for line in (tmp_path / "r.csv").read_text().splitlines()[:2]]))
    assert (row["mawe"], row["probe_caption_agreement"]) == ("inf", "nan")


def test_the_saved_config_holds_the_chunk_boundaries(video_dir, tmp_path):
    """The probes' jump ratio depends on the chunk boundaries, which the JSON's config left out: a result file
    did not say how its jump ratios were measured."""
    out = tmp_path / "r.json"
    video = str(video_dir / "a_clean.mp4")
    args = ["evaluate", video, "--metrics", "probes", "--no-progress", "--out", str(out)]
    assert main([*args, "--boundaries", "12,20"]) == 0
    assert json.loads(out.read_text())["config"]["boundaries"] == [12, 20]
    assert main([*args, "--overwrite"]) == 0
    assert json.loads(out.read_text())["config"]["boundaries"] is None  # the default plan


def test_loose_frames_beside_videos_are_named_and_a_nested_folder_is_pointed_to(video_dir, tmp_path, caplog):
    """A folder of videos with frame images of its own scored the videos and dropped the frames unseen; a
    folder whose videos are one level down said only 'no videos'."""
    import logging

    from streamt2v.io.video import write_pngs
    from streamt2v.metrics.evaluate import find_videos

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(video_dir / "a_clean.mp4", mixed)
    write_pngs(mixed, make_video(OBJS, t=3))
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert find_videos(mixed) == [mixed / "a_clean.mp4"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        f"folder {str(mixed)!r} holds videos and 3 loose frame image(s) (frame_000000.png"
    )
    nested = tmp_path / "nested"
    (nested / "sub").mkdir(parents=True)
    shutil.copy(video_dir / "a_clean.mp4", nested / "sub")
    with pytest.raises(
        ValueError, match=r"the search is not recursive: 'sub' holds videos, pass that folder$"
    ):
        find_videos(nested)


def test_progress_shows_the_frames_the_probes_segment(capsys):
    """Segmenting takes seconds a frame on large frames (4K: 10 s), and the probes showed no bar."""
    evaluate_videos([make_video(OBJS, t=5)], metrics="probes", progress=True)
    err = capsys.readouterr().err
    assert "probes" in err and "/5 " in err, err


def test_the_info_line_of_an_infinite_mawe_names_the_video(tmp_path, capsys, caplog):
    # Scoring a folder, "MAWE is inf" alone did not say which of the videos is static.
    write_video(tmp_path / "a_moving.mp4", make_video(OBJS, t=12))
    write_video(tmp_path / "b_static.mp4", np.repeat(make_video(OBJS, t=1), 12, axis=0))
    caplog.set_level("INFO", logger="streamt2v.metrics.mawe")
    assert main(["evaluate", str(tmp_path), "--metrics", "mawe", "--flow-size", "0", "--no-progress"]) == 0
    [line] = [r.getMessage() for r in caplog.records if "MAWE" in r.getMessage()]
    assert "b_static.mp4" in line and "is inf" in line, line
    assert "inf" in capsys.readouterr().out


def test_cli_clip_metric_without_its_flags_names_the_flags(video_dir, tmp_path, capsys):
    # was "the clip metric needs a CLIP model (a local folder or a hub id)": the library's words, no flag
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\nc\n")
    assert main(["evaluate", str(video_dir), "--metrics", "clip", "--prompts", str(prompts)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: the clip metric needs --clip-model"), line
    assert main(["evaluate", str(video_dir), "--metrics", "clip", "--clip-model", "microworld"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == "error: the clip metric needs --prompts (one prompt per video)", line
    # the default metrics take clip with --clip-model: the same line without --metrics
    assert main(["evaluate", str(video_dir), "--clip-model", "microworld"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: the clip metric needs --prompts (one prompt per video)"
    ]


def test_several_videos_and_folders_on_the_command_line(video_dir, tmp_path, capsys):
    """``streamt2v evaluate outputs/*.mp4`` (a shell glob) was refused ('unrecognized arguments'): only one
    video or folder could be scored. Videos are scored in the order given, a folder's in name order; a
    missing one is an error before any scoring, one given twice (it would count twice in the mean) too."""
    more = tmp_path / "more"
    more.mkdir()
    write_video(more / "z.mp4", make_video(OBJS, t=20))
    clean, cut = str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")
    out = tmp_path / "r.json"
    argv = ["evaluate", cut, str(more), clean, "--metrics", "scuts", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["path"].rsplit("/", 1)[-1], r["scuts"]) for r in records] == [
        ("b_cut.mp4", 1),
        ("z.mp4", 0),
        ("a_clean.mp4", 0),
    ]
    capsys.readouterr()
    assert main(["evaluate", cut, str(tmp_path / "gone.mp4"), clean, "--metrics", "scuts"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: video or folder not found: {str(tmp_path / 'gone.mp4')!r}"
    ]
    assert main(["evaluate", str(video_dir), clean, "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: video {clean!r} is given twice as a video of the folder {str(video_dir)!r} and as {clean!r}\n"
    )
    # the same name twice (it guessed "a file and a folder holding it?")
    assert main(["evaluate", clean, clean, "--metrics", "scuts", "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: video {clean!r} is given twice ({clean!r})\n"


def test_unfinished_generate_previews_in_a_folder_are_left_out_and_named(video_dir, tmp_path, caplog):
    """An interrupted (or running) ``generate -o out.mp4`` leaves its preview ``out.partial.mp4`` (a PNG
    output: ``frames.partial/``); scoring the outputs folder scored each as one more, shorter video of the
    set (and a prompts file then had one prompt too few)."""
    import logging

    from streamt2v.io.video import write_pngs
    from streamt2v.metrics.evaluate import find_videos

    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "a.mp4")
    shutil.copy(video_dir / "a_clean.mp4", tmp_path / "b.partial.mp4")
    (tmp_path / "frames.partial").mkdir()
    write_pngs(tmp_path / "frames.partial", make_video(OBJS, t=3))
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert find_videos(tmp_path) == [tmp_path / "a.mp4"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "left out 2 unfinished `generate` preview(s) (b.partial.mp4, frames.partial)" in warning
    # named by its path, a preview is scored
    assert find_videos(tmp_path / "b.partial.mp4") == [tmp_path / "b.partial.mp4"]
    assert find_videos(tmp_path / "frames.partial") == [tmp_path / "frames.partial"]


def test_a_one_frame_video_is_skipped_for_mawe_only_naming_it():
    """A 1-frame video was skipped whatever the metrics ('this metric needs at least 2'), though SCuts, the
    CLIP score and the probes measure one frame; only MAWE needs a pair of frames, and now says so."""
    one = make_video(OBJS, t=1)
    rep = evaluate_videos([one], metrics="scuts,probes")
    assert rep.skipped == [] and rep.records[0]["frames"] == 1 and rep.records[0]["scuts"] == 0
    assert rep.records[0]["probe_identity"] == 1.0
    rep = evaluate_videos([one], metrics="mawe,scuts", flow_size=None)
    assert rep.records == []
    assert rep.skipped[0]["error"] == "the video has 1 frame; MAWE needs at least 2 (the flow of a pair)"


def test_ctrl_c_keeps_the_videos_already_scored(video_dir, tmp_path, capsys, monkeypatch):
    """Ctrl-C during the 2nd of 3 videos lost everything: no table, no file, only 'interrupted' (minutes per
    240-frame video at 720x720). The scored videos are now printed, and the message says --out is not
    written (it is written for complete runs only)."""
    import sys

    from streamt2v.metrics.evaluate import EvaluationInterrupted

    scuts_module = sys.modules["streamt2v.metrics.scuts"]  # the package attribute is the function

    real, calls = scuts_module.scuts, []

    def scuts_then_ctrl_c(*args, **kwargs):  # the user presses Ctrl-C while the 2nd video is scored
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scuts_module, "scuts", scuts_then_ctrl_c)
    out = tmp_path / "r.json"
    argv = ["evaluate", str(video_dir), "--metrics", "scuts", "--no-progress", "--out", str(out)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    rows = [line.split()[0] for line in captured.out.splitlines() if line and line[0] != "-"]
    assert rows == ["video", "a_clean.mp4", "mean"], captured.out
    assert captured.err.splitlines()[-1] == (
        f"interrupted: stopped after 1 of 3 video(s); their results are above; {str(out)!r} not written"
    )
    assert not out.exists()
    calls.clear()
    with pytest.raises(EvaluationInterrupted) as stop:
        evaluate_videos([str(video_dir / "a_clean.mp4")] * 3, metrics="scuts")
    assert isinstance(stop.value, KeyboardInterrupt) and len(stop.value.report.records) == 1


def test_boundaries_none_turns_the_jump_ratio_off(video_dir, tmp_path):
    """Videos not made chunk by chunk (another method's) had their jump ratio measured at 16, 24, ... with no
    way to say 'no chunks' but the obscure '--boundaries ,'; 'none' was refused as not a frame index."""
    out = tmp_path / "r.json"
    video = str(video_dir / "a_clean.mp4")
    args = ["evaluate", video, "--metrics", "probes", "--no-progress", "--out", str(out)]
    assert main([*args, "--boundaries", "none"]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["boundaries"] == [] and data["records"][0]["probe_jump_ratio"] == "nan"
    assert data["records"][0]["probe_motion"] > 0


def test_videos_after_the_options_are_scored_too(video_dir, tmp_path, capsys):
    """``streamt2v evaluate a.mp4 --metrics scuts b.mp4`` said "unrecognized arguments: b.mp4": argparse gave
    every positional its value at their first run (the further videos none), so only the options' order
    decided whether a video was scored. A ``--`` still ends the options."""
    clean, cut = str(video_dir / "a_clean.mp4"), str(video_dir / "b_cut.mp4")
    out = tmp_path / "r.json"
    argv = ["evaluate", cut, "--metrics", "scuts", clean, "--no-progress", str(video_dir / "b_cut.mp4")]
    assert main([*argv, "--out", str(out)]) == 2  # the same video twice: all three were read as videos
    assert f"error: video {cut!r} is given twice" in capsys.readouterr().err
    assert main([*argv[:-1], "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["path"].rsplit("/", 1)[-1], r["scuts"]) for r in records] == [
        ("b_cut.mp4", 1),
        ("a_clean.mp4", 0),
    ]
    shutil.copy(clean, tmp_path / "-dash.mp4")
    out.unlink()
    argv = [
        "evaluate",
        "--metrics",
        "scuts",
        "--no-progress",
        "--out",
        str(out),
        "--",
        str(tmp_path / "-dash.mp4"),
    ]
    assert main(argv) == 0
    assert [r["path"].rsplit("/", 1)[-1] for r in json.loads(out.read_text())["records"]] == ["-dash.mp4"]


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
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
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

    from streamt2v.metrics.evaluate import find_videos

    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(video_dir / "a_clean.mp4", only / "take.partial.mp4")
    message = (
        f"folder {str(only)!r} holds only unfinished `generate` preview(s) ({str(only / 'take.partial.mp4')!r}); "
        "pass them by their paths to score them"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        find_videos(only)
    mixed = tmp_path / "mixed"
    (mixed / "notes.partial").mkdir(parents=True)
    (mixed / "notes.partial" / "todo.txt").write_text("x")
    shutil.copy(video_dir / "a_clean.mp4", mixed / "a.mp4")
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert find_videos(mixed) == [mixed / "a.mp4"]
    assert caplog.records == []


def test_json_prompts_keyed_by_a_name_two_videos_share_are_refused(tmp_path, monkeypatch, capsys):
    """``evaluate runA runB --prompts p.json`` with ``{"out.mp4": ...}`` gave both runs' out.mp4 the same
    prompt without a word; keys may now be paths (relative to the working folder, or absolute) to tell
    them apart, and a path key wins over a file name."""
    from pathlib import Path

    from streamt2v.metrics.evaluate import read_prompts

    monkeypatch.chdir(tmp_path)
    videos = [Path("runA/out.mp4"), Path("runB/out.mp4")]
    p = tmp_path / "p.json"
    p.write_text('{"out.mp4": "a red circle"}')
    with pytest.raises(ValueError) as err:
        read_prompts(p, videos)
    assert str(err.value) == (
        f"prompts file {str(p)!r}: the key 'out.mp4' matches 2 videos ('runA/out.mp4', 'runB/out.mp4'); key "
        "each by its path, with a / (relative to the working folder, or as given on the command line), e.g. "
        "'runA/out.mp4'"
    )
    # a video in the working folder: its example key has the / that makes it a path, not a name
    with pytest.raises(ValueError, match=r"e\.g\. './out\.mp4'$"):
        read_prompts(p, [Path("out.mp4"), Path("runB/out.mp4")])
    p.write_text(
        json.dumps({"./runA/out.mp4": "a red circle", str(tmp_path / "runB/out.mp4"): "a blue square"})
    )
    assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    p.write_text('{"out.mp4": "a red circle", "runB/out.mp4": "a blue square"}')
    assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    # the command line refuses it before any video is scored (these files are no videos)
    for run in ("runA", "runB"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "out.mp4").write_bytes(b"not a video")
    p.write_text('{"out": "a red circle"}')
    assert main(["evaluate", "runA", "runB", "--prompts", str(p), "--metrics", "probes"]) == 2
    assert "the key 'out' matches 2 videos ('runA/out.mp4', 'runB/out.mp4')" in capsys.readouterr().err


def test_table_rows_of_videos_sharing_a_file_name_show_the_end_of_their_paths():
    """``evaluate runs/*/`` printed rows all named ``out.mp4``: which run was which could not be told."""
    from streamt2v.metrics.evaluate import EvaluationReport

    paths = ["runs/runA/out.mp4", "runs/runB/out.mp4", "x/a.mp4", "/data/runA/out.mp4", "out.mp4"]
    report = EvaluationReport(records=[{"path": p, "scuts": 0} for p in paths])
    rows = [line.split()[0] for line in report.table().splitlines() if line[0] != "-"]
    assert rows == [
        "video",
        "runs/runA/out.mp4",
        "runB/out.mp4",
        "a.mp4",
        "data/runA/out.mp4",
        "out.mp4",
        "mean",
    ]


def test_json_prompt_keys_that_match_no_video_are_said(tmp_path, monkeypatch, caplog):
    """A key of a JSON prompts file that matched no video (a typo, ``bb.mp4``) was dropped without a word:
    beside a missing video the refusal named that video alone, and where a path key was mistyped
    (``runa/out.mp4``) the video took its file-name key's prompt unsaid. The refusal now names the unmatched
    keys too, and unmatched keys alone are a warning naming a few and their count."""
    import logging
    from pathlib import Path

    from streamt2v.metrics.evaluate import read_prompts

    monkeypatch.chdir(tmp_path)
    p = tmp_path / "p.json"
    p.write_text('{"a.mp4": "a red circle", "bb.mp4": "a blue square"}')
    with pytest.raises(ValueError) as err:
        read_prompts(p, [Path("v/a.mp4"), Path("v/b.mp4")])
    assert str(err.value) == (
        f"prompts file {str(p)!r}: no prompt for 1 of the 2 video(s) ('v/b.mp4'); a video is keyed by its "
        "path, file name or name without the extension; 1 of its 2 keys matches no video scored here "
        "('bb.mp4'): a typo?"
    )
    # a mistyped path key: the video takes its file-name key, and the path key is named
    videos = [Path("runA/out.mp4"), Path("runB/b.mp4")]
    p.write_text('{"out.mp4": "a red circle", "runa/out.mp4": "a blue square", "b": "a green triangle"}')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert read_prompts(p, videos) == ["a red circle", "a green triangle"]
    assert [r.getMessage() for r in caplog.records] == [
        f"prompts file {str(p)!r}: 1 of its 3 keys matches no video scored here ('runa/out.mp4'), not used: "
        "a typo? A video is keyed by its path, file name or name without the extension"
    ]
    # many: a few named, and the count
    p.write_text(json.dumps({"b": "x", **{f"c{i}.mp4": "y" for i in range(5)}}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert read_prompts(p, videos[1:]) == ["x"]
    assert "5 of its 6 keys match no video scored here ('c0.mp4', 'c1.mp4', 'c2.mp4', ...)" in caplog.text
    # every key used: nothing said
    caplog.clear()
    p.write_text('{"runA/out.mp4": "a red circle", "b.mp4": "a blue square"}')
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.evaluate"):
        assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    assert caplog.records == []


def test_flags_the_chosen_metrics_do_not_use_are_said(video_dir, tmp_path, capsys):
    """``--prompts`` or ``--clip-model`` with metrics that take none (the default mawe,scuts without
    ``--clip-model``, a ``--metrics`` that left clip out), ``--boundaries`` without probes, the MAWE flags
    without mawe: given for nothing, without a word. One warning line now names them."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\n")
    video = str(video_dir / "a_clean.mp4")
    argv = ["evaluate", video, "--no-progress", "--prompts", str(prompts)]
    assert main([*argv, "--metrics", "scuts", "--clip-model", "microworld", "--boundaries", "none"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: not used by the metric(s) scuts: --prompts (clip and probes use it); --clip-model (clip uses "
        "it); --boundaries (probes use it)"
    ]
    # a prompts file said to be unused is not read: one with no prompt for the video no longer stops the run
    unmatched = tmp_path / "p.json"
    unmatched.write_text('{"bb.mp4": "a red circle"}')
    assert main(["evaluate", video, "--no-progress", "--metrics", "scuts", "--prompts", str(unmatched)]) == 0
    assert "warning: not used by the metric(s) scuts: --prompts" in capsys.readouterr().err
    assert main([*argv, "--metrics", "scuts,probes", "--flow-size", "0", "--mawe-coeff", "2"]) == 0
    err = capsys.readouterr().err
    assert "warning: not used by the metric(s) scuts,probes: --flow-size (mawe uses it); --mawe-coeff" in err
    # the default metrics without --clip-model take no prompts; each flag used: nothing said
    assert main([*argv, "--flow-size", "64"]) == 0
    assert "warning: not used by the metric(s) mawe,scuts: --prompts (clip and probes use it)\n" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--metrics", "mawe,probes", "--flow-size", "64", "--boundaries", "12"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_bad_numeric_flags_are_refused_naming_the_flag_whatever_the_metrics(video_dir, capsys, monkeypatch):
    """``--flow-size -3 --metrics scuts`` was refused though MAWE, the flow size's one user, was not asked for,
    by a message naming no flag ('flow size must be at least 8x8 pixels, got -3x-3'); ``--mawe-coeff 0`` was
    refused with mawe and taken without; ``--boundaries 0`` named no flag and ``--boundaries ,`` (or an
    empty value) meant no chunks (or the default) unsaid. Each bad value is now argparse's one error naming
    the flag, whether or not the metric that uses it is chosen, before any video is read."""
    import streamt2v.metrics.evaluate as ev

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    sizes = "expected an integer from 8 to 8192 (pixels a side), or 0 for the video's own size"
    indices = "expected comma-separated frame indices >= 1 (such as 16,24,32), or 'none' for no chunks"
    for flag, value, expected in [
        ("--flow-size", "-3", sizes),
        ("--flow-size", "5", sizes),
        ("--flow-size", "100000", sizes),
        ("--flow-size", "1e3", sizes),
        ("--mawe-coeff", "0", "expected a number from 1e-06 to 1e+06"),
        ("--mawe-coeff", "-1", "expected a number from 1e-06 to 1e+06"),
        ("--mawe-coeff", "1e400", "expected a number from 1e-06 to 1e+06"),
        ("--mawe-coeff", "1e39", "expected a number from 1e-06 to 1e+06"),  # was accepted: MAWE 0
        ("--mawe-coeff", "abc", "expected a number from 1e-06 to 1e+06"),
        ("--boundaries", "0", indices),
        ("--boundaries", "16,-8", indices),
        ("--boundaries", ",", indices),
        ("--boundaries", "", indices),
        ("--boundaries", "1.5", indices),
    ]:
        for metrics in ("mawe,probes", "scuts"):
            argv = ["evaluate", str(video_dir / "a_clean.mp4"), "--metrics", metrics, f"{flag}={value}"]
            assert exit_status(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.count("error:") == 1 and "warning" not in err, (argv, err)
            assert f"error: argument {flag}: {expected}, got {value!r}\n" in err, (argv, err)
    assert scored == []
    # the Python API's error names its parameter, with or without MAWE
    for metrics in ("mawe", "scuts"):
        with pytest.raises(ValueError, match=re.escape("flow size must be at least 8×8 pixels, got -3×-3")):
            evaluate_videos([make_video(OBJS, t=4)], metrics=metrics, flow_size=-3)
    # good values still work: 0 keeps the native size, several boundaries, 'none'
    monkeypatch.undo()
    video = str(video_dir / "a_clean.mp4")
    assert main(["evaluate", video, "--metrics", "mawe", "--flow-size", "0", "--no-progress"]) == 0
    assert main(["evaluate", video, "--metrics", "probes", "--boundaries", " 12, 20,", "--no-progress"]) == 0
    assert main(["evaluate", video, "--metrics", "probes", "--boundaries", "None", "--no-progress"]) == 0
    assert "error" not in capsys.readouterr().err


def test_the_mean_frame_count_prints_like_the_column(tmp_path):
    """The mean row averaged the ``frames`` column as any metric: ``18.00`` (or ``1.000``) under counts
    printed ``18``. It is a count to one decimal, a whole one without, alike in the table, CSV and JSON."""
    from streamt2v.metrics.evaluate import EvaluationReport

    def saved(report):
        report.save(tmp_path / "r.csv")
        report.save(tmp_path / "r.json")
        csv_mean = (tmp_path / "r.csv").read_text().splitlines()[-1].split(",")
        return csv_mean, json.loads((tmp_path / "r.json").read_text())["mean"]

    for frames, shown in [([18, 18], "18"), ([18, 19], "18.5"), ([10, 10, 11], "10.3"), ([1], "1")]:
        report = EvaluationReport(
            records=[{"path": f"v{i}.mp4", "frames": n, "scuts": 0} for i, n in enumerate(frames)]
        )
        mean_row = report.table().splitlines()[-1].split()
        assert mean_row == ["mean", shown, "0.000"], (frames, mean_row)
        assert report.means["frames"] == float(shown) and type(report.means["frames"]) is type(
            json.loads(shown)
        )
        csv_mean, json_mean = saved(report)
        assert csv_mean == ["mean", shown, "0.0"] and json_mean == {"frames": json.loads(shown), "scuts": 0.0}
