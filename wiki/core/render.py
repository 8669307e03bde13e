"""Markdown to safe HTML: parse (mistune) -> wiki links -> highlight -> sanitize (nh3), cached.

The pipeline is deliberately short:

1. mistune 3 parses GitHub-flavoured markdown (tables, footnotes, task lists,
   strikethrough, autolinks, definition lists) plus ``[[wiki links]]``. Raw HTML
   is passed through on purpose, like GitHub, because step 4 cleans it.
2. Our ``HTMLRenderer`` subclass resolves wiki links and relative links to page
   URLs, gives headings stable anchors and "edit" links, and collects headings
   and link targets for the caller (backlinks, TOC, missing-page marking).
3. Fenced code is highlighted by Pygments with CSS classes (``pygments_css``).
4. nh3 (ammonia) sanitizes the whole document with an allowlist, so nothing a
   page author writes - markdown or raw HTML - can run script.

Rendering is pure (markdown + page path + URL callables -> ``Rendered``), so the
result is cached by the caller's content id (the git blob id) in memory and,
optionally, on disk shared by all worker processes. Which links point at
*missing* pages changes without the content changing, so that is applied after
the cache by ``Renderer.mark_missing``.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import pathlib
import re
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable
from urllib.parse import unquote

import mistune
import nh3
import pygments
from mistune.util import safe_entity, striptags
from mistune.util import unescape as md_unescape
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound

from . import metrics
from .frontmatter import split as front_matter_split
from .sections import split_sections

__all__ = [
    "RENDERER_VERSION",
    "Heading",
    "Rendered",
    "Renderer",
    "pygments_css",
    "slugify",
    "resolve_wikilink",
    "resolve_relative",
]

_log = logging.getLogger(__name__)

#: Bump when the HTML this module produces changes, so disk caches are not reused.
RENDERER_VERSION = "tacit-render-2"  # 2: front matter is metadata, not text


def _library_versions() -> str:
    """Versions of the libraries that shape the output; an upgrade invalidates the cache."""
    try:
        from importlib.metadata import version

        nh3_version = version("nh3")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        nh3_version = "?"
    return f"mistune {mistune.__version__}; pygments {pygments.__version__}; nh3 {nh3_version}"


_VERSION_TAG = RENDERER_VERSION + "; " + _library_versions()


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- helpers


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


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


def _folder_segments(page_path: str) -> list[str]:
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
        return _join(_folder_segments(page_path), t)
    return _join([], t)


def resolve_relative(path: str, page_path: str) -> str | None:
    """Resolve a relative markdown link path against the page's folder (GitHub-wiki style)."""
    return _join(_folder_segments(page_path), path)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _is_relative_url(url: str) -> bool:
    return bool(url) and not url.startswith(("/", "#", "?")) and not _SCHEME.match(url)


@lru_cache(maxsize=256)
def _lexer_class(lang: str) -> Any:
    """Pygments lexer class for a fence language, or None (lookups are slow, so cached)."""
    try:
        return find_lexer_class_by_name(lang)
    except (ClassNotFound, ValueError):
        return None


@lru_cache(maxsize=1)
def pygments_css() -> str:
    """Highlight CSS for ``.highlight``: a light style, and a dark one for dark-mode users."""
    light = [ln for ln in HtmlFormatter(style="default").get_style_defs(".highlight").splitlines()
             if ln.startswith(".highlight")]
    dark = [ln for ln in HtmlFormatter(style="github-dark").get_style_defs(".highlight").splitlines()
            if ln.startswith(".highlight")]
    # Classes the light style colours must not keep light colours in dark mode:
    # reset them first, then let the dark style (same specificity, later) win.
    classes = sorted({m.group(1) for ln in light for m in [re.match(r"\.highlight \.([\w-]+) ", ln)] if m})
    reset = (
        ", ".join(".highlight ." + c for c in classes)
        + " { color: inherit; background-color: transparent; font-weight: normal;"
        " font-style: normal; text-decoration: none; border: none }"
    )
    body = "\n".join("  " + ln for ln in [reset, *dark])
    return "\n".join(light) + "\n@media (prefers-color-scheme: dark) {\n" + body + "\n}\n"


