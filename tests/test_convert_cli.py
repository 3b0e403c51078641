"""``streamt2v convert --preset``: a built-in name or a JSON file of the architecture (the ModelConfig a model
folder's model_index.json holds), from the command line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import garbage_checkpoint, tokenizer_folder
from streamt2v.cli import main
from streamt2v.config import PRESETS, get_preset
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.io.official_unet_keys import unmap_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel

TINY = get_preset("tiny")
# an architecture no preset has: other channels, merger heads, frame size and latent scale
CUSTOM = replace(
    TINY,
    name="custom-tiny",
    unet=replace(TINY.unet, block_out_channels=(16, 48), norm_num_groups=4, attention_head_dim=4),
    streaming=replace(TINY.streaming, merger_head_dim=16, merger_norm_groups=4, num_cond_frames=4),
    frame_size=32,
    vae_scale_factor=4,
)


@pytest.fixture(scope="module")
def custom_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random official-format checkpoint of ``CUSTOM``: its stage-2 UNet only (no image encoder, text
    encoder or VAE), under the official names."""
    torch.manual_seed(1)
    unet = StreamingT2VModel.from_preset(CUSTOM, with_init_unet=False, seed=1).unet.state_dict()
    path = tmp_path_factory.mktemp("ckpt") / "custom.safetensors"
    save_file({unmap_official_unet_key(k): t.contiguous() for k, t in unet.items()}, path)
    return path, unet


def test_a_json_architecture_converts_from_the_command_line(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert CUSTOM not in PRESETS.values()
    ckpt, unet = custom_checkpoint
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(asdict(CUSTOM), indent=2))  # the form model_index.json stores
    out = tmp_path / "out"
    assert main(["convert", str(ckpt), str(out), "--preset", str(arch), "--no-strict"]) == 0
    printed = capsys.readouterr().out
    assert f"mapped tensors: unet {len(unet)}," in printed
    # every command's wrote line, its absolute path ending it (it was "written: PATH" as typed, mid-report)
    assert printed.splitlines()[-1] == f"wrote model folder {out.resolve()}" and "written" not in printed
    assert "components absent from the checkpoint: image_encoder, text_encoder, vae" in printed
    model = StreamingT2VModel.from_pretrained(out)
    assert model.config == CUSTOM
    ours = model.unet.state_dict()
    assert ours.keys() == unet.keys() and all(torch.equal(ours[k], t) for k, t in unet.items())
    # a converted folder's model_index.json, or the folder itself, describes the same architecture
    index = json.loads((out / "model_index.json").read_text())
    assert index["streamt2v"]["model_config"] == json.loads(arch.read_text())
    for preset in (out / "model_index.json", out):
        again = tmp_path / f"again-{Path(preset).name}"
        assert main(["convert", str(ckpt), str(again), "--preset", str(preset), "--no-strict"]) == 0
        assert StreamingT2VModel.from_pretrained(again).config == CUSTOM


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_wrong_preset_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    never_read = str(tmp_path / "missing.ckpt")  # the architecture is checked before the checkpoint
    out = str(tmp_path / "out")

    def error(preset: str | Path) -> str:
        return _error(["convert", never_read, out, "--preset", str(preset)], capsys)

    line = error("tiny-ish")
    assert line.startswith("error: unknown model preset 'tiny-ish'; choose one of ")
    assert all(name in line for name in PRESETS) and "JSON file" in line and "model_index.json" in line
    assert error(tmp_path / "missing.json").startswith(
        f"error: --preset file {str(tmp_path / 'missing.json')!r} not found; give a preset name ("
    )

    arch = tmp_path / "arch.json"
    arch.write_text('{"name": "x",')
    assert error(arch) == f"error: --preset file {str(arch)!r} is not valid JSON " + (
        "(Expecting property name enclosed in double quotes: line 1 column 14 (char 13))"
    )
    good = asdict(CUSTOM)

    def field_error(change) -> str:
        data = json.loads(json.dumps(good))
        change(data)
        arch.write_text(json.dumps(data))
        line = error(arch)
        assert line.startswith(f"error: --preset file {str(arch)!r}")
        return line

    assert "unknown field 'unet.block_out_channel' (the fields of unet: in_channels," in field_error(
        lambda d: d["unet"].update(block_out_channel=d["unet"].pop("block_out_channels"))
    )
    # a model folder's wording ("a model folder's model_index.json holds ...") read as if the file were one
    assert field_error(lambda d: d["streaming"].pop("num_frames")).endswith(
        "field 'streaming.num_frames' is missing (an architecture file gives every field, as save_pretrained "
        "writes them under streamt2v.model_config)"
    )
    assert "field 'frame_size' must be a positive integer, got '32'" in field_error(
        lambda d: d.update(frame_size="32")
    )
    assert "field 'unet.block_out_channels' must be a non-empty list of positive integers, got [16, 0]" in (
        field_error(lambda d: d["unet"].update(block_out_channels=[16, 0]))
    )
    assert "field 'unet.norm_num_groups' 5 does not divide every one of unet.block_out_channels [16, 48]" in (
        field_error(lambda d: d["unet"].update(norm_num_groups=5))
    )
    # what the networks refuse otherwise, in their words
    assert "cannot be built: Must provide the same number of `block_out_channels` as `down_block_types`" in (
        field_error(lambda d: d["unet"].update(block_out_channels=[16, 48, 64]))
    )

    # another kind of model folder's index is named as such
    arch.write_text(
        json.dumps({"_class_name": "TextToVideoSDPipeline", "unet": ["diffusers", "UNet3DConditionModel"]})
    )
    assert "is the index of a TextToVideoSDPipeline folder, with no streamt2v.model_config" in error(arch)
    # a folder without an index
    (tmp_path / "folder").mkdir()
    assert f"--preset folder {str(tmp_path / 'folder')!r} has no model_index.json" in error(
        tmp_path / "folder"
    )


