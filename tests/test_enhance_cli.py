"""The ``streamt2v enhance`` command: end to end, a stopped run continued, every setting checked before
the video is read or a refiner loaded, the default refiner without ``--model``, its help."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers import UNet3DConditionModel

from streamt2v.io.output_paths import OutputInUseError, check_output_path
from streamt2v.io.video import read_video, write_video
from streamt2v.pipeline.refiner import Refiner


def test_cli_enhance_reports_the_output_size_width_x_height(tmp_path, capsys) -> None:
    """A 48-wide, 32-high output was reported as '32x48'."""
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 16, 24) * 2 - 1, fps=8)
    folder = Refiner.random((32, 48), seed=0).save_pretrained(tmp_path / "wide")
    out = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--model", str(folder)]
    assert main([*args, "--steps", "1", "--chunk-frames", "2", "--overlap", "0", "--no-progress"]) == 0
    assert read_video(out)[0].shape[3:] == (32, 48)
    assert capsys.readouterr().out == f"wrote 2 frames of 48x32 (width x height) to {out.resolve()}\n"
    # a still image enhanced is '1 frame', not '1 frames'
    still = write_video(tmp_path / "still.mp4", torch.rand(1, 3, 1, 16, 24) * 2 - 1, fps=8)
    one = ["enhance", str(still), "--prompt", "a red circle", "-o", str(tmp_path / "o1.mp4")]
    assert main([*one, "--model", str(folder), "--steps", "1", "--no-progress"]) == 0
    assert "wrote 1 frame of 48x32 (width x height) to " in capsys.readouterr().out


def test_cli_enhance_canvas_warnings_name_its_flags(refiner: Refiner, tmp_path, caplog) -> None:
    """The canvas warnings (a stretched aspect ratio, an output smaller than the input) advised both names
    at once, 'set pad_to_aspect (--pad-to-aspect)': the command line reads its flags alone (a Python caller
    its arguments: test_enhance_video)."""
    from streamt2v.cli import main

    folder = refiner.save_pretrained(tmp_path / "ref")  # a 32x32 canvas
    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 16, 24) * 2 - 1, fps=8)
    args = ["enhance", str(src), "--prompt", "a", "--model", str(folder), "--steps", "1", "--no-progress"]
    with caplog.at_level(logging.WARNING):
        assert main([*args, "-o", str(tmp_path / "a.mp4")]) == 0
        assert main([*args, "-o", str(tmp_path / "b.mp4"), "--resolution", "8x8", "--pad-to-aspect"]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said == [
        "input frames are 16x24 but the enhancer canvas is 32x32 (HxW): they are stretched to its aspect "
        "ratio; to fit and pad them instead, pass --pad-to-aspect",
        "the output frames will be 6x8, smaller than the input's 16x24 (HxW), on the 8x8 canvas (--resolution); "
        "use a refiner made for at least this size, or pass a larger canvas, e.g. --resolution 16x24",
    ]


def test_cli_enhance_end_to_end(refiner: Refiner, tmp_path, caplog, capsys) -> None:
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    out = tmp_path / "out.mp4"
    args = ["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--steps", "2"]
    args += ["--chunk-frames", "4", "--overlap", "1", "--seed", "0", "--no-progress"]
    assert main([*args, "--model", str(folder)]) == 0
    video, fps = read_video(out)
    assert video.shape[1:] == (3, 7, 32, 32) and fps == pytest.approx(8)
    # no --model: the shipped refiner works on 32x32 inputs, so this 16x16 one is refused (a random-weight
    # stand-in ran, with a warning: minutes of work for a noise video), unless --random-refiner lets one in
    out2 = tmp_path / "out2.mp4"
    capsys.readouterr()  # the saves' bars
    assert main([*args[:5], str(out2), *args[6:]]) == 2
    assert capsys.readouterr().err == (
        "error: input frames are 16x16 (width x height) and the shipped refiner works on 32x32 frames: stage 3 "
        "needs a refiner folder for this size (pass --model DIR, or resize the video to 32x32); --random-refiner "
        "lets a random-weight refiner stand in (it shows the pipeline working; its output is noise, not an "
        "enhancement)\n"
    )
    assert not out2.exists()
    with caplog.at_level(logging.WARNING):
        assert main([*args[:5], str(out2), *args[6:], "--random-refiner"]) == 0
    # one warning, of the stand-in asked for (it said again why the shipped refiner was not used)
    assert [r.getMessage()[:41] for r in caplog.records if r.levelno == logging.WARNING] == [
        "using a tiny RANDOM-WEIGHT refiner making"
    ]
    assert read_video(out2)[0].shape[1:] == (3, 7, 32, 32)
    # --dtype (stage 3 in half precision: the larger part of a full-size run's work) reaches the refiner
    out3 = tmp_path / "out3.mp4"
    assert main([*args, "--model", str(folder), "--device", "cpu", "--dtype", "bf16", "-o", str(out3)]) == 0
    fp32, bf16 = read_video(out)[0], read_video(out3)[0]
    assert 0 < (fp32 - bf16).abs().mean() < 0.05


def test_cli_enhance_stopped_then_run_again_continues_after_its_last_step(refiner: Refiner, tmp_path, capsys):
    from torch.nn.modules.module import register_module_forward_hook

    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--steps", "3"]
    args += ["--chunk-frames", "8", "--overlap", "1", "--no-progress"]  # one chunk: one UNet call a step
    assert main([*args, "-o", str(tmp_path / "ref.mp4")]) == 0
    calls = []
    out, state = tmp_path / "out.mp4", tmp_path / ".out.mp4.stage3.pt"

    def count(module, inputs, output):
        if isinstance(module, UNet3DConditionModel):
            calls.append(1)
            # the output (and so the state beside it) is this run's until it is written
            with pytest.raises(OutputInUseError, match="is being written by another process"):
                check_output_path(out, overwrite=True)
            if stop_at and len(calls) == stop_at:
                raise KeyboardInterrupt

    hook = register_module_forward_hook(count)
    try:
        stop_at = 3  # Ctrl-C in step 3: steps 1 and 2 are kept
        assert main([*args, "-o", str(out)]) == 130
        assert "its last finished step is kept in" in capsys.readouterr().err
        assert state.is_file() and not out.exists()
        calls.clear()
        killed_save = tmp_path / f".{state.name}.tmp-4194304"  # what a kill during a save leaves
        killed_save.write_bytes(b"cut short")
        stop_at = None
        assert main([*args, "-o", str(out)]) == 0
    finally:
        hook.remove()
    assert len(calls) == 1  # step 3 only
    assert out.read_bytes() == (tmp_path / "ref.mp4").read_bytes() and not state.exists()
    assert not killed_save.exists()
    check_output_path(out, overwrite=True)  # released


class UNetCalls:
    """Counts the refiner UNet's calls (one a step, for a video of one chunk) while inside; ``stop_at = k``
    makes the k-th a Ctrl-C."""

    def __init__(self) -> None:
        self.count, self.stop_at = 0, None

    def __enter__(self) -> UNetCalls:
        from torch.nn.modules.module import register_module_forward_hook

        self.hook = register_module_forward_hook(self._called)
        return self

    def __exit__(self, *exc: object) -> None:
        self.hook.remove()

    def _called(self, module, inputs, output) -> None:
        if isinstance(module, UNet3DConditionModel):
            self.count += 1
            if self.stop_at and self.count == self.stop_at:
                raise KeyboardInterrupt


def test_cli_enhance_stopped_continues_in_another_precision(refiner: Refiner, tmp_path, capsys):
    """A run stopped in stage 3 and continued in another --dtype (bf16 after a float16 overflow, or to halve
    the memory) started over: the state's key held the latents and prompt embeddings, which change with the
    refiner's precision, and the state was set aside as another run's."""
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--steps", "3"]
    args += [
        "--chunk-frames",
        "8",
        "--overlap",
        "1",
        "--no-progress",
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "o.mp4"),
    ]
    with UNetCalls() as calls:
        calls.stop_at = 3  # Ctrl-C in step 3: steps 1 and 2 are kept
        assert main(args) == 130
        calls.count, calls.stop_at = 0, None
        assert main([*args, "--dtype", "bf16"]) == 0
    assert calls.count == 1  # step 3 only, in bf16
    assert "starts over" not in capsys.readouterr().err
    assert not list(tmp_path.glob("*.stale-*"))


def test_cli_enhance_keeps_the_state_of_another_run_it_set_aside(refiner: Refiner, tmp_path, caplog):
    """Run A stopped, run B (--seed 3) stopped, A again: it warned that B's state was set aside 'now' and
    finished, and removed B's state with its own. B's state is kept (and named); B, run again, continues."""
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 7, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    out = tmp_path / "o.mp4"
    a = ["enhance", str(src), "--prompt", "p", "--model", str(folder), "--steps", "3", "-o", str(out)]
    a += ["--chunk-frames", "8", "--overlap", "1", "--no-progress"]  # one chunk: one UNet call a step
    b = [*a, "--seed", "3"]
    with UNetCalls() as calls:
        calls.stop_at = 2  # each stopped in step 2: step 1 kept
        assert main(a) == 130
        calls.count = 0
        assert main(b) == 130
        calls.count, calls.stop_at = 0, None
        with caplog.at_level(logging.WARNING):
            assert main(a) == 0
        assert calls.count == 2  # A continued after its step 1
        kept = [p.name for p in tmp_path.glob(".o.mp4.stage3.pt*")]
        assert len(kept) == 1 and kept[0].startswith(".o.mp4.stage3.pt.stale-")
        assert f"that run's state is set aside in turn, in {kept[0]}" in caplog.text
        assert f"kept 1 stage-3 state of other runs set aside in {tmp_path} ({kept[0]})" in caplog.text
        calls.count = 0
        assert main([*b, "--overwrite"]) == 0
        assert calls.count == 2  # B continued after its step 1 too
    assert list(tmp_path.glob(".o.mp4.stage3.pt*")) == []


def test_cli_enhance_checks_everything_before_reading_or_loading(
    refiner: Refiner, tmp_path, monkeypatch, capsys
):
    import streamt2v.pipeline.default_refiner as ref
    import streamt2v.pipeline.enhance_output as enh
    from streamt2v.cli import main

    monkeypatch.chdir(tmp_path)
    # the shipped refiner's size: a size it is not for is refused without --model (the end-to-end test)
    write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 32, 32) * 2 - 1, fps=8)
    (tmp_path / "taken.mp4").write_bytes(b"mine")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("x")
    monkeypatch.setattr(
        enh, "enhance_to_files", lambda *a, **k: pytest.fail("enhanced despite a bad setting")
    )
    monkeypatch.setattr(ref, "load_refiner", lambda *a, **k: pytest.fail("loaded despite a bad setting"))
    cuda = torch.cuda.is_available()
    for argv, match in [
        # named as typed, as generate names its flags (this said -o)
        (["--out", "-"], "error: --out -: enhance writes a file or a folder, not standard output"),
        # valid alone, but not with the start step the refiner recommends (was refused after the loading)
        (["--steps", "5", "--model", "microworld"], "--steps (5) must be <= --start-step (1)"),
        (["--prompt", ""], "--prompt must be a non-empty text"),
        # a schedule file's name: the library would have taken the name as the prompt's text
        (
            ["--prompt", "docs/thesis.txt"],
            "--prompt 'docs/thesis.txt' is a file, not a prompt: give the prompt's text, or a prompt schedule "
            'inline (--prompt "$(cat docs/thesis.txt)" for a file of FRAME: prompt lines)',
        ),
        (["--model", "/nonexistent"], "--model '/nonexistent' does not exist"),
        (["-o", "e.txt"], "unknown suffix"),
        (["-o", "taken.mp4"], "'taken.mp4' already exists; pass --overwrite"),
        # the usual name of standard output: made a folder of PNG frames named '-'
        (["-o", "-"], "-o -: enhance writes a file or a folder, not standard output; give a path such as"),
        (["--random-refiner", "--model", "microworld"], "give either it or --model"),
        (["-o", "docs"], "thesis.txt"),
        (["-o", "/proc/x.mp4"], "cannot write output '/proc/x.mp4'"),
        (["-o", "in.mp4", "--overwrite"], "-o 'in.mp4' would replace the input 'in.mp4'; write the enhanced"),
        (["-o", "e.gif", "--fps", "60"], "--fps 60.0 is too high for a GIF"),
        (
            ["--resolution", "100000x100000"],
            "resolution must be at most 8192 pixels a side, got 100000x100000",
        ),
        # a canvas the refiner's VAE cannot encode (its latents have a pixel per 4): was refused after the
        # video was read and the refiner loaded, as 'enhancer resolution (66, 64)', naming no flag
        (
            ["--resolution", "66x64"],
            "--resolution 66x64 (HxW) must have sides divisible by 4, the refiner VAE",
        ),
        (["--resolution", "64x30", "--model", "microworld"], "--resolution 64x30 (HxW) must have sides"),
        *([] if cuda else [(["--device", "cuda"], "CUDA is not available")]),
        (["--device", "cpu", "--dtype", "fp16"], "dtype fp16 is not supported on device cpu"),
    ]:
        args = ["enhance", "in.mp4", "--prompt", "a cat", "-o", "out.mp4", "--no-progress", *argv]
        assert main(args) == 2, argv
        err = capsys.readouterr().err
        assert match in err and err.count("error:") == 1, (argv, err)
    # a GIF at the input's rate, when a GIF cannot play it: before the work, not when the result is written
    write_video(tmp_path / "in60.mp4", torch.rand(1, 3, 3, 32, 32) * 2 - 1, fps=60)
    assert main(["enhance", "in60.mp4", "--prompt", "a cat", "-o", "e.gif", "--no-progress"]) == 2
    assert "the input's frame rate 60.0 is too high for a GIF" in capsys.readouterr().err
    assert (tmp_path / "taken.mp4").read_bytes() == b"mine" and (tmp_path / "docs" / "thesis.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "in.mp4", "in60.mp4", "taken.mp4"]


def test_cli_enhance_checks_the_settings_over_the_refiners_recommendation(tmp_path, capsys) -> None:
    """``--chunk-frames 2`` for a refiner that recommends overlap 1 was refused against the official overlap
    8 ('chunk_frames (2) must be larger than overlap (8)'): the settings were first checked alone."""
    from dataclasses import replace

    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=8)
    folder = replace(Refiner.random((32, 32), seed=0), recommended={"overlap": 1}).save_pretrained(
        tmp_path / "r"
    )
    args = ["enhance", str(src), "--prompt", "a red circle", "--model", str(folder), "--no-progress"]
    assert main([*args, "--steps", "1", "--chunk-frames", "2", "-o", str(tmp_path / "out.mp4")]) == 0
    assert read_video(tmp_path / "out.mp4")[0].shape[2] == 3
    capsys.readouterr()
    assert main([*args, "--steps", "1", "--chunk-frames", "1", "-o", str(tmp_path / "no.mp4")]) == 2
    assert capsys.readouterr().err == (
        "error: --chunk-frames (1) must be larger than --overlap (1); --overlap 1 is the recommendation of the "
        "refiner 'r' (set --overlap to change it)\n"
    )


def test_a_refiner_recording_a_frame_size_its_vae_cannot_make_names_resolution_per_caller(tmp_path, capsys):
    """A refiner folder recording 30x32 frames (its VAE makes multiples of 4): the advice said 'set resolution
    (--resolution)' to Python callers too; each now reads its own name for the setting."""
    from dataclasses import replace

    from streamt2v.cli import main
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.enhance_config import EnhanceConfig

    refiner = replace(Refiner.random((32, 32), seed=0), frame_size=(30, 32))
    said = "the refiner's frame size 30x32 (HxW) is not divisible by its VAE scale factor 4; set {} to a size that is"
    with pytest.raises(ValueError) as err:
        enhance_video(torch.rand(1, 3, 2, 16, 16) * 2 - 1, "a red circle", refiner, EnhanceConfig(steps=1))
    assert str(err.value) == said.format("resolution")
    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "r")
    capsys.readouterr()  # its progress bar
    args = [
        "enhance",
        str(src),
        "--prompt",
        "a red circle",
        "--model",
        str(folder),
        "-o",
        str(tmp_path / "o.mp4"),
    ]
    assert main([*args, "--steps", "1", "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: {said.format('--resolution')}\n"


def test_cli_enhance_overwrite_and_auto_device(refiner: Refiner, tmp_path, caplog) -> None:
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 16, 16) * 2 - 1, fps=8)
    folder = refiner.save_pretrained(tmp_path / "ref")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    args = ["enhance", str(src), "--prompt", "a cat", "-o", str(out), "--model", str(folder), "--no-progress"]
    args += ["--steps", "1", "--chunk-frames", "4", "--overlap", "1", "--device", "auto", "--overwrite"]
    with caplog.at_level(logging.INFO):
        assert main(args) == 0
    assert read_video(out)[0].shape[2] == 3
    assert "1 step from t=" in caplog.text and "SDEdit start t'=" in caplog.text


