"""A model folder missing a part its model_index.json names (an interrupted copy) is refused naming the part
and saying what to do; the error named the part alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streamt2v.models.bundle import StreamingT2VModel


@pytest.mark.parametrize("part", ["tokenizer", "scheduler"])
def test_a_missing_part_is_named_with_what_to_do(tmp_path: Path, part: str) -> None:
    folder = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "m")
    shutil.rmtree(folder / part)
    with pytest.raises(FileNotFoundError) as info:
        StreamingT2VModel.from_pretrained(folder)
    msg = str(info.value)
    assert msg.startswith(f"model folder {str(folder)!r} is missing component {part!r}")
    assert "copy the whole folder again, or write it again (streamt2v convert or assemble)" in msg


def as_hub_snapshot(folder: Path, cache: Path) -> Path:
    """``folder`` laid out as the hub cache keeps a download: each file copied into ``blobs/`` and, in its place
    in ``snapshots/HASH/``, a relative link to it."""
    repo = cache / "models--org--name"
    snapshot = repo / "snapshots" / ("0" * 40)
    (repo / "blobs").mkdir(parents=True)
    for i, file in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        blob = repo / "blobs" / f"{i:064x}"
        shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(*[".."] * (len(link.relative_to(repo).parts) - 1), "blobs", blob.name))
    return snapshot


@pytest.mark.parametrize(
    "file",
    ["model_index.json", "unet/diffusion_pytorch_model.safetensors", "tokenizer/tokenizer.json"]
    + ["scheduler/scheduler_config.json"],
)
def test_a_link_to_nothing_is_named_with_its_target(tmp_path: Path, file: str) -> None:
    """A hub cache snapshot whose blob is gone, or copied with `cp -r` (its links then point to nothing), was
    'has no weights (... found: config.json, diffusion_pytorch_model.safetensors)', 'holds no tokenizer
    vocabulary (... found: tokenizer.json, ...)' or 'model_index.json not found: not a streamt2v model folder'."""
    saved = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "m")
    snapshot = as_hub_snapshot(saved, tmp_path / "hub")
    StreamingT2VModel.from_pretrained(snapshot)  # whole, through its links
    link = snapshot / file
    target = str(link.readlink())
    link.resolve().unlink()  # its blob gone
    with pytest.raises(FileNotFoundError) as info:
        StreamingT2VModel.from_pretrained(snapshot)
    msg = str(info.value)
    assert f"{str(link.parent)!r} holds 1 link to files that do not exist ({link.name} -> {target!r})" in msg
    assert msg.endswith(
        "a hub cache snapshot copied without the blobs/ its links point into? copy it with cp -rL (the files, "
        "not the links), or download it again"
    )


@pytest.mark.parametrize("part", ["vae", "unet", "init_unet", "text_encoder", "image_encoder"])
def test_a_part_without_its_config_is_named_before_any_weights_load(tmp_path: Path, part: str) -> None:
    """A part whose config.json is gone was diffusers' 'Error no file named config.json found in directory
    m/vae.', or for a transformers part a table of every weight as mismatched then 'You set
    `ignore_mismatched_sizes` to `False`'."""
    folder = StreamingT2VModel.from_preset("tiny").save_pretrained(tmp_path / "m")
    (folder / part / "config.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        StreamingT2VModel.from_pretrained(folder)
    weights = "model.safetensors" if part.endswith("encoder") else "diffusion_pytorch_model.safetensors"
    assert str(info.value) == (
        f"model folder's {part}/ {str(folder / part)!r} has no config.json (found: {weights}): the folder is "
        "incomplete (an interrupted copy?); copy the whole folder again, or write it again (streamt2v convert "
        "or assemble)"
    )


@pytest.mark.parametrize("part", ["unet", "vae", "text_encoder"])
def test_a_refiner_part_without_its_config_is_named(tmp_path: Path, part: str) -> None:
    """Said as a model folder's is, with the command that writes one again (it ended at 'copy the whole
    folder again')."""
    from streamt2v.pipeline.refiner import Refiner

    folder = Refiner.random((32, 32)).save_pretrained(tmp_path / "r")
    (folder / part / "config.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        Refiner.from_pretrained(folder)
    weights = "model.safetensors" if part.endswith("encoder") else "diffusion_pytorch_model.safetensors"
    assert str(info.value) == (
        f"refiner folder's {part}/ {str(folder / part)!r} has no config.json (found: {weights}): the folder "
        "is incomplete (an interrupted copy?); copy the whole folder again, or write it again (streamt2v "
        "assemble refiner)"
    )


def test_a_config_linked_to_nothing_is_named_as_a_link(tmp_path: Path) -> None:
    """Checked for first: a config.json that is a link to nothing is not named as missing."""
    folder = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "m")
    config = folder / "vae" / "config.json"
    config.unlink()
    config.symlink_to(tmp_path / "gone.json")
    with pytest.raises(FileNotFoundError, match=r"holds 1 link to files that do not exist \(config.json -> "):
        StreamingT2VModel.from_pretrained(folder)
