"""Rewrite the links of a page's markdown after a folder moved.

Used by ``PageStore.rename_folder(..., rewrite_links=True)``: wiki links (``[[Old/Folder/Page]]``,
``[[../Folder/Page|label]]``), inline links and images (``[x](Folder/Page.md)``,
``![d](Folder/diagram.png)``) and reference definitions (``[x]: Folder/Page``) whose target lay in
the moved folder are pointed at the new place; links of a page that moved itself are adjusted so
they still reach what they reached before. Links are resolved exactly as ``core/render/resolve.py``
resolves them; code spans and fenced code blocks are left alone; everything else of the text is
kept byte for byte.
"""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import quote, unquote

from .render import resolve_relative, resolve_wikilink

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_WIKILINK = re.compile(r"\[\[(?P<body>[^\[\]\n]+)\]\]")
# [text](dest "title") and ![alt](dest): dest either <...> or without spaces, balanced parentheses
_INLINE = re.compile(
    r"(?P<head>!?\[(?:[^\[\]\\]|\\.|\[[^\[\]]{0,500}\]){0,1000}\]\(\s*)"
    r"(?P<dest><[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))+)"
    r"(?=\s*(?:\s\"[^\"\n]*\"|\s'[^'\n]*'|\s\([^()\n]*\))?\s*\))")
_REFDEF = re.compile(r"^(?P<head> {0,3}\[(?:[^\[\]\\\n]|\\.){1,1000}\]:[ \t]*)(?P<dest><[^<>\n]*>|\S+)", re.M)


def _masked(text: str) -> str:
    """The text with fenced code blocks and code spans blanked out (same length, same offsets)."""
    out = []
    lines = text.splitlines(keepends=True)
    fence: tuple[str, int] | None = None
    for line in lines:
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m:
                fence = (m.group(2)[0], len(m.group(2)))
                out.append(_blank(line))
                continue
            out.append(line)
        else:
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= fence[1] and \
                    len(line) - len(line.lstrip(" ")) <= 3:
                fence = None
            out.append(_blank(line))
    masked = "".join(out)
    return _CODE_SPAN.sub(lambda m: _blank(m.group(0)), masked)


def _overlapping(pattern: re.Pattern, text: str) -> list[re.Match]:
    """Every match, also those inside another's text (an image inside a link: [![a](x.png)](y))."""
    found, pos = [], 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return found
        found.append(m)
        pos = m.start() + 1


def _blank(s: str) -> str:
    return re.sub(r"[^\n]", "\0", s)


def _segments(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def relative_path(from_page: str, target: str) -> str:
    """A path that resolve_relative turns back into `target` when seen on `from_page`."""
    base = _segments(from_page)[:-1]
    dest = _segments(target)
    common = 0
    while common < len(base) and common < len(dest) and base[common] == dest[common]:
        common += 1
    if common == len(dest):  # the target is a folder above: name it from one level higher
        common -= 1
    path = "../" * (len(base) - common) + "/".join(dest[common:])
    if not path.startswith("../") and _SCHEME.match(path):
        path = "./" + path  # "C:x" would read as a URL scheme
    return path


def _moved(path: str | None, old: str, new: str, with_page: bool) -> str | None:
    if path is None:
        return None
    if path.startswith(old + "/"):
        return new + path[len(old):]
    if with_page and path in (old, old + ".md"):
        return new + path[len(old):]
    return path


def rewrite(text: str, page: str, new_page: str, old_folder: str, new_folder: str,
            with_page: bool = False) -> str:
    """The text of `page` (now named `new_page`) with its links following the folder's move
    (`with_page`: the page named like the folder moved along)."""
    masked = _masked(text)
    edits: list[tuple[int, int, str]] = []

    def moved(path: str | None) -> str | None:
        return _moved(path, old_folder, new_folder, with_page)

    for m in _WIKILINK.finditer(masked):
        body = text[m.start("body"):m.end("body")]
        target, bar, label = body.partition("|")
        path_part, hash_, section = target.partition("#")
        stripped = path_part.strip()
        if not stripped:
            continue
        before = resolve_wikilink(stripped, page)
        after = moved(before)
        if after is None or resolve_wikilink(stripped, new_page) == after:
            continue
        if stripped.startswith(("./", "../")) or stripped in (".", ".."):
            new_target = relative_path(new_page, after)
            if not new_target.startswith("../"):
                new_target = "./" + new_target
        else:
            new_target = ("/" if stripped.startswith("/") else "") + after
        lead = path_part[: len(path_part) - len(path_part.lstrip())]
        trail = path_part[len(path_part.rstrip()):]
        new_body = lead + new_target + trail + hash_ + section + bar + label
        edits.append((m.start("body"), m.end("body"), new_body))

    for m in _overlapping(_INLINE, masked) + list(_REFDEF.finditer(masked)):
        start, end = m.start("dest"), m.end("dest")
        replaced = _rewrite_url(text[start:end], page, new_page, moved)
        if replaced is not None:
            edits.append((start, end, replaced))

    if not edits:
        return text
    edits.sort()
    out, pos = [], 0
    for start, end, replacement in edits:
        if start < pos:
            continue  # overlapping matches (a link inside a link's text): the first wins
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _rewrite_url(dest: str, page: str, new_page: str, moved: Callable[[str | None], str | None]) -> str | None:
    bracketed = dest.startswith("<") and dest.endswith(">")
    url = dest[1:-1] if bracketed else dest
    if not url or url.startswith(("/", "#", "?")) or _SCHEME.match(url):
        return None
    rest, has_frag, frag = url.partition("#")
    raw_path, has_query, query = rest.partition("?")
    path = unquote(raw_path.replace("\\", "") if not bracketed else raw_path)
    before = resolve_relative(path, page)
    after = moved(before)
    if after is None or resolve_relative(path, new_page) == after:
        return None
    new_path = relative_path(new_page, after)
    if raw_path.endswith("/") and not new_path.endswith("/"):
        new_path += "/"
    encoded = "%" in raw_path or (not bracketed and re.search(r"[\s()<>]", new_path))
    if encoded:
        new_path = quote(new_path, safe="/!$&'*+,;=:@~")
    new_url = new_path + ("?" + query if has_query else "") + ("#" + frag if has_frag else "")
    return f"<{new_url}>" if bracketed else new_url


def links_into(text: str, page: str, folder: str) -> bool:
    """Cheap pre-check: could the text hold a link into the folder? (False means surely not.)"""
    last = folder.rsplit("/", 1)[-1]
    return last in text or quote(last) in text

