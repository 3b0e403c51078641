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
