"""What every command shares: settings, the store and the chat, opened on first use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Settings, load_settings
from ..errors import StoreError
from ..store import POSTGRES_SCHEMES, Quotas, Store, open_store

if TYPE_CHECKING:
    from ..chat import Chat
    from ..models import ModelChoice

ModelFactory = Callable[[Settings], "ModelChoice"]


def resolve_model(settings: Settings) -> ModelChoice:
    """The model the settings select (see models.resolve_model)."""
    # Imported here: the Agents SDK and openai take about a second to import, which only
    # the commands that run a model should pay (`memchat --help` should not).
    from ..models import resolve_model

    return resolve_model(settings)


@dataclass
class App:
    """The command line's state; tests build one with a scripted model factory."""

    settings: Settings = field(default_factory=load_settings)
    model_factory: ModelFactory = resolve_model
    _store: Store | None = None
    _model: ModelChoice | None = None

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) the first time it is needed."""
        if self._store is None:
            self._store = open_store(
                self.db,
                encryption_key=self.settings.encryption_key,
                encrypted_search=self.settings.encrypted_search,
                quotas=Quotas(self.settings.max_sessions, self.settings.max_facts),
            )
        return self._store

    @property
    def db(self) -> str:
        """The database location, checked: a named SQLite file's folder must exist.

        Only the default data directory is created; a mistyped ``--db`` or ``MEMCHAT_DB``
        would otherwise leave a new, empty database somewhere unexpected.
        """
        location = self.settings.db
        if self.settings.sources.get("db", "default") == "default":
            return location
        if location == ":memory:" or location.startswith(POSTGRES_SCHEMES):
            return location
        folder = Path(location.removeprefix("sqlite:///")).expanduser().parent
        if not folder.is_dir():
            raise StoreError(f"cannot open {location}: the folder {folder} does not exist")
        return location

    @property
    def model(self) -> ModelChoice:
        """The configured model, resolved (not loaded) the first time it is needed."""
        if self._model is None:
            self._model = self.model_factory(self.settings)
        return self._model

    def ready_model(self) -> ModelChoice:
        """The configured model, loaded, with a spinner on stderr while that takes time."""
        choice = self.model
        if choice.prepare is not None:
            from rich.console import Console

            with Console(stderr=True).status(f"loading {choice.name}..."):
                choice.prepare()
            choice = self._model = replace(choice, prepare=None)
        return choice

    def chat(self) -> Chat:
        """The chat agent for the configured model, loaded and ready."""
        from ..chat import Chat

        return Chat.from_settings(self.settings, self.ready_model(), self.store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(App)

user_option = click.option(
    "--user", "-u", metavar="NAME", help="Whose conversations (default: MEMCHAT_USER or login)."
)
project_option = click.option(
    "--project", "-p", metavar="NAME", help="A session of this project (made if new)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
verify_option = click.option(
    "--verify",
    is_flag=True,
    help="Then scan the database for the forgotten text and print a receipt (exit 1 if"
    " a copy remains).",
)


def user_of(app: App, user: str | None) -> str:
    """The user named on the command line, or the configured default."""
    return app.settings.user if user is None else user
