"""What a conversion writes: never into an existing folder or over its own inputs, weights in the dtype
asked for (random components too, without diffusers' cast warning), and on the command line the report
printed once with a one-line error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import (
    first_reference_case,
    garbage_checkpoint,
    reference_config,
    stage1_folder,
    tokenizer_folder,
)
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.io.conversion_report import CheckpointMismatchError
from streamt2v.io.official_unet_keys import unmap_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel


def _cli(argv: list[str]) -> int:
    import argparse

    from streamt2v.cli import convert

    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_an_existing_output_folder_is_refused_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    never_read = tmp_path / "garbage.ckpt"  # reading it would fail otherwise: the folder is checked first
    never_read.write_text("garbage")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True to replace it$"):
        convert_official_checkpoint(never_read, out, "tiny")
    assert (out / "mine.txt").read_text() == "keep"


def test_overwrite_never_replaces_a_folder_that_holds_an_input(tmp_path: Path) -> None:
    """``convert models/x/streaming_t2v.ckpt models/x --overwrite`` deleted the 25 GB checkpoint with the old
    folder; the same for a --init-unet folder converted into."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    folder = tmp_path / "models"
    folder.mkdir()
    ckpt = folder / "streaming_t2v.safetensors"
    ckpt.write_bytes((case / "tiny_state_dict.safetensors").read_bytes())
    with pytest.raises(
        ValueError, match=r"checkpoint '.*streaming_t2v.safetensors' is inside the output folder"
    ):
        convert_official_checkpoint(ckpt, folder, cfg, strict=False, head_width=head_width, overwrite=True)
    assert ckpt.is_file()
    ms = stage1_folder(tmp_path / "ms", cfg)
    with pytest.raises(ValueError, match=r"^init_unet '.*ms' is inside the output folder") as info:
        convert_official_checkpoint(
            ckpt, ms, cfg, init_unet=ms, strict=False, head_width=head_width, overwrite=True
        )
    assert "(overwrite=True replaces it)" in str(info.value)  # the command line's flags: test_convert_cli
    assert (ms / "unet" / "config.json").is_file()


def test_the_saved_dtype_is_chosen_by_name_or_flag(tmp_path: Path) -> None:
    """dtype="bf16" (the names from_pretrained takes) was 'Invalid device string'; the CLI had no --dtype."""

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    convert_official_checkpoint(
        src, tmp_path / "bf16", cfg, strict=False, head_width=head_width, dtype="bf16"
    )
    saved = load_file(tmp_path / "bf16" / "unet" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}
    with pytest.raises(ValueError, match=r"unknown dtype 'half8'; use one of"):
        convert_official_checkpoint(garbage_checkpoint(tmp_path), tmp_path / "x", cfg, dtype="half8")
    tiny_ckpt = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    save_file(
        {
            unmap_official_unet_key(k): t
            for k, t in StreamingT2VModel.from_preset("tiny", with_init_unet=False).unet.state_dict().items()
        },
        tiny_ckpt,
    )
    _cli(
        [
            "convert",
            str(tiny_ckpt),
            str(tmp_path / "fp16"),
            "--preset",
            "tiny",
            "--no-strict",
            "--dtype",
            "fp16",
        ]
    )
    loaded = StreamingT2VModel.from_pretrained(tmp_path / "fp16", torch_dtype="fp16")
    saved = load_file(tmp_path / "fp16" / "unet" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.float16}
    assert loaded.unet.dtype == torch.float16


def test_absent_components_are_made_in_the_saved_dtype_without_a_diffusers_cast_warning(
    tmp_path: Path,
) -> None:
    """--no-strict on a checkpoint without a VAE printed diffusers' "modules in AutoencoderKL that should be
    kept in float32: []" (its Module.to(dtype) warns on every cast): the random VAE was built in float32 and
    cast. It is now loaded in the saved dtype, as the checkpoint's components are."""
    import logging

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    diffusers_logger = logging.getLogger("diffusers")
    diffusers_logger.addHandler(handler)
    try:
        for dtype in ("fp32", "fp16"):
            report = convert_official_checkpoint(
                case / "tiny_state_dict.safetensors",
                tmp_path / dtype,
                cfg,
                strict=False,
                head_width=head_width,
                dtype=dtype,
            )
            assert report.random_components == ["text_encoder", "vae"]
    finally:
        diffusers_logger.removeHandler(handler)
    assert [r.getMessage() for r in records if "float32" in r.getMessage()] == []
    for name in ("vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        assert {t.dtype for t in load_file(tmp_path / "fp16" / name).values()} == {torch.float16}
    # the same seeded random VAE either way, cast to the saved dtype
    full = load_file(tmp_path / "fp32" / "vae" / "diffusion_pytorch_model.safetensors")
    half = load_file(tmp_path / "fp16" / "vae" / "diffusion_pytorch_model.safetensors")
    assert full.keys() == half.keys() and all(torch.equal(half[k], t.half()) for k, t in full.items())


def test_cli_convert_prints_the_report_once_and_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamt2v.cli import main

    case = first_reference_case()
    _, head_width = reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    argv = ["convert", str(src), str(tmp_path / "out"), "--preset", "tiny", "--head-width", str(head_width)]
    argv += ["--tokenizer", str(tokenizer_folder(tmp_path / "tok"))]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "base_model." in captured.out
    lines = (captured.out + captured.err).splitlines()
    assert (
        sum(bool(re.fullmatch(r"\d+ shape mismatches(, first 10)?:", ln)) for ln in lines) == 1
    )  # the list, once
    [error] = captured.err.strip().splitlines()
    assert error.startswith(f"error: checkpoint {str(src)!r} does not match the 'tiny' architecture: ")
    assert "shape mismatches" in error and "the right --preset? --no-strict would save the others" in error
    assert "strict=False" not in error  # the command line names its flags, not the Python arguments
    with pytest.raises(CheckpointMismatchError) as info:  # the report travels with the one-line error
        _cli(argv)
    assert "\n" not in str(info.value) and info.value.report.mismatched
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        _cli(["convert", str(src), str(tmp_path / "out"), "--preset", "nope"])


def test_random_components_come_from_the_seed_and_leave_the_callers_random_numbers_alone(
    tmp_path: Path,
) -> None:
    """--no-strict's random components were drawn after torch.manual_seed(seed) on the global generator: a
    Python caller's later random numbers were reset to those of seed 0 by the conversion."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    for seed, out in ((5, "a"), (5, "b"), (6, "c")):
        report = convert_official_checkpoint(
            case / "tiny_state_dict.safetensors",
            tmp_path / out,
            cfg,
            strict=False,
            head_width=head_width,
            seed=seed,
        )
        assert report.random_components == ["text_encoder", "vae"]
    assert torch.equal(torch.rand(4), expected)
    vae = {out: load_file(tmp_path / out / "vae" / "diffusion_pytorch_model.safetensors") for out in "abc"}
    assert all(torch.equal(vae["a"][k], t) for k, t in vae["b"].items())  # the same seed, the same weights
    assert not all(torch.equal(vae["a"][k], t) for k, t in vae["c"].items())