# --------------------------------------------------------------------------- sanitizer

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_ALLOWED_TAGS = frozenset(
    {
        "p", *_HEADINGS, "a", "img", "ul", "ol", "li", "blockquote", "pre", "code", "span", "div",
        "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
        "em", "strong", "b", "i", "del", "s", "ins", "sub", "sup", "kbd", "abbr", "q", "cite",
        "mark", "small", "br", "hr", "dl", "dt", "dd", "details", "summary", "input",
        "section", "figure", "figcaption",
    }
)
_CELL_ATTRS = {"align", "style", "colspan", "rowspan"}
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "class", "data-wikilink", "aria-hidden"},
    "img": {"src", "alt", "title", "width", "height"},
    **{h: {"id"} for h in _HEADINGS},
    "li": {"id", "class"},
    "ul": {"class"},
    "ol": {"start"},
    "section": {"id", "class"},
    "sup": {"id", "class"},
    "code": {"class"},
    "span": {"class"},
    "pre": {"class"},
    "div": {"class", "data-dashboard"},
    "input": {"class", "checked", "disabled"},
    "th": set(_CELL_ATTRS),
    "td": set(_CELL_ATTRS),
    "details": {"open"},
    "abbr": {"title"},
}


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


def _make_cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_ALLOWED_TAGS),
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_url_attribute_filter,
        # task-list checkboxes only: type restricted to checkbox, always disabled
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": ""}},
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel=None,
    )


# --------------------------------------------------------------------------- mistune glue


class _Context:
    """Per-render state; lives only for one ``render`` call on one thread."""

    def __init__(self, page_path: str, source: str) -> None:
        self.page_path = page_path
        self.source = source
        self.headings: list[Heading] = []
        self.links: set[str] = set()
        self.title: str | None = None
        self.used_slugs: set[str] = set()
        self.slug_counts: dict[str, int] = {}

    def unique_slug(self, slug: str) -> str:
        if slug not in self.used_slugs:
            self.used_slugs.add(slug)
            return slug
        n = self.slug_counts.get(slug, 0)
        while True:
            n += 1
            candidate = f"{slug}-{n}"
            if candidate not in self.used_slugs:
                break
        self.slug_counts[slug] = n
        self.used_slugs.add(candidate)
        return candidate


