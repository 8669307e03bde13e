"""Markdown to safe HTML: parse (mistune) -> wiki links -> highlight -> sanitize (nh3), cached.

1. mistune 3 parses GitHub-flavoured markdown (tables, footnotes, task lists,
   strikethrough, autolinks, definition lists) plus ``[[wiki links]]`` (syntax.py). Raw
   HTML is passed through on purpose, like GitHub, because step 4 cleans it.
2. ``WikiHTMLRenderer`` (htmlrenderer.py) resolves wiki links and relative links to page
   URLs (resolve.py), gives headings stable anchors and "edit" links, and collects headings
   and link targets for the caller (backlinks, TOC, missing-page marking).
3. Fenced code is highlighted by Pygments with CSS classes (highlight.py), unless a feature
   renders the fence itself (blocks.py; e.g. ```dashboard, from status.py).
4. nh3 (ammonia) sanitizes the whole document with an allowlist (sanitize.py), so nothing a
   page author writes - markdown or raw HTML - can run script.

The steps are listed in pipeline.py. Rendering is pure (markdown + page path + URL callables
-> ``Rendered``), so the result is cached by the caller's content id (the git blob id) in
memory and, optionally, on disk shared by all worker processes (cache.py). Which links point
at *missing* pages changes without the content changing, so that is applied after the cache
by ``Renderer.mark_missing`` (missing.py).
"""

from .blocks import FencedBlock
from .cache import RENDERER_VERSION
from .highlight import pygments_css
from .renderer import Renderer
from .resolve import resolve_relative, resolve_wikilink, slugify
from .result import Heading, Rendered
from .sanitize import COMMENT_HTML_TAGS

__all__ = [
    "COMMENT_HTML_TAGS",
    "RENDERER_VERSION",
    "FencedBlock",
    "Heading",
    "Rendered",
    "Renderer",
    "pygments_css",
    "slugify",
    "resolve_wikilink",
    "resolve_relative",
]
