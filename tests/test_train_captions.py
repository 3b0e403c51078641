"""Captions files of a video folder (``train/captions.py``): layouts and encodings, malformed rows named
by line, names matched to the folder's files however they were spelt, and what the text encoder makes of
the captions (the micro-CLIP's vocabulary, unknown words, captions past its tokens)."""

from __future__ import annotations

import json

import pytest

from conftest import write_video
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.captions import read_captions
from streamt2v.train.data import VideoFolderDataset


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "file,caption\na.mp4\n",
            r"caps.csv', line 2: the caption of 'a.mp4' must be a non-empty string, got None",
        ),
        ("file,caption\na.mp4,  \n", r"caps.csv', line 2: the caption of 'a.mp4' must be a non-empty string"),
        (
            "file,caption\na.mp4,red\n./a.mp4,blue\n",
            r"caps.csv', line 3: 'a.mp4' is listed twice \(first at line 2\)",
        ),
        ("file,caption\n,red\n", r"caps.csv', line 2: the file name must be a non-empty string"),
    ],
)
def test_bad_caption_rows_are_named(tmp_path, text, message):
    (tmp_path / "caps.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_captions(tmp_path / "caps.csv")


@pytest.mark.parametrize(
    "raw, encoding",
    [
        ("file,caption\na.mp4,un caf\xe9\n".encode("latin-1"), "UTF-8"),
        (b"\xff\xfe" + "file,caption\n".encode("utf-16-le") + b"\x00\xd8", "UTF-16"),  # a lone surrogate
    ],
)
def test_a_captions_file_in_another_encoding_is_named_as_given(raw, encoding, tmp_path, monkeypatch):
    """Its refusal named the file by its expanded path alone ('/home/me/caps.csv'), not as typed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "caps.csv").write_bytes(raw)
    with pytest.raises(ValueError) as err:
        read_captions("~/caps.csv")
    assert str(err.value).startswith(
        f"captions file '~/caps.csv' ({str(tmp_path / 'caps.csv')!r}) is not {encoding} text ("
    )


def test_caption_files_from_spreadsheets_and_null_captions(tmp_path):
    # a byte-order mark (spreadsheet export) and ./ paths are fine
    (tmp_path / "caps.csv").write_bytes("\ufefffile,caption\n./a.mp4,red\n".encode())
    assert read_captions(tmp_path / "caps.csv") == {"a.mp4": "red"}
    # another encoding is one error naming the file (was the decoder's message alone)
    (tmp_path / "latin.csv").write_bytes("file,caption\na.mp4,un caf\xe9\n".encode("latin-1"))
    with pytest.raises(
        ValueError, match=r"captions file '.*latin.csv' is not UTF-8 text \(.*\); save it as UTF-8"
    ):
        read_captions(tmp_path / "latin.csv")
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "a.mp4", "caption": None}) + "\n")
    with pytest.raises(
        ValueError, match="caps.jsonl', line 1: the caption of 'a.mp4' must be a non-empty string, got None"
    ):
        read_captions(tmp_path / "caps.jsonl")


def test_clip_on_real_videos_reads_the_words_of_their_captions(tmp_path):
    """The micro-CLIP recipe on a video folder builds its word-level vocabulary from the captions file
    (the microworld's fixed vocabulary would read every other word as <unk>); the exported tokenizer and
    text encoder carry it to the UNet recipes and generation."""
    from transformers import AutoTokenizer, CLIPTextConfig

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 10)
    captions = ["A dog runs on the beach.", "the cat sleeps, on a sofa"]
    (tmp_path / "caps.jsonl").write_text(
        "".join(json.dumps({"file": f, "caption": c}) + "\n" for f, c in zip(["a.mp4", "b.mp4"], captions))
    )
    sizes = dict(size=16, image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32)
    data = dict(data=str(tmp_path), captions=str(tmp_path / "caps.jsonl"))

    def tokenizer_after_training(out: str, **options):
        recipe = make_recipe("clip", **data, **sizes, **options)
        train(recipe, TrainConfig(steps=1, batch_size=2, lr=1e-3), tmp_path / out, progress=False)
        final = tmp_path / out / "final"
        vocab_size = CLIPTextConfig.from_pretrained(final / "text_encoder").vocab_size
        return AutoTokenizer.from_pretrained(final / "tokenizer"), vocab_size

    tok, vocab_size = tokenizer_after_training("clip")
    words = {"a", "dog", "runs", "on", "the", "beach", ".", "cat", "sleeps", ",", "sofa"}
    assert vocab_size == 4 + len(words) == len(tok)
    for caption in captions:
        assert tok.unk_token_id not in tok(caption).input_ids
    ids = tok("a dog on the moon").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids[1:-1].count(tok.unk_token_id) == 1  # only "moon"

    tok, vocab_size = tokenizer_after_training("clip2", min_word_count=2)  # words of both captions only
    assert vocab_size == 4 + 3  # "a", "on", "the"
    assert tok("the dog").input_ids[1:-1] == [tok.convert_tokens_to_ids("the"), tok.unk_token_id]


def test_unet_recipes_warn_when_the_text_encoder_does_not_know_the_captions(tmp_path, caplog):
    """Training base/stream on real videos with the microworld's micro-CLIP would condition on <unk>:
    the recipe names the unknown words when it builds; a micro-CLIP of the captions' words passes."""
    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    (tmp_path / "caps.csv").write_text("file,caption\na.mp4,a dog runs on the red beach\n")
    shipped = microworld_model_dir()
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, num_frames=6)
    with caplog.at_level("WARNING"):
        make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), **options).build()
    assert "57% of the caption words" in caplog.text  # dog, runs, the, beach of 7
    assert "(e.g. beach, dog, runs, the)" in caplog.text  # words, not a Python list
    # a CLIP BPE tokenizer knows every word (its vocabulary holds "dog</w>", not "dog")
    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    recipe = make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), **options)
    assert recipe.check_caption_words(byte_level_clip_tokenizer()) == 0.0
    from streamt2v.train.loop import TrainConfig, train

    sizes = dict(image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32)
    clip = make_recipe("clip", data=options["data"], captions=options["captions"], size=16, **sizes)
    train(clip, TrainConfig(steps=1, batch_size=1, lr=1e-3), tmp_path / "clip", progress=False)
    caplog.clear()
    with caplog.at_level("WARNING"):
        make_recipe(
            "base", vae=str(shipped / "vae"), clip=str(tmp_path / "clip" / "final"), **options
        ).build()
    assert "caption words" not in caplog.text