# --- the wrong files a user of the official release has at hand ---------------------------------------------


def _arch(tmp_path: Path) -> str:
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(asdict(CUSTOM)))
    return str(arch)


def _lfs_pointer(path: Path, size: int) -> None:
    """What a repository cloned without git-lfs holds in place of a weight file."""
    path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize {size}\n")


def test_a_git_lfs_pointer_or_a_file_cut_short_is_named_with_the_fix(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A checkpoint cloned without git-lfs was 'not a PyTorch checkpoint (... starts with b'version ')', and a
    safetensors file cut short was 'incomplete metadata, file not fully covered'."""
    ckpt, _ = custom_checkpoint
    out = str(tmp_path / "out")
    pointer = tmp_path / "streaming_t2v.ckpt"
    _lfs_pointer(pointer, 25_600_000_000)
    line = _error(["convert", str(pointer), out, "--preset", _arch(tmp_path)], capsys)
    assert line == (
        f"error: checkpoint {str(pointer)!r} is a Git LFS pointer ({pointer.stat().st_size} bytes standing for "
        "a 25.6 GB file), not the file itself: the repository was cloned without git-lfs; run `git lfs pull` "
        "in it, or download the file"
    )
    cut = tmp_path / "cut.safetensors"
    data = ckpt.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    line = _error(["convert", str(cut), out, "--preset", _arch(tmp_path)], capsys)
    assert line == (
        f"error: checkpoint {str(cut)!r} is a .safetensors file cut short: {len(data) // 2:,} of its {len(data):,} bytes "
        "(an interrupted download or copy?); download it again"
    )
    assert not Path(out).exists()


def _stage1(root: Path) -> Path:
    """A ModelScope-style diffusers folder of CUSTOM's stage-1 UNet, its weights only in the fp16 variant."""
    from diffusers import UNet3DConditionModel

    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    torch.manual_seed(2)
    UNet3DConditionModel(**CUSTOM.unet.to_diffusers()).half().save_pretrained(root / "unet", variant="fp16")
    byte_level_clip_tokenizer(CUSTOM.streaming.num_text_tokens).save_pretrained(root / "tokenizer")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "TextToVideoSDPipeline"}))
    return root


