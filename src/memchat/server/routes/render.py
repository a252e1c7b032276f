"""``POST /api/render``: Markdown as the web page shows it, and ``/highlight.css``.

The page sends a reply's text (as it streams, and the stored replies of a session it
opens) and shows the HTML that comes back: one renderer, markdown-it-py with raw HTML off
(:mod:`memchat.server.markdown`), instead of a parser written for the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from ..auth import CurrentUser
from ..markdown import MAX_RENDERED, highlight_css, render
from ..schemas import AnyText, Strict
from . import errors

router = APIRouter(tags=["render"])

# A session's page of turns at a time (the history's largest page is 500 turns), and at
# most two texts of the longest that are rendered as Markdown.
MAX_TEXTS = 500
MAX_CHARS = 2 * MAX_RENDERED


class RenderIn(Strict):
    """Texts written in Markdown."""

    texts: Annotated[list[AnyText], Field(max_length=MAX_TEXTS)]

    @field_validator("texts")
    @classmethod
    def _bounded(cls, texts: list[str]) -> list[str]:
        if sum(map(len, texts)) > MAX_CHARS:
            raise ValueError(f"at most {MAX_CHARS:,} characters in all: send fewer at a time")
        return texts


class RenderOut(BaseModel):
    """Each text's HTML, in the order given."""

    html: list[str]


@router.post("/api/render", responses=errors())
def render_markdown(_user: CurrentUser, body: RenderIn) -> RenderOut:
    """Render Markdown to HTML as the web page shows it (raw HTML in the text stays text)."""
    # A plain def: FastAPI runs it in a thread, so a long text never holds up a stream.
    return RenderOut(html=[render(text) for text in body.texts])


@router.get("/highlight.css", include_in_schema=False)
async def code_colours() -> Response:
    return Response(highlight_css(), media_type="text/css")
