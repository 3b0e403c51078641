"""Tokenizers: loading a saved tokenizer folder, refused where transformers would quietly build a useless one
(no vocabulary, a file cut short), the byte-level CLIP tokenizer of the tiny test models, and what a
tokenizer will not read of a prompt (unknown words, tokens past its length)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, CLIPTokenizer, PreTrainedTokenizerBase

from streamt2v.io.checkpoint_file import weight_file_problem
from streamt2v.io.weight_files import refuse_broken_links
from streamt2v.wording import singular_or_plural, words_as_typed

# Files of which a saved tokenizer needs at least one: transformers builds a tokenizer with only its special
# tokens, silently, from a folder that has none (every word then reads as the same id).
VOCABULARY_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")


def check_tokenizer_folder(folder: str | os.PathLike[str], what: str, named: str) -> Path:
    """``folder`` unless it is missing or holds no tokenizer vocabulary (:data:`VOCABULARY_FILES`);
    ``named``: the folder as messages name it."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {named} does not exist")
    if not any((path / name).is_file() for name in VOCABULARY_FILES):
        found = sorted(p.name for p in path.iterdir())[:8]
        raise FileNotFoundError(
            f"{what} {named} holds no tokenizer vocabulary (none of {', '.join(VOCABULARY_FILES)}; "
            f"found: {', '.join(found) or 'nothing'}); a CLIP tokenizer is vocab.json + merges.txt or tokenizer.json"
        )
    return path


def byte_level_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """A real CLIP BPE tokenizer with only the 256 byte symbols and no merges (for tiny test models).

    Vocabulary: ``<|startoftext|>``, ``<|endoftext|>`` then each byte symbol and its ``</w>`` form (514
    entries); every word is tokenized into its characters.
    """
    # GPT-2/CLIP byte → printable unicode table.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    symbols = [chr(c) for c in cs]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


# What transformers' tokenizers read: BPE (CLIP), WordPiece, SentencePiece, the fast tokenizers' one file
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
)


def _is_tokenizer_file(name: str) -> bool:
    return name in TOKENIZER_FILES or (name.endswith(".model") and not name.startswith("."))


def load_tokenizer(
    directory: str | os.PathLike[str],
    class_name: str | None = None,
    what: str = "tokenizer folder",
    named: str | None = None,
) -> PreTrainedTokenizerBase:
    """Load a saved tokenizer folder: ``CLIPTokenizer`` when ``class_name`` says so (the ModelScope / test
    tokenizers), otherwise whatever ``AutoTokenizer`` finds in ``tokenizer_config.json`` (e.g. the
    micro-CLIP's word-level ``PreTrainedTokenizerFast``). A folder without vocabulary files is refused
    (transformers would build a tokenizer that reads every word as the same token), and so is one whose
    files are not whole (a Git LFS pointer, an empty file, a file cut short), naming ``what`` and the file:
    transformers' own errors name none ('Expecting value: line 1 column 1 (char 0)'), or a link to nothing
    (:func:`~streamt2v.io.weight_files.refuse_broken_links`). ``named``: the folder as messages name it (a
    path given with ``~``: as given, then as read); default: quoted as read."""
    named = named or repr(str(directory))
    refuse_broken_links(Path(directory), what, _is_tokenizer_file, named)
    path = check_tokenizer_folder(directory, what, named)
    # only the tokenizer's files: a CLIPModel folder also holds weights of other frameworks that a clone
    # without git-lfs leaves as pointers, and a .gitkeep is empty; none of them is read here
    for file in sorted(p for p in path.iterdir() if p.is_file() and _is_tokenizer_file(p.name)):
        if problem := weight_file_problem(file, "tokenizer file"):
            raise ValueError(problem)
    try:
        if class_name == "CLIPTokenizer":
            return CLIPTokenizer.from_pretrained(path)
        return AutoTokenizer.from_pretrained(path)
    except ImportError:  # a tokenizer library not installed: its own message says which
        raise
    except Exception as err:  # JSON errors, and the tokenizers library's bare Exception for a bad vocabulary
        if class_name != "CLIPTokenizer" and (unknown := _class_unknown_to_transformers(path)):
            # its files are whole: the class is what this transformers cannot read them as
            import transformers

            raise ValueError(
                f"{what} {named} records the tokenizer class {unknown!r} (tokenizer_class in its "
                f"tokenizer_config.json), which this transformers ({transformers.__version__}) does not have: "
                "read it with a transformers that has it, or correct the class there"
            ) from err
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(
            f"{what} {named} cannot be read ({reason}): is one of its files damaged or cut short? copy "
            "the folder again"
        ) from err


def recorded_tokenizer_class(folder: Path) -> str | None:
    """The class ``folder``'s ``tokenizer_config.json`` names (``tokenizer_class``); None where it names none
    or cannot be read (:func:`load_tokenizer` names the damage)."""
    try:
        recorded = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = recorded.get("tokenizer_class") if isinstance(recorded, dict) else None
    return name if isinstance(name, str) else None


def reads_as_clip(folder: Path) -> bool:
    """Whether ``folder``'s tokenizer is read as a ``CLIPTokenizer``: where it records no class and its files
    are CLIP's BPE (vocab.json + merges.txt, or a tokenizer.json of a BPE model, as a CLIP tokenizer saved
    without its tokenizer_config.json is). A tokenizer.json of another model (the microworld's word-level
    one) is left to ``AutoTokenizer``: as CLIP it split each word into letters it did not know; and a CLIP
    one left to it had no padding token, which the text encoder needs (refused as it was loaded)."""
    if recorded_tokenizer_class(folder) is not None:
        return False
    try:
        model = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["type"]
    except FileNotFoundError:
        return True
    except (OSError, ValueError, KeyError, TypeError):  # damaged: load_tokenizer names the file
        return False
    return model == "BPE"


def _class_unknown_to_transformers(folder: Path) -> str | None:
    """The tokenizer class ``folder`` records where transformers has no class of that name, else None."""
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    name = recorded_tokenizer_class(folder)
    return name if name is not None and tokenizer_class_from_name(name) is None else None


def unread_prompt_parts(tokenizer: Any, prompt: str, max_length: int, reader: str) -> list[str]:
    """What ``reader`` (a text encoder, a CLIP scorer) will not read of ``prompt``: words its ``tokenizer``
    does not know (a word-level tokenizer such as the microworld's maps them to its unknown token) and
    tokens past ``max_length`` (cut off). Empty when it reads the whole prompt."""
    problems = []
    unk = getattr(tokenizer, "unk_token_id", None)
    try:
        enc = tokenizer(prompt, return_offsets_mapping=True, verbose=False)
    except (NotImplementedError, TypeError, ValueError):  # slow tokenizers have no offsets: length only
        enc = tokenizer(prompt, verbose=False)
    ids = list(enc["input_ids"])
    offsets = enc.get("offset_mapping")
    if unk is not None and offsets is not None:
        unknown = list(dict.fromkeys(prompt[a:b] for i, (a, b) in zip(ids, offsets) if i == unk and b > a))
        if unknown:
            # as words, not a Python list; one that is no plain word (a comma, a space) quoted, as it is read
            shown = words_as_typed(unknown)
            word = singular_or_plural(len(unknown), "word")
            problems.append(
                f"{word} unknown to {reader}'s tokenizer (read as {tokenizer.unk_token}): {shown}"
            )
    if len(ids) > max_length:
        problems.append(
            f"{len(ids)} tokens, of which {reader} reads the first {max_length} (the rest is cut off)"
        )
    return problems