class _WikiHTMLRenderer(mistune.HTMLRenderer):
    """mistune HTML renderer with wiki links, anchored headings and Pygments code."""

    def __init__(
        self,
        page_url: Callable[[str], str],
        section_edit_url: Callable[[str, int], str] | None,
    ) -> None:
        super().__init__(escape=False)
        self.page_url = page_url
        self.section_edit_url = section_edit_url
        self.formatter = HtmlFormatter(nowrap=True)
        self.ctx: _Context | None = None

    # -- links -------------------------------------------------------------

    def _ctx(self) -> _Context:
        assert self.ctx is not None, "render context missing"
        return self.ctx

    def wikilink(self, target: str, label: str, raw: str) -> str:
        ctx = self._ctx()
        path_part, has_hash, section = target.partition("#")
        path_part = path_part.strip()
        section = section.strip()
        label = label.strip()
        if not path_part:
            if has_hash and section:  # [[#Section]]: a link within this page
                return ('<a class="wikilink" href="#' + _esc(slugify(section)) + '">'
                        + safe_entity(label or section) + "</a>")
            return safe_entity(raw)
        resolved = resolve_wikilink(path_part, ctx.page_path)
        if resolved is None:
            return safe_entity(raw)
        href = self.page_url(resolved)
        if has_hash and section:
            href += "#" + slugify(section)
        ctx.links.add(resolved)
        return ('<a class="wikilink" href="' + _esc(href) + '" data-wikilink="' + _esc(resolved) + '">'
                + safe_entity(label or path_part) + "</a>")

    def _resolve_url(self, url: str, strip_md: bool) -> tuple[str, str] | None:
        """(page path, href) for a relative URL, or None to leave the URL as written."""
        if not _is_relative_url(url):
            return None
        rest, has_frag, frag = url.partition("#")
        path, has_query, query = rest.partition("?")
        path = unquote(path)
        if strip_md and path.lower().endswith(".md"):
            path = path[:-3]
        resolved = resolve_relative(path, self._ctx().page_path)
        if resolved is None:
            return None
        href = self.page_url(resolved)
        if has_query:
            href += "?" + query
        if has_frag:
            href += "#" + frag
        return resolved, href

    def link(self, text: str, url: str, title: str | None = None) -> str:
        url = self.sanitize_url(url)
        resolved = self._resolve_url(url, strip_md=True)
        if resolved is None:
            out = '<a href="' + safe_entity(url) + '"'
        else:
            path, href = resolved
            self._ctx().links.add(path)
            out = '<a href="' + _esc(href) + '" data-wikilink="' + _esc(path) + '"'
        if title:
            out += ' title="' + safe_entity(title) + '"'
        return out + ">" + text + "</a>"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        url = self.sanitize_url(url)
        resolved = self._resolve_url(url, strip_md=False)
        src = safe_entity(url) if resolved is None else _esc(resolved[1])
        out = '<img src="' + src + '" alt="' + safe_entity(striptags(text)) + '"'
        if title:
            out += ' title="' + safe_entity(title) + '"'
        return out + " />"

    # -- headings ----------------------------------------------------------

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        ctx = self._ctx()
        plain = " ".join(html.unescape(striptags(text)).split())
        anchor = ctx.unique_slug(slugify(plain))
        section = attrs.get("section")
        ctx.headings.append(Heading(level, plain, anchor, section))
        if attrs.get("is_title"):
            ctx.title = plain
        tag = "h" + str(level)
        a = _esc(anchor)
        out = ("<" + tag + ' id="' + a + '"><a class="anchor" href="#' + a + '" aria-hidden="true">#</a>'
               + text)
        if section is not None and self.section_edit_url is not None:
            out += (' <a class="edit-section" href="' + _esc(self.section_edit_url(ctx.page_path, section))
                    + '">edit</a>')
        return out + "</" + tag + ">\n"

    # -- code --------------------------------------------------------------

    def block_code(self, code: str, info: str | None = None) -> str:
        lang = ""
        if info:
            words = md_unescape(info).split()
            lang = words[0] if words else ""
        if lang == DASHBOARD_BLOCK:
            return dashboard_placeholder(code)
        lexer_cls = _lexer_class(lang.lower()) if lang and len(lang) <= 64 else None
        if lexer_cls is not None:
            try:
                body = pygments_highlight(code, lexer_cls(stripnl=False), self.formatter)
            except Exception:  # a lexer bug must not break the page
                body = _esc(code)
        else:
            body = _esc(code)
        cls = ' class="language-' + _esc(lang) + '"' if lang else ""
        return '<pre class="highlight"><code' + cls + ">" + body + "</code></pre>\n"


DASHBOARD_BLOCK = "dashboard"
DASHBOARD_KEYS = ("folder", "status", "owner", "sort")


def dashboard_placeholder(code: str) -> str:
    """A ```dashboard block (`folder: Projects`, `status: at-risk` ... lines): a marker the web layer
    fills with the live status table when the page is shown (the rendering itself is cached)."""
    query = {}
    for line in code.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if sep and key in DASHBOARD_KEYS and value:
            query[key] = value[:200]
    from urllib.parse import urlencode
    return ('<div class="dashboard-embed" data-dashboard="' + _esc(urlencode(query)) + '">'
            "<p>Status dashboard" + (": " + _esc(query["folder"]) if "folder" in query else "") + "</p></div>\n")


_WIKILINK_PATTERN = r"\[\[(?P<wl_body>[^\[\]\n]+)\]\]"


def _parse_wikilink(inline: Any, m: re.Match[str], state: Any) -> int:
    raw = m.group(0)
    if state.in_link:  # inside a raw <a>: keep the text
        inline.process_text(raw, state)
        return m.end()
    target, _, label = m.group("wl_body").partition("|")
    state.append_token({"type": "wikilink", "attrs": {"target": target, "label": label, "raw": raw}})
    return m.end()