def test_unknown_punctuation_of_the_captions_is_quoted_in_the_warning(tmp_path, caplog):
    """The warning listed punctuation bare (``e.g. !, ;, beach``; a comma would read ``,, beach``): one that
    is no plain word is quoted, as the prompt's warning quotes it (``words_as_typed``)."""
    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    (tmp_path / "caps.csv").write_text('file,caption\na.mp4,"a dog; on the beach!"\n')
    shipped = microworld_model_dir()
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16, num_frames=6)
    with caplog.at_level("WARNING"):
        make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), **options).build()
    assert "(e.g. '!', ';', beach, dog, the)" in caplog.text, caplog.text


def test_captions_longer_than_the_text_encoder_reads_are_counted(tmp_path, caplog):
    """A caption past the text encoder's tokens was cut in training without a word (clip, base, stream);
    counting them also logged transformers' warning that such a sequence 'will result in indexing errors'."""
    import logging

    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.recipes import make_recipe

    write_video(tmp_path / "a.mp4", 12)
    write_video(tmp_path / "b.mp4", 12)
    long = " ".join(["a red circle on a blue background"] * 5)  # 35 words: 37 tokens with BOS and EOS
    (tmp_path / "caps.csv").write_text(f"file,caption\na.mp4,a red circle\nb.mp4,{long}\n")
    shipped = microworld_model_dir()
    options = dict(data=str(tmp_path), captions=str(tmp_path / "caps.csv"), size=16)
    message = "1 of 2 captions in {!r} are longer than the text encoder's 24 tokens and are cut to them in "
    message += "training (the longest, of 'b.mp4', has 37 tokens)"
    # transformers' own loggers do not propagate to the root logger: listen to them here
    transformers_logger = logging.getLogger("transformers")
    transformers_logger.addHandler(caplog.handler)
    try:
        for recipe in [
            make_recipe("base", vae=str(shipped / "vae"), clip=str(shipped), num_frames=6, **options),
            make_recipe("clip", image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, **options),
        ]:
            caplog.clear()
            with caplog.at_level("WARNING"):
                recipe.build()
            assert message.format(options["captions"]) in caplog.text
            # counting is no indexing: transformers' "will result in indexing errors" is untrue here
            assert "Token indices sequence length" not in caplog.text
    finally:
        transformers_logger.removeHandler(caplog.handler)


