"""History of pages: revisions following renames, blame, recent changes, commits.

Everything here is read from git and keyed by commit ids, which never change,
so results are cached freely: the history of a page as of a given head, the
blame of a file at a commit, a diff between two blobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import names
from .diff import TextDiff, diff_texts
from .gitrepo import FileChange, GitRepo, LogEntry, Person, UnknownRevision
from .lru import LRU
from .talk import TALK_ROOT, page_of_talk_file, talk_folder

if TYPE_CHECKING:
    from .pages import PageStore, SaveResult

PAGE_LIMIT = 50


@dataclass(frozen=True)
class Revision:
    """One commit's change to a page."""

    commit: str
    author: Person
    time: int
    message: str
    name: str  # the page's name after this commit (before it, for a deletion)
    status: str  # A created, M changed, D deleted, R renamed (from old_name, maybe changed too)
    old_name: str | None
    old_blob: str | None
    new_blob: str | None
    size_delta: int  # characters added (+) or removed (-)

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class HistoryPage:
    revisions: tuple[Revision, ...]
    total: int
    next_cursor: str | None
    anchor: str
    names: tuple[str, ...]  # every name the page had, current first


@dataclass(frozen=True)
class BlameLine:
    number: int
    text: str
    commit: str


@dataclass(frozen=True)
class BlameGroup:
    """Consecutive lines last changed by one commit."""

    commit: str
    author: Person
    time: int
    summary: str
    lines: tuple[BlameLine, ...]
    age: int  # 0 (newest) .. 9 (oldest), for shading


@dataclass(frozen=True)
class Change:
    """An entry of recent changes or of a commit view: one commit and the pages it touched."""

    entry: LogEntry
    pages: tuple[tuple[str, FileChange], ...]  # (page name, change)
    other_files: tuple[str, ...]
    talk: tuple[tuple[str, str], ...] = ()  # (page name, thread id) of talk files it touched


@dataclass(frozen=True)
class PageDiff:
    name: str
    old: Revision | None
    new: Revision | None
    old_commit: str | None
    new_commit: str
    old_name: str | None
    old_blob: str | None
    new_blob: str | None
    diff: TextDiff
    between: tuple[Revision, ...]  # the page's revisions in (old, new], newest first


class BadCursor(ValueError):
    pass


def parse_cursor(cursor: str | None) -> tuple[str | None, int]:
    """'<anchor commit>.<offset>': pages of a listing stay stable while new commits arrive."""
    if not cursor:
        return None, 0
    m = re.fullmatch(r"([0-9a-f]{40})\.(\d{1,7})", cursor)
    if not m:
        raise BadCursor("The cursor is not one this wiki gave out.")
    return m.group(1), int(m.group(2))