def test_odd_sized_input_without_model_is_one_error_in_width_x_height(caplog):
    """A 33-wide, 47-high input said 'this input is 47x33 (it would need 94x66)' as a warning, then
    'input frames are 47x33' as the error: height first, and two lines for one problem."""
    from streamt2v.pipeline.default_refiner import default_refiner

    with caplog.at_level(logging.WARNING), pytest.raises(ValueError) as err:
        default_refiner((47, 33))
    assert str(err.value).startswith("input frames are 33x47 (width x height) and the shipped refiner works ")
    assert "a random-weight refiner stands in only where both sides are even" in str(err.value)
    assert caplog.records == []


def test_python_callers_of_the_default_refiner_are_told_their_own_arguments():
    """default_refiner((47, 33)) and load_refiner(None, ...) were told to 'pass model='DIR'', and
    check_default_refiner(..., stand_in=False) that 'random_refiner=True' lets the stand-in in: arguments of
    the enhance command line, which none of them takes."""
    from streamt2v.pipeline.default_refiner import check_default_refiner, load_refiner

    folder = (
        "(load one with load_refiner(DIR, ...) or Refiner.from_pretrained(DIR), or resize the video to 32x32)"
    )
    with pytest.raises(ValueError) as err:
        load_refiner(None, (300, 300))
    assert folder in str(err.value) and "model=" not in str(err.value)
    with pytest.raises(ValueError) as err:
        check_default_refiner((20, 20), stand_in=False)
    assert folder in str(err.value) and "; stand_in=True lets a random-weight refiner stand in" in str(
        err.value
    )


