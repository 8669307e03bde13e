"""Fenced code highlighted by Pygments, with CSS classes rather than inline styles (see ``pygments_css``)."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound


@lru_cache(maxsize=256)
def _lexer_class(lang: str) -> Any:
    """Pygments lexer class for a fence language, or None (lookups are slow, so cached)."""
    try:
        return find_lexer_class_by_name(lang)
    except (ClassNotFound, ValueError):
        return None


def code_block(code: str, lang: str, formatter: HtmlFormatter) -> str:
    """A ``<pre>`` of code, highlighted when ``lang`` names a lexer; a lexer bug shows the code plain."""
    lexer_cls = _lexer_class(lang.lower()) if lang and len(lang) <= 64 else None
    if lexer_cls is not None:
        try:
            body = pygments_highlight(code, lexer_cls(stripnl=False), formatter)
        except Exception:  # a lexer bug must not break the page
            body = html.escape(code, quote=True)
    else:
        body = html.escape(code, quote=True)
    cls = ' class="language-' + html.escape(lang, quote=True) + '"' if lang else ""
    return '<pre class="highlight"><code' + cls + ">" + body + "</code></pre>\n"


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
