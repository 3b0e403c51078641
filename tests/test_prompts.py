"""Prompt schedules: parsing, validation (hypothesis), lookup."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamt2v.pipeline.prompts import PromptSchedule, load_schedule, parse_schedule

words = st.text(alphabet="abcdefghij klmnop,.", min_size=1, max_size=20).filter(lambda s: s.strip())


def test_inline_example():
    s = parse_schedule("0: a cat walks; 120: the cat runs")
    assert s.entries == ((0, "a cat walks"), (120, "the cat runs"))
    assert s.prompt_at(0) == s.prompt_at(119) == "a cat walks"
    assert s.prompt_at(120) == s.prompt_at(10_000) == "the cat runs"
    s.validate(121)
    with pytest.raises(ValueError, match="frame 120 is past the end.*120 frames"):
        s.validate(120)


def test_file_allows_semicolons_and_comments(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# my film\n0: a cat; sunny\n\n40: a dog: happy\n")
    s = load_schedule(f)
    assert s.entries == ((0, "a cat; sunny"), (40, "a dog: happy"))
    assert load_schedule("0: x").entries == ((0, "x"),)


@given(st.lists(st.tuples(st.integers(1, 50), words), min_size=0, max_size=6))
def test_round_trip(steps):
    frame, entries = 0, []
    for i, (gap, text) in enumerate([(0, "start")] + steps):
        frame += gap if i else 0
        entries.append((frame, text.strip()))
    s = PromptSchedule(tuple(entries))
    assert parse_schedule(s.format()) == s
    assert PromptSchedule.from_json(s.to_json()) == s
    for f, text in entries:
        assert s.prompt_at(f) == text


@given(st.lists(st.integers(0, 300), min_size=2, max_size=6))
def test_unordered_or_not_starting_at_zero_rejected(frames):
    text = "; ".join(f"{f}: p{i}" for i, f in enumerate(frames))
    ok = frames[0] == 0 and all(b > a for a, b in zip(frames, frames[1:]))
    if ok:
        assert parse_schedule(text).entries[0][0] == 0
    else:
        with pytest.raises(ValueError, match="start at frame 0|out of frame order|is given twice"):
            parse_schedule(text)


@pytest.mark.parametrize(
    "text,match",
    [
        ("5: late start", "start at frame 0, the first entry is at frame 5"),
        (
            "0: a; 50: b; 20: c",
            "out of frame order: frame 20 follows frame 50 \\(frames given: 0, 50, 20\\); list the entries in",
        ),
        # out of order, not late: it has a frame 0, which it was told to start at
        ("40: b; 0: a; 20: c", "out of frame order: frame 0 follows frame 40"),
        ("0: a; 0: b", "frame 0 is given twice \\('a' and 'b'\\); give each frame one prompt"),
        ("0: a; 10:   ", "empty prompt at frame 10"),
        ("a cat without frame", "expected 'FRAME: prompt'"),
        ("-3: negative", "must be >= 0"),
        ("  ;  ", "empty prompt schedule"),
    ],
)
def test_bad_schedules(text, match):
    with pytest.raises(ValueError, match=match):
        parse_schedule(text)


def test_constant_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        PromptSchedule.constant("   ")


def test_schedule_file_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="prompt schedule file 'schedule_missing.txt' not found"):
        load_schedule("schedule_missing.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="'folder' is a folder"):
        load_schedule("folder")
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeff0: a cat walks\n8: a dog runs\n".encode())
    assert load_schedule(bom).entries == ((0, "a cat walks"), (8, "a dog runs"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("0: un caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin.txt.*not UTF-8"):
        load_schedule(latin)
    assert load_schedule("0: inline").entries == ((0, "inline"),)  # inline schedules still work


def test_a_schedule_file_not_utf8_is_named_as_given(tmp_path, monkeypatch):
    """Its refusal named the file by its expanded path alone ('/home/me/latin.txt'), not as typed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "latin.txt").write_bytes("0: un caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError) as err:
        load_schedule("~/latin.txt")
    assert str(err.value).startswith(
        f"prompt schedule file '~/latin.txt' ({str(tmp_path / 'latin.txt')!r}) is not UTF-8 text ("
    )


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "# film\n0: a red circle\n   bouncing fast\n16: a dog\n",
            r"'p.txt', line 3: bad prompt schedule entry 'bouncing fast'",
        ),
        (
            "0: a\n\n16: b\n8: c\n",
            r"'p.txt', line 4: prompt schedule entries are out of frame order: frame 8 follows frame 16",
        ),
        ("0: a\r\n1: b\r\n16: c\r\n1: d\r\n", r"'p.txt', line 4: .*frame 1 follows frame 16"),
        ("\n# intro\n5: late\n", r"'p.txt', line 3: a prompt schedule must start at frame 0"),
        (
            "40: x\n0: a red circle\n20: y\n",
            r"'p.txt', line 2: .* out of frame order: frame 0 follows frame 40",
        ),
        ("0: a\n16:   \n", r"'p.txt', line 2: empty prompt at frame 16"),
        ("0: a\n-4: b\n", r"'p.txt', line 2: prompt schedule frame must be >= 0, got -4"),
        ("# only a comment\n\n", r"empty prompt schedule in file '.*p.txt'"),
    ],
)
def test_schedule_file_errors_name_the_line(tmp_path, monkeypatch, text, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_bytes(text.encode())
    with pytest.raises(ValueError, match=match):
        load_schedule("p.txt")


def test_a_missing_file_name_with_a_colon_is_not_called_a_bad_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="'sched:v2.txt' is neither a file .* nor an inline schedule"):
        load_schedule("sched:v2.txt")
    (tmp_path / "sched:v2.txt").write_text("0: a cat\n")
    assert load_schedule("sched:v2.txt").entries == ((0, "a cat"),)
    with pytest.raises(ValueError, match="bad prompt schedule entry '16 a dog'"):  # an inline schedule's typo
        load_schedule("0: a cat; 16 a dog")


