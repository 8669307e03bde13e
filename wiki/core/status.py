"""Status pages at a glance: which pages have a status, whose they are, and which went stale.

Everything here is derived from the repository: each page's front matter (parsed once per blob:
blobs never change), its last change (LastChanges follows the branch), its open talk threads
(tree names only) and its edits over the last twelve weeks (one `git log` per folder and head).
A board for one head and day is cached, so a dashboard view after the first is a lookup.
A ```dashboard block in a page is rendered (and cached) as a marker, DASHBOARD, that the web layer
fills with the live table on every view.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from html import escape
from urllib.parse import urlencode

from . import names
from .frontmatter import DEFAULT_STATUSES, PageMeta, parse
from .gitrepo import Change
from .lru import LRU
from .pages import PageStore
from .render import FencedBlock
from .talk import TalkStore

WEEKS = 12

DASHBOARD_BLOCK = "dashboard"
DASHBOARD_KEYS = ("folder", "status", "owner", "sort")


def dashboard_placeholder(code: str) -> str:
    """A ```dashboard block (`folder: Projects`, `status: at-risk` ... lines): a marker the web layer
    fills with the live status table when the page is shown (the rendering itself is cached)."""
    query = {}
    for line in code.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if sep and key in DASHBOARD_KEYS and value:
            query[key] = value[:200]
    return ('<div class="dashboard-embed" data-dashboard="' + escape(urlencode(query), quote=True) + '">'
            "<p>Status dashboard" + (": " + escape(query["folder"], quote=True) if "folder" in query else "")
            + "</p></div>\n")


#: The renderer's handler of ```dashboard blocks (wiki.make_renderer gives it to the Renderer).
DASHBOARD = FencedBlock(DASHBOARD_BLOCK, dashboard_placeholder, {"div": frozenset({"data-dashboard"})})


@dataclass(frozen=True)
class StatusRow:
    page: str
    meta: PageMeta
    last_change: Change | None
    next_review: date | None
    overdue: bool
    open_threads: int
    activity: tuple[int, ...]  # edits per week, oldest first, the last is this week

    @property
    def folder(self) -> str:
        return names.folder_of(self.page)

    @property
    def last_edit(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_change.time, timezone.utc) if self.last_change else None


