"""The search engine interface: what the wiki needs from any full-text engine.

Whoosh serves it by default (whoosh_engine.py); a large deployment can plug
in another engine by implementing the same few methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Protocol

from .extract import PageText
from .fusion import Neighbours


@dataclass(frozen=True)
class PageDoc:
    """A page as indexed: its text plus who changed it last and when."""

    text: PageText
    author: str
    email: str
    date: datetime
    revision: str
    source: str = "page"  # page | talk


@dataclass(frozen=True)
class RevisionDoc:
    """What one commit added to and removed from one page (the history index)."""

    key: str  # "<commit>:<path>"
    path: str
    revision: str
    author: str
    date: datetime
    added: str
    removed: str
    message: str


@dataclass(frozen=True)
class Hit:
    path: str
    title: str
    snippet_html: str
    score: float
    source: str  # page | talk | history
    revision: str | None
    author: str
    date: datetime | None
    tags: tuple[str, ...] = ()
    thread: str | None = None  # a talk hit: the thread's id on page `path`


@dataclass
class Results:
    total: int
    hits: list[Hit]
    suggestion: str | None = None
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    error: str | None = None  # a query that could not be understood, explained
    reindexing: bool = False


class SearchEngine(Protocol):
    def update(self, docs: Iterable[PageDoc], removed: Iterable[str], meta: dict[str, str]) -> None: ...
    def update_history(self, docs: Iterable[RevisionDoc], meta: dict[str, str]) -> None: ...
    def meta(self, name: str) -> dict[str, str]: ...
    def query(self, text: str, offset: int, limit: int, hidden: list[str], history: bool,
              related: "Neighbours | None" = None) -> Results: ...
    def suggest(self, text: str) -> str | None: ...
    def links_to(self, path: str) -> list[str]: ...
    def all_links(self) -> dict[str, set[str]]: ...