@pytest.mark.parametrize("spec", ["", "  ", "  ;  ", ";\n;"])
def test_an_empty_schedule_argument_is_called_empty_not_a_folder_or_a_missing_file(
    tmp_path, monkeypatch, spec
):
    monkeypatch.chdir(tmp_path)  # Path("") is the working directory
    with pytest.raises(
        ValueError, match=re.escape(f"empty prompt schedule {spec!r}; give a file or entries")
    ):
        load_schedule(spec)


def test_an_entry_past_the_end_names_its_file_and_line(tmp_path, monkeypatch):
    """Every other schedule file error named the file and line; a frame past the end named neither."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_bytes(b"\xef\xbb\xbf# intro\r\n0: a\r\n\r\n100: b\r\n")
    schedule = load_schedule("p.txt")
    assert schedule == PromptSchedule(((0, "a"), (100, "b")))  # where it was read is not compared
    schedule.validate(101)
    with pytest.raises(
        ValueError, match=r"^prompt schedule file 'p.txt', line 4: .*frame 100 is past the end"
    ):
        schedule.validate(40)
    with pytest.raises(ValueError, match=r"^prompt schedule entry at frame 100 is past the end"):
        parse_schedule("0: a; 100: b").validate(40)


def test_a_schedule_text_starting_with_a_comment_is_a_schedule(tmp_path):
    """A schedule file's text given as the prompt (PROMPT "$(cat film.txt)", pipe(open(...).read())) whose
    first line is a comment was one prompt, entries and all, where --prompt-schedule read it as a schedule."""
    from streamt2v.pipeline.prompts import as_schedule

    text = "# my film\n0: a cat walks\n16: the cat runs\n"
    (tmp_path / "film.txt").write_text(text)
    assert as_schedule(text) == load_schedule(tmp_path / "film.txt")
    assert as_schedule(text).entries == ((0, "a cat walks"), (16, "the cat runs"))
    assert as_schedule("#1 red circle") == PromptSchedule.constant("#1 red circle")  # no entry: a prompt


def test_a_schedule_without_its_frame_0_entry_is_one_prompt_with_a_warning(caplog):
    """A schedule missing its '0:' was taken as one prompt without a word (only the microworld's tokenizer,
    reading ';', '120' and ':' as unknown, hinted at it)."""
    import logging

    from streamt2v.pipeline.prompts import as_schedule

    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        assert as_schedule("a cat walks; 120: the cat runs") == PromptSchedule.constant(
            "a cat walks; 120: the cat runs"
        )
    (warned,) = [r.getMessage() for r in caplog.records]
    assert (
        "its first part 'a cat walks' is not a 'FRAME: prompt' entry, though '120: the cat runs' is" in warned
    )
    assert warned.endswith("e.g. '0: a cat walks; 120: the cat runs'")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        for prompt in ("3 red circles: bouncing", "a cat; sunny", "a cat: walking; a dog"):
            assert as_schedule(prompt) == PromptSchedule.constant(prompt)
    assert caplog.records == []


def test_a_schedule_given_lists_equals_and_hashes_as_the_same_of_tuples():
    """``PromptSchedule([[0, "a"], [8, "b"]])`` kept its lists: unhashable (a set or a cache of schedules
    failed) and unequal to the same schedule of tuples, so a resume's check could see a change."""
    listed = PromptSchedule([[0, "a cat"], [8, "a dog"]], sources=["x", "y"])
    same = PromptSchedule(((0, "a cat"), (8, "a dog")))
    assert listed == same and hash(listed) == hash(same)
    assert listed.entries == ((0, "a cat"), (8, "a dog")) and listed.sources == ("x", "y")