def test_init_unet_weights_that_cannot_be_whole_are_named_before_the_checkpoint_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stage-1 folder cloned without git-lfs, or with a weight file cut short, failed only after the
    (minutes-long) read of the checkpoint, in diffusers' words naming no file, or none of the problem."""
    # any error about it would mean the folder was not checked first
    never_read = garbage_checkpoint(tmp_path)
    ms = _stage1(tmp_path / "ms")
    weights = ms / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    data = weights.read_bytes()
    argv = [
        "convert",
        str(never_read),
        str(tmp_path / "out"),
        "--preset",
        _arch(tmp_path),
        "--init-unet",
        str(ms),
    ]
    half = len(data) // 2
    weights.write_bytes(data[:half])
    assert _error(argv, capsys) == (
        f"error: --init-unet UNet weight file {str(weights)!r} is cut short: {half:,} of its {len(data):,} bytes "
        "(an interrupted download or copy?); download it again"
    )
    weights.write_bytes(data[:1000])  # inside its header: the header's length is all that is known
    assert "is cut short: 1,000 of its at least " in _error(argv, capsys)
    _lfs_pointer(weights, 2_823_000_000)
    line = _error(argv, capsys)
    assert line.startswith(f"error: --init-unet UNet weight file {str(weights)!r} is a Git LFS pointer (")
    assert "standing for a 2.8 GB file" in line and "`git lfs pull`" in line
    weights.write_bytes(data)  # whole again: the checkpoint is read, and named
    assert _error(argv, capsys).startswith(
        f"error: checkpoint {str(never_read)!r} is a pickle but not a PyTorch checkpoint"
    )