def test_caption_names_match_the_files_however_the_export_spelled_them(tmp_path):
    """Captions from another machine or a spreadsheet: a macOS (NFD) file name against a typed (NFC) one,
    a Windows ``sub\\b.mp4``, a ``File,Caption`` header and trailing rows of bare commas all match; a
    misspelt name is reported with the file it was meant for."""
    import unicodedata

    name = "grüne Katze.mp4"
    write_video(tmp_path / unicodedata.normalize("NFD", name), 8)
    (tmp_path / "sub").mkdir()
    write_video(tmp_path / "sub" / "b.mp4", 8)
    (tmp_path / "caps.csv").write_text(
        f"File, Caption\r\n{unicodedata.normalize('NFC', name)},green\r\nsub\\b.mp4,blue\r\n,\r\n,\r\n",
        encoding="utf-8",
    )
    ds = VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))
    ds.check()
    assert {ds[i]["caption"] for i in range(2)} == {"green", "blue"}
    (tmp_path / "caps.csv").write_text(f"file,caption\n{name},green\nsub/B.mp4,blue\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"no caption for a video in .*: 'sub/b.mp4'; it names a file not in .*: 'sub/B.mp4'"
    ):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))


def test_two_files_whose_names_match_one_caption_are_refused_not_one_dropped(tmp_path):
    """Two files named ``ü`` in its two Unicode forms (a folder merged from macOS and Linux copies) are one
    name to the captions file: one of them was left out without a word."""
    import unicodedata

    for form in ("NFC", "NFD"):
        write_video(tmp_path / unicodedata.normalize(form, "ü.mp4"), 4)
    (tmp_path / "caps.csv").write_text("file,caption\nü.mp4,green\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds '.*\.mp4' and '.*\.mp4', one name to the captions file"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))


@pytest.mark.parametrize(
    "name,text",
    [
        ("semicolon.csv", "file;caption\na.mp4;a red bar, growing\nb.mp4;blue\n"),  # locales with a decimal ,
        ("tabs.tsv", "file\tcaption\na.mp4\ta red bar, growing\nb.mp4\tblue\n"),
        ("tabs.csv", "file\tcaption\na.mp4\ta red bar, growing\nb.mp4\tblue\n"),
        (
            "list.json",
            json.dumps(
                [{"file": "a.mp4", "caption": "a red bar, growing"}, {"file": "b.mp4", "caption": "blue"}]
            ),
        ),
        ("map.json", json.dumps({"a.mp4": "a red bar, growing", "b.mp4": "blue"}, indent=2)),
    ],
)
def test_caption_files_in_other_layouts(tmp_path, name, text):
    """Spreadsheets in locales with a decimal comma export ``;``; a tab-separated file and a whole JSON
    document (a list of objects, or ``{file: caption}``) are read too (all were errors at line 1)."""
    (tmp_path / name).write_text(text)
    assert read_captions(tmp_path / name) == {"a.mp4": "a red bar, growing", "b.mp4": "blue"}


def test_unquoted_commas_in_a_caption_are_an_error_not_a_cut_caption(tmp_path):
    """``a.mp4,a red bar, growing`` has three cells: the caption was silently cut to ``a red bar``."""
    (tmp_path / "caps.csv").write_text("file,caption\nb.mp4,blue\na.mp4,a red bar, growing\n,\n")
    with pytest.raises(
        ValueError,
        match=r"caps.csv', line 3: 3 cells for the header's 2 \(file,caption\): put a caption that holds ',' in double quotes",
    ):
        read_captions(tmp_path / "caps.csv")
    (tmp_path / "caps.csv").write_text('file,caption\nb.mp4,blue\na.mp4,"a red bar, growing"\n,\n')
    assert read_captions(tmp_path / "caps.csv")["a.mp4"] == "a red bar, growing"
    (tmp_path / "list.json").write_text(json.dumps([{"file": "a.mp4"}]))
    with pytest.raises(
        ValueError, match=r"list.json', entry 1: expected \{\"file\": ..., \"caption\": ...\}"
    ):
        read_captions(tmp_path / "list.json")


