"""The wiki's additions to mistune's markdown: the ``[[wiki link]]`` syntax, and the hooks that
mark headings on the parsed tokens (the page title, the editable section of each) before HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import mistune

from ..sections import split_sections
from .htmlrenderer import WikiHTMLRenderer

_WIKILINK_PATTERN = r"\[\[(?P<wl_body>[^\[\]\n]+)\]\]"


def _parse_wikilink(inline: Any, m: re.Match[str], state: Any) -> int:
    raw = m.group(0)
    if state.in_link:  # inside a raw <a>: keep the text
        inline.process_text(raw, state)
        return m.end()
    target, _, label = m.group("wl_body").partition("|")
    state.append_token({"type": "wikilink", "attrs": {"target": target, "label": label, "raw": raw}})
    return m.end()


def wikilink_plugin(md: mistune.Markdown) -> None:
    """``[[Page]]``, ``[[Page|label]]``, ``[[Page#Section]]``, ``[[Page#Section|label]]``."""
    md.inline.register("wikilink", _WIKILINK_PATTERN, _parse_wikilink, before="link", start_chars="[")


TokenHook = Callable[[mistune.Markdown, Any], None]


def mark_title(md: mistune.Markdown, state: Any) -> None:
    """A level-1 heading that opens the page is its title."""
    first = next((t for t in state.tokens if t.get("type") != "blank_line"), None)
    if first is not None and first.get("type") == "heading" and first["attrs"].get("level") == 1:
        first["attrs"]["is_title"] = True


def _norm_title(text: str) -> str:
    return " ".join(text.split())


def number_sections(md: mistune.Markdown, state: Any) -> None:
    """Give the top-level headings their section numbers, for the "edit" links.

    Rendered top-level headings are matched to ``split_sections`` greedily, in
    order, by level and raw heading text: a heading one side sees and the other
    does not (HTML blocks, odd nesting) gets no edit link instead of shifting
    every later number.
    """
    renderer = md.renderer
    assert isinstance(renderer, WikiHTMLRenderer)
    sections = split_sections(renderer.context().source)
    keys = [(s.level, _norm_title(s.title)) for s in sections]
    pos = 0
    for tok in state.tokens:
        if tok.get("type") != "heading" or pos >= len(sections):
            continue
        key = (tok["attrs"].get("level"), _norm_title(tok.get("text", "")))
        for j in range(pos, len(sections)):
            if keys[j] == key:
                tok["attrs"]["section"] = sections[j].number
                pos = j + 1
                break


@dataclass(frozen=True)
class Dialect:
    """The markdown a text is read as: mistune plugins, hooks run over the parsed tokens (in
    order, after the plugins' own) before they become HTML, and whether a line break is ``<br>``."""

    plugins: tuple[Any, ...]
    token_hooks: tuple[TokenHook, ...]
    hard_wrap: bool

    def markdown(self, renderer: WikiHTMLRenderer) -> mistune.Markdown:
        md = mistune.create_markdown(escape=False, hard_wrap=self.hard_wrap, renderer=renderer,
                                     plugins=list(self.plugins))
        md.before_render_hooks.extend(self.token_hooks)
        return md
