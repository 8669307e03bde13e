"""SearchIndex: the search as the rest of the wiki sees it, one object over the word index, the
vector index, ranking and the background work.

Every index records the commit it reflects and catches up from there, whatever made the
commits (the web, the API, a push, a person in the repository). One process writes an index
at a time (a writer lock per index); the others keep searching the last committed state. A
missing or unreadable index is rebuilt in the background while searches answer with a
"reindexing" notice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import metrics
from ..changelog import LastChanges
from ..gitrepo import GitRepo
from ..render import Renderer
from .documents import GitDocuments
from .engine import Progress, Results, SearchEngine
from .meaning import MeaningClient
from .ranking import rank
from .scheduler import SOON_PAUSE, SearchScheduler, rebuild_command
from .semantic import SemanticSettings
from .vector_index import VectorCatchUp, VectorIndex
from .whoosh_engine import WhooshEngine
from .word_index import WordIndex

log = logging.getLogger(__name__)
_PATIENCE = 2.0  # seconds a search waits for a rebuild before answering "reindexing"
_LOCK_PATIENCE = 5.0  # seconds a search waits for another process's catch-up


class SearchIndex:
    def __init__(self, repo: GitRepo, renderer: Renderer, last_changes: LastChanges,
                 data_dir: str | os.PathLike, url_prefix: str = "",
                 semantic_settings: SemanticSettings = SemanticSettings(),
                 engine: SearchEngine | None = None) -> None:
        """`engine` defaults to Whoosh under `data_dir`/index. An engine given here is built in
        this process: the rebuild process opens the default engine, not this one."""
        self.url_prefix = url_prefix
        self.repo = repo
        self.root = Path(data_dir) / "index"
        self.engine = engine if engine is not None else WhooshEngine(self.root)
        documents = GitDocuments(repo, renderer, last_changes)
        self.words = WordIndex(self.engine, documents)
        self.semantic = VectorIndex(self.root, documents, MeaningClient(semantic_settings))
        self.vectors = self.semantic.store
        self.meaning = self.semantic.meaning
        command = rebuild_command(repo.path, self.root.parent, repo.branch, url_prefix,
                                  semantic_settings.to_argument()) if engine is None else None
        self.scheduler = SearchScheduler(lambda: self.catch_up(wait=True), command, self.build_missing)

    # -- building ------------------------------------------------------------------
    def rebuild(self, progress: Progress | None = None) -> int:
        """Index every page at the head into a new generation, then make it live."""
        return self.words.rebuild(progress)

    def rebuild_history(self, progress: Progress | None = None) -> int:
        """Index what every commit added and removed, oldest first, into a new generation."""
        return self.words.rebuild_history(progress)

    def rebuild_vectors(self, progress: Progress | None = None) -> int:
        """Embed every page's passages into a new generation of the semantic index (0 without the model)."""
        return self.semantic.rebuild(progress)

    def ensure_built(self) -> None:
        """At start: a missing index starts building in the background (searches answer meanwhile),
        and the meaning service starts, so the first question is answered by meaning too."""
        self.meaning.start()
        if not self.engine.is_built("pages") or not self.engine.is_built("history") or (
                self.meaning.available() and not self.vectors.exists()):
            self.scheduler.rebuild_in_background()

    def build_missing(self) -> None:
        """Build the indexes that are missing, and bring the semantic index up to the head
        (the rebuild process runs this)."""
        self.words.build_missing()
        self.semantic.build_missing()

    # -- catching up -----------------------------------------------------------------
    def catch_up(self, wait: bool | float = _LOCK_PATIENCE, history: bool = True) -> bool:
        """Bring the page index (and the history and semantic indexes) to the branch head.

        False if another process holds a writer lock longer than `wait` (it may be
        rebuilding: searches then answer from the last committed state). Page searches
        catch up the page index only; the others follow in the background after each
        save and before each history search.
        """
        head = self.repo.head() or ""
        indexes = ("pages", "history") if history else ("pages",)
        vectors = history and self.semantic.behind(head)
        if all(self.words.indexed(n) == head for n in indexes) and not vectors:
            return True
        if not all(self.engine.is_built(n) for n in indexes) or (vectors and not self.vectors.exists()):
            self.scheduler.rebuild_in_background()
            if vectors and all(self.engine.is_built(n) for n in indexes):
                vectors = False  # the semantic index is being built: the word indexes go on
            else:
                return False
        for index in indexes:
            with self.engine.writer_lock(index, wait) as locked:
                if not locked or not self._step(lambda: self.words.catch_up(index, self.repo.head())):
                    return False
        if vectors:
            with self.semantic.writer_lock(wait) as locked:
                if not locked or not self._step(self._catch_up_vectors):
                    return False
        return True

    def _catch_up_vectors(self) -> None:
        if self.semantic.catch_up(self.repo.head()) is VectorCatchUp.FOR_REBUILD:
            self.scheduler.rebuild_in_background()

    def _step(self, step) -> bool:
        """One index's catch-up; a failure leaves the index to a rebuild."""
        try:
            step()
            return True
        except Exception:
            log.exception("search index catch-up failed; rebuilding")
            self.scheduler.rebuild_in_background()
            return False

    def catch_up_soon(self, pause: float = SOON_PAUSE) -> None:
        """After a save: bring the indexes up to date without delaying the response (a search
        catches the page index up itself in any case)."""
        self.scheduler.catch_up_soon(pause)

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        self.scheduler.wait_for_rebuild(timeout)

    def close(self, wait: float = 30.0) -> None:
        """End this index's background work (scheduler.SearchScheduler.close), then let go of readers."""
        self.scheduler.close(wait)
        self.engine.close()

    # -- asking ------------------------------------------------------------------------
    def search(self, text: str, offset: int = 0, limit: int = 20, hidden: list[str] | None = None,
               history: bool = False) -> Results:
        kind = metrics.SearchKind.HISTORY if history or "history:" in text else metrics.SearchKind.PAGES
        with metrics.timed_search(kind):
            return self._search(text, offset, limit, hidden, history)

    def _search(self, text: str, offset: int, limit: int, hidden: list[str] | None, history: bool) -> Results:
        current = self.catch_up(history=history or "history:" in text)
        if not current:  # a small wiki is rebuilt in a moment: answer from the new index
            self.wait_for_rebuild(_PATIENCE)
            current = self.catch_up(history=history or "history:" in text)
        related = self.semantic.neighbours(self.scheduler.pool) if not history else None
        result = rank(self.engine, text, offset, limit, hidden or [], history, related)
        if related is not None and self.vectors.head() != self.repo.head():
            self.catch_up_soon()  # commits from a push or by hand: the semantic index follows
        if not current and not result.reindexing:
            result.reindexing = self.scheduler.rebuilding()
        return result

    def _current(self) -> None:
        if not self.catch_up(history=False):
            self.wait_for_rebuild(_PATIENCE)
            self.catch_up(history=False)

    def links_to(self, name: str) -> list[str]:
        self._current()
        return self.engine.links_to(name)

    def all_links(self) -> dict[str, set[str]]:
        self._current()
        return self.engine.all_links()