def test_absolute_paths_in_the_captions_file(tmp_path):
    """A captions file written by a script often holds absolute paths: those inside the folder match its
    videos (they were all 'no caption for video(s)'); one outside it is named."""
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", 8)
    (tmp_path / "caps.csv").write_text(f"file,caption\n{tmp_path / 'videos' / 'a.mp4'},red\n")
    ds = VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))
    ds.check()
    assert ds.files == ["a.mp4"] and ds[0]["caption"] == "red"
    (tmp_path / "caps.csv").write_text(f"file,caption\nvideos/a.mp4,red\n{tmp_path / 'b.mp4'},blue\n")
    with pytest.raises(ValueError, match=r"names '.*b.mp4', which is not in the video folder .*videos"):
        VideoFolderDataset(tmp_path / "videos", tmp_path / "caps.csv", ClipSpec(num_frames=4, size=16))


def test_a_video_listed_by_its_absolute_and_its_relative_path_is_listed_twice(tmp_path):
    """The two names of one video were one caption, the later one, silently: the other caption was lost
    (a name listed twice in one spelling is an error naming its lines)."""
    write_video(tmp_path / "a.mp4", 4)
    (tmp_path / "caps.csv").write_text(f"file,caption\na.mp4,red\n{tmp_path / 'a.mp4'},blue\n")
    with pytest.raises(
        ValueError,
        match=r"lists 'a.mp4' twice, as 'a.mp4' and as '.*a.mp4' \(line 2 and line 3\): delete one",
    ):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))


def test_the_folder_and_the_captions_file_swapped_or_mistaken_are_named_as_such(tmp_path):
    # `--captions myvids` said "captions file myvids does not exist", of a folder that exists
    write_video(tmp_path / "a.mp4", 8)
    caps = tmp_path / "caps.csv"
    caps.write_text("file,caption\na.mp4,red\n")
    with pytest.raises(
        IsADirectoryError, match=rf"^captions='{tmp_path}' is a folder; give the captions file"
    ):
        read_captions(str(tmp_path))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        VideoFolderDataset(tmp_path, tmp_path, ClipSpec(num_frames=2, size=16))
    # the recipes' parameter to a Python caller, its flag on the command line, with the path as given
    with pytest.raises(
        NotADirectoryError, match=rf"^data='{caps}' is a file, not a folder of videos$"
    ) as err:
        VideoFolderDataset(str(caps), caps, ClipSpec(num_frames=2, size=16))
    assert str(err.value.as_flags()) == f"--data '{caps}' is a file, not a folder of videos"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_captions(tmp_path / "gone.csv")


