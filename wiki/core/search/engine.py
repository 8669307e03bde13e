"""The search engine interface: what the wiki needs from any full-text engine.

Whoosh serves it by default (whoosh_engine.py), an in-memory engine serves tests
(memory_engine.py); a large deployment can plug in another engine by implementing
the same few methods. The wiki decides what to index (word_index.py, from git) and
how to rank (ranking.py); an engine stores documents, matches words and scores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, ContextManager, Iterable, Literal, Protocol

from .extract import PageText

Index = Literal["pages", "history"]
"""`pages`: one document per page and per talk thread; `history`: one per (commit, page)."""
Progress = Callable[[int, int], None]
"""Told (done, total) while an index is built, for the command line's progress."""


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


@dataclass(frozen=True)
class Candidate:
    """One match as the engine scored it by words. Its snippet is made only if ranking shows it
    (highlighting costs more than matching), by `show(score)`."""

    key: str  # a page, "<page>#<thread>" for a talk thread, "<commit>:<page>" in the history
    score: float
    folder: str  # these three feed the filter chips (facets)
    author: str
    tags: tuple[str, ...]
    show: Callable[[float], Hit]


@dataclass
class Candidates:
    """What an engine found for a query, before ranking."""

    index: Index  # the index that answered ("history:" in a query asks the history)
    hits: list[Candidate]  # matches of every word, best first, at most offset + limit of them
    total: int  # every match counted
    exact: Candidate | None = None  # the page titled exactly as the question, when it is plain words
    # Pages missing at most one of the question's words, most words first (None: not a question in
    # several words); asked only when few pages hold them all.
    partial: Callable[[int], list[Candidate]] | None = None
    error: str | None = None
    reindexing: bool = False  # the index is missing: being built
    filtered_out: bool = False  # the query's filters alone leave nothing: its words were not looked for


class Rebuild(Protocol):
    """A new generation of one index, built beside the live one; it goes live on commit."""

    def add(self, docs: Iterable[PageDoc] | Iterable[RevisionDoc]) -> int:
        """Add documents of the index's kind (may be called many times); how many were added."""
    def commit(self, meta: dict[str, str]) -> None:
        """Record `meta` and make this generation live, in place of the old one."""
    def cancel(self) -> None:
        """Throw the generation away: it never went live."""


class SearchEngine(Protocol):
    """Two indexes (`pages`, `history`), each recording `meta` (the commit it reflects) with every
    change. Writes to one index happen under its writer lock, which the caller holds across reading
    the meta and writing, so one process at a time decides what to write; readers never wait."""

    def is_built(self, index: Index) -> bool:
        """Whether the index exists and can be read (otherwise it has to be built)."""
    def meta(self, index: Index) -> dict[str, str]:
        """What the last write recorded ({} when the index is missing)."""
    def writer_lock(self, index: Index, wait: bool | float) -> ContextManager[bool]:
        """The one writer of an index: yields whether it was taken (True waits, a number waits that long)."""
    def update(self, docs: Iterable[PageDoc], removed: Iterable[str], meta: dict[str, str]) -> None:
        """Replace pages and threads (by path), remove the keys `removed`, record meta: one commit."""
    def update_history(self, docs: Iterable[RevisionDoc], meta: dict[str, str]) -> None:
        """Add revisions to the history index and record meta: one commit."""
    def begin_rebuild(self, index: Index) -> Rebuild:
        """Start a new generation of the index; searches answer from the old one until it commits."""
    def query(self, text: str, offset: int, limit: int, hidden: list[str], history: bool) -> Candidates:
        """Matches of a query in the engine's query language, never in a hidden page or folder."""
    def page(self, key: str) -> Hit | None:
        """A page or thread as indexed, for listing one found otherwise (by meaning); None if not indexed.
        Its snippet is the start of its text."""
    def suggest(self, text: str) -> str | None:
        """A correction of the query's words from the indexed vocabulary ("did you mean"), or None."""
    def links_to(self, path: str) -> list[str]:
        """The pages linking to `path`."""
    def all_links(self) -> dict[str, set[str]]:
        """Every page -> the pages it links to."""
    def close(self) -> None:
        """Let go of open readers (files, memory); the engine reopens them if asked again."""


def visible(hidden: list[str]) -> Callable[[str], bool]:
    """Whether a path (a page, or a talk thread "page#id") is outside the hidden pages and folders
    (`hidden` lists pages, and folders ending in "/")."""
    folders = tuple(h for h in hidden if h.endswith("/"))
    pages = {h for h in hidden if not h.endswith("/")}
    return lambda path: not path.startswith(folders) and path.partition("#")[0] not in pages