def test_a_schedule_of_numpy_frames_or_pairs_zipped_is_taken_and_other_forms_are_named():
    """``PromptSchedule(tuple(zip(np.arange(0, 240, 80), prompts)))`` was refused (``got (np.int64(0), ...)``)
    while ``num_frames`` and ``seed`` take numpy integers; a schedule string, a dict or one pair were read
    as their characters, keys or frame (``got '0'``, ``got 0``), and a ``zip`` failed inside the class."""
    import numpy as np

    want = PromptSchedule(((0, "a cat"), (80, "a dog")))
    frames, prompts = np.arange(0, 160, 80), ["a cat", "a dog"]
    assert PromptSchedule(tuple(zip(frames, prompts))) == want
    assert PromptSchedule(zip(frames, prompts)) == want
    assert all(type(f) is int for f, _ in PromptSchedule(zip(frames, prompts)).entries)
    for bad in ((True, "a cat"), (0.0, "a cat")):
        with pytest.raises(ValueError, match="are \\(frame: int, prompt: str\\) pairs, got"):
            PromptSchedule((bad,))
    cases = [
        (
            "0: a cat; 80: a dog",
            r"got the string '0: a cat; 80: a dog': pass the string itself as the prompt",
        ),
        ({0: "a cat", 80: "a dog"}, re.escape("got a dict: use PromptSchedule(tuple(d.items()))")),
        ((0, "a cat"), re.escape("got one pair (0, 'a cat'): use PromptSchedule(((0, 'a cat'),))")),
        (5, "takes a sequence of \\(frame, prompt\\) pairs, got int$"),
    ]
    for bad, match in cases:
        with pytest.raises(TypeError, match=match):
            PromptSchedule(bad)
    with pytest.raises(ValueError, match="at least one entry"):
        PromptSchedule(())


def test_entries_separated_by_a_bar_are_named_in_a_warning(caplog):
    """'0: a cat|40: a dog' (another tool's separator) was one prompt, entries and all, unsaid (a CLIP
    tokenizer knows '|' and the digits)."""
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        assert parse_schedule("0:a red circle|40:x| 20: y").entries == ((0, "a red circle|40:x| 20: y"),)
        assert parse_schedule("0: a red circle; 40: a blue | square").entries[1] == (40, "a blue | square")
    assert [r.getMessage() for r in caplog.records] == [
        "the prompt at frame 0 is 'a red circle|40:x| 20: y', entries and all: a schedule's entries are "
        "separated by ';' or new lines, not '|' (e.g. '0: a red circle; 40:x; 20: y')"
    ]


def test_the_bar_warning_of_a_file_says_lines_and_a_time_after_a_bar_is_no_entry(tmp_path, caplog):
    """In a file ';' is part of the prompt, so the ';' form the warning gave was one prompt again, unwarned; a
    time or ratio after a '|' ('|2:1 final') was taken for an entry."""
    schedule = tmp_path / "p.txt"
    schedule.write_text("0: a red circle|40: x\n")
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        load_schedule(str(schedule))
        parse_schedule("0: score board |2:1 final; 8: a ratio |16:9")
    assert [r.getMessage() for r in caplog.records] == [
        f"prompt schedule file {str(schedule)!r}, line 1: the prompt at frame 0 is 'a red circle|40: x', "
        "entries and all: a schedule file's entries are separated by new lines, not '|' (e.g. "
        "'0: a red circle\\n40: x')"
    ]


