"""Counting tokens: the model's own tokenizer where we have it, else a calibrated estimate.

Nothing here downloads a tokenizer (``tiktoken`` fetches its encodings from the network).
The estimate counts what byte-pair tokenizers make of text: a token per run of ASCII
letters, plus a little for each letter past the sixth (long words split), a token per
digit, 0.8 per ASCII mark (some merge: "'s", "..."), a token per character of any other
script (CJK text is about a token a character; accented Latin, Cyrillic and emoji are
fewer characters a token, so they are overcounted), plus 5%. Calibrated against the
embedded Qwen2.5 tokenizer (English is counted much alike by OpenAI's): over the LoCoMo
and REALTALK dialogue, memchat's own source and its docs it overcounts by 2-10% in total
and 1-10% on the median message, where the estimate before it (which also counted a
quarter of the UTF-8 bytes when that was more) overcounted by 13-30%, so a budget held up
to a fifth less than it could. A single message may be undercounted (1st percentile 0.83x,
on typos and emoji); the assembler's margin covers that for a whole context. Other
scripts are overcounted (accented Latin 1.4x, Chinese 1.9x), never under.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from ..store.titles import item_text

TokenCounter = Callable[[str], int]

# A word of more letters than this is likely split; each further letter counts this share.
LONG_WORD = 6
LONG_WORD_SHARE = 0.15
# An ASCII mark (punctuation, symbols) counts this share of a token.
MARK_SHARE = 0.8
# The estimate is raised by this factor, to overcount rather than under.
CAUTION = 1.05
_WORDS = re.compile(rb"[A-Za-z]+")
_LONG_WORDS = re.compile(rb"[A-Za-z]{%d,}" % (LONG_WORD + 1))
_DIGITS = b"0123456789"
_MARKS = bytes(c for c in range(33, 127) if not chr(c).isalnum())
_WIDE_SPACES = "\u00a0\u2009\u200a\u202f\u3000"
# Texts whose count by a model's own tokenizer is remembered (per model).
COUNTED_TEXTS = 16384
# Role markers and separators the chat template adds around every message.
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """A cautious token count for text in any language, no tokenizer needed."""
    if not text:
        return 0
    ascii_text = text.encode("ascii", "ignore")
    long_words = _LONG_WORDS.findall(ascii_text)
    tokens = (
        len(_WORDS.findall(ascii_text))
        + LONG_WORD_SHARE * (sum(map(len, long_words)) - LONG_WORD * len(long_words))
        + len(ascii_text)
        - len(ascii_text.translate(None, _DIGITS))
        + MARK_SHARE * (len(ascii_text) - len(ascii_text.translate(None, _MARKS)))
        + len(text)
        - len(ascii_text)
        - _other_spaces(text)
    )
    return math.ceil(tokens * CAUTION)


def _other_spaces(text: str) -> int:
    """Spaces outside ASCII (no-break, ideographic): not counted as characters of a script."""
    return sum(text.count(space) for space in _WIDE_SPACES) if not text.isascii() else 0


def counter_for(model: Any) -> TokenCounter:
    """The model's own token counter if it has one (the embedded model does), else the estimate.

    A model's counter is remembered for the texts it has counted: context assembly counts
    the same history lines turn after turn, and through llama.cpp that was half of the
    embedded model's assembly time (bench/locomo_context.py, 1,536 tokens, REALTALK: p50
    56 ms without this cache, 29 ms with it, on a loaded machine).
    """
    count = getattr(model, "count_tokens", None)
    if not callable(count):
        return estimate_tokens
    return functools.lru_cache(maxsize=COUNTED_TEXTS)(count)


def item_tokens(item: Any, count: TokenCounter) -> int:
    """Tokens one input item takes: its text, or for tool items their JSON, plus overhead."""
    text = item_text(item)
    if not text and isinstance(item, dict):
        text = " ".join(str(v) for k, v in item.items() if k not in ("id", "type", "status"))
    return count(text) + MESSAGE_OVERHEAD
