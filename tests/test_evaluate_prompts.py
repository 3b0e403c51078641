"""``evaluate``'s prompts files (``--prompts``, ``read_prompts``): text and JSON, entries that are no
strings, keys shared by several videos or matching none."""

from __future__ import annotations

import json
import re

import pytest

from streamt2v.cli import main


def test_a_prompts_file_that_does_not_hold_strings_is_refused_naming_the_file(video_dir, tmp_path, capsys):
    """A JSON prompt that is a number or null was scored as the text "1" or "None"; a file that is not JSON or
    not UTF-8 failed with the decoder's message alone, naming neither the file nor --prompts."""
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    videos = [Path("a.mp4"), Path("b.mp4")]
    cases = [
        ("list.json", "[1, null]", "prompts file '{}': entry 0 is 1, not a string"),
        (
            "map.json",
            '{"a.mp4": "a red circle", "b": null}',
            "prompts file '{}': the entry 'b' is null, not a string",
        ),
        ("bad.json", "not json", "prompts file '{}' is not valid JSON (Expecting value: line 1 column 1"),
        # found up front, not as the video's failure after its other metrics
        ("blank.json", '{"a.mp4": " ", "b": "y"}', "prompts file '{}': the entry 'a.mp4' is an empty prompt"),
        (
            "latin.txt",
            b"a r\xe9d circle\nx\n",
            "prompts file '{}' is not UTF-8 text (invalid continuation byte",
        ),
    ]
    for name, content, message in cases:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ValueError, match=re.escape(message.format(path))):
            read_prompts(path, videos)
    (tmp_path / "ok.json").write_text('{"a": "x", "b.mp4": "y"}')
    assert read_prompts(tmp_path / "ok.json", videos) == ["x", "y"]
    # a byte-order mark (Windows editors) does not start the first prompt
    (tmp_path / "bom.txt").write_bytes("\ufeffa red circle\r\na blue square\r\n".encode())
    assert read_prompts(tmp_path / "bom.txt", videos) == ["a red circle", "a blue square"]
    assert (
        main(["evaluate", str(video_dir), "--prompts", str(tmp_path / "list.json"), "--metrics", "probes"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "entry 0 is 1, not a string" in err, err


def test_json_prompts_keyed_by_a_name_two_videos_share_are_refused(tmp_path, monkeypatch, capsys):
    """``evaluate runA runB --prompts p.json`` with ``{"out.mp4": ...}`` gave both runs' out.mp4 the same
    prompt without a word; keys may now be paths (relative to the working folder, or absolute) to tell
    them apart, and a path key wins over a file name."""
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    monkeypatch.chdir(tmp_path)
    videos = [Path("runA/out.mp4"), Path("runB/out.mp4")]
    p = tmp_path / "p.json"
    p.write_text('{"out.mp4": "a red circle"}')
    with pytest.raises(ValueError) as err:
        read_prompts(p, videos)
    assert str(err.value) == (
        f"prompts file {str(p)!r}: the key 'out.mp4' matches 2 videos ('runA/out.mp4', 'runB/out.mp4'); key "
        "each by its path, with a / (relative to the working folder, or as given on the command line), e.g. "
        "'runA/out.mp4'"
    )
    # a video in the working folder: its example key has the / that makes it a path, not a name
    with pytest.raises(ValueError, match=r"e\.g\. './out\.mp4'$"):
        read_prompts(p, [Path("out.mp4"), Path("runB/out.mp4")])
    p.write_text(
        json.dumps({"./runA/out.mp4": "a red circle", str(tmp_path / "runB/out.mp4"): "a blue square"})
    )
    assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    p.write_text('{"out.mp4": "a red circle", "runB/out.mp4": "a blue square"}')
    assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    # the command line refuses it before any video is scored (these files are no videos)
    for run in ("runA", "runB"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "out.mp4").write_bytes(b"not a video")
    p.write_text('{"out": "a red circle"}')
    assert main(["evaluate", "runA", "runB", "--prompts", str(p), "--metrics", "probes"]) == 2
    assert "the key 'out' matches 2 videos ('runA/out.mp4', 'runB/out.mp4')" in capsys.readouterr().err


def test_json_prompt_keys_that_match_no_video_are_said(tmp_path, monkeypatch, caplog):
    """A key of a JSON prompts file that matched no video (a typo, ``bb.mp4``) was dropped without a word:
    beside a missing video the refusal named that video alone, and where a path key was mistyped
    (``runa/out.mp4``) the video took its file-name key's prompt unsaid. The refusal now names the unmatched
    keys too, and unmatched keys alone are a warning naming a few and their count."""
    import logging
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    monkeypatch.chdir(tmp_path)
    p = tmp_path / "p.json"
    p.write_text('{"a.mp4": "a red circle", "bb.mp4": "a blue square"}')
    with pytest.raises(ValueError) as err:
        read_prompts(p, [Path("v/a.mp4"), Path("v/b.mp4")])
    assert str(err.value) == (
        f"prompts file {str(p)!r}: no prompt for 1 of 2 videos ('v/b.mp4'); a video is keyed by its "
        "path, file name or name without the extension; 1 of its 2 keys matches no video scored here "
        "('bb.mp4'): a typo?"
    )
    # a mistyped path key: the video takes its file-name key, and the path key is named
    videos = [Path("runA/out.mp4"), Path("runB/b.mp4")]
    p.write_text('{"out.mp4": "a red circle", "runa/out.mp4": "a blue square", "b": "a green triangle"}')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.prompts_file"):
        assert read_prompts(p, videos) == ["a red circle", "a green triangle"]
    assert [r.getMessage() for r in caplog.records] == [
        f"prompts file {str(p)!r}: 1 of its 3 keys matches no video scored here ('runa/out.mp4'), not used: "
        "a typo? A video is keyed by its path, file name or name without the extension"
    ]
    # many: a few named, and the count
    p.write_text(json.dumps({"b": "x", **{f"c{i}.mp4": "y" for i in range(5)}}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.prompts_file"):
        assert read_prompts(p, videos[1:]) == ["x"]
    assert "5 of its 6 keys match no video scored here ('c0.mp4', 'c1.mp4', 'c2.mp4', ...)" in caplog.text
    # every key used: nothing said
    caplog.clear()
    p.write_text('{"runA/out.mp4": "a red circle", "b.mp4": "a blue square"}')
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.prompts_file"):
        assert read_prompts(p, videos) == ["a red circle", "a blue square"]
    assert caplog.records == []


def test_jsonl_and_csv_prompts_files_are_read_as_such(tmp_path):
    """A JSONL or CSV prompts file (the form of ``train --captions`` files) was read as text, one prompt per
    line: each video's "prompt" was the whole line, ``{"file": "a.mp4", "prompt": ...}`` or ``a.mp4,...``,
    scored without an error (a CSV header only shifted the count by one)."""
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    videos = [Path("v/a.mp4"), Path("v/b.mp4")]
    want = ["a red circle, bouncing", "a blue square"]
    files = {
        "keyed.jsonl": '{"file": "b.mp4", "prompt": "a blue square"}\n\n{"file": "a", "prompt": "a red circle, bouncing"}\n',
        "ordered.jsonl": '"a red circle, bouncing"\n"a blue square"\n',
        "captions.jsonl": '{"video": "v/a.mp4", "caption": "a red circle, bouncing"}\n{"path": "b", "caption": "a blue square"}',
        "keyed.csv": 'File,Prompt\nb.mp4,a blue square\na.mp4,"a red circle, bouncing"\n',
        "ordered.csv": 'prompt\n"a red circle, bouncing"\n\na blue square\n',
        "semicolon.csv": "file;caption\na.mp4;a red circle, bouncing\nb.mp4;a blue square\n",
        "tabs.tsv": "caption\tfile\na red circle, bouncing\ta.mp4\na blue square\tb.mp4\n",
        "objects.json": '[{"file": "b.mp4", "prompt": "a blue square"}, {"file": "a.mp4", "prompt": "a red circle, bouncing"}]',
        "keyed.ndjson": '{"file": "b.mp4", "prompt": "a blue square"}\n{"file": "a", "prompt": "a red circle, bouncing"}\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert read_prompts(tmp_path / name, videos) == want, name
    # a train --captions file of a folder with subfolders: its names are relative to the video folder
    (tmp_path / "sub.csv").write_text("file,caption\nshots/a.mp4,one\nshots/b.mp4,two\nc.mp4,three\n")
    nested = [Path("data/shots/a.mp4"), Path("data/shots/b.mp4"), Path("data/c.mp4")]
    assert read_prompts(tmp_path / "sub.csv", nested) == ["one", "two", "three"]
    refused = {
        "header.csv": (
            "a.mp4,a red circle\nb.mp4,a blue square\n",
            "its first line must be a header naming a 'prompt'",
        ),
        "comma.csv": (
            "file,prompt\na.mp4,a red, circle\n",
            "line 2 has 3 cells, its header 2: put a prompt holding a ','",
        ),
        "quote.csv": (
            'file,prompt\na.mp4,"a red circle\nb.mp4,x\n',
            "the prompt ending at line 3 runs over several lines",
        ),
        "twice.jsonl": (
            '{"file": "a.mp4", "prompt": "x"}\n{"file": "a.mp4", "prompt": "y"}\n',
            "line 2 names 'a.mp4' again (first at line 1)",
        ),
        "mixed.jsonl": ('"x"\n{"file": "b.mp4", "prompt": "y"}\n', "line 1 names no video, others do"),
        "field.jsonl": ('{"file": "a.mp4", "text": "x"}\n', "line 1 has no 'prompt' or 'caption' field"),
        "broken.jsonl": ('{"file": "a.mp4", "prompt": "x"\n', "line 1 is not valid JSON"),
        "lines.json": ('"x"\n"y"\n', "one JSON value per line is JSON Lines: name the file .jsonl"),
    }
    for name, (text, message) in refused.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"prompts file {str(tmp_path / name)!r}")) as err:
            read_prompts(tmp_path / name, videos)
        assert message in str(err.value), (name, str(err.value))


def test_prompt_keys_match_file_names_in_either_unicode_form(tmp_path):
    """macOS writes a file name decomposed (``u`` + a combining diaeresis), an editor the key composed
    (``ü``): the video was refused as having no prompt, naming it and the unmatched key, which looked the
    same."""
    import unicodedata
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    video = Path("v") / unicodedata.normalize("NFD", "grün.mp4")
    for key in ("grün.mp4", "grün", "v/grün.mp4"):
        p = tmp_path / "p.json"
        p.write_text(json.dumps({unicodedata.normalize("NFC", key): "a green circle"}))
        assert read_prompts(p, [video]) == ["a green circle"], key


def test_prompts_in_order_beside_videos_numbered_in_another_are_said(tmp_path, caplog):
    """A folder's videos are scored in the text order of their names (``clip_10`` before ``clip_2``): a list
    of prompts written in the numbers' order gave most videos another video's prompt without a word."""
    import logging
    from pathlib import Path

    from streamt2v.metrics.prompts_file import read_prompts

    (tmp_path / "p.txt").write_text("one\nten\ntwo\n")
    (tmp_path / "p.jsonl").write_text('"one"\n"ten"\n"two"\n')
    numbered = [Path("v/clip_1.mp4"), Path("v/clip_10.mp4"), Path("v/clip_2.mp4")]
    for name in ("p.txt", "p.jsonl"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.prompts_file"):
            assert read_prompts(tmp_path / name, numbered) == ["one", "ten", "two"]
        assert [r.getMessage() for r in caplog.records] == [
            f"prompts file {str(tmp_path / name)!r}: its prompts are taken in the order the videos are scored (a "
            "folder's by the text of their names): 'clip_10.mp4' before 'clip_2.mp4'; if the prompts follow the "
            "numbers, key them by video file (JSON, JSONL or CSV)"
        ]
    # names whose text and numbers agree (zero-padded; a name and the same with a number, whose text order
    # has the extension's dot first), or videos of folders given in this order: nothing said
    for videos in (
        [Path("v/clip_01.mp4"), Path("v/clip_02.mp4"), Path("v/clip_10.mp4")],
        [Path("v/clip.mp4"), Path("v/clip2.mp4"), Path("v/scene.mp4"), Path("v/scene1.mp4")],
        [Path("b/x10.mp4"), Path("a/x2.mp4"), Path("c.mp4")],
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.prompts_file"):
            read_prompts(tmp_path / "p.txt", videos)
        assert caplog.records == []
