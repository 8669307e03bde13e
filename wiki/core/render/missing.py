"""Links to pages that do not exist (yet): pointed at their editor and styled as missing.

Done on the finished (cached, sanitized) HTML, because which pages exist changes without the
content changing. The HTML is the sanitizer's output, so a small tag/attribute reader suffices.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Iterable

_TAG = re.compile(r"<(?:[^\"'>]|\"[^\"]*\"|'[^']*')*>")
_TAG_NAME = re.compile(r"<([A-Za-z][^\s/>]*)")
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_SAFE_ATTR_NAME = re.compile(r"^[A-Za-z_:][-A-Za-z0-9_:.]*$")


def _parse_attrs(tag: str) -> list[tuple[str, str | None]]:
    name_match = _TAG_NAME.match(tag)
    assert name_match is not None
    body = tag[name_match.end():-1]
    attrs: list[tuple[str, str | None]] = []
    for m in _ATTR.finditer(body):
        value = next((g for g in m.group(2, 3, 4) if g is not None), None)
        attrs.append((m.group(1).lower(), None if value is None else html.unescape(value)))
    return attrs


def _build_tag(attrs: Iterable[tuple[str, str | None]]) -> str:
    parts = ["<a"]
    for name, value in attrs:
        if not _SAFE_ATTR_NAME.match(name):
            continue
        parts.append(" " + name if value is None else " " + name + '="' + html.escape(value, quote=True) + '"')
    return "".join(parts) + ">"


def _missing_tag(attrs: list[tuple[str, str | None]], target: str,
                 edit_url: Callable[[str], str] | None) -> str:
    new: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for name, value in attrs:
        if name in seen:
            continue  # duplicate attributes: the first one is what browsers use
        seen.add(name)
        if name == "class":
            classes = (value or "").split()
            if "missing" not in classes:
                classes.append("missing")
            value = " ".join(classes)
        elif name == "href" and edit_url is not None:
            value = edit_url(target)
        elif name == "title":
            value = "Create page " + target
        new.append((name, value))
    if "class" not in seen:
        new.append(("class", "missing"))
    if "href" not in seen and edit_url is not None:
        new.append(("href", edit_url(target)))
    if "title" not in seen:
        new.append(("title", "Create page " + target))
    return _build_tag(new)


def mark_missing(rendered_html: str, exists: Callable[[str], bool],
                 edit_url: Callable[[str], str] | None) -> str:
    """Rewrite each ``<a data-wikilink>`` whose page does not exist; without ``edit_url`` the
    href stays. Returns the input object itself when nothing is missing."""
    if "data-wikilink" not in rendered_html:
        return rendered_html
    known: dict[str, bool] = {}
    pieces: list[str] = []
    pos = 0
    for m in _TAG.finditer(rendered_html):
        tag = m.group(0)
        if "data-wikilink" not in tag:
            continue
        name = _TAG_NAME.match(tag)
        if name is None or name.group(1).lower() != "a":
            continue
        attrs = _parse_attrs(tag)
        target = next((v for k, v in attrs if k == "data-wikilink"), None)
        if target is None:
            continue
        if target not in known:
            known[target] = bool(exists(target))
        if known[target]:
            continue
        pieces.append(rendered_html[pos:m.start()])
        pieces.append(_missing_tag(attrs, target, edit_url))
        pos = m.end()
    if not pieces:
        return rendered_html
    pieces.append(rendered_html[pos:])
    return "".join(pieces)
