"""A part of a folder given as the model (``--model ms/unet``) is named with the folder it belongs to; for a
folder of another kind (a ModelScope pipeline) the advice to pass that folder, which is refused in turn, is
replaced by what that folder is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import stage1_folder
from streamt2v.config import get_preset
from streamt2v.models.bundle import StreamingT2VModel


def test_a_part_of_a_pipeline_folder_is_not_sent_to_that_folder(tmp_path: Path) -> None:
    ms = stage1_folder(tmp_path / "ms", get_preset("tiny"))  # a TextToVideoSDPipeline folder
    with pytest.raises(FileNotFoundError) as info:
        StreamingT2VModel.from_pretrained(ms / "unet")
    msg = str(info.value)
    assert msg.startswith(
        f"{str(ms / 'unet')!r} is the unet/ part of a TextToVideoSDPipeline folder {str(ms)!r}"
    )
    assert "pass that folder" not in msg and "convert --init-unet" in msg
    with pytest.raises(ValueError, match="is not a StreamingT2VModel index"):  # what that advice led to
        StreamingT2VModel.from_pretrained(ms)
