"""Keeping the search indexes in step with git.

Each index records the commit it reflects. Catching up diffs that commit's
tree against the branch head's (a tree diff, so resets and force pushes work
too) and applies the difference, whatever made the commits: the web, the
API, a push, a person in the repository. One process writes at a time (an
flock in WIKI_DATA/index); the others keep searching the last committed
state. A missing or unreadable index is rebuilt in the background while
searches answer with a "reindexing" notice.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .. import metrics, names
from ..changelog import LastChanges
from ..locks import file_lock
from ..diff import LineKind, diff_texts
from ..gitrepo import GitRepo
from ..render import Renderer
from .engine import PageDoc, Results, RevisionDoc, SearchEngine
from ..talk import TalkNotFound, TalkStore, Thread, page_of_talk_file
from .extract import PageText, extract, html_to_text
from . import semantic
from .meaning import MeaningClient
from .semantic import SemanticSettings
from .ranking import rank
from .vectors import VectorStore
from .whoosh_engine import WhooshEngine
from ...logconfig import child_environment

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
_BATCH = 500
_PATIENCE = 2.0  # seconds a search waits for a rebuild before answering "reindexing"
_SOON_PAUSE = 0.5  # seconds a catch-up after a save waits for more saves to come
_LOCK_PATIENCE = 5.0  # seconds a search waits for another process's catch-up
_MEANING_PATIENCE = 5.0  # seconds a search waits for the meaning service before answering by words
_EMBED_INLINE = 300  # more changed pages than this are embedded by the rebuild process, not a web worker


class SearchIndex:
    def __init__(self, repo: GitRepo, renderer: Renderer, last_changes: LastChanges,
                 data_dir: str | os.PathLike, url_prefix: str = "",
                 semantic_settings: SemanticSettings = SemanticSettings(),
                 engine: SearchEngine | None = None) -> None:
        self.url_prefix = url_prefix
        self.repo = repo
        self.renderer = renderer
        self.last_changes = last_changes
        self.talk = TalkStore.reading(repo)
        self.root = Path(data_dir) / "index"
        self.engine = engine if engine is not None else WhooshEngine(self.root)
        self.vectors = VectorStore(self.root)
        self.meaning = MeaningClient(semantic_settings)

        self._background: threading.Thread | None = None
        self._background_lock = threading.Lock()
        self._soon_thread: threading.Thread | None = None
        self._soon_pending = False
        self._soon_pause = float("inf")  # the shortest pause asked for since the last catch-up round
        self._pool: ThreadPoolExecutor | None = None
        self._rebuild_process: subprocess.Popen | None = None
        self._closed = False
        self._closing = threading.Event()  # cuts a catch-up's pause short

    # -- locking ---------------------------------------------------------------
    def _writer_lock(self, wait: bool | float, index: str):
        """One writer per index; wait True blocks, a number waits that long at most.

        The indexes have separate locks, so a page catch-up never waits for the slower
        history catch-up of another process.
        """
        if index == "vectors":
            return file_lock(self.root / "write-vectors.lock", wait)
        return self.engine.writer_lock(index, wait)

    # -- documents -------------------------------------------------------------
    def _page_doc(self, head: str, path: str, blob: str) -> PageDoc | None:
        name = names.page_name(path)
        if name is None:
            return None
        text = self.repo.read_blob(blob).decode("utf-8", "replace")
        change = self.last_changes.get(head, path)
        return PageDoc(extract(self.renderer, name, text, blob),
                       change.author.name if change else "", change.author.email if change else "",
                       as_datetime(change.time if change else 0), change.sha if change else head)

    def _thread_doc(self, head: str, page: str, thread_id: str) -> PageDoc | None:
        """A talk thread as one document, found with its page (path "<page>#<thread>")."""
        try:
            thread = self.talk.thread(page, thread_id, head)
        except (TalkNotFound, names.BadPageName):
            return None
        return thread_doc(self.renderer, thread)

    def _thread_docs(self, head: str, files: list[str]) -> tuple[list[PageDoc], list[str]]:
        """Documents for the threads that files under .talk/ belong to; keys of threads gone."""
        docs, gone = [], []
        for page, thread_id in sorted({t for t in map(page_of_talk_file, files) if t}):
            doc = self._thread_doc(head, page, thread_id) if head else None
            if doc is None:
                gone.append(f"{page}#{thread_id}")
            else:
                docs.append(doc)
        return docs, gone

    def _revision_docs(self, rev_range: str) -> Iterator[RevisionDoc]:
        for entry in self.repo.log(rev_range, renames=False):
            for f in entry.files:
                name = names.page_name(f.path)
                if name is None:
                    continue
                old = self.repo.read_blob(f.old_blob).decode("utf-8", "replace") if f.old_blob else ""
                new = self.repo.read_blob(f.new_blob).decode("utf-8", "replace") if f.new_blob else ""
                d = diff_texts(old, new, context=0)
                added = "\n".join(ln.text for h in d.hunks for ln in h.lines if ln.kind is LineKind.ADDED)
                removed = "\n".join(ln.text for h in d.hunks for ln in h.lines if ln.kind is LineKind.REMOVED)
                yield RevisionDoc(f"{entry.sha}:{name}", name, entry.sha, entry.author.name,
                                  as_datetime(entry.time), added, removed, entry.message)

    # -- building --------------------------------------------------------------
    def rebuild(self, progress: Progress | None = None) -> int:
        """Index every page at the head into a new generation, then make it live."""
        with self._writer_lock(True, "pages"):
            return self._rebuild_pages(progress)

    def _rebuild_pages(self, progress: Progress | None) -> int:
        head = self.repo.head()
        build = self.engine.begin_rebuild("pages")
        try:
            files = [(p, b) for p, b in self.repo.list_files(head)] if head else []
            pages = [(p, b) for p, b in files if names.page_name(p)]
            if head:
                self.last_changes.all(head)  # one history pass instead of one per page
            docs = []
            for i, (path, blob) in enumerate(pages, 1):
                doc = self._page_doc(head, path, blob)
                if doc is not None:
                    docs.append(doc)
                if progress and (i % 100 == 0 or i == len(pages)):
                    progress(i, len(pages))
            talk, _ = self._thread_docs(head, [p for p, _ in files if p.startswith(".talk/")])
            count = build.add(docs + talk)
        except BaseException:
            build.cancel()
            raise
        build.commit({"head": head or ""})
        return count

    def rebuild_history(self, progress: Progress | None = None) -> int:
        """Index what every commit added and removed, oldest first, into a new generation."""
        with self._writer_lock(True, "history"):
            return self._rebuild_history(progress)

    def _rebuild_history(self, progress: Progress | None) -> int:
        head = self.repo.head()
        build = self.engine.begin_rebuild("history")
        try:
            count = 0
            total = int(self.repo.git("rev-list", "--count", head).strip()) if head else 0
            seen = set()
            docs = []
            for doc in (self._revision_docs(head) if head else ()):
                docs.append(doc)
                if doc.revision not in seen:
                    seen.add(doc.revision)
                    if progress and len(seen) % 200 == 0:
                        progress(len(seen), total)
                if len(docs) >= _BATCH:
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

    def rebuild_vectors(self, progress: Progress | None = None) -> int:
        """Embed every page's passages into a new generation of the semantic index (0 without the model)."""
        with self._writer_lock(True, "vectors"):
            return self._rebuild_vectors(progress)

    def _rebuild_vectors(self, progress: Progress | None) -> int:
        if not self.meaning.available():
            return 0
        head = self.repo.head()
        files = list(self.repo.list_files(head)) if head else []
        pages = [(p, b) for p, b in files if names.page_name(p)]
        if head:
            self.last_changes.all(head)
        writer = self.vectors.create()
        count = 0
        try:
            for start in range(0, len(pages), _BATCH):
                docs = [d for d in (self._page_doc(head, p, b) for p, b in pages[start:start + _BATCH]) if d]
                count += self._embed(writer, docs)
                if progress:
                    progress(min(start + _BATCH, len(pages)), len(pages))
            talk, _ = self._thread_docs(head, [p for p, _ in files if p.startswith(".talk/")])
            count += self._embed(writer, talk)
            writer.contributors(self._contributors(head) if head else [])
            writer.commit({"head": head or ""})
        except BaseException:
            writer.cancel()
            raise
        if progress and not pages:
            progress(0, 0)
        return count

    def _embed(self, writer, docs: list[PageDoc]) -> int:
        """Embed the docs' passages in one go (batches of similar length) and store them per page.

        Passages a page already had keep their vectors: an edit to one paragraph embeds that one.
        """
        texts = [semantic.passages(d.text) for d in docs]
        known: dict[str, object] = {}
        for doc in docs:
            known.update(writer.vectors_of(doc.text.path))
        new = sorted({t for ts in texts for t in ts if t not in known})
        for start in range(0, len(new), _BATCH):  # the service embeds a batch at a time
            vectors = self.meaning.embed(new[start:start + _BATCH], wait=60)
            if vectors is None:
                raise RuntimeError("the meaning service is not answering")
            known.update(zip(new[start:start + _BATCH], vectors))
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

    # -- catching up -----------------------------------------------------------
    def catch_up(self, wait: bool | float = _LOCK_PATIENCE, history: bool = True) -> bool:
        """Bring the page index (and the history index) to the branch head.

        False if another process holds the writer lock longer than `wait` (it
        may be rebuilding: searches then answer from the last committed state).
        Page searches catch up the page index only; the history index follows
        in the background after each save and before each history search.
        """
        head = self.repo.head() or ""
        names_ = ("pages", "history") if history else ("pages",)
        vectors = history and self.meaning.available() and self.vectors.head() != head
        if all(self.engine.meta(n).get("head") == head for n in names_) and not vectors:
            return True
        if not all(self.engine.is_built(n) for n in names_) or (vectors and not self.vectors.exists()):
            self._rebuild_in_background()
            if vectors and all(self.engine.is_built(n) for n in names_):
                vectors = False  # the semantic index is being built: the word indexes go on
            else:
                return False
        names_ += ("vectors",) if vectors else ()
        steps = {"pages": self._catch_up_pages, "history": self._catch_up_history,
                 "vectors": self._catch_up_vectors}
        for index, step in steps.items():
            if index not in names_:
                continue
            with self._writer_lock(wait, index) as locked:
                if not locked:
                    return False
                try:
                    step(self.repo.head())
                except Exception:
                    log.exception("search index catch-up failed; rebuilding")
                    self._rebuild_in_background()
                    return False
        return True

    def _changed(self, indexed: str | None, head: str) -> tuple[list[PageDoc], list[str], dict[str, str]]:
        """Documents for what differs between two commits, the keys gone, and pages moved (old -> new)."""
        docs, removed, talk_files, gone_blobs, new_blobs = [], [], [], {}, {}
        for change in self.repo.diff_trees(indexed, head):
            name = names.page_name(change.path)
            if name is None:
                if change.path.startswith(".talk/"):
                    talk_files += [change.path] + ([change.old_path] if change.old_path else [])
                continue
            if change.status == "D" or change.new_blob is None:
                removed.append(name)
                if change.old_blob:
                    gone_blobs[change.old_blob] = name
            else:
                doc = self._page_doc(head, change.path, change.new_blob)
                if doc is not None:
                    docs.append(doc)
                    if change.status == "A":
                        new_blobs[change.new_blob] = name
        moved = {gone_blobs[b]: name for b, name in new_blobs.items() if b in gone_blobs}
        talk, gone = self._thread_docs(head, talk_files)
        return docs + talk, removed + gone, moved

    def _catch_up_pages(self, head: str | None) -> None:
        indexed = self.engine.meta("pages").get("head") or None
        if indexed == head:
            return
        if indexed and not self._exists(indexed):
            self._rebuild_pages(None)
            return
        if head:
            docs, removed, _ = self._changed(indexed, head)
        else:
            docs, removed = [], list(self.engine.all_links())
        self.engine.update(docs, removed, {"head": head or ""})

    def _catch_up_history(self, head: str | None) -> None:
        indexed = self.engine.meta("history").get("head") or None
        if indexed == head:
            return
        if indexed and head and not (self._exists(indexed) and self.repo.is_ancestor(indexed, head)):
            self._rebuild_history(None)  # a reset or force push: the history itself changed
            return
        rev_range = f"{indexed}..{head}" if indexed else head
        self.engine.update_history(list(self._revision_docs(rev_range)) if head else [], {"head": head or ""})

    def _catch_up_vectors(self, head: str | None, in_worker: bool = True) -> None:
        """Embed what changed since the indexed commit. In a web worker, a big change or a head
        that moved sideways goes to the rebuild process, which calls this with in_worker False."""
        indexed = self.vectors.head()
        if not self.meaning.available() or indexed == (head or None) or not self.vectors.exists():
            return
        if not indexed or not self._exists(indexed):
            if in_worker:
                self._rebuild_in_background()  # embedding a whole wiki is a job for the rebuild process
            else:
                self._rebuild_vectors(None)
            return
        docs, removed, moved = self._changed(indexed, head) if head else ([], [], {})
        if in_worker and len(docs) > _EMBED_INLINE:
            self._rebuild_in_background()
            return
        writer = self.vectors.writer()
        if writer is None:
            return
        try:
            for old, new in moved.items():
                writer.carry_contributors(old, new)
            for key in removed:
                writer.remove(key)
                writer.forget_contributors(key)
            try:
                self._embed(writer, docs)
            except RuntimeError as e:  # the service is away: the next catch-up tries again
                log.warning("semantic catch-up postponed: %s", e)
                writer.cancel()
                return
            if head and self.repo.is_ancestor(indexed, head):
                writer.contributors(self._contributors(f"{indexed}..{head}"))
            else:  # a reset or force push: who wrote what is counted again
                writer.clear_contributors()
                writer.contributors(self._contributors(head) if head else [])
            writer.commit({"head": head or ""})
        except BaseException:
            writer.cancel()
            raise

    def _exists(self, commit: str) -> bool:
        try:
            self.repo.commit(commit)
            return True
        except Exception:
            return False

    def _rebuild_in_background(self) -> None:
        with self._background_lock:
            if self._closed or self._background is not None and self._background.is_alive():
                return

            def run() -> None:
                # In a process of its own: a full build holds tens of megabytes of text and
                # Whoosh's pool, which a long-lived web worker would keep for good.
                command = [sys.executable, "-m", "wiki.core.search.rebuild", str(self.repo.path),
                           str(self.root.parent), self.repo.branch, self.url_prefix,
                           self.meaning.settings.to_argument()]
                try:  # its stderr is this process's (the log); its stdout, never used, joins it there
                    with self._background_lock:  # close() either sees the process or stops it starting
                        if self._closed:
                            return
                        proc = self._rebuild_process = subprocess.Popen(
                            command, stdout=2, env=child_environment(), cwd=str(Path(__file__).resolve().parents[3]))
                    try:
                        returncode = proc.wait(timeout=3600)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                        raise
                    if returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):  # stopped is no failure
                        log.error("search index rebuild process exited with status %s", returncode)
                except Exception:
                    log.exception("search index rebuild failed")

            self._background = threading.Thread(target=run, name="search-rebuild", daemon=True)
            self._background.start()

    def ensure_built(self) -> None:
        """At start: a missing index starts building in the background (searches answer meanwhile),
        and the meaning service starts, so the first question is answered by meaning too."""
        self.meaning.start()
        if not self.engine.is_built("pages") or not self.engine.is_built("history") or (
                self.meaning.available() and not self.vectors.exists()):
            self._rebuild_in_background()

    def build_missing(self) -> None:
        """Build the indexes that are missing, and bring the semantic index up to the head
        (the rebuild process runs this)."""
        for index, rebuild in (("pages", self._rebuild_pages), ("history", self._rebuild_history)):
            with self._writer_lock(True, index):
                if not self.engine.is_built(index) or self.engine.meta(index).get("head") is None:
                    rebuild(None)
        if self.meaning.available():
            with self._writer_lock(True, "vectors"):
                try:
                    if self.vectors.head() is None:
                        self._rebuild_vectors(None)
                    else:  # left to this process by a web worker: a big change, or a reset
                        self._catch_up_vectors(self.repo.head(), in_worker=False)
                except RuntimeError as e:  # the service stopped: the next start builds it
                    log.warning("semantic index not built: %s", e)

    def catch_up_soon(self, pause: float = _SOON_PAUSE) -> None:
        """After a save: bring the index up to date without delaying the response.

        One catch-up thread per process at a time, after a pause so a burst of saves
        costs one catch-up (the shortest pause asked for since the last round); saves
        made while it runs are picked up by its next round. (A search catches the page
        index up itself in any case.)
        """
        with self._background_lock:
            if self._closed:
                return
            self._soon_pending = True
            self._soon_pause = min(self._soon_pause, pause)
            if self._soon_thread is not None and self._soon_thread.is_alive():
                return

            def run() -> None:
                while True:
                    with self._background_lock:
                        if not self._soon_pending or self._closed:
                            self._soon_thread = None
                            return
                        self._soon_pending = False
                        pause, self._soon_pause = self._soon_pause, float("inf")
                    if self._closing.wait(pause):
                        continue  # closed in the pause: the next start catches up (the index says from where)
                    try:
                        self.catch_up(wait=True)
                    except Exception:
                        log.exception("search catch-up after a save failed")

            self._soon_thread = threading.Thread(target=run, name="search-catch-up", daemon=True)
            self._soon_thread.start()

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        thread = self._background
        if thread is not None:
            thread.join(timeout)

    def close(self, wait: float = 30.0) -> None:
        """End this index's background work, so none outlives its owner (a test, a command, a worker).

        A rebuild process is stopped (its unfinished generation is removed: one goes live only
        when complete, and the next start builds again); a catch-up under way finishes (each is
        one index commit), one still in its pause is dropped (the index records the commit it
        reflects, so the next catch-up starts from there); nothing new starts afterwards.
        """
        with self._background_lock:
            self._closed = True
            self._closing.set()
            self._soon_pending = False
            soon, background, process, pool = self._soon_thread, self._background, self._rebuild_process, self._pool
            self._pool = None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in (background, soon):
            if thread is not None and thread is not threading.current_thread():
                thread.join(wait)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- asking ------------------------------------------------------------------
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
        related = self._meaning() if not history else None
        result = rank(self.engine, text, offset, limit, hidden or [], history, related)
        if related is not None and self.vectors.head() != self.repo.head():
            self.catch_up_soon()  # commits from a push or by hand: the semantic index follows
        if not current and not result.reindexing:
            result.reindexing = self._background is not None and self._background.is_alive()
        return result

    def _meaning(self) -> "_Meaning | None":
        if not self.meaning.available() or not self.vectors.exists():
            return None
        with self._background_lock:
            if self._closed:
                return None
            if self._pool is None:  # the service answers while this worker runs the word search
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-meaning")
        return _Meaning(self.meaning, self.vectors, self._pool)

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


class _Meaning:
    """The semantic side of a search (ranking.Neighbours): the meaning service and the priors."""

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
                return future.result(timeout=_MEANING_PATIENCE)
            except Exception:  # noqa: BLE001 (a slow or failed service: the words answer alone)
                log.warning("the meaning service did not answer in time")
                return []
        return answer

    def passages(self, ids: list[int]) -> dict[int, str]:
        return self.store.passage_texts(ids)


def thread_doc(renderer: Renderer, thread: Thread) -> PageDoc:
    comments = [c for c in thread.comments if not c.deleted]
    body = "\n".join(html_to_text(renderer.render_comment(c.body, thread.page).html) for c in comments)
    last = max(thread.comments, key=lambda c: c.edited or c.date)
    text = PageText(f"{thread.page}#{thread.id}", thread.title, "", thread.quote or "", body, (), frozenset(),
                    tuple(line for line in body.split("\n") if line))
    when = thread.last_activity.astimezone(timezone.utc).replace(tzinfo=None)
    return PageDoc(text, last.name, "", when, thread.id, source="talk")


def as_datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)
