"""The sanitizer: what HTML survives a render, for pages and (a smaller set) for talk comments.

Raw HTML is passed through the markdown parser on purpose, like GitHub; nh3 (ammonia) then
cleans the whole document with an allowlist, so nothing an author writes can run script.
Both variants come from ``make_cleaner``, so they differ only in their allowlists.
"""

from __future__ import annotations

import html
import re
from typing import Collection, Mapping
from urllib.parse import unquote

import nh3

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CELL_ATTRS = {"align", "style", "colspan", "rowspan"}

#: Tags a page may contain.
PAGE_TAGS = frozenset(
    {
        "p", *_HEADINGS, "a", "img", "ul", "ol", "li", "blockquote", "pre", "code", "span", "div",
        "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
        "em", "strong", "b", "i", "del", "s", "ins", "sub", "sup", "kbd", "abbr", "q", "cite",
        "mark", "small", "br", "hr", "dl", "dt", "dd", "details", "summary", "input",
        "section", "figure", "figcaption",
    }
)

#: Attributes a page may keep, by tag.
PAGE_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "class", "data-wikilink", "aria-hidden"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    **{h: frozenset({"id"}) for h in _HEADINGS},
    "li": frozenset({"id", "class"}),
    "ul": frozenset({"class"}),
    "ol": frozenset({"start"}),
    "section": frozenset({"id", "class"}),
    "sup": frozenset({"id", "class"}),
    "code": frozenset({"class"}),
    "span": frozenset({"class"}),
    "pre": frozenset({"class"}),
    "div": frozenset({"class"}),
    "input": frozenset({"class", "checked", "disabled"}),
    "th": frozenset(_CELL_ATTRS),
    "td": frozenset(_CELL_ATTRS),
    "details": frozenset({"open"}),
    "abbr": frozenset({"title"}),
}

#: Comments: markdown's own structure, plus only these tags written as raw HTML.
COMMENT_HTML_TAGS = ("a", "abbr", "b", "blockquote", "cite", "code", "del", "em", "i", "q", "s", "strong")
_COMMENT_STRUCTURE = {"p", "br", "hr", "ul", "ol", "li", "pre", "code", "span", "blockquote", "a", "img",
                      "em", "strong", "del", "table", "thead", "tbody", "tr", "th", "td", "input", "div",
                      "section", "sup", "h3", "h4", "h5", "h6"}
COMMENT_TAGS = frozenset(_COMMENT_STRUCTURE | set(COMMENT_HTML_TAGS))
COMMENT_ATTRIBUTES: Mapping[str, frozenset[str]] = {**PAGE_ATTRIBUTES, "q": frozenset({"cite"})}


_URL_ATTRIBUTES = frozenset({"href", "src"})
_SQUASH = re.compile(r"[\s\x00-\x1f\x7f]+")
_BAD_URL_PARTS = ("javascript:", "vbscript:", "data:text/html", "livescript:")


def _url_attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Drop a URL that mentions a script scheme anywhere, even where browsers would not run it.

    nh3 already rejects such schemes at the start of a URL; this is defence in
    depth against parser differentials (control characters or entities inside
    the scheme) at the cost of dropping a few odd but harmless links.
    """
    if attr not in _URL_ATTRIBUTES:
        return value
    for candidate in (value, html.unescape(value), unquote(value)):
        squashed = _SQUASH.sub("", candidate).lower()
        if any(part in squashed for part in _BAD_URL_PARTS):
            return None
    return value


def make_cleaner(tags: Collection[str], attributes: Mapping[str, Collection[str]],
                 extra_attributes: Mapping[str, Collection[str]] | None = None) -> nh3.Cleaner:
    """A cleaner keeping ``tags`` and, on them, ``attributes`` plus ``extra_attributes``.

    The extras are what a feature's fenced block (blocks.py) needs on its HTML; they
    can add attributes to an allowed tag, never a tag.
    """
    allowed: dict[str, set[str]] = {tag: set(names) for tag, names in attributes.items() if tag in tags}
    for tag, names in (extra_attributes or {}).items():
        if tag in tags:
            allowed.setdefault(tag, set()).update(names)
    return nh3.Cleaner(
        tags=set(tags),
        attributes=allowed,
        attribute_filter=_url_attribute_filter,
        # task-list checkboxes only: type restricted to checkbox, always disabled
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": ""}},
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel=None,
    )
