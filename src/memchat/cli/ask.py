"""``memchat ask``: one turn from the command line, for scripts."""

from __future__ import annotations

import asyncio
import sys

import click

from ..errors import MemchatError
from .app import App, pass_app, project_option, user_of, user_option
from .render import show_stream


@click.command()
@click.argument("message")
@user_option
@click.option("--session", "-s", "session_id", metavar="ID", help="Continue this session.")
@click.option("--new", "-n", is_flag=True, help="Start a new session.")
@project_option
@pass_app
def ask(
    app: App,
    message: str,
    user: str | None,
    session_id: str | None,
    new: bool,
    project: str | None,
) -> None:
    """Send one MESSAGE (or - to read it from stdin) and print the reply.

    Continues the user's current session, so two asks in a row are one conversation.
    With --project, a session of that project (the current one if it is in it).
    """
    if message == "-":
        try:
            message = sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise MemchatError(f"stdin is not valid UTF-8 text ({exc.reason})") from exc
    # Imported here: they bring the Agents SDK, which `memchat --help` should not load.
    from ..chat import check_message
    from ..store.session import MemchatSession

    name = user_of(app, user)
    check_message(message, app.settings.max_input_chars)
    info = app.store.open_session(name, session_id, new=new, project=project)
    chat = app.chat()
    session = MemchatSession(app.store, info)
    result = asyncio.run(show_stream(chat.stream_turn(session, message), markdown=False))
    if result.changes:
        # On stderr: stdout is the reply alone, for scripts.
        click.echo(f"({result.changes})", err=True)