def test_captions_are_not_cut_at_unicode_line_breaks_and_one_line_jsonl_is_a_row(tmp_path):
    """``str.splitlines`` also ends a line at U+2028, U+0085 and form feeds, which ``json.dumps(...,
    ensure_ascii=False)`` and text pasted from web pages leave in captions: the caption was cut there (an
    error naming half a JSON object, or a row named 'growing'). A one-line JSONL file with another key, or
    without its caption, was read as a ``{file: caption}`` document."""
    (tmp_path / "caps.jsonl").write_text(
        json.dumps({"file": "a.mp4", "caption": "a red bar\u2028growing"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    assert read_captions(tmp_path / "caps.jsonl") == {"a.mp4": "a red bar\u2028growing"}
    (tmp_path / "caps.csv").write_text(
        "file,caption\na.mp4,a red bar\u2028growing\nb.mp4,blue\x85sky\x0c\n", encoding="utf-8"
    )
    assert read_captions(tmp_path / "caps.csv") == {
        "a.mp4": "a red bar\u2028growing",
        "b.mp4": "blue\x85sky\x0c",
    }
    (tmp_path / "one.jsonl").write_text('{"file": "a.mp4", "caption": "red", "source": "cam1"}\n')
    assert read_captions(tmp_path / "one.jsonl") == {"a.mp4": "red"}
    (tmp_path / "one.jsonl").write_text('{"file": "a.mp4"}\n')
    with pytest.raises(
        ValueError, match=r"one.jsonl', line 1: expected \{\"file\": ..., \"caption\": ...\}, got"
    ):
        read_captions(tmp_path / "one.jsonl")


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("caps.csv", "", r"captions file '.*caps.csv' is empty$"),
        ("caps.jsonl", "\n\n", r"captions file '.*caps.jsonl' is empty$"),
        ("caps.csv", "file,caption\n,\n", r"captions file '.*caps.csv' lists no videos \(only a header\)$"),
        ("caps.json", "[]", r"captions file '.*caps.json' lists no videos$"),
        (
            "caps.csv",
            'file,caption\na.mp4,"a red bar\nb.mp4,blue\n',
            r"caps.csv', line 2: the caption of 'a.mp4' runs on into line 3 \('b.mp4,blue'\), a row of its own: "
            "close the double quote",
        ),
        (  # in the last row no later row shows it: the caption was the rest of the file, silently
            "caps.csv",
            'file,caption\nb.mp4,blue\na.mp4,"a dog\n',
            r"caps.csv', line 3: the caption of 'a.mp4' runs on to the end of the file: close the double quote it "
            r'opens \(a quote inside a quoted caption is written ""\)$',
        ),
        (
            "caps.csv",
            'file,caption\na.mp4,"a dog',
            r"caps.csv', line 2: the caption of 'a.mp4' runs on to the end of the file: close the double quote",
        ),
        (
            "caps.csv",
            "a.mp4,red\nb.mp4,blue\n",
            r"caps.csv', line 1: the CSV header must have columns 'file' and 'caption', got \['a.mp4', 'red'\]: "
            r"this is a row; put the header line file,caption above it$",
        ),
        (
            "caps.csv",
            "file,caption,file\na.mp4,red,b.mp4\n",
            r"caps.csv', line 1: the CSV header names the column 'file' twice",
        ),
    ],
)
def test_empty_and_malformed_caption_files_are_named_before_the_folder(tmp_path, name, text, message):
    """An empty captions file said 'got None' of its header, or passed as no captions at all, so the error
    was every video of the folder without a caption; a quote never closed made the rest of the file one
    caption (silently, at the end of the file); a header-less CSV or a header naming 'file' twice (the
    last one won) were not named as such."""
    write_video(tmp_path / "a.mp4", 4)
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        VideoFolderDataset(tmp_path, tmp_path / name, ClipSpec(num_frames=2, size=16))


def test_a_unicode_text_export_of_a_spreadsheet_is_read(tmp_path):
    """A spreadsheet's "Unicode text" is UTF-16 with a byte-order mark and tabs (was 'not UTF-8 text')."""
    (tmp_path / "caps.tsv").write_bytes("file\tcaption\r\na.mp4\tgrüne Katze 🐈\r\n".encode("utf-16"))
    assert read_captions(tmp_path / "caps.tsv") == {"a.mp4": "grüne Katze 🐈"}


def test_captions_of_missing_files_name_their_lines(tmp_path):
    """The captions file's line of a name not in the folder is given (it was the name alone), and a name
    that differs from a video's only in case says so."""
    write_video(tmp_path / "A.MP4", 4)
    (tmp_path / "caps.csv").write_text("file,caption\nA.MP4,red\ngone.mp4,blue\n")
    with pytest.raises(FileNotFoundError, match=r"names a file not in .*: 'gone.mp4' \(line 3\)$"):
        VideoFolderDataset(tmp_path, tmp_path / "caps.csv", ClipSpec(num_frames=2, size=16))
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "a.mp4", "caption": "red"}) + "\n")
    with pytest.raises(
        ValueError,
        match=r"no caption for a video in .*: 'A.MP4'; .*: 'a.mp4' \(line 1\) \(file names are "
        r"case-sensitive: 'A.MP4' in the folder, 'a.mp4' in the captions\)$",
    ):
        VideoFolderDataset(tmp_path, tmp_path / "caps.jsonl", ClipSpec(num_frames=2, size=16))