def _wikilink_plugin(md: mistune.Markdown) -> None:
    """``[[Page]]``, ``[[Page|label]]``, ``[[Page#Section]]``, ``[[Page#Section|label]]``."""
    md.inline.register("wikilink", _WIKILINK_PATTERN, _parse_wikilink, before="link", start_chars="[")


def _norm_title(text: str) -> str:
    return " ".join(text.split())


def _mark_headings_hook(md: mistune.Markdown, state: Any) -> None:
    """Before rendering: flag the title heading and number the top-level headings.

    Rendered top-level headings are matched to ``split_sections`` greedily, in
    order, by level and raw heading text: a heading one side sees and the other
    does not (HTML blocks, odd nesting) gets no edit link instead of shifting
    every later number.
    """
    renderer = md.renderer
    assert isinstance(renderer, _WikiHTMLRenderer)
    ctx = renderer._ctx()
    tokens = state.tokens
    first = next((t for t in tokens if t.get("type") != "blank_line"), None)
    if first is not None and first.get("type") == "heading" and first["attrs"].get("level") == 1:
        first["attrs"]["is_title"] = True
    sections = split_sections(ctx.source)
    keys = [(s.level, _norm_title(s.title)) for s in sections]
    pos = 0
    for tok in tokens:
        if tok.get("type") != "heading" or pos >= len(sections):
            continue
        key = (tok["attrs"].get("level"), _norm_title(tok.get("text", "")))
        for j in range(pos, len(sections)):
            if keys[j] == key:
                tok["attrs"]["section"] = sections[j].number
                pos = j + 1
                break


_PLUGINS: list[Any] = ["table", "footnotes", "strikethrough", "task_lists", "url", "def_list", _wikilink_plugin]


class _Parser:
    """One thread's reusable mistune pipeline and sanitizer."""

    def __init__(self, page_url: Callable[[str], str],
                 section_edit_url: Callable[[str, int], str] | None) -> None:
        self.renderer = _WikiHTMLRenderer(page_url, section_edit_url)
        self.md = mistune.create_markdown(escape=False, hard_wrap=False, renderer=self.renderer, plugins=_PLUGINS)
        self.md.before_render_hooks.append(_mark_headings_hook)
        self.cleaner = _make_cleaner()


# Comments: markdown's own structure, plus only these tags written as raw HTML.
COMMENT_HTML_TAGS = ("a", "abbr", "b", "blockquote", "cite", "code", "del", "em", "i", "q", "s", "strong")
_COMMENT_STRUCTURE = {"p", "br", "hr", "ul", "ol", "li", "pre", "code", "span", "blockquote", "a", "img",
                      "em", "strong", "del", "table", "thead", "tbody", "tr", "th", "td", "input", "div",
                      "section", "sup", "h3", "h4", "h5", "h6"}


_RAW_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>", re.S)
_RAW_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")


class _CommentHTMLRenderer(_WikiHTMLRenderer):
    """Raw HTML in a comment keeps only the small comment tag set; headings start at h3."""

    def __init__(self, page_url: Callable[[str], str]) -> None:
        super().__init__(page_url, None)

    @staticmethod
    def _raw(html_text: str) -> str:
        """Allowed tags stay (the sanitizer then drops their unsafe attributes); others show as text."""
        def one(m: re.Match[str]) -> str:
            name = _RAW_TAG_NAME.match(m.group(0))
            if name and name.group(1).lower() in COMMENT_HTML_TAGS:
                return m.group(0)
            return _esc(m.group(0))
        out, last = [], 0
        for m in _RAW_TAG.finditer(html_text):
            out.append(_esc(html_text[last:m.start()]) if "<" in html_text[last:m.start()] else html_text[last:m.start()])
            out.append(one(m))
            last = m.end()
        rest = html_text[last:]
        out.append(_esc(rest) if "<" in rest else rest)
        return "".join(out)

    def inline_html(self, html: str) -> str:
        return self._raw(html)

    def block_html(self, html: str) -> str:
        return self._raw(html.strip()) + "\n"

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        level = min(6, level + 2)
        return f"<h{level}>{text}</h{level}>\n"


