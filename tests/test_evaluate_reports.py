"""``evaluate``'s results: the printed table, the JSON and CSV files (inf and nan, the saved config, the
mean row)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import write_x264_video as write_video
from streamt2v.cli import main
from streamt2v.metrics.evaluate import EvaluationReport, evaluate_videos
from test_metrics_probes import OBJS, make_video


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


def test_the_mean_frame_count_prints_like_the_column(tmp_path):
    """The mean row averaged the ``frames`` column as any metric: ``18.00`` (or ``1.000``) under counts
    printed ``18``. It is a count to one decimal, a whole one without, alike in the table, CSV and JSON."""
    from streamt2v.metrics.evaluate import EvaluationReport

    def saved(report):
        report.save(tmp_path / "r.csv", overwrite=True)
        report.save(tmp_path / "r.json", overwrite=True)
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


def test_the_config_says_when_the_flow_ran_at_the_videos_own_size(tmp_path):
    """``--flow-size 0`` (each video's own size) was saved as ``"flow_size": null``, which the config uses for
    a setting left at its default (720): a result file could not tell the two apart, and their MAWEs differ."""
    from streamt2v.metrics.evaluate import evaluate_videos

    v = tmp_path / "m.mp4"
    write_video(v, make_video(OBJS, t=4))
    configs = {}
    for flag in ("0", "16"):
        out = tmp_path / f"r{flag}.json"
        assert main(["evaluate", str(v), "--flow-size", flag, "--no-progress", "--out", str(out)]) == 0
        configs[flag] = json.loads(out.read_text())["config"]["flow_size"]
    assert configs == {"0": "native", "16": 16}
    assert evaluate_videos([str(v)], flow_size=None).config["flow_size"] == "native"


def test_the_csv_has_a_row_for_each_skipped_video_with_its_error(tmp_path):
    """The JSON listed the skipped videos and the CSV did not: a table read from the CSV alone showed a set
    one video short, with nothing to say which or why."""
    import csv

    d = tmp_path / "v"
    d.mkdir()
    write_video(d / "a.mp4", make_video(OBJS, t=6))
    (d / "b.mp4").write_bytes(b"not a video")
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(d), "--metrics", "probes", "--no-progress", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mp4", "mean"]
    good, bad, mean = rows
    assert good["error"] == "" and mean["error"] == "" and float(mean["frames"]) == float(good["frames"]) == 6
    assert "b.mp4" in bad["error"] and all(bad[k] == "" for k in bad if k not in ("path", "error"))
    # a set without skipped videos has no error column
    (d / "b.mp4").unlink()
    assert (
        main(["evaluate", str(d), "--metrics", "probes", "--no-progress", "--out", str(out), "--overwrite"])
        == 0
    )
    assert "error" not in next(csv.reader(out.open(newline="")))


def test_a_report_cut_short_by_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    """save() wrote a fixed ``.NAME.tmp`` by hand: an error mid-write left it behind (and two runs with one
    --out shared it), and the file was not flushed to the disk before the rename."""

    class Unprintable(float):
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    out = tmp_path / "r.csv"
    EvaluationReport(records=[{"path": "a.mp4", "frames": 16}]).save(out)
    before = out.read_bytes()
    with pytest.raises(RuntimeError, match="cannot print"):
        EvaluationReport(records=[{"path": "a.mp4", "frames": Unprintable(3.0)}]).save(out, overwrite=True)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_a_report_is_not_saved_over_an_existing_file_without_overwrite(tmp_path):
    """save() replaced an existing file without a word, where every other writer (write_video,
    save_pretrained, evaluate --out) refuses it without overwrite."""
    from streamt2v.io.folders import ExistingOutputError

    out = tmp_path / "r.json"
    out.write_text("mine")
    report = EvaluationReport(records=[{"path": "a.mp4", "frames": 16}])
    with pytest.raises(ExistingOutputError) as err:
        report.save(out)
    # in the words of the folder's refusal (path=, --out), the way out as the caller gives it
    assert str(err.value) == f"path {str(out)!r} already exists; pass overwrite=True to replace it"
    assert str(err.value.as_flags()) == f"--out {str(out)!r} already exists; pass --overwrite to replace it"
    assert out.read_text() == "mine"
    report.save(out, overwrite=True)
    assert json.loads(out.read_text())["records"][0]["frames"] == 16


def test_a_report_is_not_saved_over_a_folder_even_with_overwrite(tmp_path):
    """A folder named r.json was refused with 'pass overwrite=True', which then failed with a raw
    IsADirectoryError: it is refused first, in the words of evaluate's check of --out (save said 'report
    ... is a folder', check_report_path 'path ... is a folder')."""
    from streamt2v.metrics.evaluate import check_report_path

    out = tmp_path / "r.json"
    out.mkdir()
    report = EvaluationReport(records=[{"path": "a.mp4", "frames": 16}])
    for call in (
        lambda: report.save(out),
        lambda: report.save(out, overwrite=True),
        lambda: check_report_path(out),
    ):
        with pytest.raises(IsADirectoryError) as err:
            call()
        assert str(err.value) == f"path {str(out)!r} is a folder; give a .json or .csv file name"
        assert str(err.value.as_flags()).startswith(f"--out {str(out)!r} is a folder")
    assert out.is_dir() and list(out.iterdir()) == []


def test_the_report_refusals_name_the_path_as_given(tmp_path, monkeypatch):
    """save() named an existing report 'report /home/me/r.json', check_report_path a folder 'path
    /home/me/d.json', both for '~/...': each names path= as the caller wrote it."""
    from streamt2v.metrics.evaluate import check_report_path

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "r.json").write_text("mine")
    (tmp_path / "d.json").mkdir()
    report = EvaluationReport(records=[{"path": "a.mp4", "frames": 16}])
    with pytest.raises(FileExistsError, match=r"^path '~/r\.json' already exists; pass overwrite=True"):
        report.save("~/r.json")
    for call in (lambda: report.save("~/d.json", overwrite=True), lambda: check_report_path("~/d.json")):
        with pytest.raises(IsADirectoryError, match=r"^path '~/d\.json' is a folder; give a \.json or \.csv"):
            call()


