"""The semantic index kept in step with git: passage vectors (VectorStore) embedded by the
meaning service (MeaningClient), and the pages nearest a question for ranking.

It follows git with the same tree diff as the word index, under its own writer lock.
Passages a page already had keep their vectors, so an edit embeds what changed. Embedding
a whole wiki (or a big change) is left to the rebuild process, not a web worker.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Callable, ContextManager

from .. import names
from ..locks import file_lock
from . import semantic
from .documents import GitDocuments
from .engine import PageDoc, Progress
from .meaning import MeaningClient
from .vectors import VectorStore, VectorWriter

log = logging.getLogger(__name__)
BATCH = 500  # pages read, and passages embedded, at a time
EMBED_INLINE = 300  # more changed pages than this are embedded by the rebuild process, not a web worker
MEANING_PATIENCE = 5.0  # seconds a search waits for the meaning service before answering by words


class VectorCatchUp(Enum):
    """How a catch-up of the semantic index ended."""

    DONE = "done"  # at the head (or nothing to do: no model, no index yet)
    POSTPONED = "postponed"  # the meaning service is away: the next catch-up tries again
    FOR_REBUILD = "for rebuild"  # a big change, or a head that moved sideways: the rebuild process does it


class VectorIndex:
    def __init__(self, root: Path, documents: GitDocuments, meaning: MeaningClient) -> None:
        self.root = root
        self.store = VectorStore(root)
        self.meaning = meaning
        self.documents = documents
        self.repo = documents.repo

    def writer_lock(self, wait: bool | float) -> ContextManager[bool]:
        """One writer of the semantic index, apart from the word indexes' writers."""
        return file_lock(self.root / "write-vectors.lock", wait)

    def behind(self, head: str) -> bool:
        """Whether the index should follow the head (the model is there and it reflects another commit)."""
        return self.meaning.available() and self.store.head() != head

    # -- building ----------------------------------------------------------------------
    def rebuild(self, progress: Progress | None = None) -> int:
        """Embed every page's passages into a new generation of the semantic index (0 without the model)."""
        with self.writer_lock(True):
            return self.rebuild_passages(progress)

    def rebuild_passages(self, progress: Progress | None) -> int:
        """rebuild() for a caller holding the writer lock."""
        if not self.meaning.available():
            return 0
        head = self.repo.head()
        pages, talk_files = self.documents.page_files(head)
        writer = self.store.create()
        count = 0
        try:
            for start in range(0, len(pages), BATCH):
                docs = [d for d in (self.documents.page_doc(head, p, b) for p, b in pages[start:start + BATCH]) if d]
                count += self._embed(writer, docs)
                if progress:
                    progress(min(start + BATCH, len(pages)), len(pages))
            talk, _ = self.documents.thread_docs(head, talk_files)
            count += self._embed(writer, talk)
            writer.contributors(self._contributors(head) if head else [])
            writer.commit({"head": head or ""})
        except BaseException:
            writer.cancel()
            raise
        if progress and not pages:
            progress(0, 0)
        return count

    def build_missing(self) -> None:
        """Build the index when missing, or bring it to the head (the rebuild process runs this)."""
        if not self.meaning.available():
            return
        with self.writer_lock(True):
            try:
                if self.store.head() is None:
                    self.rebuild_passages(None)
                else:  # left to this process by a web worker: a big change, or a reset
                    self.catch_up(self.repo.head(), in_worker=False)
            except RuntimeError as e:  # the service stopped: the next start builds it
                log.warning("semantic index not built: %s", e)

    def _embed(self, writer: VectorWriter, docs: list[PageDoc]) -> int:
        """Embed the docs' passages in one go (batches of similar length) and store them per page.

        Passages a page already had keep their vectors: an edit to one paragraph embeds that one.
        """
        texts = [semantic.passages(d.text) for d in docs]
        known: dict[str, object] = {}
        for doc in docs:
            known.update(writer.vectors_of(doc.text.path))
        new = sorted({t for ts in texts for t in ts if t not in known})
        for start in range(0, len(new), BATCH):  # the service embeds a batch at a time
            vectors = self.meaning.embed(new[start:start + BATCH], wait=60)
            if vectors is None:
                raise RuntimeError("the meaning service is not answering")
            known.update(zip(new[start:start + BATCH], vectors))
        for doc, ts in zip(docs, texts):
            writer.replace(doc.text.path, ts, [known[t] for t in ts])
        return sum(map(len, texts))

    def _contributors(self, rev_range: str) -> list[tuple[str, str]]:
        """(page, author email) for every page commit in a range: one `git log` for all of them."""
        out = self.repo.git("-c", "core.quotePath=false", "log", "--no-renames", "--format=%x01%ae",
                            "--name-only", rev_range).decode("utf-8", "replace")
        pairs, email = set(), ""
        for line in out.splitlines():
            if line.startswith("\x01"):
                email = line[1:].strip().lower()
            elif line:
                name = names.page_name(line)
                if name:
                    pairs.add((name, email))
        return sorted(pairs)

    # -- catching up (the caller holds the writer lock) ------------------------------------
    def catch_up(self, head: str | None, in_worker: bool = True) -> VectorCatchUp:
        """Embed what changed since the indexed commit. In a web worker, a big change or a head
        that moved sideways is left FOR_REBUILD; the rebuild process calls this with in_worker False."""
        indexed = self.store.head()
        if not self.meaning.available() or indexed == (head or None) or not self.store.exists():
            return VectorCatchUp.DONE
        if not indexed or not self.documents.exists(indexed):
            if in_worker:
                return VectorCatchUp.FOR_REBUILD  # embedding a whole wiki is a job for the rebuild process
            self.rebuild_passages(None)
            return VectorCatchUp.DONE
        changes = self.documents.changed(indexed, head) if head else None
        if in_worker and changes is not None and len(changes.docs) > EMBED_INLINE:
            return VectorCatchUp.FOR_REBUILD
        writer = self.store.writer()
        if writer is None:
            return VectorCatchUp.DONE
        try:
            for old, new in (changes.moved if changes else {}).items():
                writer.carry_contributors(old, new)
            for key in (changes.removed if changes else []):
                writer.remove(key)
                writer.forget_contributors(key)
            try:
                self._embed(writer, changes.docs if changes else [])
            except RuntimeError as e:  # the service is away: the next catch-up tries again
                log.warning("semantic catch-up postponed: %s", e)
                writer.cancel()
                return VectorCatchUp.POSTPONED
            if head and self.repo.is_ancestor(indexed, head):
                writer.contributors(self._contributors(f"{indexed}..{head}"))
            else:  # a reset or force push: who wrote what is counted again
                writer.clear_contributors()
                writer.contributors(self._contributors(head) if head else [])
            writer.commit({"head": head or ""})
        except BaseException:
            writer.cancel()
            raise
        return VectorCatchUp.DONE

    # -- asking ------------------------------------------------------------------------------
    def neighbours(self, pool: Callable[[], ThreadPoolExecutor | None]) -> "Neighbours | None":
        """The semantic side of one search (ranking.Neighbours), or None when there is none;
        `pool` gives the threads that wait for the service (None once closed)."""
        if not self.meaning.available() or not self.store.exists():
            return None
        executor = pool()
        return Neighbours(self.meaning, self.store, executor) if executor is not None else None


class Neighbours:
    """The meaning service asked in a thread of `pool` while the worker runs the word search, and
    the pages' priors (ranking.Neighbours)."""

    def __init__(self, client: MeaningClient, store: VectorStore, pool: ThreadPoolExecutor) -> None:
        self.client, self.store, self.pool = client, store, pool
        self._prior: Callable[[str], float] | None = None

    def prior(self, path: str) -> float:
        if self._prior is None:  # read only by a fused search (after a change, a query over the counts)
            self._prior = self.store.priors()
        return self._prior(path)

    def ask(self, text: str, limit: int, hidden: list[str]) -> Callable[[], list[tuple[str, float, int]]]:
        future = self.pool.submit(self.client.near, self.store.root, text, limit, hidden)

        def answer() -> list[tuple[str, float, int]]:
            try:
                return future.result(timeout=MEANING_PATIENCE)
            except Exception:  # noqa: BLE001 (a slow or failed service: the words answer alone)
                log.warning("the meaning service did not answer in time")
                return []
        return answer

    def passages(self, ids: list[int]) -> dict[int, str]:
        return self.store.passage_texts(ids)
