"""Official checkpoint conversion: full key manifest, tiny reference end to end, refusals and errors."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import first_reference_case, reference_cases
from streamt2v.config import ModelConfig, StreamingConfig, UNetConfig, get_preset
from streamt2v.io.checkpoints import (
    IGNORED_OFFICIAL_KEYS,
    CheckpointMismatchError,
    ConversionReport,
    check_converted,
    convert_official_checkpoint,
    convert_state_dict,
)
from streamt2v.io.official_unet_keys import map_official_unet_key, unmap_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel

CASES = reference_cases()


def _manifest(case: Path) -> dict[str, torch.Tensor]:
    sd = {}
    for line in (case / "keys_full.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")[:2]
        dims = () if shape == "scalar" else tuple(int(x) for x in shape.split("x"))
        sd[key] = torch.empty(dims, device="meta")
    return sd


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_official_key_maps_to_exactly_one_tensor_of_ours(case: Path) -> None:
    sd = _manifest(case)
    converted = convert_state_dict(sd)  # raises if two official keys map to one tensor
    assert converted.unmapped == []
    assert sorted(k for k, _ in converted.ignored) == sorted(IGNORED_OFFICIAL_KEYS)
    model = StreamingT2VModel.from_preset("modelscope-1.7b", device="meta", with_init_unet=False)
    modules = model.modules()
    assert converted.vision_config.to_dict() | {"transformers_version": None} == (
        modules["image_encoder"].config.to_dict() | {"transformers_version": None}
    )
    report = ConversionReport(source=str(case))
    check_converted(converted, modules, report)
    assert report.ok, report.problems()
    n_ours = sum(len(m.state_dict()) for m in modules.values())
    assert sum(report.mapped.values()) == n_ours  # every tensor of ours is covered
    n_visual = sum(1 for k in sd if k.startswith("image_encoder.model.visual."))
    n_official = sum(report.mapped.values()) - len(converted.tensors["image_encoder"]) + n_visual
    assert n_official + len(IGNORED_OFFICIAL_KEYS) == len(sd)


def _reference_config(case: Path) -> tuple[ModelConfig, int]:
    """The tiny reference architecture as our ModelConfig, and its open_clip head width."""
    cfg = json.loads((case / "tiny_config.json").read_text())
    sec = {k.split(" ")[0]: v for k, v in cfg.items() if isinstance(v, dict)}
    base = sec["base_model"]["constructor_args"]
    cam = sec["unet"]["from_unet_args"]
    res = sec["resampler"]["constructor_args"]
    enc = next(v for k, v in sec["image_encoder"].items() if k.startswith("open_clip_model_config"))
    step = sec["step"]
    unet = UNetConfig(
        in_channels=base["in_channels"],
        out_channels=base["out_channels"],
        block_out_channels=tuple(base["block_out_channels"]),
        down_block_types=tuple(base["down_block_types"]),
        up_block_types=tuple(base["up_block_types"]),
        layers_per_block=base["layers_per_block"],
        attention_head_dim=base["attention_head_dim"],
        cross_attention_dim=base["cross_attention_dim"],
        norm_num_groups=base["norm_num_groups"],
        norm_eps=base["norm_eps"],
        sample_size=base["sample_size"],
    )
    streaming = StreamingConfig(
        cond_embedding_channels=tuple(cam["conditioning_embedding_out_channels"]),
        num_cond_frames=step["cond_frames"],
        num_frames=step["frames"],
        image_embed_dim=enc["embed_dim"],
        resampler_inner_dim=res["inner_dim"],
        num_image_tokens=res["expansion_factor"],
    )
    size = step["cond_rgb_hw"][0]
    model = ModelConfig(
        "official-tiny", unet, streaming, frame_size=size, vae_scale_factor=size // step["latent_hw"][0]
    )
    return model, int(enc["vision_cfg"]["head_width"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_convert_tiny_reference_end_to_end(case: Path, tmp_path: Path) -> None:
    cfg, head_width = _reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    with pytest.raises(CheckpointMismatchError, match="absent"):  # no text_encoder./vae. in the tiny file
        convert_official_checkpoint(src, tmp_path / "strict", cfg, head_width=head_width)
    assert not (tmp_path / "strict").exists()
    report = convert_official_checkpoint(src, tmp_path / "out", cfg, strict=False, head_width=head_width)
    assert sorted(report.random_components) == ["text_encoder", "vae"]
    assert not report.unmapped and not report.missing and not report.mismatched
    assert any("--init-unet" in n for n in report.notes)
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    ref = load_file(src)
    ours = model.unet.state_dict()
    for key, t in ref.items():
        if (mapped := map_official_unet_key(key)) is not None:
            assert torch.equal(ours[mapped], t.float()), key
    mods = load_file(case / "tiny_modules.safetensors")
    out = model.image_encoder.encode(mods["image_encoder.in"].float())
    torch.testing.assert_close(out, mods["image_encoder.out"].float(), rtol=1e-4, atol=1e-4)
    assert model.config == cfg
    assert "tokenizer" not in [p.name for p in (tmp_path / "out").iterdir()]
    with pytest.raises(RuntimeError, match="no tokenizer"):
        model.text_encoder.encode(["a prompt"])


def test_mismatched_checkpoint_names_the_offending_keys(tmp_path: Path) -> None:
    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    sd = {k: v.float() for k, v in load_file(case / "tiny_state_dict.safetensors").items()}
    sd["base_model.conv_in.weight"] = sd["base_model.conv_in.weight"][:, :3]
    sd["base_model.not_a_layer.weight"] = torch.zeros(2)
    del sd["resampler.context_embedding.0.bias"]
    ckpt = tmp_path / "bad.ckpt"
    torch.save({"state_dict": sd, "optimizer_states": [{"step": torch.tensor(1)}], "epoch": 3}, ckpt)
    with pytest.raises(CheckpointMismatchError) as info:
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, head_width=head_width)
    msg = str(info.value)
    assert "base_model.conv_in.weight" in msg and "(64, 3, 3, 3)" in msg
    assert "base_model.not_a_layer.weight" in msg
    assert "resampler.context_embedding.0.bias" in msg
    assert not (tmp_path / "out").exists()
    report = info.value.report
    assert [m[0] for m in report.mismatched] == ["base_model.conv_in.weight"]


def test_preset_mismatch_is_reported(tmp_path: Path) -> None:
    """When most tensors do not fit, the advice was '--no-strict to convert anyway': a folder of zeros."""
    src = first_reference_case() / "tiny_state_dict.safetensors"
    with pytest.raises(CheckpointMismatchError, match="does not match the 'modelscope-1.7b'") as info:
        convert_official_checkpoint(src, tmp_path / "out", get_preset("modelscope-1.7b"), head_width=16)
    assert re.search(
        r"\(only \d+ of its 1191 tensors fit: is it the right checkpoint, and the right --preset\? --no-strict "
        r"would save the others as zeros\)$",
        info.value.headline,
    )
    assert "convert anyway" not in str(info.value)


class Evil:
    """A class a weights-only unpickler must refuse to build."""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))

    def __init__(self, marker: str) -> None:
        self.marker = marker


class RunsCode:
    """Pickled as a call of ``os.system``: what a checkpoint that truly needs arbitrary code holds."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class TrainConfig:
    """A training script's config class, as Lightning's ``hyper_parameters`` hold one: rebuilding it would
    run its ``__setstate__``."""

    rebuilt = 0

    class Optim:
        """A nested class: a pickle of protocol 2 names it as getattr(TrainConfig, 'Optim')."""

        def __init__(self) -> None:
            self.betas = (0.9, 0.999)

    def __init__(self) -> None:
        self.lr, self.frames, self.optim = 1e-4, 16, TrainConfig.Optim()

    def __setstate__(self, state: dict) -> None:
        TrainConfig.rebuilt += 1
        self.__dict__.update(state)


