"""What a page contributes to the index: title, headings, plain text, tags, links.

The text comes from the page's sanitized rendering, so no markup symbol is
indexed and links are resolved exactly as readers see them; the rendering is
cached by blob, so indexing also warms the render cache for first views.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from .. import names
from ..frontmatter import parse as parse_front_matter
from ..render import Renderer

# "e[x]tract", "[c]reate": brackets inside a word (mnemonics) are not word boundaries
_IN_WORD_BRACKETS = re.compile(r"(?<=\w)\[(\w{1,3})\]|\[(\w{1,3})\](?=\w)")
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr", "td", "th", "dt", "dd",
           "div", "section", "br", "hr", "table", "ul", "ol", "dl", "figcaption", "summary", "details"}


@dataclass(frozen=True)
class PageText:
    path: str
    title: str
    headings: str
    lead: str  # the first paragraph: what the page is about
    body: str
    tags: tuple[str, ...]
    links: frozenset[str]
    prose: tuple[str, ...] = ()  # paragraphs, list items and headings, without code blocks


class _TextParser(HTMLParser):
    """Visible text of sanitized HTML; blocks end in a newline so sentences stay apart.

    Beside the whole text it keeps the prose: the blocks that hold words outside code
    (a paragraph that is only a command line is code, not a sentence).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.prose_blocks: list[str] = []
        self._block: list[str] = []
        self._block_has_words = False
        self._skip = 0
        self._code = 0

    def _end_block(self) -> None:
        if self._block_has_words:
            self.prose_blocks.append("".join(self._block))
        self._block, self._block_has_words = [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("a",) and dict(attrs).get("class") in ("anchor", "edit-section"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
            self._end_block()
        if tag in ("pre", "code"):
            self._code += 1

    def handle_endtag(self, tag):
        if tag == "a" and self._skip:
            self._skip -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
            self._end_block()
        if tag in ("pre", "code") and self._code:
            self._code -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)
            self._block.append(data)
            if not self._code and data.strip():
                self._block_has_words = True

    def close(self) -> None:
        super().close()
        self._end_block()

    def text(self) -> str:
        return _tidy("".join(self.parts))

    def prose(self) -> tuple[str, ...]:
        return tuple(line for block in self.prose_blocks for line in _tidy(block).split("\n") if line)


def _tidy(text: str) -> str:
    text = _IN_WORD_BRACKETS.sub(lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def html_to_text(fragment: str) -> str:
    parser = _TextParser()
    parser.feed(fragment)
    parser.close()
    return parser.text()


def extract(renderer: Renderer, path: str, markdown: str, blob: str | None = None) -> PageText:
    """The renderer leaves the front matter out of the text; its title, summary and tags count here."""
    meta, _ = parse_front_matter(markdown)
    rendered = renderer.render(markdown, path, cache_key=blob)
    parser = _TextParser()
    parser.feed(rendered.html)
    parser.close()
    body = parser.text()
    headings = "\n".join(h.text for h in rendered.headings)
    title = meta.title or rendered.title or names.base_name(path)
    lead = meta.summary or lead_of(rendered.html)
    return PageText(path, title, headings, lead, body, meta.tags, rendered.links, parser.prose())


def lead_of(fragment: str) -> str:
    """Text of the first paragraph (or blockquote) of a rendering: the page's summary."""
    m = re.search(r"<(p|blockquote)\b[^>]*>(.*?)</\1>", fragment, re.S)
    return html_to_text(m.group(2)) if m else ""


def snippet_source(text: str) -> str:
    """Stored text for highlighting: entity-free, one paragraph per line."""
    return html.unescape(text)
