"""Looking for forgotten text in the bytes a store keeps on disk.

What is looked for are *needles*: the distinctive words of the forgotten text (see
:func:`needles_of`). A needle is found whatever its case, written as UTF-8 or as JSON
writes it (``\\u00e9`` for ``é``: the items' JSON escapes what is not ASCII), so a copy
is found in an item's JSON, in a search index's copy of the text, in a free page or in a
write-ahead log alike. Each backend's ``scrub`` module says which files it reads and how
an offset becomes a page and a table.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# A word is distinctive from this many letters or digits on: shorter words ("Lisbon",
# "dog") are found by chance in any file of some size, longer ones rarely.
MIN_LENGTH = 8
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Copy:
    """One place where a forgotten word remains: ``where`` says it in words."""

    needle: str
    where: str


def needles_of(texts: Iterable[str]) -> list[str]:
    """The distinctive words of ``texts``: every run of letters and digits at least
    MIN_LENGTH characters long, in lower case, each once, sorted.

    Lower case by ``str.lower``, not ``casefold``: "ß" stays "ß", as it is stored."""
    found = {
        word.lower() for text in texts for word in _WORD.findall(text) if len(word) >= MIN_LENGTH
    }
    return sorted(found)


def contains(text: str, needles: Iterable[str]) -> list[str]:
    """The needles found in ``text``, ignoring case."""
    folded = text.lower()
    return [needle for needle in needles if needle in folded]


def pattern_of(needles: Iterable[str]) -> re.Pattern[bytes] | None:
    """One case-insensitive bytes pattern that finds each needle in its stored forms, or
    None when there is no needle."""
    forms: set[bytes] = set()
    for needle in needles:
        for text in (needle, needle.upper()):
            forms.add(text.encode("utf-8"))
            forms.add(json.dumps(text)[1:-1].encode("ascii"))
    if not forms:
        return None
    # Longest first, so that a needle inside another is not reported in its place.
    alternatives = sorted(forms, key=len, reverse=True)
    return re.compile(b"|".join(re.escape(form) for form in alternatives), re.IGNORECASE)


def needle_of(found: bytes) -> str:
    """The needle a match of :func:`pattern_of` stands for."""
    text = found.decode("utf-8", errors="replace")
    if "\\u" in text:
        text = json.loads(f'"{text}"')
    return text.lower()


def scan_file(path: Path, pattern: re.Pattern[bytes], locate: Callable[[int], str]) -> list[Copy]:
    """Every match of ``pattern`` in the file at ``path``, each placed by ``locate`` (from
    the match's byte offset); an empty or missing file holds none."""
    try:
        with path.open("rb") as file:
            if file.seek(0, 2) == 0:
                return []
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return [
                    Copy(needle_of(match.group()), locate(match.start()))
                    for match in pattern.finditer(data)
                ]
    except FileNotFoundError:
        return []


def file_size(path: Path) -> int:
    """The size of the file at ``path``, 0 if there is none."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
