"""Settings from the environment, a ``.env`` file and ``memchat.toml``, in that order.

Each setting has one environment variable (``MEMCHAT_MODEL``...) and one key in
``memchat.toml`` in the data directory (``model = "..."``). Command-line flags override
all of them. ``memchat config`` shows every value and where it came from. The settings
themselves are in ``settings.py`` (``Settings`` is importable from here too).
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from .errors import ConfigError
from .settings import DEFAULT_SYSTEM_PROMPT, Settings

__all__ = ["DEFAULT_SYSTEM_PROMPT", "Settings", "load_settings"]


def _default_home(env: Mapping[str, str]) -> Path:
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "memchat"


def _default_user() -> str:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = ""
    return login if re.fullmatch(r"[\w.@+-]{1,64}", login) else "me"


def _coerce(name: str, kind: Any, raw: Any, origin: str, least: int | None = None) -> Any:
    # The annotations are strings (``from __future__ import annotations``); an optional
    # setting's value, when given, has the type it is optional of.
    kind = kind.removesuffix(" | None") if isinstance(kind, str) else kind
    if kind in (bool, "bool"):
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name} from {origin}: expected true or false, got {raw!r}")
    if kind in (int, "int"):
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} from {origin}: expected a number, got {raw!r}") from None
        if least is not None and number < least:
            raise ConfigError(f"{name} from {origin}: must be at least {least}, got {number}")
        return number
    if kind in (Path, "Path"):
        return Path(str(raw)).expanduser()
    return str(raw)


def load_settings(
    env: Mapping[str, str] | None = None, dotenv_path: Path | None = None
) -> Settings:
    """Read settings: environment, then ``./.env``, then ``memchat.toml``, then defaults."""
    environ = dict(os.environ if env is None else env)
    dotenv_file = dotenv_path or Path.cwd() / ".env"
    dotenv = (
        {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
        if dotenv_file.is_file()
        else {}
    )

    def from_env(var: str) -> tuple[str, str] | None:
        if var in environ:
            return environ[var], "environment"
        if var in dotenv:
            return dotenv[var], f"{dotenv_file}"
        return None

    home_raw = from_env("MEMCHAT_HOME")
    home = Path(home_raw[0]).expanduser() if home_raw else _default_home(environ)
    toml_path = home / "memchat.toml"
    toml = _read_toml(toml_path)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in fields(Settings):
        if f.name == "sources":
            continue
        found = from_env(f.metadata["env"])
        if found is None and f.name in toml:
            found = (toml[f.name], str(toml_path))
        if found is not None:
            values[f.name] = _coerce(
                f.metadata["env"], f.type, found[0], found[1], f.metadata.get("min")
            )
            sources[f.name] = found[1]
        else:
            sources[f.name] = "default"
    values.setdefault("home", home)
    values.setdefault("db", str(values["home"] / "memchat.db"))
    values.setdefault("user", _default_user())
    unknown = set(toml) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"{toml_path}: unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**values, sources=sources)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
