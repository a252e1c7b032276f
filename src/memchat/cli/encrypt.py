"""``memchat encrypt`` and ``memchat rekey``: bring every stored value under the key."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import ConfigError, MemchatError
from ..store import open_store
from ..store.crypto import Cipher
from ..store.sealing import ResealReport, reseal, sealable
from .app import App, pass_app

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


@click.command()
@yes_option
@pass_app
def encrypt(app: App, yes: bool) -> None:
    """Seal what was written before MEMCHAT_ENCRYPTION_KEY was set, then vacuum.

    Messages, session titles, fact values and summaries are sealed in batches, one
    transaction each: if it is interrupted, run it again to finish. The search index is
    rebuilt for the key (or dropped), and the database vacuumed, so no plaintext copy is
    left in its file. Stop other memchat processes first.
    """
    key = app.settings.encryption_key
    if not key:
        raise MemchatError(
            "set MEMCHAT_ENCRYPTION_KEY to the key to seal the database under"
            " (make one with `memchat keygen`, and keep it safe: lose it, lose the data)"
        )
    if not yes:
        click.confirm(
            f"seal everything in {app.settings.db} under MEMCHAT_ENCRYPTION_KEY?"
            " Without that key nothing can be read back",
            abort=True,
        )
    report = _reseal(app, key, "sealing")
    click.echo(
        f"sealed {report.sealed} values (of {report.visited}) under MEMCHAT_ENCRYPTION_KEY"
        + (f", re-sealed {report.rekeyed} from its other keys" if report.rekeyed else "")
        + "; rebuilt the search index and vacuumed"
    )


@click.command()
@yes_option
@pass_app
def rekey(app: App, yes: bool) -> None:
    """Re-seal every value from an old key under MEMCHAT_ENCRYPTION_KEY, then vacuum.

    The old key comes from MEMCHAT_OLD_ENCRYPTION_KEY, or is asked for (never a flag, which
    would keep it in the shell's history); with several keys in MEMCHAT_ENCRYPTION_KEY
    (new,old) nothing is asked. In batches, like `memchat encrypt`: run it again to finish
    an interrupted one. Afterwards the old key opens nothing. Stop other memchat processes
    first.
    """
    new = app.settings.encryption_key
    if not new:
        raise MemchatError(
            "set MEMCHAT_ENCRYPTION_KEY to the new key (make one with `memchat keygen`)"
        )
    old = app.settings.old_encryption_key
    if not old and len(Cipher(new).key_ids) == 1:
        old = click.prompt(
            "the old key (or set MEMCHAT_OLD_ENCRYPTION_KEY)", hide_input=True, err=True
        )
    if old:
        try:
            Cipher(old)
        except ConfigError:
            raise ConfigError(
                "MEMCHAT_OLD_ENCRYPTION_KEY is not a Fernet key (it is the key the rows are"
                " sealed under now)"
            ) from None
    if not yes:
        click.confirm(
            f"re-seal everything in {app.settings.db} under the first key of"
            " MEMCHAT_ENCRYPTION_KEY? The old key will open nothing",
            abort=True,
        )
    report = _reseal(app, f"{new},{old}" if old else new, "re-sealing")
    click.echo(
        f"re-sealed {report.rekeyed} values (of {report.visited}) under MEMCHAT_ENCRYPTION_KEY"
        + (f" and sealed {report.sealed} plaintext ones" if report.sealed else "")
        + "; rebuilt the search index and vacuumed"
    )


def _reseal(app: App, keys: str, verb: str) -> ResealReport:
    """Reseal the configured store under ``keys``' first key, with a progress bar."""
    store = open_store(
        app.db,
        encryption_key=keys,
        encrypted_search=app.settings.encrypted_search,
        check_sealed=False,
    )
    try:
        target = sealable(store)
        err = Console(stderr=True)
        columns = (
            TextColumn(verb),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("values"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err) as bar:
            task = bar.add_task(verb, total=target.sealed_count())
            return reseal(
                target,
                lambda n: bar.advance(task, n),
                stage=lambda text: bar.console.print(f"{text}..."),
            )
    finally:
        store.close()