def test_entries_separated_by_commas_are_named_in_a_warning_to_both_callers(
    tmp_path, monkeypatch, caplog, capsys
):
    """``pipe.stream("0: a red circle, 16: a green square", 24)`` ran the whole text as one prompt, unsaid,
    as ``streamt2v generate`` did; a comma before no entry (a list, a ratio ', 16:9') is part of the
    prompt."""
    from streamt2v.cli import main
    from streamt2v.pipeline.prompts import as_schedule

    text = "0: a red circle, 16: a green square"
    warning = (
        f"the prompt at frame 0 is {text[3:]!r}, entries and all: a schedule's entries are separated by ';' "
        "or new lines, not ',' (e.g. '0: a red circle; 16: a green square')"
    )
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        assert as_schedule(text).entries == ((0, text[3:]),)
        as_schedule("0: red, green and blue circles, 3 of them, ratio 16:9; 8: x")
        assert parse_schedule("0: a cat, 8: a dog|16: a bird").entries == ((0, "a cat, 8: a dog|16: a bird"),)
    assert [r.getMessage() for r in caplog.records] == [
        warning,
        "the prompt at frame 0 is 'a cat, 8: a dog|16: a bird', entries and all: a schedule's entries are "
        "separated by ';' or new lines, not '|' or ',' (e.g. '0: a cat; 8: a dog; 16: a bird')",
    ]
    monkeypatch.chdir(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        assert main(["generate", text, "--frames", "24", "--model", str(tmp_path / "missing")]) == 2
    assert caplog.messages == [warning]
    assert "does not exist" in capsys.readouterr().err


def test_a_comma_before_a_number_and_colon_that_reads_as_no_later_entry_is_not_warned_about(caplog):
    """'0: the countdown goes 3, 2, 1: liftoff' was warned about, and the fix it suggested ('...3, 2; 1:
    liftoff') made an entry at frame 1. A comma is taken for a separator only before a frame past the entry's
    (or the separated one's before it), and where no number comes before it: a list of entries."""
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.prompts"):
        for text in (
            "0: the countdown goes 3, 2, 1: liftoff",
            "0: scenes 1, 2: the chase",
            "0: a dog; 8: a cat, 4: two cats",  # back to frame 4: no list of entries
        ):
            assert parse_schedule(text).entries[-1][1] == text.rpartition(";")[2].partition(": ")[2]
        assert caplog.messages == []
        parse_schedule("0: a cat, 8: a dog, 4: two dogs, 16: a bird")
    assert caplog.messages == [
        "the prompt at frame 0 is 'a cat, 8: a dog, 4: two dogs, 16: a bird', entries and all: a schedule's "
        "entries are separated by ';' or new lines, not ',' (e.g. '0: a cat; 8: a dog, 4: two dogs; "
        "16: a bird')"
    ]


@pytest.mark.parametrize("zeros", [300, 5000])
def test_an_entry_at_a_frame_of_hundreds_of_digits_is_refused_counting_them(zeros):
    """'0: a cat; 1000...0: a dog' wrote the 301 digits out; with 5001, Python's int() refused it with a bare
    'Exceeds the limit (4300 digits) for integer string conversion'."""
    said = f"prompt schedule entry 'a dog' is at a frame of {zeros + 1} digits, past the end of any video"
    with pytest.raises(ValueError, match=f"^{said}$"):
        parse_schedule(f"0: a cat; 1{'0' * zeros}: a dog")
    with pytest.raises(ValueError, match=f"^{said}$"):
        PromptSchedule(((0, "a cat"), (10**zeros, "a dog")))
    below = f"a negative integer of {zeros + 1} digits"
    negative = f"^prompt schedule frame must be >= 0, got {below} \\(entry 'a dog'\\)$"
    with pytest.raises(ValueError, match=negative):
        parse_schedule(f"0: a cat; -1{'0' * zeros}: a dog")


def test_an_entry_at_a_frame_of_hundreds_of_digits_names_its_file_line(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("0: a cat\n" + "9" * 5000 + ": a dog\n")
    with pytest.raises(
        ValueError, match=r"line 2: prompt schedule entry 'a dog' is at a frame of 5000 digits"
    ):
        load_schedule(str(path))


def test_a_frame_typed_with_leading_zeros_is_read_as_its_number():
    assert parse_schedule(f"0: a cat; {'0' * 40}16: a dog").entries == ((0, "a cat"), (16, "a dog"))


def test_a_bar_before_a_number_too_long_for_a_frame_reads_as_no_entry(caplog):
    """'0: a cat|111...1: a dog' (5000 digits) failed in int() ('Exceeds the limit ...') while looking for
    stray separators; no frame is that long, so the bar stands before no entry and nothing is warned."""
    with caplog.at_level(logging.WARNING):
        schedule = parse_schedule(f"0: a cat|{'1' * 5000}: a dog")
    assert schedule.entries[0][1].startswith("a cat|111") and not caplog.records
