"""mistune's HTML renderer, made the wiki's: wiki links, relative links to pages, anchored headings
with edit links, highlighted code, fenced blocks of features; and a stricter one for comments."""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Mapping
from urllib.parse import unquote

import mistune
from mistune.util import safe_entity, striptags
from mistune.util import unescape as md_unescape
from pygments.formatters import HtmlFormatter

from .highlight import code_block
from .resolve import is_relative_url, resolve_relative, resolve_wikilink, slugify
from .result import Heading
from .sanitize import COMMENT_HTML_TAGS


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


class RenderContext:
    """One render's input and what the HTML renderer collects; lives for one render on one thread."""

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


class WikiHTMLRenderer(mistune.HTMLRenderer):
    """mistune HTML renderer with wiki links, anchored headings, Pygments code and fenced blocks.

    ``blocks`` maps a fence's info word to the feature rendering it (blocks.py).
    """

    def __init__(
        self,
        page_url: Callable[[str], str],
        section_edit_url: Callable[[str, int], str] | None,
        blocks: Mapping[str, Callable[[str], str]],
    ) -> None:
        super().__init__(escape=False)
        self.page_url = page_url
        self.section_edit_url = section_edit_url
        self.blocks = blocks
        self.formatter = HtmlFormatter(nowrap=True)
        self.ctx: RenderContext | None = None

    # -- links -------------------------------------------------------------

    def context(self) -> RenderContext:
        assert self.ctx is not None, "render context missing"
        return self.ctx

    def wikilink(self, target: str, label: str, raw: str) -> str:
        ctx = self.context()
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
        if not is_relative_url(url):
            return None
        rest, has_frag, frag = url.partition("#")
        path, has_query, query = rest.partition("?")
        path = unquote(path)
        if strip_md and path.lower().endswith(".md"):
            path = path[:-3]
        resolved = resolve_relative(path, self.context().page_path)
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
            self.context().links.add(path)
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
        ctx = self.context()
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
        block = self.blocks.get(lang)
        if block is not None:
            return block(code)
        return code_block(code, lang, self.formatter)


_RAW_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>", re.S)
_RAW_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")


class CommentHTMLRenderer(WikiHTMLRenderer):
    """Raw HTML in a comment keeps only the small comment tag set; headings start at h3."""

    def __init__(self, page_url: Callable[[str], str], blocks: Mapping[str, Callable[[str], str]]) -> None:
        super().__init__(page_url, None, blocks)

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