def test_the_report_path_is_named_as_the_python_caller_gives_it(tmp_path):
    """save() said 'output must end in .json or .csv' and check_report_path '--out ...' to Python callers:
    both take path= (the command line's --out: test_cli_bad_settings_fail_once_before_scoring)."""
    from streamt2v.metrics.evaluate import check_report_path

    report = EvaluationReport(records=[{"path": "a.mp4", "frames": 16}])
    txt = tmp_path / "r.txt"
    for call in (lambda: report.save(txt), lambda: check_report_path(txt)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == f"path must end in .json or .csv, got {str(txt)!r}"
    (tmp_path / "d.json").mkdir()
    with pytest.raises(IsADirectoryError, match=r"^path '.*d\.json' is a folder; give a \.json or \.csv"):
        check_report_path(tmp_path / "d.json")
    txt.write_text("")
    with pytest.raises(
        NotADirectoryError, match=r"^cannot write path '.*r\.txt/r\.json': '.*r\.txt' is a file"
    ):
        check_report_path(txt / "r.json")


def test_as_flags_gives_a_new_report_and_leaves_the_callers_as_it_was(tmp_path):
    """as_flags rewrote the skipped videos' reasons of the report it was called on, so a Python caller's
    report named the command line's flags from then on; it gives a copy, as its name says."""
    from streamt2v.metrics.evaluate import evaluate_videos

    video = tmp_path / "small.mp4"  # too small for DIS at its own size: skipped with advice naming arguments
    write_video(video, np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8))
    report = evaluate_videos([str(video)], metrics=["mawe"], flow_size=None)
    [python_reason] = [s["error"] for s in report.skipped]
    flagged = report.as_flags()
    assert flagged is not report and flagged.config == report.config and flagged.records == report.records
    assert flagged.skipped[0]["error"].endswith("use a larger flow size (--flow-size) or --flow farneback")
    assert report.skipped[0]["error"] == python_reason and python_reason.endswith(
        "(flow_size) or flow='farneback'"
    )
    assert flagged.as_flags().skipped == flagged.skipped  # spelled for the command line once is enough


def test_the_table_names_a_mawe_definition_that_is_not_the_default(tmp_path):
    """The MAWE column read 'MAWE↓' with mawe_definition='paper' too, whose values are on another scale."""
    video = tmp_path / "v.mp4"
    write_video(video, make_video(OBJS, t=12))
    paper = evaluate_videos([str(video)], metrics="mawe", flow_size=64, mawe_definition="paper")
    assert paper.table().split()[:3] == ["video", "frames", "MAWE(paper)↓"]
    official = evaluate_videos([str(video)], metrics="mawe", flow_size=64)
    assert official.table().split()[:3] == ["video", "frames", "MAWE↓"]
