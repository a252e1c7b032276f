"""What each turn cost: the model, its tokens as the provider reported them, and its times.

A turn's usage is stored with the turn, in the same transaction (``commit_turn(usage=)``),
in a row keyed by the id of the turn's first item: it goes when the turn goes (``ON DELETE
CASCADE``), and it follows the turn wherever its items go. Turns without usage (imported
ones, plain ``Runner.run`` writes) simply have none. ``Store.usage`` sums it up per UTC day,
per model or per session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from ..errors import MemchatError

Grouping = Literal["day", "model", "session"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)

# A stored count no real turn reaches, so a corrupt or hostile import cannot store one
# that overflows a sum (PostgreSQL's bigint) or the page's numbers.
MAX_COUNT = 10**12


@dataclass(frozen=True)
class TurnUsage:
    """One turn's model, tokens (as the provider reported them) and times."""

    model: str
    input_tokens: int
    output_tokens: int
    # Model calls in the turn (more than one when the model called tools).
    requests: int = 1
    # From the turn's start (after its lock is taken: memory's context assembly included)
    # to the reply's first streamed text, and to the end of the answer; None if unknown.
    first_token_ms: int | None = None
    total_ms: int | None = None

    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON object (what an export writes)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> TurnUsage:
        """The usage an export wrote; raise MemchatError naming what is wrong.

        Fields it does not know are left out, so a later version's export still imports.
        """
        if not isinstance(data, dict):
            raise MemchatError("usage must be an object")
        model = data.get("model")
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise MemchatError("usage needs a model name (1-200 characters)")
        counts: dict[str, int | None] = {}
        for name in ("input_tokens", "output_tokens", "requests", "first_token_ms", "total_ms"):
            value = data.get(name, 1 if name == "requests" else None)
            optional = name in ("first_token_ms", "total_ms")
            if value is None and optional:
                counts[name] = None
                continue
            # bool is an int to Python, but never a count.
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                raise MemchatError(f"usage {name} must be a whole number from 0 to {MAX_COUNT}")
            counts[name] = value
        return cls(
            model=model,
            input_tokens=int(counts["input_tokens"] or 0),
            output_tokens=int(counts["output_tokens"] or 0),
            requests=int(counts["requests"] or 0),
            first_token_ms=counts["first_token_ms"],
            total_ms=counts["total_ms"],
        )


@dataclass(frozen=True)
class UsageTotal:
    """The usage of a group of turns: one UTC day, one model or one session."""

    # The day (YYYY-MM-DD), the model or the session id.
    key: str
    turns: int
    requests: int
    input_tokens: int
    output_tokens: int
    # Averages over the turns that have them; None if none has.
    first_token_ms: int | None
    total_ms: int | None

    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens


def check_grouping(by: str) -> Grouping:
    """``by`` if it is one of GROUPINGS, else raise MemchatError."""
    for grouping in GROUPINGS:
        if by == grouping:
            return grouping
    raise MemchatError(f"cannot group usage by {by!r}: use one of {', '.join(GROUPINGS)}")


def usage_total(row: tuple[Any, ...]) -> UsageTotal:
    """A UsageTotal from a row (key, turns, requests, input, output, avg first, avg total)."""
    key, turns, requests, input_tokens, output_tokens, first, total = row
    return UsageTotal(
        key=str(key),
        turns=int(turns),
        requests=int(requests),
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        first_token_ms=None if first is None else round(float(first)),
        total_ms=None if total is None else round(float(total)),
    )


def grouped_usage_sql(by: Grouping, *, session: bool, since: bool, param: str) -> str:
    """The query behind ``Store.usage``, in either dialect (``param``: ``?`` or ``%s``).

    It binds the user's name, then the session id and the cutoff where asked. It starts
    from the user's sessions, so it reads only their turns, by the indexes it has.
    """
    key = {
        "day": "substr(i.created_at, 1, 10)",
        "model": "u.model",
        "session": "s.key",
    }[by]
    where = f"w.name = {param}"
    if session:
        where += f" AND s.key = {param}"
    if since:
        where += f" AND i.created_at >= {param}"
    order = "1" if by == "day" else "sum(u.input_tokens + u.output_tokens) DESC, 1"
    return (
        f"SELECT {key}, count(*), sum(u.requests), sum(u.input_tokens), sum(u.output_tokens),"
        " avg(u.first_token_ms), avg(u.total_ms)"
        " FROM users w JOIN sessions s ON s.user_id = w.id"
        " JOIN items i ON i.session_id = s.id JOIN turn_usage u ON u.item_id = i.id"
        f" WHERE {where} GROUP BY 1 ORDER BY {order}"
    )


# The usage of a session's turns, by seq (each row is keyed by its turn's first item).
TURN_USAGE_COLUMNS = (
    "i.seq, u.model, u.input_tokens, u.output_tokens, u.requests, u.first_token_ms, u.total_ms"
)


def turn_usage_of(rows: list[tuple[Any, ...]]) -> dict[int, TurnUsage]:
    """``Store.turn_usage``'s answer from rows of TURN_USAGE_COLUMNS."""
    return {
        int(seq): TurnUsage(model, inputs, outputs, requests, first, total)
        for seq, model, inputs, outputs, requests, first, total in rows
    }


def usage_values(usage: TurnUsage) -> tuple[Any, ...]:
    """The values of a usage row after its item id, in the table's column order."""
    return (
        usage.model,
        usage.requests,
        usage.input_tokens,
        usage.output_tokens,
        usage.first_token_ms,
        usage.total_ms,
    )


USAGE_COLUMNS = "model, requests, input_tokens, output_tokens, first_token_ms, total_ms"


def combined(totals: list[UsageTotal], key: str = "total") -> UsageTotal:
    """One total of several groups; its times are averages weighted by the groups' turns."""

    def average(values: list[tuple[int | None, int]]) -> int | None:
        known = [(value, turns) for value, turns in values if value is not None]
        weight = sum(turns for _, turns in known)
        return round(sum(value * turns for value, turns in known) / weight) if weight else None

    return UsageTotal(
        key=key,
        turns=sum(t.turns for t in totals),
        requests=sum(t.requests for t in totals),
        input_tokens=sum(t.input_tokens for t in totals),
        output_tokens=sum(t.output_tokens for t in totals),
        first_token_ms=average([(t.first_token_ms, t.turns) for t in totals]),
        total_ms=average([(t.total_ms, t.turns) for t in totals]),
    )


def total_json(total: UsageTotal) -> dict[str, Any]:
    """A UsageTotal as JSON, with its total tokens (what ``--json`` and the API give)."""
    return {**asdict(total), "total_tokens": total.total_tokens}