class StatusBoard:
    def __init__(self, pages: PageStore, talk: TalkStore, statuses: tuple[str, ...] = DEFAULT_STATUSES) -> None:
        self.pages = pages
        self.talk = talk
        self.statuses = statuses
        self._meta = LRU(50_000)
        self._boards = LRU(64)
        self._activity = LRU(64)
        self._lock = threading.Lock()

    # -- one page ----------------------------------------------------------------
    def meta_of_blob(self, blob: str) -> PageMeta:
        """The front matter of a page version (cached by blob: the same text parses the same)."""
        cached = self._meta.get(blob)
        if cached is None:
            data = self.pages.repo.read_blob(blob)
            cached = parse(data.decode("utf-8", "replace"), self.statuses)[0] if data.startswith(b"---") \
                else PageMeta()
            self._meta.put(blob, cached)
        return cached

    def row(self, page: str, today: date | None = None) -> StatusRow | None:
        """The status row of one page (with or without a status), for the page's header strip."""
        found = self.pages.blob(page)
        if found is None:
            return None
        head, blob = found
        meta = self.meta_of_blob(blob)
        return self._row(head, page, blob, meta, today or _today(), self._activity_for(head, names.page_file(page)))

    # -- boards ------------------------------------------------------------------
    def board(self, folder: str | None = None, today: date | None = None,
              readable=lambda page: True) -> list[StatusRow]:
        """Every page with a status, in a folder (and below) or the whole wiki, by folder and name."""
        today = today or _today()
        head = self.pages.head()
        if head is None:
            return []
        folder = (folder or "").strip("/")
        key = (head, folder, today)
        rows = self._boards.get(key)
        if rows is None:
            prefix = folder + "/" if folder else ""
            candidates = [(p, b) for p, b in self.pages.listing().items() if p.startswith(prefix)]
            with_status = [(p, b, m) for p, b in candidates for m in [self.meta_of_blob(b)] if m.status]
            if len(with_status) > 20:  # one pass over the history beats a `git log` per page
                self.pages.last_changes.all(head)
            activity = self._activity_for(head, prefix)
            rows = [self._row(head, p, b, m, today, activity) for p, b, m in with_status]
            rows.sort(key=lambda r: (r.folder.casefold(), r.page.casefold()))
            self._boards.put(key, rows)
        return [r for r in rows if readable(r.page)]

    def stale(self, today: date | None = None, readable=lambda page: True) -> list[StatusRow]:
        """Every page overdue for review, most overdue first."""
        today = today or _today()
        head = self.pages.head()
        if head is None:
            return []
        key = (head, "\0stale", today)
        rows = self._boards.get(key)
        if rows is None:
            listing = self.pages.listing().items()
            due = [(p, b, m) for p, b in listing for m in [self.meta_of_blob(b)] if m.review_every]
            if len(due) > 20:
                self.pages.last_changes.all(head)
            rows = [self._row(head, p, b, m, today, {}) for p, b, m in due]
            rows = sorted((r for r in rows if r.overdue), key=lambda r: r.next_review or today)
            self._boards.put(key, rows)
        return [r for r in rows if readable(r.page)]

    def tags(self, readable=lambda page: True) -> dict[str, list[str]]:
        """Every tag of a page's front matter -> its pages (sorted), for /-/tags and the search filter."""
        head = self.pages.head()
        if head is None:
            return {}
        key = (head, "\0tags", None)
        found = self._boards.get(key)
        if found is None:
            found = {}
            for page, blob in self.pages.listing().items():
                for tag in self.meta_of_blob(blob).tags:
                    found.setdefault(tag, []).append(page)
            for pages in found.values():
                pages.sort(key=str.casefold)
            self._boards.put(key, found)
        out = {tag: [p for p in pages if readable(p)] for tag, pages in found.items()}
        return {tag: pages for tag, pages in out.items() if pages}

    def counts(self, rows: list[StatusRow]) -> list[tuple[str, int]]:
        """Pages per status, in the configured order, for the chart."""
        return [(s, sum(1 for r in rows if r.meta.status == s)) for s in self.statuses]

    # -- internals ---------------------------------------------------------------
    def _row(self, head: str, page: str, blob: str, meta: PageMeta, today: date,
             activity: dict[str, tuple[int, ...]]) -> StatusRow:
        change = self.pages.last_change(page, head)
        last = datetime.fromtimestamp(change.time, timezone.utc) if change else None
        due = meta.next_review(last)
        return StatusRow(page, meta, change, due, meta.overdue(last, today),
                         self.talk.counts(page, head).open if meta.status or meta.review_every else 0,
                         activity.get(page, (0,) * WEEKS))

    def _activity_for(self, head: str, path: str) -> dict[str, tuple[int, ...]]:
        """Edits per page and week over the last twelve weeks, from one git log of a folder
        ("Projects/"), a page file, or ("") the whole wiki."""
        key = (head, path)
        cached = self._activity.get(key)
        if cached is not None:
            return cached
        now = datetime.now(timezone.utc)
        since = int((now - timedelta(weeks=WEEKS)).timestamp())
        args = ["log", "--format=%x1e%at", "--name-only", "--no-renames", f"--since={since}", head]
        if path:
            args += ["--", path]
        out = self.pages.repo.git(*args).decode("utf-8", "surrogateescape")
        counts: dict[str, list[int]] = {}
        this_week = now.timestamp()
        for record in out.split("\x1e")[1:]:
            lines = [ln for ln in record.strip("\n").split("\n") if ln]
            if not lines:
                continue
            when = int(lines[0])
            week = WEEKS - 1 - min(WEEKS - 1, int((this_week - when) // (7 * 86400)))
            for file in lines[1:]:
                name = names.page_name(file)
                if name is not None:
                    counts.setdefault(name, [0] * WEEKS)[week] += 1
        result = {k: tuple(v) for k, v in counts.items()}
        self._activity.put(key, result)
        return result


def _today() -> date:
    return datetime.now(timezone.utc).date()
