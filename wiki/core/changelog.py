"""Who changed each page last, kept in step with the branch incrementally.

``git log -1 -- path`` costs tens of milliseconds on a long history, so the
answer is remembered per file and, when the branch moves, only the commits
between the old and the new head are read to update it. A head that moved
sideways (a reset or a force push) drops what is known and starts again.
"""

from __future__ import annotations

import threading

from .gitrepo import Change, GitRepo


class LastChanges:
    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._head: str | None = None
        self._known: dict[str, Change] = {}
        self._complete = False

    def _advance(self, head: str) -> None:
        if self._head == head:
            return
        if self._head is not None and self.repo.is_ancestor(self._head, head):
            seen: set[str] = set()
            for change, files in self.repo.changes(f"{self._head}..{head}"):
                for status, path in files:
                    if path in seen:
                        continue
                    seen.add(path)
                    if status == "D":
                        self._known.pop(path, None)
                    else:
                        self._known[path] = change
        else:
            self._known = {}
            self._complete = False
        self._head = head

    def get(self, head: str, file: str) -> Change | None:
        """The last change of a file as of head (None if it has no history)."""
        with self._lock:
            self._advance(head)
            change = self._known.get(file)
            if change is not None or self._complete:
                return change
        change = self.repo.last_change(head, file)
        with self._lock:
            if change is not None and self._head == head:
                self._known[file] = change
        return change

    def all(self, head: str) -> dict[str, Change]:
        """Last change of every file at head, from one pass over the history."""
        with self._lock:
            self._advance(head)
            if self._complete:
                return dict(self._known)
        known: dict[str, Change] = {}
        gone: set[str] = set()
        for change, files in self.repo.changes(head):
            for status, path in files:
                if path in known or path in gone:
                    continue
                if status == "D":
                    gone.add(path)
                else:
                    known[path] = change
        with self._lock:
            if self._head == head:
                self._known, self._complete = known, True
        return dict(known)
