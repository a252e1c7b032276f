"""Where the PostgreSQL store connects: a libpq URL, and the parameters memchat reads itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg

from ...errors import ConfigError

POOL_SIZE_ENV = "MEMCHAT_PG_POOL_SIZE"
DEFAULT_POOL_SIZE = 10
# URL parameters memchat reads itself; every other one goes to libpq as it is.
_OWN_PARAMS = ("pool_size", "schema")
_DEFAULTS = {"connect_timeout": "10", "application_name": "memchat"}


@dataclass(frozen=True)
class Target:
    """Where to connect: libpq parameters, memchat's own options, and a printable name."""

    conninfo: str
    schema: str | None
    pool_size: int
    shown: str


def parse_url(url: str, pool_size: int | None = None) -> Target:
    """Split a ``postgresql://`` URL into libpq's parameters and memchat's own.

    ``?pool_size=N`` (else ``MEMCHAT_PG_POOL_SIZE``, else 10) sizes the pool;
    ``?schema=NAME`` keeps memchat's tables in that schema, created if needed.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {key: value for key, value in query if key in _OWN_PARAMS}
    rest = urlencode([(k, v) for k, v in query if k not in _OWN_PARAMS], quote_via=quote)
    conninfo = urlunsplit(parts._replace(query=rest))
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
        port = parts.port
    except (psycopg.ProgrammingError, ValueError) as exc:
        raise ConfigError(f"invalid PostgreSQL URL: {exc}") from exc
    # Named without the user or password, for messages: host (or socket directory), port
    # and database.
    host = parts.hostname or str(params.get("host") or "localhost")
    shown = f"{host}:{port or params.get('port') or 5432}{parts.path or '/'}"
    size_text = own.get("pool_size") or os.environ.get(POOL_SIZE_ENV)
    if pool_size is None and size_text:
        if not size_text.isdigit() or int(size_text) < 1:
            raise ConfigError(f"pool size must be a whole number >= 1, got {size_text!r}")
        pool_size = int(size_text)
    return Target(
        conninfo=psycopg.conninfo.make_conninfo("", **{**_DEFAULTS, **params}),
        schema=own.get("schema") or None,
        pool_size=pool_size or DEFAULT_POOL_SIZE,
        shown=shown,
    )