def test_random_refiner_is_said_ignored_at_the_shipped_size_and_an_odd_size_is_told_the_shipped_one(
    tmp_path, capsys
):
    """--random-refiner on a 32x32 input ran the shipped refiner without a word on the flag; without it, an
    odd-sized input was told to make its sides even, and once resized to 30x30 was refused again for not
    being 32x32."""
    from streamt2v.cli import main
    from streamt2v.pipeline.default_refiner import check_default_refiner

    src = write_video(tmp_path / "in.mp4", torch.zeros(1, 3, 2, 32, 32), fps=8)
    args = ["enhance", str(src), "--prompt", "a red circle", "-o", str(tmp_path / "o.mp4"), "--no-progress"]
    assert main([*args, "--random-refiner", "--chunk-frames", "1", "--overlap", "1"]) == 2  # before the work
    assert capsys.readouterr().err.startswith(
        "warning: ignoring --random-refiner: the shipped refiner is for this 32x32 input\nerror: --chunk-frames"
    )
    # without the flag, an odd size is not told to pass it: the stand-in refuses odd sizes
    with pytest.raises(
        ValueError, match=r"^input frames are 33x47 \(width x height\) and the shipped refiner "
    ) as err:
        check_default_refiner((47, 33), stand_in=False)
    assert "random" not in str(err.value)
    # a stand-in works at twice the size, which must be divisible by 4
    with pytest.raises(ValueError, match="only where both sides are even"):
        check_default_refiner((47, 33))


