"""The app's own OpenAPI spec, looked up per request: the server holds callers to it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import Match, Mount, Route, compile_path

PathItems = list[tuple[re.Pattern[str], dict[str, Any]]]


def _path_items(app: FastAPI) -> PathItems:
    cached: PathItems | None = getattr(app.state, "spec_paths", None)
    if cached is None:
        cached = [
            (compile_path(path)[0], operations)
            for path, operations in app.openapi()["paths"].items()
        ]
        app.state.spec_paths = cached
    return cached


def _matching(request: Request) -> list[dict[str, Any]]:
    path = request.url.path
    return [ops for pattern, ops in _path_items(request.app) if pattern.match(path)]


def allowed_methods(request: Request) -> list[str]:
    """Every method the spec documents for the request's path (for a 405's Allow)."""
    methods = {method.upper() for operations in _matching(request) for method in operations}
    # Routes left out of the spec (the page at /, its static files).
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            if route.matches(request.scope)[0] is not Match.NONE:
                methods |= route.methods
        elif isinstance(route, Mount) and request.url.path.startswith(f"{route.path}/"):
            # The mount has rewritten the scope's paths by now: the URL keeps the whole.
            methods.add("GET")
    if "GET" in methods:
        methods.add("HEAD")  # methods.HeadAsGet answers HEAD wherever GET is answered
    return sorted(methods)


def query_parameters(request: Request) -> set[str]:
    """The query parameters the spec documents for the request's operation."""
    names: set[str] = set()
    for operations in _matching(request):
        operation = operations.get(request.method.lower(), {})
        names |= {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    return names
