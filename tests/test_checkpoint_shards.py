"""An official checkpoint saved in shards (``model-00001-of-00002.safetensors`` ... and
``model.safetensors.index.json``) is read whole from its index, its folder or one of its shards; a missing
shard, or a shard without its index, is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import first_reference_case, reference_config
from streamt2v.io.checkpoint_file import load_checkpoint
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel


def whole() -> Path:
    return first_reference_case() / "tiny_state_dict.safetensors"


def shard(folder: Path, parts: int = 3) -> list[Path]:
    """``whole()`` saved in ``parts`` shards with their index in ``folder``; the shard files."""
    tensors = load_file(whole())
    names = sorted(tensors)
    folder.mkdir()
    files, weight_map = [], {}
    for k in range(parts):
        file = folder / f"model-{k + 1:05d}-of-{parts:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::parts]}
        save_file(part, file)
        weight_map.update(dict.fromkeys(part, file.name))
        files.append(file)
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return files


def test_a_sharded_checkpoint_is_read_whole_from_its_index_folder_or_a_shard(tmp_path):
    files = shard(tmp_path / "ckpt")
    want = load_file(whole())
    for given in (tmp_path / "ckpt", tmp_path / "ckpt" / "model.safetensors.index.json", files[1]):
        weights, not_loaded = load_checkpoint(given)
        assert sorted(weights) == sorted(want) and not not_loaded
        assert all(torch.equal(weights[k], t) for k, t in want.items())


def test_a_missing_shard_or_index_is_named(tmp_path):
    files = shard(tmp_path / "ckpt")
    files[2].unlink()
    with pytest.raises(FileNotFoundError, match=r"names 3 shards; 1 of them not beside it \(model-00003-of"):
        load_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors.index.json").unlink()
    with pytest.raises(
        ValueError, match=r"is one shard of a checkpoint saved in several; its index .* not beside"
    ):
        load_checkpoint(files[0])


def test_a_shard_lacking_a_tensor_its_index_names_is_refused(tmp_path):
    files = shard(tmp_path / "ckpt")
    part = load_file(files[0])
    lost = sorted(part)[0]
    del part[lost]
    save_file(part, files[0])
    with pytest.raises(ValueError, match=rf"names 1 tensor its shards lack \({lost}\)"):
        load_checkpoint(tmp_path / "ckpt")


def test_a_sharded_checkpoint_converts_as_the_whole_file_does(tmp_path):
    cfg, head_width = reference_config(first_reference_case())
    shard(tmp_path / "ckpt")
    for name, given in (("whole", whole()), ("sharded", tmp_path / "ckpt")):
        convert_official_checkpoint(given, tmp_path / name, cfg, strict=False, head_width=head_width)
    a = StreamingT2VModel.from_pretrained(tmp_path / "whole").unet.state_dict()
    b = StreamingT2VModel.from_pretrained(tmp_path / "sharded").unet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_folder_of_two_indexes_is_told_to_give_one_and_a_single_shard_is_a_whole_file(tmp_path):
    shard(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "pytorch_model.bin.index.json").write_text('{"weight_map": {}}')
    with pytest.raises(
        IsADirectoryError, match=r"holding 2 shard indexes \(model.safetensors.index.json, pytorch"
    ):
        load_checkpoint(tmp_path / "ckpt")
    # "-00001-of-00001" is how a checkpoint small enough for one shard is named: a whole file
    one = tmp_path / "model-00001-of-00001.safetensors"
    one.write_bytes(whole().read_bytes())
    assert sorted(load_checkpoint(one)[0]) == sorted(load_file(whole()))


def test_an_index_naming_a_shard_elsewhere_is_refused(tmp_path):
    shard(tmp_path / "ckpt")
    index = tmp_path / "ckpt" / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"] = {k: f"../{v}" for k, v in data["weight_map"].items()}
    index.write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=r"is not a shard index: .* names each tensor's shard file beside it"
    ):
        load_checkpoint(index)


def test_a_shards_refusal_names_the_checkpoint_as_typed_then_the_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard missing or cut short was named as read, '/home/me/ckpt/model-00002-of-00003.safetensors', and
    not every refusal said 'checkpoint'; a conversion names them before anything slow, as load_checkpoint does."""
    monkeypatch.setenv("HOME", str(tmp_path))
    files = shard(tmp_path / "ckpt")
    given = f"'~/ckpt' ({str(tmp_path / 'ckpt')!r})"
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])
    cut = f"checkpoint {given} shard {files[1].name!r} is a .safetensors file cut short: "
    for read in (load_checkpoint, lambda p: convert_official_checkpoint(p, tmp_path / "out", "tiny")):
        with pytest.raises(ValueError) as info:
            read("~/ckpt")
        assert str(info.value).startswith(cut)
    files[1].unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint("~/ckpt")
    assert str(info.value).startswith(
        f"checkpoint {given}: its shard index 'model.safetensors.index.json' names 3 shards; 1 of them not beside "
        f"it ({files[1].name}; "
    )
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint("~/ckpt/model.safetensors.index.json")
    assert str(info.value).startswith("checkpoint '~/ckpt/model.safetensors.index.json' (")
    assert "index.json') names 3 shards; 1 of them not beside it" in str(info.value)


