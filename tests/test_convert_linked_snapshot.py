"""The --init-unet and --tokenizer folders of a conversion given as hub cache snapshots (files that are links
into the cache's blobs/): whole, they are read through the links; a link to nothing (a blob gone, a snapshot
copied with `cp -r`) is named with its target before the checkpoint is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import first_reference_case, garbage_checkpoint, reference_config, stage1_folder
from streamt2v.io.checkpoints import convert_official_checkpoint
from test_incomplete_model_folder import as_hub_snapshot

HUB_HINT = (
    "a hub cache snapshot copied without the blobs/ its links point into? copy it with cp -rL (the files, not "
    "the links), or download it again"
)


def test_links_to_nothing_in_the_stage1_snapshot_are_named_before_the_checkpoint_is_read(
    tmp_path: Path,
) -> None:
    """They were 'has no weights (... found: config.json, diffusion_pytorch_model.fp16.safetensors)', 'holds no
    tokenizer vocabulary (... found: tokenizer.json, ...)' or 'has no unet/config.json (found: ..., unet/)'."""
    cfg, head_width = reference_config(first_reference_case())
    snapshot = as_hub_snapshot(stage1_folder(tmp_path / "ms", cfg, variant="fp16"), tmp_path / "hub")
    never_read = garbage_checkpoint(tmp_path)
    out = tmp_path / "out"

    def error(init_unet: Path | None = None, tokenizer: Path | None = None) -> str:
        with pytest.raises((FileNotFoundError, ValueError)) as info:
            convert_official_checkpoint(
                never_read, out, cfg, init_unet=init_unet, tokenizer=tokenizer, head_width=head_width
            )
        return str(info.value)

    # whole, the folder is read through its links: the checkpoint is what is refused
    assert error(snapshot).startswith(
        f"checkpoint {str(never_read)!r} is a pickle but not a PyTorch checkpoint"
    )
    copied = tmp_path / "copied"
    shutil.copytree(snapshot, copied, symlinks=True)  # cp -r: the relative links now point to nothing
    assert error(copied).startswith(f"init_unet {str(copied)!r} holds 1 link to files that do not exist")
    for file, what in [
        ("unet/diffusion_pytorch_model.fp16.safetensors", "init_unet UNet folder"),
        ("unet/config.json", "init_unet UNet folder"),
        ("tokenizer/tokenizer.json", "init_unet tokenizer folder"),
    ]:
        link = snapshot / file
        blob = link.resolve()
        kept = blob.read_bytes()
        blob.unlink()
        msg = error(snapshot)
        assert msg == (
            f"{what} {str(link.parent)!r} holds 1 link to files that do not exist "
            f"({link.name} -> {str(link.readlink())!r}): {HUB_HINT}"
        ), file
        if file.startswith("tokenizer"):
            assert error(tokenizer=snapshot).startswith(f"tokenizer folder {str(link.parent)!r} holds 1 link")
        blob.write_bytes(kept)
    assert not out.exists()
