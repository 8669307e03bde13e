"""Renderer: the one object the wiki renders pages and comments with (all threads share it)."""

from __future__ import annotations

import pathlib
from typing import Callable, Iterable

from .blocks import FencedBlock
from .cache import RenderCache, cache_key
from .missing import mark_missing
from .pipeline import comment_pipeline, page_pipeline
from .resolve import folder_segments
from .result import Rendered


class Renderer:
    """Renders page markdown to sanitized HTML, cached by content id; one instance serves a whole wiki.

    ``blocks`` are fenced blocks features render themselves (``status.DASHBOARD``). Renderers
    sharing a ``cache_dir`` must be given the same ones: the cache key does not name them.
    """

    def __init__(
        self,
        page_url: Callable[[str], str],
        edit_url: Callable[[str], str] | None = None,
        section_edit_url: Callable[[str, int], str] | None = None,
        cache_dir: pathlib.Path | None = None,
        memory_items: int = 512,
        blocks: Iterable[FencedBlock] = (),
    ) -> None:
        blocks = tuple(blocks)
        self.page_url = page_url
        self.edit_url = edit_url
        self.section_edit_url = section_edit_url
        self.cache = RenderCache(cache_dir, memory_items)
        self._pages = page_pipeline(page_url, section_edit_url, blocks)
        self._comments = comment_pipeline(page_url, blocks)
        self._url_probe: list[str] | None = None

    # -- rendering ---------------------------------------------------------

    def _render_uncached(self, markdown: str, page_path: str) -> Rendered:
        return self._pages.run(markdown, page_path)

    def render_comment(self, markdown: str, page_path: str) -> Rendered:
        """A talk comment: markdown with wiki links (resolved from the page's folder) and only
        COMMENT_HTML_TAGS as raw HTML, sanitized by the same sanitizer factory as pages. Not cached."""
        return self._comments.run(markdown, page_path)

    def render(self, markdown: str | Callable[[], str], page_path: str,
               cache_key: str | None = None) -> Rendered:
        """Render a page; with ``cache_key`` (the content's blob id) results are reused.

        ``markdown`` may be a function returning the text, so a cache hit
        never reads the content at all.
        """
        page_path = page_path.strip("/")

        def text() -> str:
            return markdown() if callable(markdown) else markdown

        if cache_key is None:
            return self._render_uncached(text(), page_path)
        return self.cache.get_or_render(self._cache_key(cache_key, page_path),
                                        lambda: self._render_uncached(text(), page_path))

    def _cache_key(self, content_id: str, page_path: str) -> str:
        """Content id + what else shapes the HTML: folder (relative links), page (edit links), URLs."""
        folder = "/".join(folder_segments(page_path))
        scope = page_path if self.section_edit_url is not None else folder
        urls = self._url_probe
        if urls is None:
            probe = "Tacit-Probe/Page"
            try:
                urls = [self.page_url(probe)]
                if self.section_edit_url is not None:
                    urls.append(self.section_edit_url(probe, 1))
            except Exception:
                urls = []
            self._url_probe = urls
        return cache_key(content_id, scope, urls)

    # -- missing pages -----------------------------------------------------

    def mark_missing(self, rendered_html: str, exists: Callable[[str], bool]) -> str:
        """Point links to pages that do not exist (yet) at their editor, styled as missing.

        Done after the cache because page existence changes without the content
        changing. Returns the input object itself when nothing is missing.
        """
        return mark_missing(rendered_html, exists, self.edit_url)