class _CommentParser:
    def __init__(self, page_url: Callable[[str], str]) -> None:
        self.renderer = _CommentHTMLRenderer(page_url)
        self.md = mistune.create_markdown(escape=False, hard_wrap=True, renderer=self.renderer,
                                          plugins=["strikethrough", "url", "task_lists", "table", _wikilink_plugin])
        self.cleaner = nh3.Cleaner(tags=_COMMENT_STRUCTURE | set(COMMENT_HTML_TAGS),
                                   attributes={k: v for k, v in _ALLOWED_ATTRIBUTES.items()
                                               if k in _COMMENT_STRUCTURE | set(COMMENT_HTML_TAGS)} | {"q": {"cite"}},
                                   attribute_filter=_url_attribute_filter,
                                   tag_attribute_values={"input": {"type": {"checkbox"}}},
                                   set_tag_attribute_values={"input": {"disabled": ""}},
                                   url_schemes={"http", "https", "mailto"},
                                   filter_style_properties={"text-align"}, link_rel=None)


# --------------------------------------------------------------------------- mark_missing

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
        parts.append(" " + name if value is None else " " + name + '="' + _esc(value) + '"')
    return "".join(parts) + ">"


# --------------------------------------------------------------------------- the renderer

_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    """Replace lone surrogates (undecodable bytes) so the sanitizer, which needs UTF-8, accepts it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)



class Renderer:
    """Renders page markdown to sanitized HTML; one instance serves a whole wiki, all threads."""

    def __init__(
        self,
        page_url: Callable[[str], str],
        edit_url: Callable[[str], str] | None = None,
        section_edit_url: Callable[[str, int], str] | None = None,
        cache_dir: pathlib.Path | None = None,
        memory_items: int = 512,
    ) -> None:
        self.page_url = page_url
        self.edit_url = edit_url
        self.section_edit_url = section_edit_url
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else None
        self.memory_items = max(0, int(memory_items))
        self._memory: OrderedDict[str, Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- rendering ---------------------------------------------------------

    def _parser(self) -> _Parser:
        parser: _Parser | None = getattr(self._local, "parser", None)
        if parser is None:
            parser = _Parser(self.page_url, self.section_edit_url)
            self._local.parser = parser
        if parser.renderer.ctx is not None:
            # re-entrant render on this thread (a URL callback rendering): use a fresh one
            return _Parser(self.page_url, self.section_edit_url)
        return parser

    def _render_uncached(self, markdown: str, page_path: str) -> Rendered:
        markdown = _valid_unicode(front_matter_split(markdown)[1])  # metadata shows in the page header
        page_path = _valid_unicode(page_path)
        parser = self._parser()
        ctx = _Context(page_path, markdown)
        parser.renderer.ctx = ctx
        try:
            body = parser.md(markdown)
        except Exception:
            # A parser bug must not take the page down: show the source instead.
            _log.exception("markdown rendering failed for %r; showing source", page_path)
            ctx = _Context(page_path, markdown)
            body = '<pre class="render-error"><code>' + _esc(markdown) + "</code></pre>\n"
            self._local.parser = None  # its state may be inconsistent now
        finally:
            parser.renderer.ctx = None
        assert isinstance(body, str)
        clean = parser.cleaner.clean(body)
        return Rendered(clean, ctx.title, tuple(ctx.headings), frozenset(ctx.links))

    def render_comment(self, markdown: str, page_path: str) -> Rendered:
        """A talk comment: markdown with wiki links (resolved from the page's folder) and only
        COMMENT_HTML_TAGS as raw HTML, sanitized by the same sanitizer as pages."""
        markdown = _valid_unicode(markdown)
        parser = getattr(self._local, "comment_parser", None)
        if parser is None or parser.renderer.ctx is not None:
            parser = self._local.comment_parser = _CommentParser(self.page_url)
        ctx = _Context(_valid_unicode(page_path), markdown)
        parser.renderer.ctx = ctx
        try:
            body = parser.md(markdown)
        except Exception:
            _log.exception("comment rendering failed on %r; showing source", page_path)
            body = '<pre class="render-error"><code>' + _esc(markdown) + "</code></pre>\n"
            self._local.comment_parser = None
        finally:
            parser.renderer.ctx = None
        return Rendered(parser.cleaner.clean(body), None, (), frozenset(ctx.links))

    def render(self, markdown: str | Callable[[], str], page_path: str,
               cache_key: str | None = None) -> Rendered:
        """Render a page; with ``cache_key`` (the content's blob id) results are reused.

        ``markdown`` may be a function returning the text, so a cache hit
        never reads the content at all.
        """
        page_path = page_path.strip("/")
        if callable(markdown):
            load, markdown = markdown, None
        else:
            load = None
        if cache_key is None:
            return self._render_uncached(load() if load else markdown, page_path)
        key = self._cache_key(cache_key, page_path)
        hit = self._memory_get(key)
        if hit is not None:
            metrics.count_render(metrics.CacheLookup.MEMORY)
            return hit
        hit = self._disk_get(key)
        if hit is None:
            metrics.count_render(metrics.CacheLookup.MISS)
            hit = self._render_uncached(load() if load else markdown, page_path)
            self._disk_put(key, hit)
        else:
            metrics.count_render(metrics.CacheLookup.DISK)
        self._memory_put(key, hit)
        return hit

    # -- cache -------------------------------------------------------------

    def _cache_key(self, cache_key: str, page_path: str) -> str:
        """Content id + what else shapes the HTML: folder (relative links), page (edit links), URLs."""
        folder = "/".join(_folder_segments(page_path))
        scope = page_path if self.section_edit_url is not None else folder
        urls = self.__dict__.get("_url_probe")
        if urls is None:
            probe = "Tacit-Probe/Page"
            try:
                urls = [self.page_url(probe)]
                if self.section_edit_url is not None:
                    urls.append(self.section_edit_url(probe, 1))
            except Exception:
                urls = []
            self._url_probe = urls
        return json.dumps([_VERSION_TAG, cache_key, scope, urls], ensure_ascii=True)

    def _memory_get(self, key: str) -> Rendered | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
            return hit

    def _memory_put(self, key: str, value: Rendered) -> None:
        if self.memory_items <= 0:
            return
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def _disk_path(self, key: str) -> pathlib.Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / digest[2:]

    def _disk_get(self, key: str) -> Rendered | None:
        path = self._disk_path(key)
        if path is None:
            return None
        try:
            with open(path, "r", encoding="utf-8") as f:
                data = json.load(f)
            if data.get("key") != key:
                return None
            headings = tuple(
                Heading(int(level), str(text), str(anchor), None if section is None else int(section))
                for level, text, anchor, section in data["headings"]
            )
            title = data["title"]
            html_text = data["html"]
            if not isinstance(html_text, str) or not (title is None or isinstance(title, str)):
                return None
            return Rendered(html_text, title, headings, frozenset(str(x) for x in data["links"]))
        except Exception:  # missing, unreadable or corrupt: render again and rewrite
            return None

    def _disk_put(self, key: str, value: Rendered) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {
                "key": key,
                "html": value.html,
                "title": value.title,
                "headings": [[h.level, h.text, h.anchor, h.section] for h in value.headings],
                "links": sorted(value.links),
            }
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            os.replace(tmp_name, path)
            tmp_name = None
        except Exception:
            pass  # a cache that cannot be written is only slower
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass

    # -- missing pages -----------------------------------------------------

    def mark_missing(self, rendered_html: str, exists: Callable[[str], bool]) -> str:
        """Point links to pages that do not exist (yet) at their editor, styled as missing.

        Done after the cache because page existence changes without the content
        changing. Returns the input object itself when nothing is missing.
        """
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
            pieces.append(self._missing_tag(attrs, target))
            pos = m.end()
        if not pieces:
            return rendered_html
        pieces.append(rendered_html[pos:])
        return "".join(pieces)

    def _missing_tag(self, attrs: list[tuple[str, str | None]], target: str) -> str:
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
            elif name == "href" and self.edit_url is not None:
                value = self.edit_url(target)
            elif name == "title":
                value = "Create page " + target
            new.append((name, value))
        if "class" not in seen:
            new.append(("class", "missing"))
        if "href" not in seen and self.edit_url is not None:
            new.append(("href", self.edit_url(target)))
        if "title" not in seen:
            new.append(("title", "Create page " + target))
        return _build_tag(new)
