"""Every stored value under the configured key: checked when a store opens with a key, and
brought there by ``memchat encrypt`` and ``memchat rekey``.

The key seals what is written after it is set; rows written before stay as they were. So a
store opened with ``MEMCHAT_ENCRYPTION_KEY`` is refused, with a one-line error, while it
holds plaintext (``memchat encrypt`` seals it) or rows sealed under a key that is not
configured (``memchat rekey`` re-seals them). Refused rather than warned about: a warning
scrolls by in a server's log while the store goes on looking encrypted, and the only flow
refusing breaks, setting a key and carrying on with the old rows readable, is the leak
itself. The fix is one command, which can be interrupted and run again.

What is checked stays cheap on a large store: the store records the ids of the keys its
rows were sealed under, and up to which item it has checked that items are sealed, so an
open reads only the items written since (titles, fact values and summaries, one row per
session or fact, are read whole).

``reseal`` seals in batches of rows, one transaction each, so an interrupted run keeps
what it did and a rerun skips it; then the search index is rebuilt for the key (or
dropped) and the database vacuumed, which leaves no plaintext copy in its file, free pages
or SQLite's write-ahead log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import CorruptData, KeyMismatch, StoreError, UnsealedData
from .crypto import SEALED, Cipher

# Rows sealed per transaction: small enough that an interruption loses little and other
# writers wait for milliseconds, large enough that commits do not dominate.
BATCH = 500

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SealedColumn:
    """A column that the cipher seals, and the key its rows are visited in the order of."""

    table: str
    key: str
    column: str
    shown: str


SEALED_COLUMNS = (
    SealedColumn("items", "id", "data", "messages"),
    SealedColumn("sessions", "id", "title", "session titles"),
    SealedColumn("facts", "id", "value", "fact values"),
    SealedColumn("fact_history", "id", "value", "earlier fact values"),
    SealedColumn("summaries", "session_id", "text", "summaries"),
)


@dataclass(frozen=True)
class SealingState:
    """What the store records about its sealing."""

    key_ids: frozenset[str] | None
    """The ids of the keys rows may be sealed under; None if never recorded."""
    checked_through: int
    """Items with ids up to this one are known to be sealed."""
    newest_item: int


@dataclass
class ResealReport:
    """What ``reseal`` did: values visited, plaintext ones sealed, others moved to the key."""

    visited: int = 0
    sealed: int = 0
    rekeyed: int = 0


@runtime_checkable
class Sealable(Protocol):
    """A store whose values can be checked and re-sealed (both backends are)."""

    location: str
    cipher: Cipher | None

    def sealing_state(self) -> SealingState:
        """The recorded key ids and item mark, and the newest item's id."""

    def record_sealing(self, key_ids: Collection[str], checked_through: int) -> None:
        """Record the key ids and, unless another process moved it since, the item mark."""

    def unsealed_columns(self, after_item: int, through_item: int) -> list[SealedColumn]:
        """The columns with a plaintext value (items: only those in the id range)."""

    def sealed_samples(self) -> list[str]:
        """A few sealed values: the newest item's and one of each other column."""

    def sealed_count(self) -> int:
        """How many values ``reseal`` will visit."""

    def reseal_batch(
        self, column: SealedColumn, after: int, limit: int, reseal: Callable[[str], str | None]
    ) -> tuple[int, int] | None:
        """In one transaction, pass the first ``limit`` values of ``column`` after key
        ``after`` through ``reseal`` and store what it returns (None: leave the value):
        (the last key, values visited), or None if no value is left."""

    def sync_search_index(self) -> None:
        """Bring the search index to what the key and settings want."""

    def vacuum(self) -> None:
        """Rewrite the database so that replaced content is gone from the files too."""


def check_sealed(store: Sealable) -> None:
    """Refuse a store opened with a key that holds plaintext or rows under another key;
    else record that the rows written so far are sealed."""
    cipher = store.cipher
    if cipher is None:
        return
    state = store.sealing_state()
    plain = store.unsealed_columns(state.checked_through, state.newest_item)
    if plain:
        raise UnsealedData(
            f"{store.location} holds {_listed([c.shown for c in plain])} in plaintext, written"
            " before MEMCHAT_ENCRYPTION_KEY was set: run `memchat encrypt` to seal them"
        )
    configured = frozenset(cipher.key_ids)
    key_ids: frozenset[str]
    if state.key_ids is None:
        # Sealed by a memchat that kept no record (or not sealed yet): a sample that no key
        # opens is refused; otherwise any of the keys may have sealed some rows.
        samples = store.sealed_samples()
        for sample in samples:
            try:
                cipher.open(sample)
            except StoreError:
                raise _mismatch(store.location) from None
        key_ids = configured if samples else frozenset(cipher.key_ids[:1])
    elif not state.key_ids <= configured:
        raise _mismatch(store.location)
    else:
        key_ids = state.key_ids | {cipher.key_ids[0]}
    if key_ids != state.key_ids or state.newest_item != state.checked_through:
        store.record_sealing(key_ids, state.newest_item)


def reseal(
    store: Sealable,
    progress: Progress | None = None,
    *,
    batch: int = BATCH,
    stage: Callable[[str], None] | None = None,
) -> ResealReport:
    """Seal every value of ``store`` under its first key, then rebuild the index and vacuum.

    Plaintext values are sealed and values sealed under the cipher's other keys re-sealed,
    ``batch`` rows per transaction; ``progress(n)`` follows each batch, and ``stage`` is
    told of the steps after them. Interrupted, it keeps the batches done; run again, it
    changes only what is left. A value that no key opens stops it with KeyMismatch.
    """
    cipher = store.cipher
    if cipher is None:
        raise StoreError("set MEMCHAT_ENCRYPTION_KEY to the key to seal the database under")
    report = ResealReport()

    def counted(stored: str) -> str | None:
        resealed = cipher.reseal(stored)
        if resealed is not None:
            if stored.startswith(SEALED):
                report.rekeyed += 1
            else:
                report.sealed += 1
        return resealed

    checked_through = 0
    for column in SEALED_COLUMNS:
        after = 0
        while (done := store.reseal_batch(column, after, batch, counted)) is not None:
            after, visited = done
            report.visited += visited
            if progress is not None:
                progress(visited)
        if column.table == "items":
            checked_through = after
    store.record_sealing({cipher.key_ids[0]}, checked_through)
    if stage is not None:
        stage("rebuilding the search index")
    store.sync_search_index()
    if stage is not None:
        stage("vacuuming")
    store.vacuum()
    return report


def sealable(store: object) -> Sealable:
    """``store`` as a Sealable, or a clear error if its backend cannot re-seal."""
    if not isinstance(store, Sealable):
        raise StoreError(f"{type(store).__name__} cannot seal its rows in place")
    return store


def parse_key_ids(stored: str | None) -> frozenset[str] | None:
    """The key ids the ``sealing`` table holds (a JSON list), or None if none were recorded."""
    if stored is None:
        return None
    try:
        found = json.loads(stored)
    except ValueError:
        found = None
    if not isinstance(found, list) or not all(isinstance(key, str) for key in found):
        raise CorruptData(f"the sealing record's key ids are corrupt: {stored[:80]!r}")
    return frozenset(found)


def _mismatch(location: str) -> KeyMismatch:
    return KeyMismatch(
        f"{location} is sealed, at least in part, under a key that MEMCHAT_ENCRYPTION_KEY"
        " lacks: set the right key, or if the key was changed, put the old one in"
        " MEMCHAT_OLD_ENCRYPTION_KEY and run `memchat rekey`"
    )


def _listed(names: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
