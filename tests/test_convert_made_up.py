"""What a --no-strict conversion made up (a component absent from the checkpoint: random weights; a tensor absent
or of another shape: zeros) is recorded in the folder's model_index.json and said, once, when it is loaded: the
folder recorded nothing of it and loaded silently."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import first_reference_case, reference_config, tiny_reference_sd, tokenizer_folder
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel


def _made_up_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "made up" in r.getMessage()]


def test_what_a_no_strict_conversion_made_up_is_recorded_and_said_when_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from safetensors.torch import save_file

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)  # no text_encoder. or vae. tensors
    sd["base_model.conv_in.weight"] = sd["base_model.conv_in.weight"][:, :3].contiguous()  # another shape
    del sd["resampler.context_embedding.0.bias"]
    ckpt = tmp_path / "partial.safetensors"
    save_file(sd, ckpt)
    out = tmp_path / "out"
    convert_official_checkpoint(
        ckpt, out, cfg, strict=False, head_width=head_width, tokenizer=tokenizer_folder(tmp_path / "tok", cfg)
    )
    made_up = json.loads((out / "model_index.json").read_text())["streamt2v"]["made_up"]
    assert made_up == {
        "text_encoder": "random weights (seed 0): not in the checkpoint",
        "vae": "random weights (seed 0): not in the checkpoint",
        "unet": "2 tensors of zeros (norm scales of ones): not in the checkpoint, or of another shape",
    }
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        model = StreamingT2VModel.from_pretrained(out)
    [warning] = _made_up_warnings(caplog)
    # converted in Python here: the flag alone (--no-strict) would not name what this caller passed
    assert warning.startswith(
        f"model folder {str(out)!r} holds weights made up when it was converted non-strictly (streamt2v convert "
        "--no-strict, or strict=False), not read from the checkpoint ("
    )
    assert "text_encoder: random weights (seed 0): not in the checkpoint; vae: " in warning
    # saved again, the folder still says it
    again = model.save_pretrained(tmp_path / "again")
    assert json.loads((again / "model_index.json").read_text())["streamt2v"]["made_up"] == made_up


def test_a_saved_model_with_nothing_made_up_records_and_says_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder whose model made nothing up (as a strict conversion's) has no made_up entry, and loads without
    the warning."""
    model = StreamingT2VModel.from_preset("tiny", with_init_unet=False)
    out = model.save_pretrained(tmp_path / "m")
    assert "made_up" not in json.loads((out / "model_index.json").read_text())["streamt2v"]
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        StreamingT2VModel.from_pretrained(out)
    assert not _made_up_warnings(caplog)
