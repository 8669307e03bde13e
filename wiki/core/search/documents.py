"""What git holds, as search documents: pages and talk threads at a commit, what each commit
changed, and the difference between two commits. The word index and the vector index both
read the repository through this, so they index the same things."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from .. import names
from ..changelog import LastChanges
from ..diff import LineKind, diff_texts
from ..gitrepo import GitRepo
from ..render import Renderer
from ..talk import TalkNotFound, TalkStore, Thread, page_of_talk_file
from .engine import PageDoc, RevisionDoc
from .extract import PageText, extract, html_to_text


@dataclass
class Changes:
    """What differs between two commits, as the indexes need it."""

    docs: list[PageDoc] = field(default_factory=list)  # pages and threads added or changed
    removed: list[str] = field(default_factory=list)  # keys of pages and threads gone
    moved: dict[str, str] = field(default_factory=dict)  # pages renamed unchanged: old -> new


class GitDocuments:
    def __init__(self, repo: GitRepo, renderer: Renderer, last_changes: LastChanges) -> None:
        self.repo = repo
        self.renderer = renderer
        self.last_changes = last_changes
        self.talk = TalkStore.reading(repo)

    def exists(self, commit: str) -> bool:
        """Whether the commit is still in the repository (a force push may have dropped it)."""
        try:
            self.repo.commit(commit)
            return True
        except Exception:
            return False

    def page_files(self, head: str | None) -> tuple[list[tuple[str, str]], list[str]]:
        """(path, blob) of every page at head, and every file under .talk/; the last change of
        every page is read in one history pass instead of one per page."""
        files = list(self.repo.list_files(head)) if head else []
        if head:
            self.last_changes.all(head)
        return [(p, b) for p, b in files if names.page_name(p)], [p for p, _ in files if p.startswith(".talk/")]

    def page_doc(self, head: str, path: str, blob: str) -> PageDoc | None:
        name = names.page_name(path)
        if name is None:
            return None
        text = self.repo.read_blob(blob).decode("utf-8", "replace")
        change = self.last_changes.get(head, path)
        return PageDoc(extract(self.renderer, name, text, blob),
                       change.author.name if change else "", change.author.email if change else "",
                       as_datetime(change.time if change else 0), change.sha if change else head)

    def thread_docs(self, head: str | None, files: list[str]) -> tuple[list[PageDoc], list[str]]:
        """Documents for the threads that files under .talk/ belong to; keys of threads gone."""
        docs, gone = [], []
        for page, thread_id in sorted({t for t in map(page_of_talk_file, files) if t}):
            doc = self._thread_doc(head, page, thread_id) if head else None
            if doc is None:
                gone.append(f"{page}#{thread_id}")
            else:
                docs.append(doc)
        return docs, gone

    def _thread_doc(self, head: str, page: str, thread_id: str) -> PageDoc | None:
        """A talk thread as one document, found with its page (path "<page>#<thread>")."""
        try:
            thread = self.talk.thread(page, thread_id, head)
        except (TalkNotFound, names.BadPageName):
            return None
        return thread_doc(self.renderer, thread)

    def revision_docs(self, rev_range: str) -> Iterator[RevisionDoc]:
        """What each commit of the range added to and removed from each page."""
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

    def changed(self, indexed: str | None, head: str) -> Changes:
        """Documents for what differs between two commits (a tree diff), the keys gone, and pages moved."""
        out, talk_files, gone_blobs, new_blobs = Changes(), [], {}, {}
        for change in self.repo.diff_trees(indexed, head):
            name = names.page_name(change.path)
            if name is None:
                if change.path.startswith(".talk/"):
                    talk_files += [change.path] + ([change.old_path] if change.old_path else [])
                continue
            if change.status == "D" or change.new_blob is None:
                out.removed.append(name)
                if change.old_blob:
                    gone_blobs[change.old_blob] = name
            else:
                doc = self.page_doc(head, change.path, change.new_blob)
                if doc is not None:
                    out.docs.append(doc)
                    if change.status == "A":
                        new_blobs[change.new_blob] = name
        out.moved = {gone_blobs[b]: name for b, name in new_blobs.items() if b in gone_blobs}
        talk, gone = self.thread_docs(head, talk_files)
        out.docs += talk
        out.removed += gone
        return out


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
