"""A conversion called from Python with ``~`` paths: every path is the home folder's, as on the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import first_reference_case, reference_config
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel


def test_the_checkpoint_and_the_output_under_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """preset, init_unet and tokenizer took ~ as the home folder, but the checkpoint was 'does not exist' and
    the output would have been written to a folder named '~' in the working directory."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    (home / "ckpts").mkdir(parents=True)
    shutil.copy(case / "tiny_state_dict.safetensors", home / "ckpts" / "streaming_t2v.safetensors")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    report = convert_official_checkpoint(
        "~/ckpts/streaming_t2v.safetensors", "~/models/st2v", cfg, strict=False, head_width=head_width
    )
    out = home / "models" / "st2v"
    assert report.out_dir == str(out) and report.source == str(home / "ckpts" / "streaming_t2v.safetensors")
    assert not (work / "~").exists()
    assert StreamingT2VModel.from_pretrained(out).config == cfg
