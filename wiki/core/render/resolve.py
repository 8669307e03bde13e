"""Where a link on a page points: ``[[wiki links]]`` and relative paths to page paths, headings to anchors."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """GitHub-style anchor: lowercase, letters/digits kept (any script), each space to ``-``.

    Matching GitHub keeps ``#anchors`` in imported documents working.
    """
    kept = []
    for ch in unicodedata.normalize("NFC", " ".join(text.split()).lower()):
        if ch == " ":
            kept.append("-")
        elif ch in "-_" or unicodedata.category(ch)[0] in "LNM":
            kept.append(ch)
    return "".join(kept) or "section"


def folder_segments(page_path: str) -> list[str]:
    """The folders a page is in, outermost first: what its relative links start from."""
    parts = [p for p in page_path.strip("/").split("/") if p]
    return parts[:-1]


def _join(base: list[str], rest: str) -> str | None:
    segs = list(base)
    for part in rest.split("/"):
        part = part.strip()
        if part in ("", "."):
            continue
        if part == "..":
            if not segs:
                return None  # escapes above the wiki root
            segs.pop()
            continue
        segs.append(part)
    if not segs:
        return None
    return unicodedata.normalize("NFC", "/".join(segs))


def resolve_wikilink(target: str, page_path: str) -> str | None:
    """Canonical page path of a ``[[target]]`` seen on ``page_path`` (None: no valid page).

    ``/x`` is from the root, ``./x`` and ``../x`` from the page's folder, and a
    bare ``x`` from the root (MediaWiki style, so ``[[Home]]`` works everywhere).
    """
    t = target.strip()
    if t.startswith("/"):
        return _join([], t)
    if t in (".", "..") or t.startswith(("./", "../")):
        return _join(folder_segments(page_path), t)
    return _join([], t)


def resolve_relative(path: str, page_path: str) -> str | None:
    """Resolve a relative markdown link path against the page's folder (GitHub-wiki style)."""
    return _join(folder_segments(page_path), path)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def is_relative_url(url: str) -> bool:
    """A URL that names another page or file of the wiki (no scheme, not absolute, not only a fragment)."""
    return bool(url) and not url.startswith(("/", "#", "?")) and not _SCHEME.match(url)
