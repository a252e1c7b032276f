"""How ``memchat serve`` runs uvicorn: bounded headers, reads and connections, quiet logs.

uvicorn's defaults trust the client: its C parser (httptools) reads headers of any size,
a connection that sends nothing or trickles its headers is held forever, and the access
log writes every query string. :func:`uvicorn_options` turns the settings into uvicorn's
keyword arguments that close those doors; the request body has its own limits in
``limits.py``.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import Settings

# Replies still streaming when the server is told to stop get this long to finish.
GRACEFUL_SHUTDOWN_SECONDS = 30


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for every request's headers.

    uvicorn times a connection out only while it idles after a response (keep-alive): one
    that sends nothing, or sends its headers a byte now and then, it holds forever. Here
    the headers of each request must be complete within ``header_timeout`` seconds of the
    connection opening or of the previous response ending, or the connection is closed.
    Bytes arriving do not extend the deadline, so trickling them does not help.
    """

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        # Between requests (none yet, or the last one answered) the next one's headers are
        # due; once h11 has parsed them the app has the request and the deadline is off.
        if self.cycle is None or self.cycle.response_complete:
            if self._deadline is None and not self.transport.is_closing():
                self._deadline = self.loop.call_later(self.header_timeout, self._expire)
        else:
            self._cancel()

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class QuerylessAccessLog(logging.Filter):
    """Drop the query string from uvicorn's access log lines.

    Query strings carry search words (readable even when the store is encrypted) and
    whatever a client puts there, tokens included; the path says enough.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.partition("?")[0] if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def log_config(log_query: bool = False) -> dict[str, Any]:
    """uvicorn's logging configuration, its access log without query strings unless asked."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if not log_query:
        config.setdefault("filters", {})["queryless"] = {"()": QuerylessAccessLog}
        config["loggers"]["uvicorn.access"]["filters"] = ["queryless"]
    return config


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` (or ``uvicorn.Config``) from the settings."""
    return {
        # h11, not httptools: httptools reads headers of any size; h11 stops at a limit
        # (and answers 400). uvicorn calls this with the connection's own arguments; a
        # partial of a class pickles, so it reaches every worker process.
        "http": functools.partial(HeaderDeadline, header_timeout=settings.read_timeout),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # uvicorn counts the connection asking too: at N it already refuses the Nth.
        "limit_concurrency": settings.max_connections + 1,
        "timeout_keep_alive": settings.keep_alive,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        # The app has no WebSocket routes: no upgrade, no second protocol to bound.
        "ws": "none",
        "log_config": log_config(settings.log_query),
    }
