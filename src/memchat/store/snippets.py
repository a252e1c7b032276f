"""Search snippets: the matched words marked so that a marker is never the message's own."""

from __future__ import annotations

# How many words a search hit's snippet shows, in every backend.
SNIPPET_TOKENS = 24

# Private-use characters mark the matched words: unlike brackets, they never occur in
# chat text, so a marker is always a marker.
HIGHLIGHT = ("\ue000", "\ue001")


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """The snippet (marked with ``HIGHLIGHT``) as (text, is a matched word) pieces, in order."""
    pieces = snippet.replace(HIGHLIGHT[1], HIGHLIGHT[0]).split(HIGHLIGHT[0])
    # Pieces alternate: outside a match, inside one, outside, ...
    return [(piece, number % 2 == 1) for number, piece in enumerate(pieces) if piece]


def bracketed(snippet: str) -> str:
    """The snippet with ``[`` ``]`` around the matched words, for reading."""
    return snippet.replace(HIGHLIGHT[0], "[").replace(HIGHLIGHT[1], "]")
