"""Sessions as readable Markdown (an export for people, not for import)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ..store.records import FactRecord, SessionRecord
from ..store.titles import item_text


def write_markdown(
    records: Iterable[SessionRecord], out: TextIO, facts: Sequence[FactRecord] = ()
) -> int:
    """Write records (after the facts) as readable Markdown; return the sessions written."""
    if facts:
        out.write(f"# What memchat remembers about {facts[0].user}\n\n")
        out.writelines(f"- **{fact.key}:** {fact.value}\n" for fact in facts)
        out.write("\n---\n\n")
    count = 0
    for record in records:
        if count:
            out.write("\n---\n\n")
        out.write(f"# {record.title or record.id}\n\n")
        out.write(f"*{record.user} / {record.id}, started {record.created_at}*\n\n")
        for turn in record.turns:
            for item in turn.items:
                out.write(format_item_markdown(item) + "\n\n")
        count += 1
    return count


def format_item_markdown(item: Any) -> str:
    """One item as Markdown: a message with its speaker, or a tool call or its output."""
    kind = item.get("type", "message")
    if kind == "message" or "role" in item:
        return f"**{item.get('role', '?')}:** {item_text(item)}"
    if kind == "function_call":
        return f"*tool call* `{item.get('name')}({item.get('arguments', '')})`"
    if kind == "function_call_output":
        return f"*tool output:* {item.get('output', '')}"
    return f"*{kind}*"
