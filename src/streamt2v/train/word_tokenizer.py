"""The word-level tokenizer of micro-CLIP: one token per word of a caption vocabulary (the microworld's by
default, or one built from a captions file)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from streamt2v.microworld.captions import (
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    VOCABULARY,
)


def caption_words(text: str) -> list[str]:
    """The words the word-level tokenizer sees in ``text``: lower-cased, words and punctuation split."""
    from tokenizers import normalizers, pre_tokenizers

    normalized = normalizers.Lowercase().normalize_str(text)
    return [word for word, _ in pre_tokenizers.Whitespace().pre_tokenize_str(normalized)]


def caption_vocabulary(captions: Iterable[str], min_count: int = 1) -> tuple[str, ...]:
    """The special tokens, then every word of ``captions`` seen at least ``min_count`` times (most frequent
    first, ties alphabetical): a word-level vocabulary for real data, where the microworld's is fixed."""
    counts = Counter(w for text in captions for w in caption_words(text))
    words = sorted(
        (w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    return SPECIAL_TOKENS + tuple(words)


def build_word_tokenizer(max_length: int, vocabulary: tuple[str, ...] = VOCABULARY) -> Any:
    """A transformers fast tokenizer (``tokenizers`` WordLevel) over ``vocabulary`` (default the
    microworld's :data:`VOCABULARY`; it must start with the special tokens).

    Lower-cases, splits words and punctuation, wraps as ``<bos> … <eos>``; pad id 0. Save it with
    ``save_pretrained``; ``AutoTokenizer.from_pretrained`` loads it back.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise ValueError(f"a word vocabulary must start with {SPECIAL_TOKENS}, got {tuple(vocabulary[:4])}")
    vocab = {w: i for i, w in enumerate(vocabulary)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A {EOS_TOKEN}",
        special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN]), (EOS_TOKEN, vocab[EOS_TOKEN])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=max_length,
    )
