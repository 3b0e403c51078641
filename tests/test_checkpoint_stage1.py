"""The stage-1 model and tokenizer a conversion takes (--init-unet, --tokenizer): a local ModelScope folder
(also its fp16 variant), a hub id fetched in part or refused offline, a folder's problems and a missing
tokenizer named before the checkpoint is read or anything written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import (
    first_reference_case,
    garbage_checkpoint,
    reference_config,
    stage1_folder,
    tiny_reference_sd,
)
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel


def test_stage1_folder_problems_are_named_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    cfg, _ = reference_config(first_reference_case())
    ckpt = garbage_checkpoint(tmp_path)
    good = stage1_folder(tmp_path / "ms", cfg)

    def convert(init_unet: Path | str, **kw) -> None:
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, init_unet=init_unet, **kw)

    no_unet = tmp_path / "no_unet"
    (no_unet / "text_encoder").mkdir(parents=True)
    # the arguments as a Python caller spells them (the command line's flags: test_convert_cli)
    with pytest.raises(
        FileNotFoundError, match=r"^init_unet '.*no_unet' has no unet/config.json \(found: text_encoder/\)"
    ) as info:
        convert(no_unet)
    assert info.value.as_flags().spelled(flags=True).startswith("--init-unet '")
    with pytest.raises(NotADirectoryError, match=r"^init_unet '.*never_read\.ckpt' is a file, not a folder"):
        convert(ckpt)
    other = stage1_folder(tmp_path / "other", replace(cfg, unet=replace(cfg.unet, cross_attention_dim=64)))
    with pytest.raises(
        ValueError, match=r"its UNet has cross_attention_dim 64 \(the 'official-tiny' architecture: 1024\)"
    ) as info:
        convert(other)
    assert str(info.value).endswith("is it the right folder, and the right preset?")
    assert info.value.as_flags().spelled(flags=True).endswith("and the right --preset?")
    ours = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "ours")
    with pytest.raises(ValueError, match=r"is a streamt2v model folder \(stages 1-2\), not a stage-1 model"):
        convert(ours)
    for f in (good / "unet").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(
        FileNotFoundError, match=r"^init_unet UNet folder '.*unet' has no weights .*found: config.json"
    ):
        convert(good)
    tok_only = tmp_path / "tok"
    (tok_only).mkdir()
    (tok_only / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"^tokenizer folder '.*tok' holds no tokenizer vocabulary"):
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
            garbage_checkpoint(tmp_path),
            tmp_path / "out",
            "tiny",
            init_unet="damo-vilab/text-to-video-ms-1.7b",
        )
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("init_unet 'damo-vilab/text-to-video-ms-1.7b' is not a local folder")
    assert "offline mode is on (HF_HUB_OFFLINE) and it is not in the local hub cache" in msg
    assert "Nothing can be downloaded here" in msg and "pass the local folder DIR" in msg
    assert "unet/ and tokenizer/" in msg


def test_the_fp16_variant_of_the_stage1_weights_and_its_tokenizer_are_used(tmp_path: Path) -> None:
    """The official code loads damo-vilab/text-to-video-ms-1.7b as variant="fp16": a folder holding only
    diffusion_pytorch_model.fp16.safetensors is converted."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    ms = stage1_folder(tmp_path / "ms", cfg, variant="fp16")
    assert [p.name for p in (ms / "unet").glob("*.safetensors")] == [
        "diffusion_pytorch_model.fp16.safetensors"
    ]
    src = case / "tiny_state_dict.safetensors"
    report = convert_official_checkpoint(
        src, tmp_path / "out", cfg, init_unet=ms, strict=False, head_width=head_width
    )
    assert not any("init_unet" in n or "tokenizer" in n for n in report.notes)
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    from safetensors.torch import load_file as load

    saved = load(ms / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    ours = model.init_unet.state_dict()
    assert all(torch.equal(ours[k], t.float()) for k, t in saved.items())
    assert model.text_encoder.encode(["a red circle"]).shape[0] == 1  # the folder's tokenizer came along
    # the provenance holds absolute paths: the folder is read from anywhere
    assert model.sources["init_unet"] == str(ms.resolve()) == model.sources["tokenizer"]
    assert model.sources["weights"] == f"converted from {src.resolve()}"


def test_the_stage1_unets_config_names_its_folder_absolute_as_the_sources_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init_unet/config.json held the folder as typed ("ms/unet"), the sources the absolute path."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    stage1_folder(tmp_path / "ms", cfg)
    monkeypatch.chdir(tmp_path)
    src = case / "tiny_state_dict.safetensors"
    convert_official_checkpoint(src, "out", cfg, init_unet="ms", strict=False, head_width=head_width)
    sources = json.loads((tmp_path / "out" / "model_index.json").read_text())["streamt2v"]["sources"]
    config = json.loads((tmp_path / "out" / "init_unet" / "config.json").read_text())
    assert sources["init_unet"] == str((tmp_path / "ms").resolve())
    assert config["_name_or_path"] == str((tmp_path / "ms" / "unet").resolve())


def test_a_hub_stage1_id_fetches_only_what_the_conversion_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--init-unet damo-vilab/text-to-video-ms-1.7b (README): the UNet, the tokenizer and the index, not the
    repo's text encoder and VAE (the checkpoint has its own). The hub is replaced by a local snapshot."""
    import fnmatch

    import huggingface_hub

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    snapshot = stage1_folder(tmp_path / "snapshot", cfg)
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
    assert report.out_dir and not any("tokenizer" in n for n in report.notes)
    index = json.loads((tmp_path / "out" / "model_index.json").read_text())
    assert index["streamt2v"]["sources"]["init_unet"] == "damo-vilab/text-to-video-ms-1.7b"


def test_a_stage1_folder_without_its_tokenizer_is_refused_before_the_checkpoint_is_read(
    tmp_path: Path,
) -> None:
    """The folder converted from it could not read prompts: generate failed after the (minutes-long) conversion
    and a model load, asking to convert again with --tokenizer."""
    cfg, head_width = reference_config(first_reference_case())
    ms = stage1_folder(tmp_path / "ms", cfg, tokenizer=False)
    with pytest.raises(FileNotFoundError) as info:
        convert_official_checkpoint(
            garbage_checkpoint(tmp_path), tmp_path / "out", cfg, init_unet=ms, head_width=head_width
        )
    msg = str(info.value)  # the arguments as a Python caller spells them; the command line gets its flags
    assert msg.startswith(f"init_unet {str(ms)!r} has no tokenizer/ (found: model_index.json, unet/)")
    assert (
        "pass tokenizer with" in msg and "or strict=False to" in msg and "--" not in msg and "\n" not in msg
    )
    flags = info.value.as_flags().spelled(flags=True)
    assert flags.startswith(f"--init-unet {str(ms)!r} has no tokenizer/")
    assert "pass --tokenizer with" in flags and "or --no-strict to" in flags and "strict=" not in flags
    src = first_reference_case() / "tiny_state_dict.safetensors"
    report = convert_official_checkpoint(
        src, tmp_path / "out", cfg, init_unet=ms, strict=False, head_width=head_width
    )
    assert any("no tokenizer" in n for n in report.notes)


def test_a_strict_conversion_without_a_tokenizer_writes_nothing(tmp_path: Path) -> None:
    """`convert streaming_t2v.ckpt out` without --init-unet wrote a folder that cannot read prompts (generate then
    asked to convert again); a complete checkpoint is now refused before the write, as a --init-unet folder
    without tokenizer/ is before the read."""
    from streamt2v.io.architecture import build_components
    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
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
    assert "neither init_unet nor tokenizer was given" in msg and "pass init_unet with a ModelScope" in msg
    assert "or strict=False to convert anyway" in msg and "--" not in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()
    byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).save_pretrained(tmp_path / "tok")
    report = convert_official_checkpoint(
        ckpt, tmp_path / "out", cfg, tokenizer=tmp_path / "tok", head_width=head_width
    )
    assert report.ok
    model = StreamingT2VModel.from_pretrained(tmp_path / "out")
    assert model.text_encoder.encode(["a red circle"]).shape[0] == 1


def test_a_stage1_folder_of_another_model_is_named_by_what_it_holds(tmp_path: Path) -> None:
    """Named before any weight is looked for: its class with the right article (it read "holds a
    AutoencoderKL"), and a _class_name that is no string as no diffusers model, as every folder check says it
    (it read "holds a ['UNet3DConditionModel'], not a UNet3DConditionModel")."""
    from streamt2v.config import get_preset
    from streamt2v.io.conversion_inputs import check_stage1_folder

    (tmp_path / "unet").mkdir()
    for saved, held in (
        ("AutoencoderKL", "an AutoencoderKL"),
        (["UNet3DConditionModel"], "no diffusers model "),
    ):
        (tmp_path / "unet" / "config.json").write_text(json.dumps({"_class_name": saved}))
        with pytest.raises(
            ValueError, match=rf"^init_unet '\S+' holds {held}.*, not a UNet3DConditionModel; "
        ):
            check_stage1_folder(tmp_path, get_preset("tiny"))