@pytest.mark.parametrize(
    "name,text,message",
    [
        (  # a trailing comma in a pretty-printed list: was "caps.json:1: expected {...}, got '['"
            "caps.json",
            '[\n  {"file": "a.mp4", "caption": "red"},\n]\n',
            r"caps.json', line 3: not valid JSON \(Expecting value, column 1\): '\]'$",
        ),
        (
            "caps.json",
            '{\n  "a.mp4": "red"\n  "b.mp4": "blue"\n}\n',
            r"caps.json', line 3: not valid JSON \(Expecting ',' delimiter, column 3\): '  \"b.mp4\": \"blue\"'$",
        ),
        (  # a JSONL row cut short: was only "expected {...}", of a row that has both keys
            "caps.jsonl",
            '{"file": "a.mp4", "caption": "red"}\n{"file": "b.mp4", "caption": "blue"\n',
            r"caps.jsonl', line 2: not valid JSON \(Expecting ',' delimiter, column 36\): '\{\"file\"",
        ),
    ],
)
def test_broken_json_is_named_where_it_breaks(tmp_path, name, text, message):
    """A JSON document over several lines with a syntax error was named as a JSONL file whose first line
    ('[' or '{') is no row, and a JSONL row that is no JSON as one without its keys."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_captions(tmp_path / name)


@pytest.mark.parametrize(
    "name,text,message",
    [
        (
            "caps.jsonl",
            "File;Caption\na.mp4;red\n",
            r"caps.jsonl', line 1: not valid JSON .*: this is a CSV header; name",
        ),
        (
            "caps.json",
            "file,caption\na.mp4,red\n",
            r"caps.json', line 1: not valid JSON .*: this is a CSV header; name",
        ),
        (
            "caps.csv",
            '{"file": "a.mp4", "caption": "red"}\n',
            r"caps.csv', line 1: .*: this is JSON; name the file",
        ),
        (
            "caps.csv",
            '[\n  {"file": "a.mp4", "caption": "red"}\n]\n',
            r"caps.csv', line 1: .*: this is JSON; name",
        ),
    ],
)
def test_a_captions_file_in_the_other_format_is_told_the_suffix_it_needs(tmp_path, name, text, message):
    """The format is the suffix's: CSV named .jsonl and JSON named .csv were only 'not valid JSON' and 'the
    CSV header must have columns ...', of a file that is fine."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_captions(tmp_path / name)


def test_a_video_folder_without_captions_names_every_format_read(tmp_path):
    """The refusal said "--captions FILE (CSV or JSONL)", and clip's vocabulary said it again in its own
    copy, where TSV and JSON are read too."""
    from streamt2v.train.recipes import make_recipe

    message = (
        rf"^data '{tmp_path}' is a folder: pass captions, its captions file \(CSV, TSV, JSONL or JSON\)$"
    )
    with pytest.raises(ValueError, match=message):
        make_recipe("vae", data=str(tmp_path), size=16).dataset(seed=0)
    with pytest.raises(ValueError, match=message) as caught:
        make_recipe("clip", data=str(tmp_path)).vocabulary()
    assert str(caught.value.as_flags()).startswith(f"--data '{tmp_path}' is a folder: pass --captions, its")


def test_more_than_five_names_end_in_an_ellipsis_before_their_line_numbers(tmp_path):
    """The ', ...' of a list cut at five came after the parenthesis of line numbers ('... (line 2, ...,
    line 6), ...'), and 'it names 7 files' had none."""
    from streamt2v.train.captions import check_every_video_captioned

    names = [f"v{i}.mp4" for i in range(7)]
    lines = {n: f"line {i + 2}" for i, n in enumerate(names)}
    shown = "'v0.mp4', 'v1.mp4', 'v2.mp4', 'v3.mp4', 'v4.mp4', ... (line 2, line 3, line 4, line 5, line 6)"
    x = {"x.mp4": tmp_path / "x.mp4"}
    with pytest.raises(FileNotFoundError) as err:
        check_every_video_captioned(
            tmp_path, x, {"x.mp4": "a dog", **dict.fromkeys(names, "a cat")}, lines, "caps.csv"
        )
    assert (
        str(err.value)
        == f"the captions file 'caps.csv' names 7 files not in the video folder {str(tmp_path)!r}: {shown}"
    )
    # a folder without videos says so first: it said only that the captions name files not in it
    with pytest.raises(FileNotFoundError) as err:
        check_every_video_captioned(tmp_path, {}, dict.fromkeys(names, "a cat"), lines, "caps.csv")
    assert str(err.value) == (
        f"the video folder {str(tmp_path)!r} holds no videos; the captions file 'caps.csv' names 7 files not "
        f"in it: {shown}"
    )
    with pytest.raises(ValueError) as err:
        videos = {"x.mp4": tmp_path / "x.mp4"}
        check_every_video_captioned(tmp_path, videos, dict.fromkeys(names, "a cat"), lines, "caps.csv")
    assert str(err.value).endswith(
        f"'x.mp4'; it names 7 files not in the video folder {str(tmp_path)!r}: {shown}"
    )


def test_a_count_of_one_given_as_a_takes_the_nouns_article():
    """``counted(1, "image", one="a")`` read 'a image'."""
    from streamt2v.wording import counted

    assert [counted(1, "image", one="a"), counted(1, "file", one="a"), counted(2, "image", one="a")] == [
        "an image",
        "a file",
        "2 images",
    ]
