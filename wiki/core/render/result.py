"""What one render gives a page view: the HTML and what was found on the way (title, headings, links)."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    """A rendered heading; ``section`` is its editable section number (sections.py) or None."""

    level: int
    text: str
    anchor: str
    section: int | None


@dataclass(frozen=True)
class Rendered:
    """Everything a page view needs from one render; immutable so it can be cached and shared."""

    html: str
    title: str | None
    headings: tuple[Heading, ...]
    links: frozenset[str]

    def toc_html(self) -> str:
        """A nested ``<ul>`` table of contents; empty for short pages where it is noise."""
        if len(self.headings) < 3:
            return ""
        out: list[str] = []
        stack: list[int] = []  # heading level of each open <ul>
        for h in self.headings:
            if not stack:
                out.append('<ul class="toc">\n')
                stack.append(h.level)
            elif h.level > stack[-1]:
                out.append("\n<ul>\n")
                stack.append(h.level)
            else:
                out.append("</li>\n")
                while len(stack) > 1 and h.level < stack[-1]:
                    if h.level > stack[-2]:
                        stack[-1] = h.level  # e.g. h1, h3, h2: h2 joins h3's list
                        break
                    stack.pop()
                    out.append("</ul>\n</li>\n")
            out.append(
                '<li><a href="#' + html.escape(h.anchor, quote=True) + '">'
                + html.escape(h.text, quote=True) + "</a>"
            )
        out.append("</li>\n")
        while stack:
            stack.pop()
            out.append("</ul>\n")
            if stack:
                out.append("</li>\n")
        return "".join(out)
