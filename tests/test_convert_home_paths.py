"""A conversion called from Python with ``~`` paths: every path is the home folder's, as on the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import first_reference_case, garbage_checkpoint, reference_config
from streamt2v.cli import main
from streamt2v.io.checkpoints import convert_official_checkpoint
from streamt2v.models.bundle import StreamingT2VModel


def test_the_checkpoint_and_the_output_under_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """preset, init_unet and tokenizer took ~ as the home folder, but the checkpoint was 'does not exist' and
    the output would have been written to a folder named '~' in the working directory."""
    case = first_reference_case()
    cfg, head_width = reference_config(case)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    (home / "ckpts").mkdir(parents=True)
    shutil.copy(case / "tiny_state_dict.safetensors", home / "ckpts" / "streaming_t2v.safetensors")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    report = convert_official_checkpoint(
        "~/ckpts/streaming_t2v.safetensors", "~/models/st2v", cfg, strict=False, head_width=head_width
    )
    out = home / "models" / "st2v"
    assert report.out_dir == str(out) and report.source == str(home / "ckpts" / "streaming_t2v.safetensors")
    assert not (work / "~").exists()
    assert StreamingT2VModel.from_pretrained(out).config == cfg


def test_the_command_line_names_home_paths_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--init-unet, --tokenizer and the output folder were expanded as the flags were read: their messages named
    '/home/me/x', a path not typed, where the checkpoint's named '~/x' ('/home/me/x')."""
    monkeypatch.setenv("HOME", str(tmp_path))
    never_read = str(garbage_checkpoint(tmp_path))
    (tmp_path / "no_unet" / "text_encoder").mkdir(parents=True)
    (tmp_path / "a_file").write_text("")

    def said(*argv: str) -> str:
        assert main(["convert", *argv, "--preset", "tiny"]) == 2
        return capsys.readouterr().err.strip()

    def home(name: str) -> str:
        return f"'~/{name}' ({str(tmp_path / name)!r})"

    out = str(tmp_path / "out")
    assert (
        said(never_read, out, "--init-unet", "~/none") == f"error: --init-unet {home('none')} does not exist"
    )
    assert said(never_read, out, "--init-unet", "~/no_unet").startswith(
        f"error: --init-unet {home('no_unet')} has no unet/config.json (found: text_encoder/)"
    )
    assert (
        said(never_read, out, "--tokenizer", "~/none") == f"error: --tokenizer {home('none')} does not exist"
    )
    assert said(never_read, "~/a_file/out").startswith(
        f"error: cannot write output folder {home('a_file/out')}: {str(tmp_path / 'a_file')!r} is a file"
    )


def test_the_output_folder_refusals_name_it_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The output folder's 'already exists', 'is a file' and 'not a model folder' refusals named it as read
    alone ('/home/me/out'), a path not typed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    never_read = str(garbage_checkpoint(tmp_path))
    (tmp_path / "out").mkdir()
    (tmp_path / "a_file").write_text("")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("")

    def said(*argv: str) -> str:
        assert main(["convert", never_read, *argv, "--preset", "tiny"]) == 2
        return capsys.readouterr().err.strip()

    def home(name: str) -> str:
        return f"'~/{name}' ({str(tmp_path / name)!r})"

    assert said("~/out") == f"error: {home('out')} already exists; pass --overwrite to replace it"
    assert said("~/a_file", "--overwrite").startswith(
        f"error: {home('a_file')} is a file, not a model folder"
    )
    assert said("~/notes", "--overwrite").startswith(
        f"error: {home('notes')} is not a model folder (no model_index.json) but holds todo.txt"
    )


def test_an_input_inside_the_output_folder_is_named_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkpoint inside the output folder was named as typed alone ('~/ckpt'), the folder also as read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    garbage_checkpoint(tmp_path)
    assert main(["convert", "~/never_read.ckpt", "~", "--preset", "tiny"]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: checkpoint '~/never_read.ckpt' ({str(tmp_path / 'never_read.ckpt')!r}) is inside the output "
        f"folder '~' ({str(tmp_path)!r}), which is written as a whole"
    )


def test_the_tokenizer_folder_read_is_named_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tokenizer '~/x' that holds no vocabulary, or no padding token, was named as read alone ('/home/me/x'),
    and a pipeline folder's tokenizer/ too: a path not typed."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    monkeypatch.setenv("HOME", str(tmp_path))
    never_read = str(garbage_checkpoint(tmp_path))
    (tmp_path / "empty").mkdir()
    (tmp_path / "pipe" / "tokenizer").mkdir(parents=True)
    (tmp_path / "words").mkdir()
    Tokenizer(WordLevel({"<unk>": 0, "ball": 1}, unk_token="<unk>")).save(
        str(tmp_path / "words" / "tokenizer.json")
    )

    def said(tokenizer: str) -> str:
        argv = ["convert", never_read, str(tmp_path / "out"), "--preset", "tiny", "--tokenizer", tokenizer]
        assert main(argv) == 2
        return capsys.readouterr().err.strip()

    def home(name: str) -> str:
        return f"'~/{name}' ({str(tmp_path / name)!r})"

    no_vocabulary = " holds no tokenizer vocabulary (none of"
    assert said("~/empty").startswith(f"error: --tokenizer folder {home('empty')}{no_vocabulary}")
    assert said("~/pipe").startswith(f"error: --tokenizer folder {home('pipe/tokenizer')}{no_vocabulary}")
    assert said("~/words").startswith(
        f"error: --tokenizer folder {home('words')} has no padding token: record"
    )


def test_the_preset_file_is_named_as_typed_then_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--preset was expanded as the flag was read: a file not found was named as read alone, a folder without
    model_index.json and a file that is no JSON too; each is named as typed, then as read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    never_read = str(garbage_checkpoint(tmp_path))
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("no JSON")

    def said(preset: str) -> str:
        assert main(["convert", never_read, str(tmp_path / "out"), "--preset", preset]) == 2
        return capsys.readouterr().err.strip()

    def home(name: str) -> str:
        return f"'~/{name}' ({str(tmp_path / name)!r})"

    assert said("~/nope.json").startswith(f"error: --preset file {home('nope.json')} not found;")
    assert said("~/empty").startswith(f"error: --preset folder {home('empty')} has no model_index.json")
    assert said("~/notes.txt").startswith(f"error: --preset file {home('notes.txt')} is not valid JSON")
