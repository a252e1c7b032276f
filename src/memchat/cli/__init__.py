"""The ``memchat`` command line: a thin shell over the library, split by command group."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import MemchatError
from .app import App


class MemchatGroup(click.Group):
    """The top-level group: turns every MemchatError into a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MemchatError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            if isinstance(ctx.obj, App):
                ctx.obj.close()


@click.group(cls=MemchatGroup, invoke_without_command=True)
@click.option(
    "--db",
    metavar="PATH|URL",
    help="SQLite file or postgresql:// URL (default: MEMCHAT_DB or $MEMCHAT_HOME/memchat.db).",
)
@click.option(
    "--project",
    "-p",
    metavar="NAME",
    help="Without a command: chat in a session of this project (`memchat chat --project`).",
)
@click.version_option(package_name="memchat")
@click.pass_context
def cli(ctx: click.Context, db: str | None, project: str | None) -> None:
    """memchat: a chat agent that remembers.

    Run without a command to chat in the terminal.
    """
    if project is not None and ctx.invoked_subcommand is not None:
        raise click.UsageError("--project before a command: give it to the command instead")
    if ctx.obj is None:
        try:
            ctx.obj = App()
        except MemchatError as exc:
            raise click.ClickException(str(exc)) from exc
    app: App = ctx.obj
    app.settings = app.settings.with_overrides(db=db)
    if ctx.invoked_subcommand is None:
        from .chat import chat

        ctx.invoke(chat, project=project)


def _register() -> None:
    from .ask import ask
    from .chat import chat
    from .config import config
    from .encrypt import encrypt, rekey
    from .keygen import keygen
    from .memory import memory
    from .migrate import migrate
    from .projects import projects
    from .prune import prune
    from .search import search
    from .serve import serve
    from .sessions import sessions
    from .transfer import export, import_
    from .usage import usage
    from .users import users

    for command in (
        chat,
        ask,
        sessions,
        users,
        memory,
        projects,
        search,
        usage,
        export,
        import_,
        prune,
        serve,
        migrate,
        keygen,
        encrypt,
        rekey,
        config,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Entry point of the ``memchat`` console script."""
    sys.exit(cli.main(prog_name="memchat"))
