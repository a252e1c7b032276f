"""``memchat serve``: the HTTP API and web chat, a thin shell over the same turn path."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
