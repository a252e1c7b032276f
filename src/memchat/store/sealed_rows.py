"""The sealed columns' rows, as both backends read and re-seal them for ``sealing.py``.

``SealedRowsMixin`` gives a store the hooks of ``sealing.Sealable`` that are the same on
both backends but for the driver's placeholder (the backends keep ``record_sealing``, whose
SQL differs); the SQL below is also what ``memchat migrate`` checks a source with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CorruptData, KeyMismatch
from .crypto import SEALED
from .sealing import SEALED_COLUMNS, SealedColumn, SealingState, parse_key_ids

T = TypeVar("T")

_STATE = "SELECT key_ids, checked_through, (SELECT coalesce(max(id), 0) FROM items) FROM sealing"


class SealedRowsMixin:
    """Sealing's shared hooks, mixed into a store that provides ``_read`` and ``_write``
    (its database's ``read(work)`` and ``write(work)``) and its ``_placeholder``."""

    _placeholder: str

    if TYPE_CHECKING:

        def _read(self, work: Callable[[Any], T]) -> T: ...
        def _write(self, work: Callable[[Any], T]) -> T: ...

    def sealing_state(self) -> SealingState:
        row = self._read(lambda conn: conn.execute(_STATE).fetchone())
        assert row is not None  # the migration inserted the one row
        key_ids, checked_through, newest = row
        return SealingState(parse_key_ids(key_ids), int(checked_through), int(newest))

    def unsealed_columns(self, after_item: int, through_item: int) -> list[SealedColumn]:
        def work(conn: Any) -> list[SealedColumn]:
            return [
                column
                for column in SEALED_COLUMNS
                if conn.execute(
                    plaintext_sql(column, self._placeholder),
                    check_range(column, after_item, through_item),
                ).fetchone()
            ]

        return self._read(work)

    def sealed_samples(self) -> list[str]:
        def work(conn: Any) -> list[str]:
            found = [conn.execute(sample_sql(column)).fetchone() for column in SEALED_COLUMNS]
            return [row[0] for row in found if row is not None]

        return self._read(work)

    def sealed_count(self) -> int:
        def work(conn: Any) -> int:
            counts = [conn.execute(count_sql(column)).fetchone() for column in SEALED_COLUMNS]
            return sum(int(row[0]) for row in counts if row is not None)

        return self._read(work)

    def reseal_batch(
        self, column: SealedColumn, after: int, limit: int, reseal: Callable[[str], str | None]
    ) -> tuple[int, int] | None:
        select, update = batch_sql(column, self._placeholder)

        def work(conn: Any) -> tuple[int, int] | None:
            rows = conn.execute(select, (after, limit)).fetchall()
            changed = resealed_rows(column, rows, reseal)
            if changed:
                conn.cursor().executemany(update, changed)
            return (int(rows[-1][0]), len(rows)) if rows else None

        return self._write(work)


# -- SQL (``mark`` is the driver's placeholder) ----------------------------------------------
#
# The identifiers come from SEALED_COLUMNS, never from input; they are quoted all the same.


def plaintext_sql(column: SealedColumn, mark: str) -> str:
    """Whether ``column`` has a plaintext value with its key in a range (two marks)."""
    table, key, value = column.table, column.key, column.column
    return (
        f'SELECT 1 FROM "{table}" WHERE "{key}" > {mark} AND "{key}" <= {mark}'
        f" AND substr(\"{value}\", 1, {len(SEALED)}) <> '{SEALED}' LIMIT 1"
    )


def sample_sql(column: SealedColumn) -> str:
    """One sealed value of ``column``, the newest one."""
    table, key, value = column.table, column.key, column.column
    return (
        f'SELECT "{value}" FROM "{table}" WHERE substr("{value}", 1, {len(SEALED)})'
        f" = '{SEALED}' ORDER BY \"{key}\" DESC LIMIT 1"
    )


def count_sql(column: SealedColumn) -> str:
    """How many values ``column`` holds."""
    return f'SELECT count("{column.column}") FROM "{column.table}"'


def batch_sql(column: SealedColumn, mark: str) -> tuple[str, str]:
    """The values of a batch (after a key, at most a limit), and the update of one."""
    table, key, value = column.table, column.key, column.column
    select = (
        f'SELECT "{key}", "{value}" FROM "{table}" WHERE "{key}" > {mark}'
        f' AND "{value}" IS NOT NULL ORDER BY "{key}" LIMIT {mark}'
    )
    return select, f'UPDATE "{table}" SET "{value}" = {mark} WHERE "{key}" = {mark}'


# Every key range: the items are checked from a mark, the other columns whole.
WHOLE = (0, 2**63 - 1)


def check_range(column: SealedColumn, after_item: int, through_item: int) -> tuple[int, int]:
    """The key range of ``column`` whose values ``unsealed_columns`` checks."""
    return (after_item, through_item) if column.table == "items" else WHOLE


def resealed_rows(
    column: SealedColumn, rows: Sequence[tuple[int, object]], reseal: Callable[[str], str | None]
) -> list[tuple[str, int]]:
    """(new value, key) of the ``rows`` that ``reseal`` changes; a non-text value is corrupt."""
    changed = []
    for key, value in rows:
        if not isinstance(value, str):
            raise CorruptData(f"{column.table} row {key}: its {column.column} is not text")
        try:
            new = reseal(value)
        except CorruptData:
            raise KeyMismatch(
                f"{column.table} row {key} is sealed under none of the keys given (the batches"
                " before it are done): give the key that sealed it, as MEMCHAT_OLD_ENCRYPTION_KEY"
                " to `memchat rekey`, and run again"
            ) from None
        if new is not None:
            changed.append((new, key))
    return changed
