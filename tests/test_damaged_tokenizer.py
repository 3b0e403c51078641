"""A tokenizer folder whose files are not whole (a Git LFS pointer of a repository cloned without git-lfs, a
file cut short by an interrupted copy) is named with its file and the fix, in a model folder, a refiner
folder and a conversion's --init-unet or --tokenizer folder; transformers' own error named no file
('Expecting value: line 1 column 1 (char 0)', 'Exception: Error while initializing BPE')."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import first_reference_case, garbage_checkpoint, reference_config, stage1_folder
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel
from streamt2v.models.tokenizers import byte_level_clip_tokenizer
from streamt2v.pipeline.refiner import Refiner

LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 2224003\n"
)
POINTER_MESSAGE = r"tokenizer file '.*tokenizer\.json' is a Git LFS pointer .* run `git lfs pull` in it"
CUT_MESSAGE = r"tokenizer folder '.*' cannot be read \(.*\): is one of its files damaged or cut short\?"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model") / "tiny"
    return StreamingT2VModel.from_preset("tiny", with_init_unet=False).save_pretrained(root)


def _damaged_copy(folder: Path, dest: Path, text: str, name: str = "tokenizer.json") -> Path:
    copy = shutil.copytree(folder, dest)
    (copy / "tokenizer" / name).write_text(text)
    return copy


def test_a_model_folder_with_a_damaged_tokenizer_names_the_file(model_folder: Path, tmp_path: Path) -> None:
    pointer = _damaged_copy(model_folder, tmp_path / "pointer", LFS_POINTER)
    with pytest.raises(ValueError, match=POINTER_MESSAGE):
        StreamingT2VModel.from_pretrained(pointer)
    whole = (model_folder / "tokenizer" / "tokenizer.json").read_text()
    cut = _damaged_copy(model_folder, tmp_path / "cut", whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=CUT_MESSAGE):
        StreamingT2VModel.from_pretrained(cut)


def test_a_refiner_folder_with_a_damaged_tokenizer_names_the_file(refiner: Refiner, tmp_path: Path) -> None:
    folder = refiner.save_pretrained(tmp_path / "ref")
    (folder / "tokenizer" / "tokenizer.json").write_text(LFS_POINTER)
    with pytest.raises(ValueError, match=POINTER_MESSAGE):
        Refiner.from_pretrained(folder)


def test_a_damaged_conversion_tokenizer_is_named_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    cfg, head_width = reference_config(first_reference_case())
    ckpt = garbage_checkpoint(tmp_path)  # never read: the tokenizer is checked first
    ms = stage1_folder(tmp_path / "ms", cfg)
    (ms / "tokenizer" / "tokenizer.json").write_text(LFS_POINTER)
    with pytest.raises(ValueError, match=POINTER_MESSAGE):
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, init_unet=ms, head_width=head_width)
    # a vocab.json + merges.txt tokenizer (as ModelScope ships it) whose vocabulary is cut short
    tok = tmp_path / "tok"
    tok.mkdir()
    vocab = json.dumps(byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).get_vocab())
    (tok / "vocab.json").write_text(vocab[: len(vocab) // 2])
    (tok / "merges.txt").write_text("#version: 0.2\n")
    # named as a Python caller passes it (the command line says --tokenizer)
    with pytest.raises(ValueError, match=r"^tokenizer folder '.*tok' cannot be read .* damaged or cut short"):
        convert_official_checkpoint(ckpt, tmp_path / "out", cfg, tokenizer=tok, head_width=head_width)
    assert not (tmp_path / "out").exists()


def test_a_damaged_clip_tokenizer_is_named_by_the_metric_and_the_training_recipes(tmp_path: Path) -> None:
    """``evaluate --clip-model`` and ``train --clip`` read their tokenizers with transformers directly."""
    from streamt2v.assets import microworld_clip_dir
    from streamt2v.metrics.clip_score import load_clip
    from streamt2v.train.frozen import load_frozen_clip

    clip = shutil.copytree(microworld_clip_dir(), tmp_path / "clip")
    whole = (clip / "tokenizer.json").read_text()
    (clip / "tokenizer.json").write_text(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"CLIP folder '.*clip' cannot be read \(.*\): is one of its files"):
        load_clip(clip)
    with pytest.raises(ValueError, match=r"^clip CLIPModel folder '.*clip' cannot be read"):
        load_frozen_clip(str(clip))


def test_files_a_tokenizer_does_not_read_are_not_checked(tmp_path: Path) -> None:
    """A CLIPModel folder cloned without git-lfs keeps other frameworks' weights as pointers, and a folder may
    hold an empty .gitkeep: neither is read, and the folder loads."""
    from streamt2v.assets import microworld_clip_dir
    from streamt2v.metrics.clip_score import load_clip

    clip = shutil.copytree(microworld_clip_dir(), tmp_path / "clip")
    (clip / "flax_model.msgpack").write_text(LFS_POINTER)
    (clip / ".gitkeep").write_text("")
    assert load_clip(clip) is not None
