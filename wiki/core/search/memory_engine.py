"""A search engine held in memory: the SearchEngine protocol at its simplest, for tests.

Every word of a query must occur in a document (case-insensitive, whole words); a page
scores by how often they occur, title words counting three times. "history:" asks the
history index. It shows what an engine must do, and lets tests of the wiki's indexing
and ranking run without Whoosh; it keeps nothing on disk, so each process has its own.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import re
import threading
from typing import Iterable, Iterator

from .engine import Candidate, Candidates, Hit, Index, PageDoc, RevisionDoc, visible

_WORD = re.compile(r"\w+")
_HISTORY = re.compile(r"(?:^|\s)history:(\s|$)")
_TITLE_WEIGHT = 3


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


class MemoryEngine:
    """Both indexes as dicts (engine.SearchEngine); a rebuild swaps a whole dict."""

    def __init__(self) -> None:
        self._pages: dict[str, PageDoc] | None = None  # None: never built
        self._history: dict[str, RevisionDoc] | None = None
        self._meta: dict[str, dict[str, str]] = {}
        self._locks = {"pages": threading.Lock(), "history": threading.Lock()}

    # -- the state ----------------------------------------------------------------
    def is_built(self, index: Index) -> bool:
        return (self._pages if index == "pages" else self._history) is not None

    def meta(self, index: Index) -> dict[str, str]:
        return dict(self._meta.get(index, {}))

    @contextlib.contextmanager
    def writer_lock(self, index: Index, wait: bool | float) -> Iterator[bool]:
        lock = self._locks[index]
        taken = lock.acquire() if wait is True else lock.acquire(timeout=max(float(wait or 0), 0.0))
        try:
            yield taken
        finally:
            if taken:
                lock.release()

    # -- writing --------------------------------------------------------------------
    def update(self, docs: Iterable[PageDoc], removed: Iterable[str], meta: dict[str, str]) -> None:
        if self._pages is None:
            raise RuntimeError("the pages index is missing")
        pages = dict(self._pages)  # readers keep the dict they started with
        for key in removed:
            pages.pop(key, None)
        pages.update((doc.text.path, doc) for doc in docs)
        self._pages, self._meta["pages"] = pages, dict(meta)

    def update_history(self, docs: Iterable[RevisionDoc], meta: dict[str, str]) -> None:
        if self._history is None:
            raise RuntimeError("the history index is missing")
        self._history = {**self._history, **{doc.key: doc for doc in docs}}
        self._meta["history"] = dict(meta)

    def begin_rebuild(self, index: Index) -> "_MemoryRebuild":
        return _MemoryRebuild(self, index)

    # -- asking ---------------------------------------------------------------------------
    def query(self, text: str, offset: int = 0, limit: int = 20, hidden: list[str] | None = None,
              history: bool = False) -> Candidates:
        if _HISTORY.search(text):
            history, text = True, _HISTORY.sub(" ", text)
        index: Index = "history" if history else "pages"
        docs = self._history if history else self._pages
        if docs is None:
            return Candidates(index, [], 0, reindexing=True)
        words = _words(text)
        if not words:
            return Candidates(index, [], 0, error="Type a word to search for.")
        shown = visible(hidden or [])
        found = []
        for key, doc in docs.items():
            path = doc.path if isinstance(doc, RevisionDoc) else key
            if shown(path):
                score = _score(doc, words)
                if score:
                    found.append((score, key, doc))
        found.sort(key=lambda f: (-f[0], f[1]))
        hits = [_candidate(doc, score, words) for score, _, doc in found[:offset + limit]]
        exact = None
        if index == "pages":
            wanted = " ".join(text.split()).casefold()
            exact = next((_candidate(doc, float(score), words) for score, _, doc in found
                          if doc.text.title.strip().casefold() == wanted), None)
        return Candidates(index, hits, len(found), exact)

    def page(self, key: str) -> Hit | None:
        doc = (self._pages or {}).get(key)
        return _page_hit(doc, 0.0, []) if doc is not None else None

    def suggest(self, text: str) -> str | None:
        vocabulary = {w for doc in (self._pages or {}).values() for w in _words(_page_text(doc))}
        out, changed = [], False
        for word in _words(text):
            close = [] if word in vocabulary or len(word) < 3 else \
                difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.75)
            out.append(close[0] if close else word)
            changed = changed or bool(close)
        return " ".join(out) if changed else None

    def links_to(self, path: str) -> list[str]:
        return sorted(key for key, doc in (self._pages or {}).items()
                      if doc.source == "page" and path in doc.text.links)

    def all_links(self) -> dict[str, set[str]]:
        return {key: set(doc.text.links) for key, doc in (self._pages or {}).items() if doc.source == "page"}

    def close(self) -> None:
        """Nothing is open: the documents are plain dicts."""


class _MemoryRebuild:
    """A new dict for one index, live on commit (engine.Rebuild)."""

    def __init__(self, engine: MemoryEngine, index: Index) -> None:
        self.engine, self.index = engine, index
        self.docs: dict[str, PageDoc | RevisionDoc] = {}

    def add(self, docs) -> int:
        count = 0
        for doc in docs:
            self.docs[doc.text.path if isinstance(doc, PageDoc) else doc.key] = doc
            count += 1
        return count

    def commit(self, meta: dict[str, str]) -> None:
        if self.index == "pages":
            self.engine._pages = dict(self.docs)
        else:
            self.engine._history = dict(self.docs)
        self.engine._meta[self.index] = dict(meta)

    def cancel(self) -> None:
        self.docs = {}


def _page_text(doc: PageDoc) -> str:
    t = doc.text
    return "\n".join((t.title, t.path.replace("/", " "), t.headings, t.lead, t.body, " ".join(t.tags)))


def _score(doc: PageDoc | RevisionDoc, words: list[str]) -> float:
    """Occurrences of the words (0 unless every one occurs), title words weighing more."""
    if isinstance(doc, RevisionDoc):
        found = _words("\n".join((doc.added, doc.removed, doc.message)))
        title: list[str] = []
    else:
        found, title = _words(_page_text(doc)), _words(doc.text.title)
    counts = [found.count(w) + (_TITLE_WEIGHT - 1) * title.count(w) for w in words]
    return float(sum(counts)) if all(counts) else 0.0


def _snippet(text: str, words: list[str]) -> str:
    """The first line holding a word, with the words marked; otherwise the text's first line."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    line = next((ln for ln in lines if set(_words(ln)) & set(words)), lines[0] if lines else "")
    parts = _WORD.split(line[:240])
    tokens = _WORD.findall(line[:240])
    out = [html.escape(parts[0])]
    for token, after in zip(tokens, parts[1:]):
        out.append(f"<mark>{html.escape(token)}</mark>" if token.casefold() in words else html.escape(token))
        out.append(html.escape(after))
    return "".join(out)


def _page_hit(doc: PageDoc, score: float, words: list[str]) -> Hit:
    t = doc.text
    path, _, thread = t.path.partition("#") if doc.source == "talk" else (t.path, "", "")
    return Hit(path, t.title or path, _snippet(t.body, words), score, doc.source, doc.revision, doc.author,
               doc.date, tuple(t.tags), thread or None)


def _candidate(doc: PageDoc | RevisionDoc, score: float, words: list[str]) -> Candidate:
    if isinstance(doc, RevisionDoc):
        def show(score: float) -> Hit:
            return Hit(doc.path, doc.path, _snippet("\n".join((doc.added, doc.removed, doc.message)), words),
                       score, "history", doc.revision, doc.author, doc.date)
        return Candidate(doc.path, score, doc.path.split("/", 1)[0] if "/" in doc.path else "", doc.author, (), show)
    path = doc.text.path
    return Candidate(path, score, path.split("/", 1)[0] if "/" in path else "", doc.author, tuple(doc.text.tags),
                     lambda score: _page_hit(doc, score, words))
