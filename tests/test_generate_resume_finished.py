"""Resuming a complete run (tiny random-weight model, CPU): with every output there as the run left it, it says
the run is finished and writes nothing (stage 3 at full size took hours again); otherwise it writes only the
outputs that are missing, running stage 3 again only for one of its own."""

from __future__ import annotations

import logging

import pytest

from conftest import cfg_for
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.preflight import lowres_path
from streamt2v.pipeline.resume import resume_generate


@pytest.fixture(scope="module")
def model32():
    """The tiny preset at 32x32 frames: the shipped refiner (64x64) runs its stage 3."""
    from streamt2v.config import get_preset
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset(get_preset("tiny").replace(frame_size=32), device="cpu", seed=0)


def _identity(path):
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _stage3_calls():
    """A counter of stage 3's UNet calls (the refiner's is a diffusers UNet3DConditionModel)."""
    from diffusers import UNet3DConditionModel
    from torch.nn.modules.module import register_module_forward_hook

    calls: list[int] = []
    hook = register_module_forward_hook(
        lambda module, args, output: calls.append(1) if isinstance(module, UNet3DConditionModel) else None
    )
    return calls, hook


def test_a_finished_run_with_its_outputs_is_not_written_again(tmp_path, model, caplog):
    cfg = cfg_for(tmp_path, "f", n=24, gif=str(tmp_path / "f.gif"))
    done = generate(cfg, model=model)
    before = {p: _identity(p) for p in (done.output, *done.extra_outputs)}
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.resume"):
        again = resume_generate(done.run_dir, model=model)
    assert {p: _identity(p) for p in before} == before
    assert again.rewritten == [] and (again.output, again.extra_outputs) == (done.output, done.extra_outputs)
    said = (
        f"run {done.run_dir} is finished: nothing to resume; its outputs are as it wrote them: {done.output}"
    )
    assert said in caplog.text and str(tmp_path / "f.gif") in caplog.text
    assert "already finished" not in caplog.text  # no resuming: nothing was loaded or checked for it
    # one output removed: only it is written again
    (tmp_path / "f.gif").unlink()
    again = resume_generate(done.run_dir, model=model)
    assert again.rewritten == [tmp_path / "f.gif"] and (tmp_path / "f.gif").is_file()
    assert _identity(done.output) == before[done.output]


def test_stage_3_runs_again_only_for_a_missing_output_of_its_own(tmp_path, model32, capsys):
    enhance = dict(steps=1, chunk_frames=16, overlap=4)
    done = generate(cfg_for(tmp_path, "e", n=24, enhance=enhance), model=model32)
    # a library call draws no bar of its own unasked (loading the refiner's text encoder draws transformers'
    # "Loading weights" bar, as transformers' own from_pretrained does, where no earlier test switched it off)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert [line for line in lines if "%|" in line and not line.startswith("Loading weights")] == []
    lowres = lowres_path(done.output)
    before = {p: _identity(p) for p in (done.output, lowres)}
    calls, hook = _stage3_calls()
    try:
        lowres.unlink()  # the low-resolution video comes from the run's chunks: no stage 3
        assert resume_generate(done.run_dir, model=model32).rewritten == [lowres]
        assert calls == [] and _identity(done.output) == before[done.output] and lowres.is_file()
        kept = _identity(lowres)
        done.output.unlink()  # the enhanced video: stage 3 again, the low-resolution one kept
        assert resume_generate(done.run_dir, model=model32).rewritten == [done.output]
        assert calls and done.output.is_file() and _identity(lowres) == kept
    finally:
        hook.remove()