def test_a_shards_refusals_say_checkpoint_and_name_a_shard_given_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's pickle refusals named it without 'checkpoint' ('refusing to load '~/ckpt' (...) shard ...'),
    the index's 'its shard index '...' is no shard index', and a shard given as the checkpoint was named twice
    ('checkpoint '~/ckpt/model-00002-of-00003.safetensors' (...) shard 'model-00002-of-00003.safetensors'')."""
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "bins"
    folder.mkdir()
    torch.save({"a": torch.zeros(2)}, folder / "pytorch_model-00001-of-00002.bin")
    torch.save(
        torch.nn.Linear(2, 2), folder / "pytorch_model-00002-of-00002.bin"
    )  # the module, not its weights
    weight_map = {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError) as info:
        load_checkpoint("~/bins")
    assert str(info.value).startswith(
        f"refusing to load checkpoint '~/bins' ({str(folder)!r}) shard 'pytorch_model-00002-of-00002.bin': it "
        "holds a pickled torch.nn.modules.linear.Linear object, not a state dict"
    )

    files = shard(tmp_path / "ckpt")
    given = f"'~/ckpt' ({str(tmp_path / 'ckpt')!r})"
    index = tmp_path / "ckpt" / "model.safetensors.index.json"
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        load_checkpoint(f"~/ckpt/{files[1].name}")
    assert str(info.value).startswith(
        f"checkpoint '~/ckpt/{files[1].name}' ({str(files[1])!r}) is a .safetensors file cut short: "
    )
    index.write_text(json.dumps({"weight_map": {"w": "../elsewhere.safetensors"}}))
    with pytest.raises(ValueError) as info:
        load_checkpoint("~/ckpt")
    assert str(info.value).startswith(
        f"checkpoint {given}: its index 'model.safetensors.index.json' is not a shard index: a JSON object whose "
    )
    with pytest.raises(ValueError) as info:
        load_checkpoint("~/ckpt/model.safetensors.index.json")
    assert str(info.value).startswith(
        f"checkpoint '~/ckpt/model.safetensors.index.json' ({str(index)!r}) is not a shard index: a JSON "
    )


def test_a_conversion_reads_a_sharded_checkpoints_index_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index was read by the cheap check, then again by the load (and, given a shard, once more by each to
    find the index naming it); the load now takes what the check found."""
    cfg, head_width = reference_config(first_reference_case())
    files = shard(tmp_path / "ckpt")
    read_text = Path.read_text
    indexes_read: list[str] = []

    def counting_read_text(self: Path, *args, **kwargs) -> str:
        if self.name.endswith(".index.json"):
            indexes_read.append(self.name)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting_read_text)
    for k, given in enumerate((tmp_path / "ckpt", files[1])):
        indexes_read.clear()
        convert_official_checkpoint(given, tmp_path / f"out{k}", cfg, strict=False, head_width=head_width)
        assert indexes_read == ["model.safetensors.index.json"], given
