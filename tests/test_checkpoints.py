"""What an official checkpoint file is read as: pickles read with inert stand-ins (a call or a training
config beside the weights is never run, weights that need code are refused), a file that is no checkpoint,
wrapped and nested state dicts, and the wrong file or folder named as what it is."""

from __future__ import annotations

import re
import shlex
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import (
    first_reference_case,
    reference_config,
    stage1_folder,
    tiny_reference_sd,
    tokenizer_folder,
)
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.io.conversion_report import CheckpointMismatchError
from streamt2v.io.official_unet_keys import map_official_unet_key
from streamt2v.models.bundle import StreamingT2VModel


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


def test_a_pickled_call_beside_the_weights_is_never_run(tmp_path: Path) -> None:
    """A payload beside the weights (pathlib.Path.touch, pickled as getattr(pathlib.Path, 'touch') called)
    refused the whole file; it is read with inert stand-ins: the weights are read, nothing of it runs, and
    the note says what was not read."""
    from streamt2v.io.checkpoint_file import load_checkpoint, not_loaded_note

    marker = tmp_path / "executed"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": torch.ones(1)}, "payload": Evil(str(marker))}, ckpt)
    weights, not_loaded = load_checkpoint(ckpt)
    assert not marker.exists()
    assert weights.keys() == {"x"} and torch.equal(weights["x"], torch.ones(1))
    note = not_loaded_note(not_loaded)
    assert "never imports or runs (the weights do not): 'payload' (builtins.getattr)" in note
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        convert_official_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out", "tiny")


def test_a_lightning_checkpoint_whose_hyper_parameters_hold_objects_converts(tmp_path: Path) -> None:
    """Lightning writes the LightningModule's init arguments beside the weights (an argparse.Namespace, a
    config class): a weights-only read refused the whole file. They are read with inert stand-ins, never
    rebuilt, and the conversion says what was not read."""
    import argparse

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
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
        with pytest.raises(
            ValueError, match=rf"^refusing to load checkpoint '.*{re.escape(name)}': {message}"
        ) as err:
            convert_official_checkpoint(
                tmp_path / name, tmp_path / "out", "tiny", tokenizer=tokenizer_folder(tmp_path / "tok")
            )
        assert "\n" not in str(err.value) and "It was not executed." in str(err.value), name
    assert not marker.exists() and TrainConfig.rebuilt == 0
    assert not (tmp_path / "out").exists()


def test_not_a_checkpoint_is_told_apart_from_a_pickle_that_needs_more(tmp_path: Path) -> None:
    """A file that is no torch checkpoint at all, or a damaged one, is not called an unsafe pickle."""
    cases = {
        "garbage.ckpt": (b"garbage\n", r"'.*garbage\.ckpt' is not a PyTorch checkpoint \(neither a zip nor"),
        "empty.ckpt": (b"", r"is not a PyTorch checkpoint .*it is empty"),
    }
    full = tmp_path / "full.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(4)}}, full)
    cases["cut.ckpt"] = (full.read_bytes()[:100], r"is a zip torch.save file cut short .*download it again")
    other_zip = tmp_path / "other.zip"  # whole, but no torch archive inside
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("notes.txt", "not weights")
    damaged = r"starts like a zip torch.save file .*truncated or damaged"
    cases["damaged.ckpt"] = (other_zip.read_bytes(), damaged)
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message) as err:
            convert_official_checkpoint(
                tmp_path / name, tmp_path / "out", "tiny", tokenizer=tokenizer_folder(tmp_path / "tok")
            )
        assert "needs more than tensors" not in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_wrapped_and_nested_checkpoints_are_unwrapped(tmp_path: Path) -> None:
    """Lightning ``state_dict`` with a wrapper's ``model.``/``module.`` prefix, weights under ``model``, and a
    safetensors file with a .ckpt suffix all convert to the same weights."""
    from safetensors.torch import save_file

    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
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
        convert_official_checkpoint(
            ckpt, tmp_path / "out", "tiny", tokenizer=tokenizer_folder(tmp_path / "tok")
        )
    with pytest.raises(
        IsADirectoryError,
        match=r"checkpoint '.*' is a folder \(it holds odd\.ckpt\); give the checkpoint file",
    ):
        convert_official_checkpoint(tmp_path, tmp_path / "out", "tiny")


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
        convert_official_checkpoint(
            src, tmp_path / "out", "tiny", tokenizer=tokenizer_folder(tmp_path / "tok")
        )


