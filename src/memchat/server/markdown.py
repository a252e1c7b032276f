"""Replies as HTML for the web page: markdown-it-py (CommonMark, with GitHub's tables and
strikethrough) and Pygments for code blocks.

Safe by configuration: raw HTML is off (a message's own tags come out as text), images
are off (``![x](url)`` stays text, so a reply cannot make the page fetch anything), and a
link keeps only an http(s) or mailto address. Both libraries are linear in the text, so a
reply re-rendered as it streams costs time in proportion to its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from html import escape

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# A code block longer than this is shown without colours: highlighting is for reading.
MAX_HIGHLIGHTED = 50_000
# A longer text is shown as written (escaped, in a <pre>): markdown-it-py is linear but pure
# Python, a few microseconds a character and tens on text made of brackets, and a reply is
# rendered again and again as it streams.
MAX_RENDERED = 100_000
_LINK_SCHEMES = ("http://", "https://", "mailto:")
# Token classes only (no inline styles: the page's Content-Security-Policy forbids them);
# the colours are in highlight_css().
_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block's HTML, coloured if Pygments knows its language, else "" (plain)."""
    if not lang or len(code) > MAX_HIGHLIGHTED:
        return ""
    try:
        lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    body: str = pygments_highlight(code, lexer, _FORMATTER)
    return f'<pre><code class="language-{escape(lang)}">{body}</code></pre>'


def _validate_link(url: str) -> bool:
    return url.strip().lower().startswith(_LINK_SCHEMES)


def _link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A link opens elsewhere, and tells the other site nothing.
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return renderer.renderToken(tokens, idx, options, env)


def _cell_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A column's alignment as a class rather than the inline style markdown-it writes.
    token = tokens[idx]
    style = token.attrGet("style")
    if isinstance(style, str) and style.startswith("text-align:"):
        del token.attrs["style"]
        token.attrSet("class", f"align-{style.removeprefix('text-align:')}")
    return renderer.renderToken(tokens, idx, options, env)


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    md.enable(["table", "strikethrough"])
    md.disable("image")
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("th_open", _cell_open)
    md.add_render_rule("td_open", _cell_open)
    return md


def render(text: str) -> str:
    """The HTML for a reply written in Markdown."""
    if len(text) > MAX_RENDERED:
        return f'<pre class="plain">{escape(text)}</pre>\n'
    # NUL is not text; markdown-it would turn it into U+FFFD anyway.
    html: str = _parser().render(text.replace("\0", ""))
    return html


def _token_colours(style: str) -> str:
    # Only the token classes: the page's pre blocks keep their own background and size.
    defs = HtmlFormatter(style=style, classprefix="hl-").get_style_defs(".msg pre")
    return "\n".join(line for line in defs.splitlines() if line.startswith(".msg pre .hl-"))


@cache
def highlight_css() -> str:
    """The colours of highlighted code: a light theme, and a dark one when the system is."""
    light, dark = _token_colours("default"), _token_colours("monokai")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