def test_the_shipped_refiner_given_by_model_is_refused_for_another_size(tmp_path, capsys):
    """--model microworld (or the shipped folder's path) enhanced a 64x40 input at 64x64 with a warning about
    the aspect alone, where leaving --model out was refused and advised giving a folder."""
    from streamt2v.cli import main
    from streamt2v.pipeline.refiner import shipped_refiner

    write_video(tmp_path / "in.mp4", torch.rand(1, 3, 3, 40, 64) * 2 - 1, fps=8)
    for model in ("microworld", str(shipped_refiner()[0])):
        argv = ["enhance", str(tmp_path / "in.mp4"), "--prompt", "a cat", "-o", str(tmp_path / "o.mp4")]
        assert main([*argv, "--model", model]) == 2
        assert capsys.readouterr().err == (
            f"error: input frames are 64x40 and the shipped refiner works on 32x32 frames (--model {model}): at "
            "another size it does worse than bilinear upscaling; pass a refiner folder for this size, or resize "
            "the video to 32x32\n"
        )
    assert not (tmp_path / "o.mp4").exists()


def test_no_default_refiner_for_large_frames_is_refused_before_the_work(tmp_path, capsys):
    """A 1080p input without --model made a random-weight stand-in at 2160x3840 (CPU-hours in one
    attention call); a size neither the shipped refiner nor the stand-in is for needs a refiner folder."""
    from dataclasses import replace

    from streamt2v.cli import main
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig, generate
    from streamt2v.pipeline.stream import StreamConfig

    src = write_video(tmp_path / "big.mp4", torch.zeros(1, 3, 2, 264, 300), fps=8)
    out = tmp_path / "out.mp4"
    assert main(["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "input frames are 300x264 (width x height)" in err and not out.exists()
    assert "--random-refiner" not in err  # which would refuse it: the stand-in is made up to 256x256
    # generate --enhance without --refiner: refused once the model's frame size is known, before sampling
    big = StreamingT2VModel.from_preset(replace(get_preset("tiny"), frame_size=512), device="meta")
    cfg = GenerateConfig(
        output=str(tmp_path / "g.mp4"),
        stream=StreamConfig(num_frames=8, steps=1, init_steps=1),
        prompt="a red circle",
        run_dir=str(tmp_path / "run"),
        enhance={},
    )
    with pytest.raises(ValueError, match="^the model makes 512x512 frames and the shipped refiner works on"):
        generate(cfg, model=big)
    with pytest.raises(
        ValueError,
        match=r"^the model makes 512x512 frames and the shipped refiner works on 32x32 frames: stage 3 needs a "
        r"refiner folder for this size \(pass refiner='DIR'\); a random-weight refiner stands in only up to "
        r"256x256$",
    ):
        generate(replace(cfg, random_refiner=True), model=big)
    assert not (tmp_path / "run").exists()


def test_cli_enhance_into_a_log_draws_no_library_bars(tmp_path, capsys) -> None:
    """Into a log (capsys: stderr is no terminal) loading the shipped refiner's text encoder drew
    transformers' 'Loading weights' bar, redrawn with carriage returns, unless enhance switches the
    libraries' bars off itself."""
    from streamt2v.cli import main

    src = write_video(tmp_path / "in.mp4", torch.zeros(1, 3, 1, 32, 32), fps=8)
    out = tmp_path / "out.mp4"
    assert main(["enhance", str(src), "--prompt", "a red circle", "-o", str(out), "--steps", "1"]) == 0
    captured = capsys.readouterr()
    assert "%|" not in captured.err and "\r" not in captured.err and "Loading weights" not in captured.err
    assert captured.out == f"wrote 1 frame of 64x64 (width x height) to {out.resolve()}\n"


def test_cli_enhance_help_explains_every_option() -> None:
    # `--negative-prompt NEGATIVE_PROMPT` was listed without a word on what it does
    import argparse

    from streamt2v.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    enhance = sub.choices["enhance"]
    bare = [a.option_strings or [a.dest] for a in enhance._actions if not a.help]
    assert bare == [], bare


@pytest.mark.parametrize(
    "resume", [["--resume"], ["--resume", "out.mp4"], ["--resu=runs/x"], ["--bogus", "--resume=runs/x"]]
)
def test_resume_typed_to_enhance_says_how_enhance_continues(resume, capsys) -> None:
    """``enhance --resume`` (generate's flag) was an unrecognized argument, saying nothing of how a stopped
    enhance continues: running the same command again."""
    from streamt2v.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["enhance", "in.mp4", "--prompt", "a", "-o", "out.mp4", *resume])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "streamt2v enhance: error: enhance has no --resume: a stopped enhance continues after its " in err
    assert "when the same command is run again" in err and "generate --resume DIR" in err


@pytest.mark.parametrize(
    "line", [["enhance", "--resume", "runs/x"], ["enhance", "in.mp4", "--prompt", "a", "--resume"]]
)
def test_resume_typed_to_an_enhance_that_lacks_required_arguments_still_says_how_it_continues(
    line, capsys
) -> None:
    """The advice was given only after a parse that succeeded: ``enhance --resume runs/x``, typed by the user
    it is for, was told that --prompt and -o were required instead."""
    from streamt2v.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(line)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "streamt2v enhance: error: enhance has no --resume: a stopped enhance continues after its " in err
    assert "required" not in err


def test_enhances_own_flags_abbreviate_as_before_resume_was_advised_on() -> None:
    """``--resume`` was made a hidden option to advise on it, and argparse matched abbreviations to it too:
    ``--res 64x64`` was refused as ambiguous between --resolution and --resume, a flag --help does not
    show."""
    from streamt2v.cli import build_parser

    line = ["enhance", "in.mp4", "--prompt", "a", "-o", "out.mp4"]
    assert build_parser().parse_args([*line, "--res", "8x8"]).resolution == (8, 8)
    assert build_parser().parse_args([*line, "--reso=8x16"]).resolution == (8, 16)


def test_a_flag_near_resume_that_is_none_of_its_abbreviations_is_an_unrecognized_argument(capsys) -> None:
    from streamt2v.cli import main

    with pytest.raises(SystemExit):
        main(["enhance", "in.mp4", "--prompt", "a", "-o", "out.mp4", "--resumed"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "streamt2v enhance: error: unrecognized arguments: --resumed"
    )


def test_refused_model_folders_are_named_by_the_flag_as_typed(tmp_path, monkeypatch, capsys):
    """enhance --model refusals said 'refiner folder ...' (or no name at all), never --model, and a ~ came
    back expanded: named by the flag and the value as typed, as generate names its --model."""
    from streamt2v.cli import main

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "in.mp4", torch.rand(1, 3, 2, 32, 32) * 2 - 1, fps=8)
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "model_index.json").write_text('{"_class_name": "StreamingT2VModel"}')
    (tmp_path / "afile").write_text("x")
    home = str(tmp_path / "home" / "nothere")
    partial = str(tmp_path / "home" / "partial")  # every part's folder, none filled
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        (tmp_path / "home" / "partial" / part).mkdir(parents=True)
    for model, said in [
        ("~/nothere", f"--model '~/nothere' ({home!r}) does not exist; the refiner is loaded from a local"),
        ("owner/name", "--model 'owner/name' does not exist; the refiner is loaded from a local folder; if"),
        ("stage", "--model 'stage' is a StreamingT2VModel folder (stages 1-2; model_index.json names"),
        ("afile", "--model 'afile' is a file; give a diffusers-format model folder"),
        # a part's refusal: it said "refiner folder's unet/ '/home/.../partial/unet'", then "--model
        # '~/partial' ('/home/.../partial')'s unet/ ..."
        ("~/partial", f"--model '~/partial' ({partial!r}): unet/ {partial + '/unet'!r} has no config.json"),
    ]:
        assert main(["enhance", "in.mp4", "--prompt", "a cat", "-o", "o.mp4", "--model", model]) == 2
        assert capsys.readouterr().err.startswith(f"error: {said}"), model
