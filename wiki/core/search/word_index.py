"""The word indexes (pages with their talk threads, and the history) kept in step with git.

Each index records the commit it reflects. Catching up diffs that commit's tree against the
branch head's (a tree diff, so resets and force pushes work too) and hands the difference to
the engine, whatever made the commits: the web, the API, a push, a person in the repository.
This decides what to index; the engine (engine.SearchEngine) how to store and match it.
"""

from __future__ import annotations

from .documents import GitDocuments
from .engine import Index, Progress, SearchEngine

BATCH = 500  # revisions handed to the engine at a time while building the history


class WordIndex:
    def __init__(self, engine: SearchEngine, documents: GitDocuments) -> None:
        self.engine = engine
        self.documents = documents
        self.repo = documents.repo

    def indexed(self, index: Index) -> str | None:
        """The commit the index reflects (None: missing, or built without one)."""
        return self.engine.meta(index).get("head")

    # -- building --------------------------------------------------------------
    def rebuild(self, progress: Progress | None = None) -> int:
        """Index every page at the head into a new generation, then make it live."""
        with self.engine.writer_lock("pages", True):
            return self.rebuild_pages(progress)

    def rebuild_history(self, progress: Progress | None = None) -> int:
        """Index what every commit added and removed, oldest first, into a new generation."""
        with self.engine.writer_lock("history", True):
            return self.rebuild_revisions(progress)

    def rebuild_pages(self, progress: Progress | None) -> int:
        """rebuild() for a caller holding the writer lock."""
        head = self.repo.head()
        build = self.engine.begin_rebuild("pages")
        try:
            pages, talk_files = self.documents.page_files(head)
            docs = []
            for i, (path, blob) in enumerate(pages, 1):
                doc = self.documents.page_doc(head, path, blob)
                if doc is not None:
                    docs.append(doc)
                if progress and (i % 100 == 0 or i == len(pages)):
                    progress(i, len(pages))
            talk, _ = self.documents.thread_docs(head, talk_files)
            count = build.add(docs + talk)
        except BaseException:
            build.cancel()
            raise
        build.commit({"head": head or ""})
        return count

    def rebuild_revisions(self, progress: Progress | None) -> int:
        """rebuild_history() for a caller holding the writer lock."""
        head = self.repo.head()
        build = self.engine.begin_rebuild("history")
        try:
            count = 0
            total = int(self.repo.git("rev-list", "--count", head).strip()) if head else 0
            seen = set()
            docs = []
            for doc in (self.documents.revision_docs(head) if head else ()):
                docs.append(doc)
                if doc.revision not in seen:
                    seen.add(doc.revision)
                    if progress and len(seen) % 200 == 0:
                        progress(len(seen), total)
                if len(docs) >= BATCH:
                    count += build.add(docs)
                    docs = []
            count += build.add(docs)
            if progress:
                progress(total, total)
        except BaseException:
            build.cancel()
            raise
        build.commit({"head": head or ""})
        return count

    def build_missing(self) -> None:
        """Build the indexes that are missing or record no commit (the rebuild process runs this)."""
        for index, rebuild in (("pages", self.rebuild_pages), ("history", self.rebuild_revisions)):
            with self.engine.writer_lock(index, True):
                if not self.engine.is_built(index) or self.indexed(index) is None:
                    rebuild(None)

    # -- catching up (callers hold the index's writer lock) --------------------------
    def catch_up(self, index: Index, head: str | None) -> None:
        if index == "pages":
            self._catch_up_pages(head)
        else:
            self._catch_up_history(head)

    def _catch_up_pages(self, head: str | None) -> None:
        indexed = self.indexed("pages") or None
        if indexed == head:
            return
        if indexed and not self.documents.exists(indexed):
            self.rebuild_pages(None)
            return
        if head:
            changes = self.documents.changed(indexed, head)
            docs, removed = changes.docs, changes.removed
        else:
            docs, removed = [], list(self.engine.all_links())
        self.engine.update(docs, removed, {"head": head or ""})

    def _catch_up_history(self, head: str | None) -> None:
        indexed = self.indexed("history") or None
        if indexed == head:
            return
        if indexed and head and not (self.documents.exists(indexed) and self.repo.is_ancestor(indexed, head)):
            self.rebuild_revisions(None)  # a reset or force push: the history itself changed
            return
        rev_range = f"{indexed}..{head}" if indexed else head
        self.engine.update_history(list(self.documents.revision_docs(rev_range)) if head else [],
                                   {"head": head or ""})
