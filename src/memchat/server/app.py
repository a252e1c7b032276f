"""The HTTP server: the API under ``/api``, its spec at ``/openapi.json``, the web chat at ``/``.

:func:`create_app` builds the app from settings, a store and a model factory (tests pass
a scripted model); :func:`app_from_env` is what ``memchat serve`` runs in each worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..chat import Chat
from ..config import Settings, load_settings
from ..models import ModelChoice, resolve_model
from ..store import Quotas, Store, open_store
from ..store.rates import parse_rate
from .errors import install_error_handlers
from .limits import DEFAULT_MAX_BODY, BodyLimit
from .methods import HeadAsGet
from .openai_errors import OpenAIErrors
from .params import known_query_only
from .routes import (
    branches,
    export,
    imports,
    memory,
    messages,
    openai,
    projects,
    render,
    sessions,
    usage,
    users,
)
from .state import ModelFactory, ServerState
from .uploads import STREAMED

STATIC = Path(__file__).parent / "static"

# The page loads only its own files: no inline script, nothing from elsewhere, so even a
# rendering bug cannot run a script that came in a message.
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Add the page's security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _version() -> str:
    try:
        return version("memchat")
    except PackageNotFoundError:
        return "0"


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    model_factory: ModelFactory = resolve_model,
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The memchat HTTP app over ``store`` (opened from the settings if not given)."""
    settings = settings or load_settings()
    owns_store = store is None
    store = (
        store
        if store is not None
        else open_store(
            settings.db,
            encryption_key=settings.encryption_key,
            encrypted_search=settings.encrypted_search,
            quotas=Quotas(settings.max_sessions, settings.max_facts),
        )
    )
    model: ModelChoice = model_factory(settings)
    rate_limit = parse_rate(settings.rate_limit)
    state = ServerState(
        settings, store, model, Chat.from_settings(settings, model, store), rate_limit
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if model.prepare is not None:
            # Loading local weights takes seconds: do it before the first request waits.
            await asyncio.to_thread(model.prepare)
        yield
        if owns_store:
            state.store.close()

    app = FastAPI(
        title="memchat",
        version=_version(),
        summary="A chat agent that remembers: one memory per user, behind API tokens.",
        openapi_url="/openapi.json",
        # The bundled Swagger pages load scripts from a CDN; the spec itself is enough.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.memchat = state
    install_error_handlers(app)
    for module in (
        sessions,
        messages,
        branches,
        memory,
        projects,
        usage,
        export,
        imports,
        users,
        render,
    ):
        app.include_router(module.router, dependencies=[Depends(known_query_only)])
    # OpenAI's API under /v1; its clients send query parameters of their own.
    app.include_router(openai.router)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        BodyLimit, max_bytes=max_body_bytes, timeout=settings.read_timeout, streamed=STREAMED
    )
    app.add_middleware(HeadAsGet)
    # Outside the body limit, so its 413 too takes OpenAI's shape under /v1.
    app.add_middleware(OpenAIErrors)
    app.add_middleware(SecurityHeaders)
    return app


def app_from_env() -> FastAPI:
    """The app for one ``memchat serve`` worker, configured by the environment."""
    return create_app()