class History:
    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._logs = LRU(256)
        self._blames = LRU(128)
        self._diffs = LRU(256)
        self._chars = LRU(4096)
        self._recent = LRU(64)
        self._recent_first = LRU(64)  # (limit, author, folder) -> the last first page: (anchor, changes, more)

    # -- helpers ------------------------------------------------------------
    def _chars_of(self, blob: str | None) -> int:
        if blob is None:
            return 0
        count = self._chars.get(blob)
        if count is None:
            count = self._chars.put(blob, len(self.repo.read_blob(blob).decode("utf-8", "replace")))
        return count

    def text(self, blob: str | None) -> str:
        return self.repo.read_blob(blob).decode("utf-8", "replace") if blob else ""

    def _anchor(self, anchor: str | None) -> str:
        if anchor:
            return self.repo.commit(anchor).sha
        head = self.repo.head()
        if head is None:
            raise UnknownRevision("(no commits yet)")
        return head

    # -- page history -------------------------------------------------------
    def revisions(self, name: str, anchor: str | None = None) -> tuple[Revision, ...]:
        """Every commit that touched the page, newest first, following renames (as of anchor)."""
        anchor = self._anchor(anchor)
        file = names.page_file(name)
        cached = self._logs.get((anchor, file))
        if cached is not None:
            return cached
        found: list[Revision] = []
        seen: set[tuple[str, str]] = set()
        todo = [(anchor, file)]
        while todo:
            rev, path = todo.pop(0)
            for entry in self.repo.log(rev, path):
                for change in entry.files:
                    if change.path != path or (entry.sha, path) in seen:
                        continue
                    seen.add((entry.sha, path))
                    status, old_path, old_blob = change.status, None, change.old_blob
                    if status == "A":
                        renamed = self.repo.renamed_from(entry.sha, path)
                        if renamed is not None:
                            status, old_path, old_blob = "R", renamed.old_path, renamed.old_blob
                            parent = self.repo.commit(entry.sha).parents[0]
                            todo.append((parent, renamed.old_path))
                    page = names.page_name(path) or path
                    old_page = (names.page_name(old_path) or old_path) if old_path else None
                    found.append(Revision(
                        entry.sha, entry.author, entry.time, entry.message, page, status, old_page,
                        old_blob, change.new_blob,
                        self._chars_of(change.new_blob) - self._chars_of(old_blob)))
        found.sort(key=lambda r: r.time, reverse=True)  # stable: git's order within a second
        return self._logs.put((anchor, file), tuple(found))

    def page_history(self, name: str, cursor: str | None = None, limit: int = PAGE_LIMIT) -> HistoryPage:
        anchor, offset = parse_cursor(cursor)
        anchor = self._anchor(anchor)
        revisions = self.revisions(name, anchor)
        chunk = revisions[offset:offset + limit]
        more = offset + limit < len(revisions)
        seen_names = tuple(dict.fromkeys([name] + [r.name for r in revisions] +
                                         [r.old_name for r in revisions if r.old_name]))
        return HistoryPage(chunk, len(revisions), f"{anchor}.{offset + limit}" if more else None, anchor, seen_names)

    def _effective(self, revisions: tuple[Revision, ...], commit: str) -> int | None:
        """Index of the revision in effect at `commit` within a newest-first list."""
        for i, r in enumerate(revisions):
            if r.commit == commit:
                return i
        when = self.repo.commit(commit).time
        for i, r in enumerate(revisions):
            if r.time <= when:
                return i
        return None

    def revision_at(self, name: str, commit: str) -> Revision | None:
        """The page's revision in effect at a commit (None if the page did not exist then)."""
        revisions = self.revisions(name)
        i = self._effective(revisions, self.repo.commit(commit).sha)
        if i is None or revisions[i].status == "D":
            return None
        return revisions[i]

    def neighbours(self, name: str, commit: str) -> tuple[Revision | None, Revision | None]:
        """(older, newer) revisions around the one in effect at `commit`, as of the head."""
        revisions = self.revisions(name)
        i = self._effective(revisions, self.repo.commit(commit).sha)
        if i is None:
            return None, None
        return (revisions[i + 1] if i + 1 < len(revisions) else None), (revisions[i - 1] if i > 0 else None)

    # -- diffs ---------------------------------------------------------------
    def diff_blobs(self, old_blob: str | None, new_blob: str | None, context: int = 3) -> TextDiff:
        key = (old_blob, new_blob, context)
        cached = self._diffs.get(key)
        if cached is None:
            cached = self._diffs.put(key, diff_texts(self.text(old_blob), self.text(new_blob), context))
        return cached

    def page_diff(self, name: str, old: str | None, new: str | None, context: int = 3) -> PageDiff:
        """The page between two commits (renames followed); without `old`, the change `new` made."""
        new_commit = self._anchor(new)
        revisions = self.revisions(name, new_commit)
        if not revisions:
            raise UnknownRevision(f"{name} has no history at {new_commit[:10]}")
        latest = revisions[0]
        new_rev = latest if latest.status != "D" else None
        if old is None:
            parents = self.repo.commit(latest.commit).parents
            old_commit = parents[0] if parents else None
            old_blob, old_name, between = latest.old_blob, latest.old_name or latest.name, (latest,)
            old_rev = revisions[1] if len(revisions) > 1 else None
            if latest.status == "A":
                old_name = None
        else:
            old_commit = self.repo.commit(old).sha
            i = self._effective(revisions, old_commit)
            old_rev = revisions[i] if i is not None and revisions[i].status != "D" else None
            old_blob = old_rev.new_blob if old_rev else None
            old_name = old_rev.name if old_rev else None
            between = revisions[:i] if i is not None else revisions
        return PageDiff(name, old_rev, new_rev, old_commit, new_commit, old_name, old_blob,
                        new_rev.new_blob if new_rev else None,
                        self.diff_blobs(old_blob, new_rev.new_blob if new_rev else None, context), tuple(between))

    # -- blame ---------------------------------------------------------------
    def blame(self, name: str, rev: str | None = None) -> list[BlameGroup]:
        commit = self._anchor(rev)
        file = names.page_file(name)
        cached = self._blames.get((commit, file))
        if cached is not None:
            return cached
        if self.repo.blob_id(commit, file) is None:
            raise UnknownRevision(f"{name} at {commit[:10]}")
        lines: list[BlameLine] = []
        info: dict[str, dict[str, str]] = {}
        current = None
        for raw in self.repo.blame(commit, file).split(b"\n"):
            if raw.startswith(b"\t"):
                lines.append(BlameLine(len(lines) + 1, raw[1:].decode("utf-8", "replace").rstrip("\r"), current))
                continue
            parts = raw.split(b" ")
            if len(parts) >= 3 and re.fullmatch(rb"[0-9a-f]{40}", parts[0]):
                current = parts[0].decode()
                info.setdefault(current, {})
            elif current and parts and parts[0]:
                info[current].setdefault(parts[0].decode(), b" ".join(parts[1:]).decode("utf-8", "replace"))
        times = [int(i.get("author-time", 0)) for i in info.values()] or [0]
        oldest, newest = min(times), max(times)
        groups: list[BlameGroup] = []
        for line in lines:
            if groups and groups[-1].commit == line.commit:
                last = groups[-1]
                groups[-1] = BlameGroup(last.commit, last.author, last.time, last.summary, last.lines + (line,), last.age)
                continue
            meta = info.get(line.commit, {})
            when = int(meta.get("author-time", 0))
            age = 0 if newest == oldest else round(9 * (newest - when) / (newest - oldest))
            author = Person(meta.get("author", ""), meta.get("author-mail", "").strip("<>"))
            groups.append(BlameGroup(line.commit, author, when, meta.get("summary", ""), (line,), age))
        return self._blames.put((commit, file), groups)

    # -- recent changes and commits -------------------------------------------
    def _change(self, entry: LogEntry) -> Change:
        pages, others, talk = [], [], {}
        for change in entry.files:
            name = names.page_name(change.path)
            thread = page_of_talk_file(change.path) if name is None else None
            if thread is not None:
                talk[thread] = None
            elif name is None:
                others.append(change.path)
            else:
                pages.append((name, change))
        return Change(entry, tuple(pages), tuple(others), tuple(talk))

    def recent(self, cursor: str | None = None, limit: int = PAGE_LIMIT, author: str | None = None,
               folder: str | None = None) -> tuple[list[Change], str | None, str]:
        """Commits across the wiki, newest first (merges show through their commits)."""
        anchor, offset = parse_cursor(cursor)
        if anchor is None and self.repo.head() is None:
            return [], None, ""  # a repository without commits has no changes yet
        anchor = self._anchor(anchor)
        key = (anchor, offset, limit, author, folder)
        cached = self._recent.get(key)
        if cached is None:
            paths = (folder.rstrip("/") + "/", f"{TALK_ROOT}/{folder.rstrip('/')}/") if folder else ()
            changes, more = (self._first_page_since(anchor, paths, limit, author) if offset == 0
                             else None) or self._read_recent(anchor, paths, offset, limit, author)
            cached = self._recent.put(key, (changes, f"{anchor}.{offset + limit}" if more else None, anchor))
        return cached

    def _read_recent(self, anchor: str, paths: tuple[str, ...], offset: int, limit: int,
                     author: str | None) -> tuple[list[Change], bool]:
        entries = self.repo.log(anchor, *paths, limit=limit + 1, skip=offset, author=author or None, renames=True)
        changes = [self._change(e) for e in entries[:limit]]
        if offset == 0:
            self._recent_first.put((limit, author, tuple(paths)), (anchor, changes, len(entries) > limit))
        return changes, len(entries) > limit

    def _first_page_since(self, anchor: str, paths: tuple[str, ...], limit: int,
                          author: str | None) -> tuple[list[Change], bool] | None:
        """The first page after the head moved on: the commits since the last first page, then
        it (rename detection over a few commits, not `limit`); None when there is none to extend."""
        known = self._recent_first.get((limit, author, tuple(paths)))
        if known is None:
            return None
        old, old_changes, old_more = known
        if old == anchor or not self.repo.is_ancestor(old, anchor):
            return None
        entries = self.repo.log(f"{old}..{anchor}", *paths, limit=limit + 1, author=author or None, renames=True)
        combined = [self._change(e) for e in entries] + old_changes
        more = old_more or len(combined) > limit
        changes = combined[:limit]
        self._recent_first.put((limit, author, tuple(paths)), (anchor, changes, more))
        return changes, more

    def talk_activity(self, page_names: tuple[str, ...] | list[str], limit: int = 50) -> list[Change]:
        """Commits to the talk threads of a page (under each name it had), newest first."""
        head = self.repo.head()
        if head is None or not page_names:
            return []
        folders = [talk_folder(n) + "/" for n in page_names]
        return [self._change(e) for e in self.repo.log(head, *folders, limit=limit, renames=True)]

    def commit(self, sha: str) -> Change:
        commit = self.repo.commit(sha)
        entries = self.repo.log(commit.sha, limit=1, renames=True, merges="first-parent")
        if not entries:
            raise UnknownRevision(sha)
        return self._change(entries[0])

    # -- reverting -------------------------------------------------------------
    def revert(self, pages: "PageStore", name: str, to: str, author: Person, base: str | None,
               message: str = "") -> "SaveResult":
        """Restore the page's text of revision `to` as a new commit, through the normal save path.

        With `base` (the revision the user looked at) later edits of other lines
        are merged in; without it the page must not exist (restoring a deleted page).
        """
        revision = self.revision_at(name, to)
        if revision is None:
            raise UnknownRevision(f"{name} did not exist at {to[:10]}")
        text = self.text(revision.new_blob)
        label = f"{revision.commit[:10]} by {revision.author.name}"
        return pages.save(name, text, author, message.strip() or f"Revert {name} to {label}", base)