def test_a_stable_diffusion_checkpoint_is_not_called_a_clip_text_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An LDM checkpoint (the enhancer's v2-1_512-ema-pruned.ckpt, an SD 1.5 one) was named 'the weights of a
    transformers CLIPTextModel: the text_encoder/ of a ModelScope diffusers folder'."""
    ckpt = tmp_path / "v1-5-pruned.ckpt"
    torch.save(
        {
            "state_dict": {
                "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
                "first_stage_model.encoder.conv_in.weight": torch.zeros(8, 3, 3, 3),
                "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": torch.zeros(
                    10, 4
                ),
            },
            "global_step": 1,
        },
        ckpt,
    )
    tok = str(tokenizer_folder(tmp_path / "tok"))
    line = _error(
        ["convert", str(ckpt), str(tmp_path / "out"), "--preset", "tiny", "--tokenizer", tok], capsys
    )
    assert "it is a Stable Diffusion (LDM) checkpoint" in line and "CLIPTextModel" not in line


def test_no_strict_does_not_convert_a_file_recognised_as_the_wrong_one(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A converted folder's UNet file given as the checkpoint shares the resampler's 4 names with the official
    checkpoint: --no-strict, tried after the error, wrote a folder whose UNet was all zeros but those."""
    ckpt, _ = custom_checkpoint
    converted = tmp_path / "converted"
    assert main(["convert", str(ckpt), str(converted), "--preset", _arch(tmp_path), "--no-strict"]) == 0
    capsys.readouterr()
    unet_file = converted / "unet" / "diffusion_pytorch_model.safetensors"
    out = tmp_path / "out"
    line = _error(["convert", str(unet_file), str(out), "--preset", _arch(tmp_path), "--no-strict"], capsys)
    assert "it is the UNet of a streamt2v model folder, converted already" in line
    assert line.endswith("refused even with --no-strict: nothing was written")
    assert not out.exists()


def test_a_checkpoint_inside_the_output_folder_is_named_before_overwrite_is_advised(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`convert ckpts/streaming_t2v.ckpt ckpts` advised --overwrite, which was then refused for the checkpoint."""
    folder = tmp_path / "ckpts"
    folder.mkdir()
    ckpt = folder / "streaming_t2v.safetensors"
    ckpt.write_bytes(custom_checkpoint[0].read_bytes())
    line = _error(["convert", str(ckpt), str(folder), "--preset", _arch(tmp_path), "--no-strict"], capsys)
    assert line.startswith(f"error: checkpoint {str(ckpt)!r} is inside the output folder {str(folder)!r}")
    assert "write the model folder somewhere else" in line
    assert ckpt.is_file()


def test_the_command_line_names_its_flags_not_the_python_arguments(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An existing output said 'pass overwrite=True, --overwrite on the command line, to replace it', and
    the strict refusal 'pass strict=False / --no-strict': the command line shows only its flags."""
    ckpt, _ = custom_checkpoint
    out = tmp_path / "out"
    out.mkdir()
    line = _error(["convert", str(ckpt), str(out), "--preset", _arch(tmp_path)], capsys)
    assert line == f"error: {str(out)!r} already exists; pass --overwrite to replace it"
    tok = str(tokenizer_folder(tmp_path / "tok", CUSTOM))
    argv = ["convert", str(ckpt), str(tmp_path / "new"), "--preset", _arch(tmp_path), "--tokenizer", tok]
    line = _error(argv, capsys)
    assert line.endswith("(pass --no-strict to convert anyway)") and "strict=False" not in line


def test_what_a_killed_conversion_left_beside_the_output_is_named(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kill -9 during the write leaves the hidden temporary folder (as large as the model: ~13 GB at full size);
    the next conversion said nothing of it. It is named, with the command that removes it, not removed."""
    ckpt, _ = custom_checkpoint
    out = tmp_path / "models" / "streamingt2v"
    left = tmp_path / "models" / ".streamingt2v.tmp-0123abcd"
    (left / "unet").mkdir(parents=True)
    (left / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\1" * 300_000)
    (tmp_path / "models" / ".other.tmp-0123abcd").mkdir()  # another folder's: not this output's
    assert main(["convert", str(ckpt), str(out), "--preset", _arch(tmp_path), "--no-strict"]) == 0
    printed = capsys.readouterr().out
    [note] = [ln for ln in printed.splitlines() if "temporary folder" in ln]
    assert note.startswith(
        "note: 1 temporary folder of an interrupted conversion or save is beside the output"
    )
    assert note.endswith(f"rm -r {shlex.quote(str(left.absolute()))}") and ".other" not in note
    assert left.is_dir()  # another conversion into the same folder may be writing it


def test_fp16_refuses_weights_beyond_its_range_instead_of_saving_inf(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dtype fp16 saved a weight of 1e5 as inf without a word (the folder then generates NaN)."""
    ckpt, _ = custom_checkpoint
    sd = load_file(ckpt)
    key = "base_model.conv_in.bias"
    sd[key] = sd[key].clone()
    sd[key][0] = 1e5
    big = tmp_path / "big.safetensors"
    save_file(sd, big)
    argv = ["convert", str(big), str(tmp_path / "out"), "--preset", _arch(tmp_path), "--no-strict"]
    assert _error([*argv, "--dtype", "fp16"], capsys) == (
        f"error: --dtype fp16: 1 tensor of {str(big)!r} holds values beyond its range (±65504), which would be "
        f"saved as inf: {key} (up to 1e+05); use --dtype bf16 (float32's range) or --dtype fp32; nothing was written"
    )
    with pytest.raises(ValueError) as info:  # a Python caller is told the argument as it spells it
        convert_official_checkpoint(big, tmp_path / "out", _arch(tmp_path), strict=False, dtype="fp16")
    assert str(info.value).startswith("dtype='fp16': 1 tensor of")
    assert "use dtype='bf16' (float32's range) or dtype='fp32'; nothing" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert main([*argv, "--dtype", "bf16"]) == 0
    kept = StreamingT2VModel.from_pretrained(tmp_path / "out").unet.state_dict()["base.conv_in.bias"][0]
    assert kept == torch.tensor(1e5).bfloat16().float()  # finite: 99840


def test_modelscope_in_the_modelscope_librarys_format_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """damo/text-to-video-synthesis (text2video_pytorch_model.pth, VQGAN_autoencoder.pth) is not the diffusers
    folder --init-unet takes, nor the checkpoint; it was listed as '(it holds VQGAN_autoencoder.pth, ...)'."""
    folder = tmp_path / "text-to-video-synthesis"
    folder.mkdir()
    for name in ("text2video_pytorch_model.pth", "VQGAN_autoencoder.pth", "open_clip_pytorch_model.bin"):
        torch.save({"x": torch.zeros(1)}, folder / name)
    (folder / "configuration.json").write_text("{}")
    out = str(tmp_path / "out")
    line = _error(["convert", str(folder), out, "--preset", "tiny"], capsys)
    assert (
        "ModelScope T2V in the ModelScope library's own format" in line
        and "not the StreamingT2V checkpoint" in line
    )
    # its files given as the checkpoint are named by their tensors' names (they were "none of its N tensors
    # fits a tensor of the model (is it a StreamingT2V checkpoint, and the right --preset?)")
    torch.save(
        {"input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3), "time_embed.0.weight": torch.zeros(8, 8)},
        folder / "text2video_pytorch_model.pth",
    )
    torch.save(
        {
            "encoder.conv_in.weight": torch.zeros(8, 3, 3, 3),
            "encoder.down.0.block.0.norm1.weight": torch.zeros(8),
            "decoder.up.0.block.0.norm1.weight": torch.zeros(8),
            "quant_conv.weight": torch.zeros(8, 8, 1, 1),
        },
        folder / "VQGAN_autoencoder.pth",
    )
    tok = str(tokenizer_folder(tmp_path / "tok"))
    for name, what in (
        ("text2video_pytorch_model.pth", "a UNet"),
        ("VQGAN_autoencoder.pth", "an autoencoder"),
    ):
        line = _error(["convert", str(folder / name), out, "--preset", "tiny", "--tokenizer", tok], capsys)
        assert (
            f"(it is {what} under the LDM names (" in line
            and f"the ModelScope library's {name} holds" in line
        )
        assert "the stage-1 model comes from a ModelScope diffusers folder, which --init-unet takes" in line
    never_read = garbage_checkpoint(tmp_path)
    line = _error(["convert", str(never_read), out, "--preset", "tiny", "--init-unet", str(folder)], capsys)
    assert line.startswith(f"error: --init-unet {str(folder)!r} has no unet/config.json (found: ")
    assert "it is ModelScope T2V in the ModelScope library's own format" in line
    assert "give a ModelScope diffusers folder with unet/ and tokenizer/" in line


class ModuleArgs:
    """A LightningModule's init argument of a class of its training code (saved by save_hyperparameters)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames


def test_a_lightning_checkpoint_with_objects_in_its_hyper_parameters_converts_from_the_command_line(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It was refused as a pickle that needs more than tensors; the report now says what was not read."""
    import argparse

    src, unet = custom_checkpoint
    ckpt = tmp_path / "epoch=3-step=300.ckpt"
    hyper = {"args": argparse.Namespace(lr=1e-4), "module_args": ModuleArgs(16)}
    torch.save({"state_dict": load_file(src), "hyper_parameters": hyper, "epoch": 3}, ckpt)
    out = tmp_path / "out"
    assert main(["convert", str(ckpt), str(out), "--preset", _arch(tmp_path), "--no-strict"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"mapped tensors: unet {len(unet)}, image_encoder 0, text_encoder 0, vae 0" in printed
    assert (
        "note: not read, as they need classes that a weights-only read never imports or runs (the weights "
        "do not): 'hyper_parameters' (argparse.Namespace, test_convert_cli.ModuleArgs)"
    ) in printed
    ours = StreamingT2VModel.from_pretrained(out).unet.state_dict()
    assert all(torch.equal(ours[k], t) for k, t in unet.items())


def test_a_failure_printed_into_a_closed_pipe_is_still_reported(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """convert prints its report, then fails with one line: with stdout's reader gone (``| head``), the
    broken pipe of that print was taken for the whole story, exit 141 without the error; then the error
    came in its multi-line form, the problems the report could not print listed under it."""
    from streamt2v.cli import _run

    read, write = os.pipe()
    os.close(read)
    stdout = open(write, "w", buffering=1)  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stdout", stdout)
    ckpt, _ = custom_checkpoint
    tok = str(tokenizer_folder(tmp_path / "tok", CUSTOM))
    argv = ["convert", str(ckpt), str(tmp_path / "out"), "--preset", _arch(tmp_path), "--tokenizer", tok]
    code = _run(argv, as_program=False)
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):
        stdout.close()
    assert code == 2
    # one line, as with a reader: the error shown was the whole one, its problems listed below it
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "absent from the checkpoint" in line, line


def test_a_ctrl_c_while_the_failure_report_prints_stays_an_interruption(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The one-line error was raised whatever the report's print raised: a Ctrl-C during a long report
    became exit 2 and an ``error:`` line instead of 130."""
    from streamt2v.cli import _run

    class InterruptedTerminal(io.StringIO):
        def write(self, text: str) -> int:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdout", InterruptedTerminal())
    ckpt, _ = custom_checkpoint
    tok = str(tokenizer_folder(tmp_path / "tok", CUSTOM))
    argv = ["convert", str(ckpt), str(tmp_path / "out"), "--preset", _arch(tmp_path), "--tokenizer", tok]
    code = _run(argv, as_program=False)
    monkeypatch.undo()
    assert code == 130
    assert "error:" not in capsys.readouterr().err


def test_a_word_level_tokenizer_is_saved_as_it_reads_prompts(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    """--tokenizer with the microworld's word-level tokenizer was saved as a CLIPTokenizer, which reads each
    word as unknown letters: the converted folder's tokenizer reads a prompt as the source folder does."""
    import shutil

    import streamt2v
    from streamt2v.models.tokenizers import load_tokenizer

    source = tmp_path / "tokenizer"
    shutil.copytree(Path(streamt2v.__file__).parent / "assets" / "microworld" / "tokenizer", source)
    prompt = "A red ball rolls left, then a blue square"
    expected = load_tokenizer(source)(prompt).input_ids
    config = source / "tokenizer_config.json"
    recorded = json.loads(config.read_text())
    # the class recorded; none recorded, or no config at all (tokenizers' Tokenizer.save writes tokenizer.json
    # alone): read as a CLIPTokenizer, every word was unknown, or it failed on CLIP's '<|endoftext|>'
    for name, settings in [
        ("recorded", recorded),
        ("no-class", {k: v for k, v in recorded.items() if k != "tokenizer_class"}),
        ("no-config", None),
    ]:
        if settings is None:
            config.unlink()
        else:
            config.write_text(json.dumps(settings))
        out = tmp_path / name
        flags = ["--preset", _arch(tmp_path), "--no-strict", "--tokenizer", str(source)]
        assert main(["convert", str(custom_checkpoint[0]), str(out), *flags]) == 0
        assert StreamingT2VModel.from_pretrained(out).tokenizer(prompt).input_ids == expected, name


def test_a_clip_tokenizer_json_without_its_config_is_read_as_clip(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CLIP tokenizer.json saved without its tokenizer_config.json was read by AutoTokenizer, recorded as
    TokenizersBackend with no padding token: convert succeeded, generate failed ('Asking to pad but the
    tokenizer does not have a padding token'). A tokenizer without one is refused at convert time."""
    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    source = tmp_path / "clip"
    byte_level_clip_tokenizer().save_pretrained(source)
    (source / "tokenizer_config.json").unlink()
    out = tmp_path / "out"
    flags = ["--preset", _arch(tmp_path), "--no-strict", "--tokenizer", str(source)]
    assert main(["convert", str(custom_checkpoint[0]), str(out), *flags]) == 0
    tokenizer = StreamingT2VModel.from_pretrained(out).tokenizer
    assert type(tokenizer).__name__ == "CLIPTokenizer" and tokenizer.pad_token == "<|endoftext|>"
    # a word-level tokenizer.json alone (tokenizers' Tokenizer.save) says no padding token: refused by name
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    words = tmp_path / "words"
    words.mkdir()
    Tokenizer(WordLevel({"<unk>": 0, "ball": 1}, unk_token="<unk>")).save(str(words / "tokenizer.json"))
    argv = ["convert", str(custom_checkpoint[0]), str(tmp_path / "out2"), *flags[:-1], str(words)]
    capsys.readouterr()
    assert main(argv) == 2
    assert f"error: --tokenizer folder '{words}' has no padding token: record" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_a_tokenizer_class_transformers_lacks_is_named(tmp_path: Path) -> None:
    """A recorded class transformers cannot import, on CLIP's vocab.json + merges.txt, was refused as
    'cannot be read (...): is one of its files damaged or cut short? copy the folder again'."""
    from streamt2v.models.tokenizers import byte_level_clip_tokenizer, load_tokenizer

    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(byte_level_clip_tokenizer().get_vocab()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "FooTokenizer"}))
    with pytest.raises(ValueError) as err:
        load_tokenizer(folder, what="--tokenizer folder")
    assert (
        f"--tokenizer folder '{folder}' records the tokenizer class 'FooTokenizer' (tokenizer_class in"
        in str(err.value)
    )
    assert "damaged" not in str(err.value)
    with pytest.raises(ValueError, match="records the tokenizer class 'FooTokenizer'"):
        load_tokenizer(folder, "FooTokenizer")  # as a model folder's model_index.json records it


def test_convert_into_a_log_draws_no_library_bars(
    custom_checkpoint: tuple[Path, dict[str, torch.Tensor]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Into a log (capsys: stderr is no terminal) the text encoders' save drew transformers' 'Writing model
    shards' bars, redrawn with carriage returns, unless convert switches the libraries' bars off itself."""
    ckpt, _ = custom_checkpoint
    argv = ["convert", str(ckpt), str(tmp_path / "out"), "--preset", _arch(tmp_path), "--no-strict"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "%|" not in err and "\r" not in err and "Writing model shards" not in err
