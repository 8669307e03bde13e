"""A render as a list of steps over one draft: the page and comment pipelines are spelled out
here (``PAGE_STEPS``, ``PAGE_DIALECT`` ...), so a step is added or removed in one place.

Steps run on the calling thread with that thread's tools (a mistune parser, its HTML renderer,
a sanitizer): none of them may be shared between threads, and building them per render is slow.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import nh3

from ..frontmatter import split as front_matter_split
from .blocks import FencedBlock, attributes_of, by_info_word
from .htmlrenderer import CommentHTMLRenderer, RenderContext, WikiHTMLRenderer
from .result import Rendered
from .sanitize import COMMENT_ATTRIBUTES, COMMENT_TAGS, PAGE_ATTRIBUTES, PAGE_TAGS, make_cleaner
from .syntax import Dialect, mark_title, number_sections, wikilink_plugin

_log = logging.getLogger(__name__)


@dataclass
class Draft:
    """One render on its way: the text, then the HTML, and what the HTML renderer found."""

    kind: str  # "page" or "comment", for the log
    page_path: str
    text: str
    html: str = ""
    found: RenderContext | None = None

    def rendered(self) -> Rendered:
        found = self.found
        assert found is not None, "no step rendered the markdown"
        return Rendered(self.html, found.title, tuple(found.headings), frozenset(found.links))


class Tools:
    """One thread's mistune parser (over ``renderer``) and sanitizer."""

    def __init__(self, renderer: WikiHTMLRenderer, dialect: Dialect, cleaner: nh3.Cleaner) -> None:
        self.renderer = renderer
        self.markdown = dialect.markdown(renderer)
        self.cleaner = cleaner
        self.spoiled = False  # a step failed half-way: do not reuse

    @property
    def busy(self) -> bool:
        return self.renderer.ctx is not None


Step = Callable[[Draft, Tools], None]


# --------------------------------------------------------------------------- steps


def drop_front_matter(draft: Draft, tools: Tools) -> None:
    """Front matter is metadata, shown in the page header, not text of the page."""
    draft.text = front_matter_split(draft.text)[1]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def replace_lone_surrogates(draft: Draft, tools: Tools) -> None:
    """Undecodable bytes (lone surrogates) become U+FFFD: the sanitizer needs valid UTF-8."""
    draft.text = _valid_unicode(draft.text)
    draft.page_path = _valid_unicode(draft.page_path)


def markdown_to_html(draft: Draft, tools: Tools) -> None:
    """Parse and render to (not yet safe) HTML; a parser bug shows the source instead of failing the page."""
    found = RenderContext(draft.page_path, draft.text)
    tools.renderer.ctx = found
    try:
        body = tools.markdown(draft.text)
    except Exception:
        _log.exception("%s rendering failed for %r; showing source", draft.kind, draft.page_path)
        found = RenderContext(draft.page_path, draft.text)  # nothing of a failed render is kept
        body = '<pre class="render-error"><code>' + html.escape(draft.text, quote=True) + "</code></pre>\n"
        tools.spoiled = True
    finally:
        tools.renderer.ctx = None
    assert isinstance(body, str)
    draft.html = body
    draft.found = found


def sanitize(draft: Draft, tools: Tools) -> None:
    draft.html = tools.cleaner.clean(draft.html)


# --------------------------------------------------------------------------- the two pipelines

PAGE_DIALECT = Dialect(
    plugins=("table", "footnotes", "strikethrough", "task_lists", "url", "def_list", wikilink_plugin),
    token_hooks=(mark_title, number_sections),
    hard_wrap=False,
)
PAGE_STEPS: tuple[Step, ...] = (drop_front_matter, replace_lone_surrogates, markdown_to_html, sanitize)

COMMENT_DIALECT = Dialect(
    plugins=("strikethrough", "url", "task_lists", "table", wikilink_plugin),
    token_hooks=(),
    hard_wrap=True,
)
COMMENT_STEPS: tuple[Step, ...] = (replace_lone_surrogates, markdown_to_html, sanitize)


@dataclass
class Pipeline:
    """Runs ``steps`` in order over a draft, with tools ``make_tools`` builds once per thread."""

    kind: str
    steps: Sequence[Step]
    make_tools: Callable[[], Tools]
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def run(self, text: str, page_path: str) -> Rendered:
        tools = self._tools()
        draft = Draft(self.kind, page_path, text)
        for step in self.steps:
            step(draft, tools)
        if tools.spoiled and getattr(self._local, "tools", None) is tools:
            self._local.tools = None  # its state may be inconsistent now
        return draft.rendered()

    def _tools(self) -> Tools:
        tools: Tools | None = getattr(self._local, "tools", None)
        if tools is None:
            tools = self._local.tools = self.make_tools()
        if tools.busy:
            # re-entrant render on this thread (a URL callback rendering): use fresh ones
            return self.make_tools()
        return tools


def page_pipeline(page_url: Callable[[str], str], section_edit_url: Callable[[str, int], str] | None,
                  blocks: Iterable[FencedBlock]) -> Pipeline:
    blocks = tuple(blocks)
    renderers, attributes = by_info_word(blocks), attributes_of(blocks)
    return Pipeline("page", PAGE_STEPS, lambda: Tools(
        WikiHTMLRenderer(page_url, section_edit_url, renderers), PAGE_DIALECT,
        make_cleaner(PAGE_TAGS, PAGE_ATTRIBUTES, attributes)))


def comment_pipeline(page_url: Callable[[str], str], blocks: Iterable[FencedBlock]) -> Pipeline:
    """Comments: markdown with wiki links (resolved from the page's folder) and only
    COMMENT_HTML_TAGS as raw HTML, sanitized by the same factory as pages."""
    blocks = tuple(blocks)
    renderers, attributes = by_info_word(blocks), attributes_of(blocks)
    return Pipeline("comment", COMMENT_STEPS, lambda: Tools(
        CommentHTMLRenderer(page_url, renderers), COMMENT_DIALECT,
        make_cleaner(COMMENT_TAGS, COMMENT_ATTRIBUTES, attributes)))
