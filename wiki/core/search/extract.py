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
from ..render import Renderer

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)
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


class _TextParser(HTMLParser):
    """Visible text of sanitized HTML; blocks end in a newline so sentences stay apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("a",) and dict(attrs).get("class") in ("anchor", "edit-section"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "a" and self._skip:
            self._skip -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        text = _IN_WORD_BRACKETS.sub(lambda m: m.group(1) or m.group(2), "".join(self.parts))
        text = re.sub(r"[ \t\r\f\v]+", " ", text)
        return re.sub(r"\s*\n\s*", "\n", text).strip()


def html_to_text(fragment: str) -> str:
    parser = _TextParser()
    parser.feed(fragment)
    parser.close()
    return parser.text()


def front_matter_tags(markdown: str) -> tuple[str, ...]:
    """`tags:` from YAML-style front matter: `tags: [a, b]`, `tags: a, b` or a `- a` list."""
    m = _FRONT_MATTER.match(markdown)
    if not m:
        return ()
    lines = m.group(1).splitlines()
    for i, line in enumerate(lines):
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() != "tags":
            continue
        value = value.strip()
        items: list[str] = []
        if value:
            items = [v for v in re.split(r"[,\s]+", value.strip("[]")) if v]
        else:
            for follow in lines[i + 1:]:
                item = re.match(r"\s*-\s*(.+)", follow)
                if not item:
                    break
                items.append(item.group(1))
        return tuple(dict.fromkeys(t.strip().strip("'\"").lower() for t in items if t.strip().strip("'\"")))
    return ()


def strip_front_matter(markdown: str) -> str:
    return _FRONT_MATTER.sub("", markdown, count=1)


def extract(renderer: Renderer, path: str, markdown: str, blob: str | None = None) -> PageText:
    tags = front_matter_tags(markdown)
    if tags or _FRONT_MATTER.match(markdown):  # metadata is not text; and not the cached rendering
        rendered = renderer.render(strip_front_matter(markdown), path)
    else:
        rendered = renderer.render(markdown, path, cache_key=blob)
    body = html_to_text(rendered.html)
    headings = "\n".join(h.text for h in rendered.headings)
    title = rendered.title or names.base_name(path)
    return PageText(path, title, headings, lead_of(rendered.html), body, tags, rendered.links)


def lead_of(fragment: str) -> str:
    """Text of the first paragraph (or blockquote) of a rendering: the page's summary."""
    m = re.search(r"<(p|blockquote)\b[^>]*>(.*?)</\1>", fragment, re.S)
    return html_to_text(m.group(2)) if m else ""


def snippet_source(text: str) -> str:
    """Stored text for highlighting: entity-free, one paragraph per line."""
    return html.unescape(text)