def test_a_pickled_call_beside_the_weights_is_never_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A payload beside the weights (pathlib.Path.touch, pickled as getattr(pathlib.Path, 'touch') called)
    refused the whole file; it is read with inert stand-ins: the weights are read, nothing of it runs, and
    the log says what was not read."""
    from streamt2v.io.checkpoint_file import load_official_state_dict

    marker = tmp_path / "executed"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.ones(1)}, "payload": Evil(str(marker))}, ckpt)
    with caplog.at_level("INFO"):
        weights = load_official_state_dict(ckpt)
    assert not marker.exists()
    assert weights.keys() == {"x"} and torch.equal(weights["x"], torch.ones(1))
    assert "never imports or runs (the weights do not): 'payload' (builtins.getattr)" in caplog.text
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        convert_official_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out", "tiny")


def test_a_lightning_checkpoint_whose_hyper_parameters_hold_objects_converts(tmp_path: Path) -> None:
    """Lightning writes the LightningModule's init arguments beside the weights (an argparse.Namespace, a
    config class): a weights-only read refused the whole file. They are read with inert stand-ins, never
    rebuilt, and the conversion says what was not read."""
    import argparse

    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    sd = _tiny_reference_sd(case)
    ckpt = tmp_path / "lightning.ckpt"
    hyper = {
        "args": argparse.Namespace(lr=1e-4, precision="16-mixed"),
        "config": TrainConfig(),
        "optim": TrainConfig.Optim(),
    }
    checkpoint = {"epoch": 3, "global_step": 300, "pytorch-lightning_version": "2.4.0", "state_dict": sd}
    torch.save(checkpoint | {"hyper_parameters": hyper, "hparams_type": TrainConfig}, ckpt)
    assert ckpt.read_bytes()[:4] == b"PK\x03\x04"  # the zip format torch.save and Lightning write
    report = convert_official_checkpoint(ckpt, tmp_path / "out", cfg, strict=False, head_width=head_width)
    assert TrainConfig.rebuilt == 0  # nothing of the training code ran
    assert not report.unmapped and not report.mismatched and not report.missing
    [note] = [n for n in report.notes if "not read" in n]
    assert note.endswith(
        "'hyper_parameters' (argparse.Namespace, builtins.getattr, test_checkpoints.TrainConfig); "
        "'hparams_type' (test_checkpoints.TrainConfig)"
    )
    ours = StreamingT2VModel.from_pretrained(tmp_path / "out").unet.state_dict()
    want = {map_official_unet_key(k): t for k, t in sd.items() if map_official_unet_key(k) is not None}
    assert all(torch.equal(ours[k], t) for k, t in want.items())


def test_weights_that_need_code_are_refused_and_never_run(tmp_path: Path) -> None:
    """What stays refused, in one readable line: weights inside objects of a class (a pickled model, a
    tensor behind a class) and a pickle that calls os.system, wherever it is; none of it is run."""
    marker = tmp_path / "executed"
    cases = {
        "model.ckpt": (
            torch.nn.Sequential(torch.nn.Linear(2, 2)),
            r"it holds a pickled torch\.nn\.modules\.container\.Sequential object, not a state dict "
            r"\(torch\.save\(model\) rather than torch\.save\(model\.state_dict\(\)\)\?\)",
        ),
        "behind_class.ckpt": (
            {"state_dict": {"w": TrainConfig()}, "epoch": 1},
            r"its weights under 'state_dict' need test_checkpoints\.TrainConfig, beyond tensors",
        ),
        "system.ckpt": (
            {"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"cmd": RunsCode(marker)}},
            r"it is a pickle that needs more than tensors and plain containers \(torch\.load weights_only=True "
            r"said: Trying to load unsupported GLOBAL (posix|nt)\.system whose module (posix|nt) is blocked\)",
        ),
    }
    for name, (obj, message) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(ValueError, match=rf"^refusing to load '.*{re.escape(name)}': {message}") as err:
            convert_official_checkpoint(tmp_path / name, tmp_path / "out", "tiny")
        assert "\n" not in str(err.value) and "It was not executed." in str(err.value), name
    assert not marker.exists() and TrainConfig.rebuilt == 0
    assert not (tmp_path / "out").exists()


def _cli(argv: list[str]) -> int:
    import argparse

    from streamt2v.cli import convert

    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_not_a_checkpoint_is_told_apart_from_a_pickle_that_needs_more(tmp_path: Path) -> None:
    """A file that is no torch checkpoint at all, or a damaged one, is not called an unsafe pickle."""
    cases = {
        "garbage.ckpt": (b"garbage\n", r"'.*garbage\.ckpt' is not a PyTorch checkpoint \(neither a zip nor"),
        "empty.ckpt": (b"", r"is not a PyTorch checkpoint .*it is empty"),
    }
    full = tmp_path / "full.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(4)}}, full)
    cases["cut.ckpt"] = (full.read_bytes()[:100], r"starts like a zip torch.save file .*truncated or damaged")
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message) as err:
            convert_official_checkpoint(tmp_path / name, tmp_path / "out", "tiny")
        assert "needs more than tensors" not in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_folder_is_refused_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    never_read = tmp_path / "garbage.ckpt"  # reading it would fail otherwise: the folder is checked first
    never_read.write_text("garbage")
    with pytest.raises(FileExistsError, match=r"pass overwrite=True, --overwrite on the command line"):
        convert_official_checkpoint(never_read, out, "tiny")
    assert (out / "mine.txt").read_text() == "keep"


def test_a_checkpoint_of_which_nothing_fits_is_refused_even_when_not_strict(tmp_path: Path) -> None:
    """--no-strict with no tensor that fits would write a folder of random weights: refused."""
    from safetensors.torch import save_file

    src = tmp_path / "other.safetensors"
    save_file({"model.layer.weight": torch.zeros(3), "vae.not_a_layer": torch.zeros(2)}, src)
    for strict in (True, False):
        with pytest.raises(CheckpointMismatchError, match=r"'.*other\.safetensors' .*none of its 2 tensors"):
            convert_official_checkpoint(src, tmp_path / "out", "tiny", strict=strict)
    assert not (tmp_path / "out").exists()


def test_cli_convert_prints_the_report_once_and_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamt2v.cli import main

    case = first_reference_case()
    _, head_width = _reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    argv = ["convert", str(src), str(tmp_path / "out"), "--preset", "tiny", "--head-width", str(head_width)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "base_model." in captured.out
    lines = (captured.out + captured.err).splitlines()
    assert (
        sum(bool(re.fullmatch(r"\d+ shape mismatches(, first 10)?:", ln)) for ln in lines) == 1
    )  # the list, once
    [error] = captured.err.strip().splitlines()
    assert error.startswith(f"error: checkpoint {str(src)!r} does not match the 'tiny' architecture: ")
    assert "shape mismatches" in error and "--no-strict" in error
    with pytest.raises(CheckpointMismatchError) as info:  # the report travels with the one-line error
        _cli(argv)
    assert "\n" not in str(info.value) and info.value.report.mismatched
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        _cli(["convert", str(src), str(tmp_path / "out"), "--preset", "nope"])


# --- what a user of the official release gets wrong -------------------------------------------------------


def _stage1_folder(
    root: Path, cfg: ModelConfig, *, variant: str | None = None, tokenizer: bool = True
) -> Path:
    """A ModelScope-style diffusers folder (unet/, tokenizer/, model_index.json) for ``cfg``, random weights."""
    from diffusers import UNet3DConditionModel

    from streamt2v.models.encoders import byte_level_clip_tokenizer

    torch.manual_seed(5)
    unet = UNet3DConditionModel(**cfg.unet.to_diffusers())
    if variant == "fp16":
        unet = unet.half()
    unet.save_pretrained(root / "unet", variant=variant)
    if tokenizer:
        byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).save_pretrained(root / "tokenizer")
    index = {"_class_name": "TextToVideoSDPipeline", "unet": ["diffusers", "UNet3DConditionModel"]}
    (root / "model_index.json").write_text(json.dumps(index))
    return root


def _garbage(tmp_path: Path) -> Path:
    """A file that is no checkpoint: errors raised before it is read name something else."""
    path = tmp_path / "never_read.ckpt"
    path.write_text("garbage")
    return path


def test_stage1_folder_problems_are_named_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    cfg, _ = _reference_config(first_reference_case())
    ckpt = _garbage(tmp_path)
    good = _stage1_folder(tmp_path / "ms", cfg)

    def convert(init_unet: Path | str, **kw) -> None:
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, init_unet=init_unet, **kw)

    no_unet = tmp_path / "no_unet"
    (no_unet / "text_encoder").mkdir(parents=True)
    with pytest.raises(
        FileNotFoundError, match=r"--init-unet '.*no_unet' has no unet/config.json \(found: text_encoder/\)"
    ):
        convert(no_unet)
    with pytest.raises(NotADirectoryError, match=r"--init-unet '.*never_read\.ckpt' is a file, not a folder"):
        convert(ckpt)
    other = _stage1_folder(tmp_path / "other", replace(cfg, unet=replace(cfg.unet, cross_attention_dim=64)))
    with pytest.raises(
        ValueError, match=r"its UNet has cross_attention_dim 64 \(the 'official-tiny' architecture: 1024\)"
    ):
        convert(other)
    ours = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "ours")
    with pytest.raises(ValueError, match=r"is a streamt2v model folder \(stages 1-2\), not a stage-1 model"):
        convert(ours)
    for f in (good / "unet").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match=r"UNet folder '.*unet' has no weights .*found: config.json"):
        convert(good)
    tok_only = tmp_path / "tok"
    (tok_only).mkdir()
    (tok_only / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"--tokenizer folder '.*tok' holds no tokenizer vocabulary"):
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, tokenizer=tok_only)
    assert not (tmp_path / "out").exists()


def test_a_hub_id_without_network_says_no_download_is_possible_and_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint(
            _garbage(tmp_path), tmp_path / "out", "tiny", init_unet="damo-vilab/text-to-video-ms-1.7b"
        )
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("--init-unet 'damo-vilab/text-to-video-ms-1.7b' is not a local folder")
    assert "offline mode is on (HF_HUB_OFFLINE) and it is not in the local hub cache" in msg
    assert "Nothing can be downloaded here" in msg and "pass the local folder DIR" in msg
    assert "unet/ and tokenizer/" in msg


def test_the_fp16_variant_of_the_stage1_weights_and_its_tokenizer_are_used(tmp_path: Path) -> None:
    """The official code loads damo-vilab/text-to-video-ms-1.7b as variant="fp16": a folder holding only
    diffusion_pytorch_model.fp16.safetensors is converted."""
    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    ms = _stage1_folder(tmp_path / "ms", cfg, variant="fp16")
    assert [p.name for p in (ms / "unet").glob("*.safetensors")] == [
        "diffusion_pytorch_model.fp16.safetensors"
    ]
    src = case / "tiny_state_dict.safetensors"
    report = convert_official_checkpoint(
        src, tmp_path / "out", cfg, init_unet=ms, strict=False, head_width=head_width
    )
    assert not any("--init-unet" in n or "--tokenizer" in n for n in report.notes)
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    from safetensors.torch import load_file as load

    saved = load(ms / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    ours = model.init_unet.state_dict()
    assert all(torch.equal(ours[k], t.float()) for k, t in saved.items())
    assert model.text_encoder.encode(["a red circle"]).shape[0] == 1  # the folder's tokenizer came along
    # the provenance holds absolute paths: the folder is read from anywhere
    assert model.sources["init_unet"] == str(ms.resolve()) == model.sources["tokenizer"]
    assert model.sources["weights"] == f"converted from {src.resolve()}"


def _tiny_reference_sd(case: Path) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in load_file(case / "tiny_state_dict.safetensors").items()}


def test_wrapped_and_nested_checkpoints_are_unwrapped(tmp_path: Path) -> None:
    """Lightning ``state_dict`` with a wrapper's ``model.``/``module.`` prefix, weights under ``model``, and a
    safetensors file with a .ckpt suffix all convert to the same weights."""
    from safetensors.torch import save_file

    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    sd = _tiny_reference_sd(case)
    files = {
        "model_prefix.ckpt": {"state_dict": {"model." + k: t for k, t in sd.items()}, "epoch": 2},
        "ddp.ckpt": {"state_dict": {"module." + k: t for k, t in sd.items()}},
        "nested.pt": {"model": sd, "optimizer": {"lr": 1e-4}},
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
    save_file(sd, tmp_path / "safetensors_inside.ckpt")
    want = {map_official_unet_key(k): t for k, t in sd.items() if map_official_unet_key(k) is not None}
    for name in [*files, "safetensors_inside.ckpt"]:
        out = tmp_path / f"out-{name}"
        report = convert_official_checkpoint(tmp_path / name, out, cfg, strict=False, head_width=head_width)
        assert not report.unmapped and not report.mismatched and not report.missing, name
        if "prefix" in name or "ddp" in name:
            assert any("prefix" in n for n in report.notes), name
        ours = StreamingT2VModel.from_pretrained(out).unet.state_dict()
        assert all(torch.equal(ours[k], t) for k, t in want.items()), name


def test_a_checkpoint_without_a_state_dict_names_what_it_holds(tmp_path: Path) -> None:
    ckpt = tmp_path / "odd.ckpt"
    torch.save({"epoch": 1, "weights_ema": {"a": torch.zeros(1)}}, ckpt)
    with pytest.raises(
        ValueError,
        match=r"holds no state dict .*top-level entries: 'epoch' \(int\), 'weights_ema' \(1 entries\)",
    ):
        convert_official_checkpoint(ckpt, tmp_path / "out", "tiny")
    with pytest.raises(
        IsADirectoryError,
        match=r"checkpoint '.*' is a folder \(it holds odd\.ckpt\); give the checkpoint file",
    ):
        convert_official_checkpoint(tmp_path, tmp_path / "out", "tiny")


def test_wrong_head_width_names_the_flag(tmp_path: Path) -> None:
    src = first_reference_case() / "tiny_state_dict.safetensors"
    cfg, _ = _reference_config(first_reference_case())
    with pytest.raises(ValueError, match=r"width 32 is not divisible by head_width=80 \(--head-width"):
        convert_official_checkpoint(src, tmp_path / "out", cfg)


def test_missing_image_encoder_tensors_are_reported_and_saved_position_ids_ignored(tmp_path: Path) -> None:
    """A missing open_clip tensor was a KeyError (a traceback on the command line), and a missing tensor of
    a later block made a shallower image encoder; older transformers' saved text position ids are ignored."""
    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    sd = _tiny_reference_sd(case)
    visual = "image_encoder.model.visual."
    del sd[visual + "ln_post.weight"]
    del sd[visual + "transformer.resblocks.1.ln_1.weight"]
    sd["text_encoder.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    ckpt = tmp_path / "holes.ckpt"
    torch.save({"state_dict": sd}, ckpt)
    with pytest.raises(CheckpointMismatchError, match="2 model tensors not in the checkpoint") as info:
        convert_official_checkpoint(ckpt, tmp_path / "strict", cfg, head_width=head_width)
    missing = {(c, k) for c, k, _ in info.value.report.missing}
    assert missing >= {
        ("image_encoder", "vision_model.post_layernorm.weight"),
        ("image_encoder", "vision_model.encoder.layers.1.layer_norm1.weight"),
    }
    assert not info.value.report.unmapped  # the position ids are not a problem
    assert "text_encoder.text_model.embeddings.position_ids" in [k for k, _ in info.value.report.ignored]
    report = convert_official_checkpoint(ckpt, tmp_path / "out", cfg, strict=False, head_width=head_width)
    assert len(report.missing) == 2
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    assert model.image_encoder.model.config.num_hidden_layers == 2
    # a missing norm scale is the identity (1), not 0, which silenced the layer
    vision = model.image_encoder.model.vision_model
    assert torch.equal(vision.post_layernorm.weight, torch.ones(32))
    assert torch.equal(vision.encoder.layers[1].layer_norm1.weight, torch.ones(32))
    assert torch.equal(vision.post_layernorm.bias, sd[visual + "ln_post.bias"])


def test_a_hub_stage1_id_fetches_only_what_the_conversion_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--init-unet damo-vilab/text-to-video-ms-1.7b (README): the UNet, the tokenizer and the index, not the
    repo's text encoder and VAE (the checkpoint has its own). The hub is replaced by a local snapshot."""
    import fnmatch

    import huggingface_hub

    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    snapshot = _stage1_folder(tmp_path / "snapshot", cfg)
    calls = []

    def snapshot_download(repo_id: str, allow_patterns: list[str] | None = None, **kw) -> str:
        calls.append((repo_id, allow_patterns))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.chdir(tmp_path)
    src = case / "tiny_state_dict.safetensors"
    report = convert_official_checkpoint(
        src,
        tmp_path / "out",
        cfg,
        init_unet="damo-vilab/text-to-video-ms-1.7b",
        strict=False,
        head_width=head_width,
    )
    [(repo, patterns)] = calls
    assert repo == "damo-vilab/text-to-video-ms-1.7b"

    def fetched(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in patterns)

    assert all(fetched(n) for n in ("unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"))
    assert all(fetched(n) for n in ("tokenizer/vocab.json", "tokenizer/merges.txt", "model_index.json"))
    assert not any(fetched(n) for n in ("text_encoder/model.safetensors", "vae/diffusion_pytorch_model.bin"))
    assert report.out_dir and not any("--tokenizer" in n for n in report.notes)
    index = json.loads((tmp_path / "out" / "model_index.json").read_text())
    assert index["streamt2v"]["sources"]["init_unet"] == "damo-vilab/text-to-video-ms-1.7b"


def test_overwrite_never_replaces_a_folder_that_holds_an_input(tmp_path: Path) -> None:
    """``convert models/x/streaming_t2v.ckpt models/x --overwrite`` deleted the 25 GB checkpoint with the old
    folder; the same for a --init-unet folder converted into."""
    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    folder = tmp_path / "models"
    folder.mkdir()
    ckpt = folder / "streaming_t2v.safetensors"
    ckpt.write_bytes((case / "tiny_state_dict.safetensors").read_bytes())
    with pytest.raises(
        ValueError, match=r"checkpoint '.*streaming_t2v.safetensors' is inside the output folder"
    ):
        convert_official_checkpoint(ckpt, folder, cfg, strict=False, head_width=head_width, overwrite=True)
    assert ckpt.is_file()
    ms = _stage1_folder(tmp_path / "ms", cfg)
    with pytest.raises(ValueError, match=r"--init-unet '.*ms' is inside the output folder"):
        convert_official_checkpoint(
            ckpt, ms, cfg, init_unet=ms, strict=False, head_width=head_width, overwrite=True
        )
    assert (ms / "unet" / "config.json").is_file()


def test_the_streamingsvd_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    """The official main branch's model.safetensors (StreamingSVD, image-to-video) is not the T2V checkpoint."""
    from safetensors.torch import save_file

    src = tmp_path / "model.safetensors"
    keys = ["model.diffusion_model.input_blocks.0.0.weight", "controlnet.input_hint_block.0.weight"]
    save_file(
        {k: torch.zeros(2) for k in [*keys, "conditioner.embedders.0.open_clip.model.ln_final.bias"]}, src
    )
    with pytest.raises(
        CheckpointMismatchError, match=r"it is the StreamingSVD \(image-to-video\) checkpoint"
    ):
        convert_official_checkpoint(src, tmp_path / "out", "tiny")


def test_the_saved_dtype_is_chosen_by_name_or_flag(tmp_path: Path) -> None:
    """dtype="bf16" (the names from_pretrained takes) was 'Invalid device string'; the CLI had no --dtype."""

    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    src = case / "tiny_state_dict.safetensors"
    convert_official_checkpoint(
        src, tmp_path / "bf16", cfg, strict=False, head_width=head_width, dtype="bf16"
    )
    saved = load_file(tmp_path / "bf16" / "unet" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}
    with pytest.raises(ValueError, match=r"unknown dtype 'half8'; use one of"):
        convert_official_checkpoint(_garbage(tmp_path), tmp_path / "x", cfg, dtype="half8")
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
    cfg, head_width = _reference_config(case)
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


@pytest.mark.parametrize("width", [0, -16])
def test_a_head_width_that_is_not_positive_is_refused_before_the_checkpoint_is_read(
    tmp_path: Path, width: int
) -> None:
    """--head-width 0 was a ZeroDivisionError; -16 wrote a folder whose image encoder had -2 heads."""
    with pytest.raises(ValueError, match=rf"head_width must be a positive .* got {width} \(--head-width"):
        convert_official_checkpoint(_garbage(tmp_path), tmp_path / "out", "tiny", head_width=width)
    assert not (tmp_path / "out").exists()


def test_a_stage1_folder_without_its_tokenizer_is_refused_before_the_checkpoint_is_read(
    tmp_path: Path,
) -> None:
    """The folder converted from it could not read prompts: generate failed after the (minutes-long) conversion
    and a model load, asking to convert again with --tokenizer."""
    cfg, head_width = _reference_config(first_reference_case())
    ms = _stage1_folder(tmp_path / "ms", cfg, tokenizer=False)
    with pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint(
            _garbage(tmp_path), tmp_path / "out", cfg, init_unet=ms, head_width=head_width
        )
    msg = str(info.value)
    assert msg.startswith(f"--init-unet {str(ms)!r} has no tokenizer/ (found: model_index.json, unet/)")
    assert "pass --tokenizer" in msg and "--no-strict" in msg and "\n" not in msg
    src = first_reference_case() / "tiny_state_dict.safetensors"
    report = convert_official_checkpoint(
        src, tmp_path / "out", cfg, init_unet=ms, strict=False, head_width=head_width
    )
    assert any("no tokenizer" in n for n in report.notes)


def test_the_wrong_file_or_folder_is_named_as_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ModelScope folder or one of its weight files, a converted folder, a hub id: each is named, and the
    report lists a file of which nothing fits in part (the ModelScope UNet's 1,400 keys were all printed)."""
    from streamt2v.cli import main

    cfg, _ = _reference_config(first_reference_case())
    ms = _stage1_folder(tmp_path / "ms", cfg)
    with pytest.raises(
        IsADirectoryError,
        match=r"a diffusers TextToVideoSDPipeline folder: the stage-1 model, which --init-unet takes",
    ):
        convert_official_checkpoint(ms, tmp_path / "out", "tiny")
    ours = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "ours")
    with pytest.raises(IsADirectoryError, match=r"a streamt2v model folder, converted already"):
        convert_official_checkpoint(ours, tmp_path / "out", "tiny")
    with pytest.raises(
        FileNotFoundError, match=r"'PAIR/StreamingT2V' does not exist \(a hub id is not downloaded"
    ):
        convert_official_checkpoint("PAIR/StreamingT2V", tmp_path / "out", "tiny")
    unet_file = ms / "unet" / "diffusion_pytorch_model.safetensors"
    assert main(["convert", str(unet_file), str(tmp_path / "out"), "--preset", "tiny"]) == 2
    out, err = capsys.readouterr()
    assert "first 10:" in out and len(out.splitlines()) < 20
    [error] = err.strip().splitlines()[-1:]
    assert (
        "it is the weights of a diffusers UNet3DConditionModel: the unet/ of a ModelScope diffusers folder"
        in error
    )
    assert not (tmp_path / "out").exists()


def test_a_strict_conversion_without_a_tokenizer_writes_nothing(tmp_path: Path) -> None:
    """`convert streaming_t2v.ckpt out` without --init-unet wrote a folder that cannot read prompts (generate then
    asked to convert again); a complete checkpoint is now refused before the write, as a --init-unet folder
    without tokenizer/ is before the read."""
    from streamt2v.io.architecture import build_components
    from streamt2v.models.encoders import byte_level_clip_tokenizer

    case = first_reference_case()
    cfg, head_width = _reference_config(case)
    sd = _tiny_reference_sd(case)
    torch.manual_seed(3)
    parts = build_components(cfg, None, "cpu")
    sd |= {
        "text_encoder.text_model." + k.removeprefix("text_model."): t
        for k, t in parts["text_encoder"].state_dict().items()
    }
    sd |= {"vae." + k: t for k, t in parts["vae"].state_dict().items()}
    ckpt = tmp_path / "streaming_t2v.ckpt"
    torch.save({"state_dict": sd, "epoch": 3}, ckpt)
    with pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, head_width=head_width)
    msg = str(info.value)
    assert msg.startswith(
        f"no tokenizer for the folder converted from {str(ckpt)!r}: the official checkpoint has none"
    )
    assert "pass --init-unet" in msg and "--no-strict" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()
    byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).save_pretrained(tmp_path / "tok")
    report = convert_official_checkpoint(
        ckpt, tmp_path / "out", cfg, tokenizer=tmp_path / "tok", head_width=head_width
    )
    assert report.ok
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    assert model.text_encoder.encode(["a red circle"]).shape[0] == 1
