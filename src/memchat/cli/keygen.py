"""``memchat keygen``: a new key for encryption at rest."""

from __future__ import annotations

import click

from ..store.crypto import generate_key


@click.command()
def keygen() -> None:
    """Print a new random key for MEMCHAT_ENCRYPTION_KEY (keep it safe: lose it, lose the data)."""
    click.echo(generate_key())
