"""``evaluate_videos`` from Python: arrays and tensors as videos, bad videos skipped with their reasons,
bad arguments refused before scoring, progress bars, the package's metric functions."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pytest

from streamt2v.metrics.evaluate import evaluate_videos
from test_metrics_clip import save_tiny_clip
from test_metrics_probes import OBJS, make_video


def test_library_bad_videos_are_skipped_with_reasons(caplog):
    good = make_video(OBJS, t=8)
    with caplog.at_level(logging.DEBUG, logger="streamt2v.metrics.evaluate"):
        rep = evaluate_videos([good, good[:1], good[:0]], metrics="mawe", flow_size=None)
    assert len(rep.records) == 1
    reasons = [s["error"] for s in rep.skipped]
    assert "1 frame" in reasons[0] and "0 frame" in reasons[1]
    # with -v, where each reason came from (a metric's bug is skipped too; its traceback was not shown)
    skips = [r for r in caplog.records if r.getMessage().startswith("skipping ")]
    assert len(skips) == 2 and all(r.exc_info for r in skips)
    static = np.repeat(good[:1], 4, axis=0)
    rep = evaluate_videos([static, good], metrics=["mawe"], flow_size=None, names=["static", "moving"])
    assert rep.records[0]["mawe"] == math.inf and rep.means["mawe"] == math.inf
    assert "inf" in rep.table()


def test_package_exports_functions_not_modules():
    import streamt2v.metrics as metrics
    import streamt2v.metrics.mawe  # noqa: F401  (a submodule import must not shadow the function)

    assert callable(metrics.mawe) and callable(metrics.scuts) and callable(metrics.clip_score)


def test_library_bad_arguments_raise_before_scoring(monkeypatch, tmp_path):
    import torch

    import streamt2v.metrics.evaluate as ev
    from streamt2v.metrics.clip_score import load_clip

    scored = []
    monkeypatch.setattr(ev, "as_uint8_frames", lambda *a, **k: scored.append(a) or 1 / 0)
    good = make_video(OBJS, t=8)
    folder = save_tiny_clip(tmp_path / "clip")
    elsewhere = load_clip(folder)
    elsewhere.device = torch.device("cuda:1")  # as if loaded there (a machine without one cannot)
    for kwargs, error, message in [
        (dict(videos="a.mp4"), TypeError, "got the single path 'a.mp4'; wrap it in a list"),
        (dict(prompts="a red circle", metrics="probes"), TypeError, "got the single str 'a red circle'"),
        (dict(fps=float("nan")), ValueError, "fps must be a finite number > 0, got nan"),
        (
            dict(flow_size=64.0),
            TypeError,
            "flow_size must be an int, a (height, width) pair of ints or None, got 64.0",
        ),
        (dict(flow_size=4), ValueError, "flow_size must be at least 8×8 pixels, got 4×4"),
        # --flow-size 0 is the native size on the command line; in Python that is None
        (dict(flow_size=0), ValueError, "at least 8×8 pixels, got 0×0 (None keeps the video's own size)"),
        (
            dict(mawe_coeff=math.inf),
            ValueError,
            "mawe_coeff (the MAWE coefficient c) must be a finite number > 0, got inf",
        ),
        (
            dict(boundaries=[16, 0], metrics="probes"),
            ValueError,
            "chunk boundaries must be frame indices >= 1, got [0]",
        ),
        (dict(prompts=[""], metrics="probes"), ValueError, "prompts[0] must be a non-empty str, got ''"),
        (  # None: a video without a prompt (a run folder's own is taken), which clip cannot score; no run
            # folder given, none is spoken of
            dict(prompts=[None], metrics="clip", clip_model=folder),
            ValueError,
            "the clip metric needs prompts= (one prompt per video): none for 1 video (videos[0])",
        ),
        (
            dict(prompts=["x"], metrics="clip", clip_model=folder, clip_batch_size=0),
            ValueError,
            "clip_batch_size must be an int >= 1, got 0",
        ),
        # where the CLIP and RAFT run (it had no device=: the CLIP ran on the CPU, RAFT on a GPU if any)
        (dict(device="gpu"), ValueError, "unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
        # the arguments named as a Python caller passes them (it said 'needs prompts', 'a CLIP model')
        (
            dict(metrics=("clip",), clip_model=folder),
            ValueError,
            "the clip metric needs prompts= (one prompt",
        ),
        (
            dict(prompts=["x"], metrics=("clip",)),
            ValueError,
            "the clip metric needs clip_model= (a CLIP folder",
        ),
        (
            dict(prompts=["x"], metrics="clip", clip_model=elsewhere, device="cpu"),
            ValueError,
            "clip_model is a ClipScorer on cuda:1, not on device 'cpu': load it there (load_clip(..., device=))",
        ),
    ]:
        kwargs = {"videos": [good], **kwargs}
        with pytest.raises(error, match=re.escape(message)):
            evaluate_videos(**kwargs)
    assert scored == []


def test_a_clip_scorer_elsewhere_is_refused_naming_the_device_given_and_what_it_resolved_to(tmp_path):
    """device='auto' was named by what it resolved to ('cuda'), which the caller never wrote."""
    import torch

    from streamt2v.memory import resolve_device
    from streamt2v.metrics.clip_score import load_clip

    here = resolve_device("auto")
    scorer = load_clip(save_tiny_clip(tmp_path / "clip"))
    scorer.device = torch.device("cuda:1" if here.type == "cpu" else "cpu")  # as if loaded elsewhere
    video = make_video(OBJS, t=2)
    message = (
        f"clip_model is a ClipScorer on {scorer.device}, not on device 'auto' (here {here}): load it there"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate_videos([video], prompts=["x"], metrics="clip", clip_model=scorer, device="auto")


def test_farneback_on_frames_upscaled_past_twice_their_size_is_named_once(caplog):
    """Farneback finds next to no motion in frames upscaled far (a 32x32 microworld video at 720: MAWE ~1e5,
    DIS 0.8), and nothing said why: a warning names the first such video and what to use."""
    videos = [make_video(OBJS, t=2), make_video(OBJS, t=2)]  # 64x64
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.flow"):
        evaluate_videos(videos, metrics="mawe", flow="farneback", flow_size=128)  # 2x: still finds the motion
        evaluate_videos(videos, metrics="mawe", flow="dis", flow_size=160)
        assert caplog.records == []
        # one side upscaled past 2x is enough: the min of the two sides (1x) let it pass unsaid
        evaluate_videos(videos, metrics="mawe", flow="farneback", flow_size=(64, 160))
    assert [r.getMessage() for r in caplog.records] == [
        "MAWE by Farneback of 'video_0': its 64x64 frames are upscaled 2.5x to the flow size, where Farneback "
        "finds next to no motion (an upscaled frame is too smooth at its window's scale), so the MAWE comes out "
        "orders of magnitude too large (microworld videos at 720: ~1e5, by DIS ~0.8); use flow='dis', or "
        "flow_size at most twice the video's side (said once)"
    ]


def test_library_uint8_and_bad_float_tensors():
    import torch

    good = make_video(OBJS, t=8)
    u = torch.from_numpy(good).permute(3, 0, 1, 2)[None]  # uint8 (1, 3, T, H, W)
    rep = evaluate_videos([good, u, u.float(), u.float() / 127.5 - 1], metrics="mawe", flow_size=None)
    assert [r["path"] for r in rep.records] == ["video_0", "video_1", "video_3"]
    assert rep.records[0]["mawe"] == rep.records[1]["mawe"] == pytest.approx(rep.records[2]["mawe"])
    assert rep.skipped[0]["path"] == "video_2" and "pixels are in [-1, 1]" in rep.skipped[0]["error"]


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


def test_progress_shows_the_flow_pairs_of_each_video(capsys):
    """MAWE is the long part (minutes for 240 frames at 720x720), but ``evaluate`` showed only the bar over
    videos, which stood at 0/1 for a single video until the end."""
    evaluate_videos([make_video(OBJS, t=4)], metrics="mawe", flow_size=None, progress=True)
    err = capsys.readouterr().err
    assert "MAWE (dis)" in err and "/3 " in err, err


def test_progress_shows_the_frames_the_probes_segment(capsys):
    """Segmenting takes seconds a frame on large frames (4K: 10 s), and the probes showed no bar."""
    evaluate_videos([make_video(OBJS, t=5)], metrics="probes", progress=True)
    err = capsys.readouterr().err
    assert "probes" in err and "/5 " in err, err


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