def test_the_wrong_file_or_folder_is_named_as_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ModelScope folder or one of its weight files, a converted folder, a hub id: each is named, and the
    report lists a file of which nothing fits in part (the ModelScope UNet's 1,400 keys were all printed)."""
    from streamt2v.cli import main

    cfg, _ = reference_config(first_reference_case())
    ms = stage1_folder(tmp_path / "ms", cfg)
    with pytest.raises(
        IsADirectoryError,
        match=r"a diffusers TextToVideoSDPipeline folder: the stage-1 model, which init_unet takes",
    ) as folder_error:
        convert_official_checkpoint(ms, tmp_path / "out", "tiny")
    # named as the caller spells it: init_unet to Python, --init-unet on the command line
    assert "which --init-unet takes" in str(folder_error.value.as_flags())
    ours = StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(tmp_path / "ours")
    with pytest.raises(IsADirectoryError, match=r"a streamt2v model folder, converted already"):
        convert_official_checkpoint(ours, tmp_path / "out", "tiny")
    with pytest.raises(
        FileNotFoundError, match=r"'PAIR/StreamingT2V' does not exist \(a hub id is not downloaded"
    ):
        convert_official_checkpoint("PAIR/StreamingT2V", tmp_path / "out", "tiny")
    with pytest.raises(FileNotFoundError, match=r"-1.7b' does not exist \(a hub id is not downloaded"):
        convert_official_checkpoint("damo-vilab/text-to-video-ms-1.7b", tmp_path / "out", "tiny")
    with pytest.raises(FileNotFoundError, match=r"'runs/streaming_t2v.ckpt' does not exist$"):
        convert_official_checkpoint("runs/streaming_t2v.ckpt", tmp_path / "out", "tiny")
    unet_file = ms / "unet" / "diffusion_pytorch_model.safetensors"
    assert (
        main(
            [
                "convert",
                str(unet_file),
                str(tmp_path / "out"),
                "--preset",
                "tiny",
                "--tokenizer",
                str(tokenizer_folder(tmp_path / "tok")),
            ]
        )
        == 2
    )
    out, err = capsys.readouterr()
    assert "first 10:" in out and len(out.splitlines()) < 20
    [error] = err.strip().splitlines()[-1:]
    assert (
        "it is the weights of a diffusers UNet3DConditionModel: the unet/ of a ModelScope diffusers folder, "
        "which --init-unet takes as a folder" in error
    )
    with pytest.raises(CheckpointMismatchError, match=r"diffusers folder, which init_unet takes as a folder"):
        convert_official_checkpoint(
            unet_file, tmp_path / "out", "tiny", tokenizer=tokenizer_folder(tmp_path / "tok")
        )
    assert not (tmp_path / "out").exists()


def test_names_read_from_a_pickle_are_shown_with_their_control_characters_escaped(tmp_path, monkeypatch):
    """A class name in the pickle goes into the report: with terminal escape codes in it, printing the note
    cleared the screen and set the terminal's title."""
    import sys
    import types

    from streamt2v.io.checkpoint_file import load_checkpoint

    module_name = "evil\x1b[2J"
    module = types.ModuleType(module_name)

    class Cls:
        pass

    Cls.__module__, Cls.__qualname__ = module_name, "Cls\x1b]0;TITLE\x07"
    setattr(module, Cls.__qualname__, Cls)
    monkeypatch.setitem(sys.modules, module_name, module)  # for pickle to find it while saving
    ckpt = tmp_path / "named.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": Cls()}, ckpt)
    monkeypatch.delitem(sys.modules, module_name)
    weights, not_loaded = load_checkpoint(ckpt)
    assert list(weights) == ["w"]
    assert not_loaded == {"hyper_parameters": ["evil\\x1b[2J.Cls\\x1b]0;TITLE\\x07"]}


def test_the_names_of_compiled_modules_convert(tmp_path: Path) -> None:
    """Training code that compiled its modules (self.base_model = torch.compile(...)) saves their weights as
    base_model._orig_mod.*: the checkpoint was refused as 'only 44 of its 1191 tensors fit: is it the right
    checkpoint, and the right --preset?', and --no-strict, which it advised, saved those modules as zeros."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
    # a module compiled inside a compiled one nests the part twice
    compiled = {re.sub(r"^(base_model|unet)\.", r"\1._orig_mod._orig_mod.", k): t for k, t in sd.items()}
    assert sum(k != c for k, c in zip(sd, compiled)) > len(sd) / 2
    torch.save({"state_dict": compiled, "epoch": 1}, tmp_path / "compiled.ckpt")
    report = convert_official_checkpoint(
        tmp_path / "compiled.ckpt", tmp_path / "out", cfg, strict=False, head_width=head_width
    )
    assert not report.unmapped and not report.mismatched and not report.missing
    [note] = [n for n in report.notes if "_orig_mod." in n]
    assert note.startswith(f"{sum(k != c for k, c in zip(sd, compiled))} of the checkpoint's names carry")
    ours = StreamingT2VModel.from_pretrained(tmp_path / "out").unet.state_dict()
    want = {map_official_unet_key(k): t for k, t in sd.items() if map_official_unet_key(k) is not None}
    assert all(torch.equal(ours[k], t) for k, t in want.items())


def test_an_ema_copy_beside_the_weights_is_named_as_one(tmp_path: Path) -> None:
    """A Lightning checkpoint of training code with LitEma holds model_ema.* beside the live weights (names
    without their dots): the strict refusal listed each of them as unmapped and said only 'pass
    --no-strict to convert anyway'."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    sd = tiny_reference_sd(case)
    ema = {"model_ema." + k.replace(".", ""): t for k, t in sd.items() if k.startswith("base_model.")}
    ema |= {"model_ema.decay": torch.tensor(0.999), "model_ema.num_updates": torch.tensor(10)}
    torch.save({"state_dict": {**sd, **ema}}, tmp_path / "ema.ckpt")
    with pytest.raises(CheckpointMismatchError) as refused:
        convert_official_checkpoint(
            tmp_path / "ema.ckpt",
            tmp_path / "out",
            cfg,
            head_width=head_width,
            tokenizer=tokenizer_folder(tmp_path / "tok", cfg),
        )
    assert (
        f"({len(ema)} of the unmapped tensors are an EMA copy of the weights (model_ema.*), which is not "
        in str(refused.value)
    )
    report = convert_official_checkpoint(
        tmp_path / "ema.ckpt", tmp_path / "out", cfg, strict=False, head_width=head_width
    )
    assert len(report.unmapped) == len(ema) and not report.missing and not report.mismatched
