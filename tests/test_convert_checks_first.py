"""What a conversion can tell without the stage-1 UNet's load or the checkpoint's read (minutes and GBs at full
size) is told first: a checkpoint file that cannot be one, and a strict conversion with no tokenizer; the
checkpoint is named as typed, then as read where a ``~`` was expanded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from conftest import first_reference_case, reference_config, stage1_folder
from streamt2v.cli import main
from streamt2v.io.checkpoints import convert_official_checkpoint

SLOW_STEPS = ("loading the stage-1 UNet", "reading checkpoint")


def _lfs_pointer(path: Path) -> Path:
    path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize 25600000000\n")
    return path


def test_a_checkpoint_that_cannot_be_one_is_named_before_the_stage1_unet_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each was named only after 'loading the stage-1 UNet' (minutes at full size)."""
    cfg, head_width = reference_config(first_reference_case())
    ms = stage1_folder(tmp_path / "ms", cfg)
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.ckpt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("streaming_t2v.ckpt is on the hub\n")
    torch.save({"state_dict": {"w": torch.zeros(64)}}, tmp_path / "whole.ckpt")
    whole = (tmp_path / "whole.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(whole[: len(whole) // 2])
    cases = {
        "missing.ckpt": "does not exist",
        "folder": "is a folder",
        "pointer.ckpt": "is a Git LFS pointer",
        "empty.ckpt": "is not a PyTorch checkpoint (neither a zip nor a pickle torch.save file: it is empty)",
        "notes.txt": "is not a PyTorch checkpoint (neither a zip nor a pickle torch.save file: it starts with",
        "cut.ckpt": "is a zip torch.save file cut short (",
    }
    _lfs_pointer(tmp_path / "pointer.ckpt")
    for name, said in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="streamt2v"), pytest.raises((OSError, ValueError)) as info:
            convert_official_checkpoint(
                tmp_path / name, tmp_path / "out", cfg, init_unet=ms, head_width=head_width
            )
        assert str(info.value).startswith(f"checkpoint {str(tmp_path / name)!r} {said}"), name
        assert not [r for r in caplog.records if r.getMessage().startswith(SLOW_STEPS)], name
    assert not (tmp_path / "out").exists()


def test_no_tokenizer_is_refused_before_the_checkpoint_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither --init-unet nor --tokenizer: the flags alone decide it (a checkpoint holds tensors, never a
    tokenizer), but it was said once the whole checkpoint was read."""
    ckpt = tmp_path / "streaming_t2v.ckpt"
    torch.save({"state_dict": {"base_model.conv_in.weight": torch.zeros(1)}}, ckpt)
    with caplog.at_level(logging.INFO, logger="streamt2v"), pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint(ckpt, tmp_path / "out", "tiny")
    assert str(info.value).startswith(f"no tokenizer for the folder converted from {str(ckpt)!r}: ")
    assert not [r for r in caplog.records if r.getMessage().startswith(SLOW_STEPS)]


def test_a_home_checkpoint_is_named_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert ~/nope.ckpt` said "checkpoint '/home/me/nope.ckpt' does not exist", a path not typed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    read = str(tmp_path / "nope.ckpt")
    with pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint("~/nope.ckpt", tmp_path / "out", "tiny")
    assert str(info.value) == f"checkpoint '~/nope.ckpt' ({read!r}) does not exist"
    assert main(["convert", "~/nope.ckpt", str(tmp_path / "out"), "--preset", "tiny"]) == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint '~/nope.ckpt' ({read!r}) does not exist"
    _lfs_pointer(tmp_path / "pointer.ckpt")
    assert main(["convert", "~/pointer.ckpt", str(tmp_path / "out"), "--preset", "tiny"]) == 2
    said = capsys.readouterr().err
    assert said.startswith(
        f"error: checkpoint '~/pointer.ckpt' ({str(tmp_path / 'pointer.ckpt')!r}) is a Git"
    )


def test_a_checkpoint_that_cannot_be_one_is_named_before_a_hub_id_is_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub id's --init-unet was fetched first: offline, the download's failure hid the checkpoint's own
    refusal, and online the stage-1 model (GBs) came down before a text file given as the checkpoint was
    refused."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("streaming_t2v.ckpt is on the hub\n")
    for hub_id in ("init_unet", "tokenizer"):
        with pytest.raises(ValueError) as info:
            convert_official_checkpoint(
                "notes.txt", tmp_path / "out", "tiny", **{hub_id: "damo-vilab/text-to-video-ms-1.7b"}
            )
        assert str(info.value).startswith("checkpoint 'notes.txt' is not a PyTorch checkpoint"), hub_id
