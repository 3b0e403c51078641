"""What stage 3 tells its user when a run goes wrong or a flag cannot act: a NaN names the precision the
refiner ran in (with the hint to leave float16); flags the settings leave without effect are named."""

from __future__ import annotations

import pytest
import torch

from conftest import SMALL
from streamt2v.pipeline.enhance import enhance_latents, enhance_video
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.refiner import DEFAULT_SCHEDULER_CONFIG, Refiner
from streamt2v.sampling.schedulers import NonFiniteLatentsError, make_scheduler


def test_a_nan_in_stage_3_names_the_refiners_dtype_not_float32() -> None:
    """The UNet's output reaches the step as float32, so a bfloat16 (or float16) refiner's NaN was reported
    as '(UNet dtype float32)', and a float16 overflow lost its hint to run in bf16 or fp32."""
    refiner = Refiner.random((16, 16), seed=0).to(torch.bfloat16)
    with torch.no_grad():  # one infinite weight, as an overflow or a damaged file leaves
        refiner.unet.conv_in.weight[0] = float("inf")
    video = torch.rand(1, 3, 4, 8, 8) * 2 - 1
    with pytest.raises(NonFiniteLatentsError, match=r"\(UNet dtype bfloat16\)$"):
        enhance_video(video, "a red circle", refiner, EnhanceConfig(**SMALL), seed=0)
    # a denoiser run in float16 gets the advice to leave it, as stages 1-2 give it
    with pytest.raises(
        NonFiniteLatentsError, match=r"UNet dtype float16\); float16 overflows .* bf16 or fp32"
    ):
        enhance_latents(
            torch.randn(1, 4, 4, 4, 4),
            lambda x, t, chunks: torch.full_like(x, float("nan")),
            make_scheduler("ddim", DEFAULT_SCHEDULER_CONFIG),
            EnhanceConfig(**SMALL),
            generator=torch.Generator().manual_seed(0),
            compute_dtype=torch.float16,
        )


def test_the_random_weight_stand_in_says_nothing_of_its_prompt_reading(refiner, caplog) -> None:
    """The stand-in (``--random-refiner``) warned that its byte-level tokenizer cut a prompt off: nothing a
    user who asked for random weights can act on. A refiner of trained weights still says it."""
    import dataclasses
    import logging

    video = torch.zeros(1, 3, 2, 16, 16)
    cfg = EnhanceConfig(chunk_frames=2, overlap=1, steps=1, start_step=1, guidance=1.0)
    prompt = "a red circle bouncing on a blue background, camera panning left"
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        enhance_video(video, prompt, refiner, cfg, seed=0, progress=False)
        assert caplog.records == []
        trained = dataclasses.replace(refiner, random_weights=False)  # as a refiner folder loads
        enhance_video(video, prompt, trained, cfg, seed=0, progress=False)
    assert [r.getMessage() for r in caplog.records] == [
        f"prompt {prompt!r}: 55 tokens, of which the text encoder reads the first 16 (the rest is cut off)"
    ]


def test_flags_that_cannot_act_are_named_before_the_work(tmp_path, capsys, caplog) -> None:
    """With the shipped refiner (no CFG: guidance scale 1) --negative-prompt and --guidance-rescale changed
    nothing, and --blend nothing outside --mode randomized, without a word (the negative prompt's words were
    even warned about as unread)."""
    from streamt2v.cli import main
    from streamt2v.io.video import write_video

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 32, 32) * 2 - 1, fps=8)
    args = ["enhance", str(src), "--prompt", "a red circle", "--no-progress"]
    flags = [
        "--negative-prompt",
        "zzz",
        "--guidance-rescale",
        "0.2",
        "--blend",
        "x0",
        "--mode",
        "independent",
    ]
    assert main([*args, "-o", str(tmp_path / "a.mp4"), *flags]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: ignoring --negative-prompt and --guidance-rescale: they act only with classifier-free "
        "guidance, which --guidance-scale 1 (the refiner's recommendation) turns off; set --guidance-scale to "
        "another value (7.5 is the official one) to use them" in err
    )
    assert (
        "warning: ignoring --blend: it acts only with --mode randomized, and this run's is independent" in err
    )
    assert "zzz" not in caplog.text  # an unread negative prompt's words are not warned about
    # where they act, nothing is said
    assert main([*args, "-o", str(tmp_path / "b.mp4"), *flags[:6], "--guidance-scale", "2"]) == 0
    assert "ignoring" not in capsys.readouterr().err
    # nor of values that change nothing even with CFG
    nothing = ["--negative-prompt", "", "--guidance-rescale", "0"]
    assert main([*args, "-o", str(tmp_path / "c.mp4"), *nothing]) == 0
    assert "ignoring" not in capsys.readouterr().err
