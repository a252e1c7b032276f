"""The web page's Markdown (server-rendered, markdown-it-py and Pygments): what it makes of
tables, nested lists, quotes and code, that a message's own markup stays text, and that
any text renders in time proportional to its length."""

from __future__ import annotations

import re
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from memchat.server.markdown import MAX_RENDERED, highlight_css, render

from .server_harness import add_user, client, scripted_app


def render_within(text: str, seconds: float = 10) -> str:
    """The HTML for ``text``; fails (rather than hangs) if it takes longer than ``seconds``,
    and fails if any tag in it is not one the renderer is allowed to write."""
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(render(text)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"no HTML after {seconds} s for {text[:60]!r}"
    for tag in TAG.findall(out[0]):
        assert RENDERED_TAG.fullmatch(tag), (text[:100], tag)
    return out[0]


# Every tag the renderer writes, each with its fixed attributes: whatever the text, its own
# markup stays text and no attribute of its own gets in.
TAG = re.compile(r"<[^>]*>")
RENDERED_TAG = re.compile(
    r"</?(p|br|h[1-6]|hr|blockquote|ul|li|pre|strong|em|s|table|thead|tbody|tr|span)>"
    r'|<br />|<hr />|<ol( start="\d+")?>|</ol>|</code>|</a>|</t[hd]>'
    r'|<t[hd]( class="align-(left|center|right)")?>'
    r'|<code( class="language-[^"<>]+")?>|<span class="hl-[\w-]+">|<pre class="plain">'
    r'|<a href="(https?://|mailto:)[^"<>\s]*" target="_blank" rel="noopener noreferrer">'
)

# Markdown's punctuation, whole tokens and single characters, so that generated text often
# starts or half-starts a block: fences, headings, quotes, lists, rules, links, code,
# tables. (The lines that once stuck the page's own renderer are among them.)
MARKDOWN_PIECES = st.sampled_from(
    [
        *"`~#|>-*_+.)([]!: \t\n0123456789ax",
        *["```", "~~~", "---", "***", "**", "__", "~~", "](", "http://", "mailto:", "<b>"],
        *["# ", "## ", "> ", "- ", "* ", "1. ", "2) ", "[a](http://x.y)", 'title="x"'],
        *["bash", "python", "&amp;", "| a | b |", "|---|:-:|", "![i](http://x/i.png)"],
        *["```bash ls```", '```python title="x"', "~~~ hi ~~~", " # x", "javascript:"],
        *["\r\n", "\r", "\u2028", "\u00a0", "\u0000"],
    ]
)
MARKDOWN_TEXT = st.lists(MARKDOWN_PIECES | st.text(max_size=3), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=MARKDOWN_TEXT)
def test_any_text_renders_to_the_renderers_own_tags(text: str) -> None:
    render_within(text)


def test_long_texts_render_in_time_proportional_to_their_length() -> None:
    # A reply is rendered again as it streams: the time must grow with the text's length,
    # not with its square (each of these took the page's old renderer, or would take a
    # quadratic one, far longer).
    for text in ["[" * 100_000, "[a](http://x" * 8_000, ">" * 20_000, "- " * 50_000]:
        render_within(text, seconds=60)
    # Longer than that is shown as written, at once.
    long = "[<b>" * (MAX_RENDERED // 4 + 1)
    assert render_within(long, seconds=5).startswith('<pre class="plain">[&lt;b&gt;')


def test_tables_nested_lists_quotes_and_code() -> None:
    html = render(
        "| name | n |\n|:--|--:|\n| tea | 2 |\n\n"
        "1. first\n   - inner a\n   - inner b\n2. second\n\n"
        "> quoted\n\n"
        "```python\ndef f():\n    return '<hi>'\n```"
    )
    assert '<th class="align-left">name</th>' in html
    assert '<td class="align-right">2</td>' in html
    assert "<ol>\n<li>first\n<ul>\n<li>inner a</li>\n<li>inner b</li>\n</ul>\n</li>" in html
    assert "<li>second</li>\n</ol>" in html
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert '<pre><code class="language-python"><span class="hl-k">def</span>' in html
    assert "&#x27;&lt;hi&gt;&#x27;" in html or "&lt;hi&gt;" in html
    # The colours of those classes, light and dark.
    assert ".msg pre .hl-k {" in highlight_css()
    assert "prefers-color-scheme: dark" in highlight_css()


def test_markup_links_and_images_stay_inert() -> None:
    html = render(
        "<script>x()</script> <img src=x onerror=y()> [a](javascript:alert(1)) "
        '[b](https://example.org/?q="x") ![i](data:image/png;base64,AA) <https://x.y>'
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=y()&gt;" in html
    assert 'href="javascript' not in html and "[a](javascript:alert(1))" in html
    assert (
        '<a href="https://example.org/?q=%22x%22" target="_blank" rel="noopener noreferrer">b</a>'
    ) in html
    assert "![i](data:image/png;base64,AA)" in html


def test_the_render_route(store) -> None:
    from agents.testing import ScriptedModel

    c = client(scripted_app(store, ScriptedModel()))
    h = add_user(store, "sara")
    ok = c.post("/api/render", json={"texts": ["**a**", "<b>"]}, headers=h)
    assert ok.status_code == 200
    assert ok.json() == {"html": ["<p><strong>a</strong></p>\n", "<p>&lt;b&gt;</p>\n"]}
    assert c.post("/api/render", json={"texts": ["x"]}).status_code == 401
    too_much = c.post("/api/render", json={"texts": ["x" * 150_000] * 2}, headers=h)
    assert too_much.status_code == 422
    css = c.get("/highlight.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
