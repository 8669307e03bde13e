"""Watching pages and threads: who follows what, what changed since they last looked, who is told.

A watch is a row of the ``watches`` table: a user and a page (``thread`` empty: the page, its
edits and all its talk) or a user, a page and one thread. Each row remembers when its user last
looked (``seen_at``) and the branch head at that moment (``seen_commit``). Everything else is read
from git, the source of truth: page edits are the commits that touch ``<page>.md``, talk is the
commits that touch ``.talk/<page>.md/`` (one thread: ``.talk/<page>.md/<thread>/``). One
``git log`` over all the paths a user watches, from the head back to the oldest ``seen_commit``,
finds everything new; a commit is unseen for a row when it is newer than the row's ``seen_at``
(in the same second: when ``seen_commit`` does not contain it) and not the user's own. Commit
times are author times: a commit pushed later with an older date than one's last look is missed.

That answer is cached per process for (user, branch head, the user's watch state). The state is
``max(stamp)`` of the user's rows, one seek in the (user_id, stamp) index: every write sets the
row's ``stamp`` to the current time in nanoseconds, so any watch or "seen" changes it, and an
unwatch gives a remaining row a new stamp. A page
view therefore costs one small query and a dictionary lookup. When only the head moved, the last
answer for the same rows is extended with the commits since its head, which one ``git log`` reads
once per process for every user (its cost follows the commits, not the number of watched pages);
git is asked over every watched path only when the user's watches changed or the branch was
rewritten.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from . import names
from .access import Actor, Policy
from .db import now, watch_feeds, watches
from .clock import SYSTEM_CLOCK, Clock
from .gitrepo import GitError, GitRepo, LogEntry, Person
from .lru import LRU
from .mail import Mailer
from .talk import BadTalk, TalkNotFound, TalkStore, mentions, page_of_talk_file, parse_file, talk_folder
from .users import User, UserStore

MAX_ENTRIES = 1000  # commits read per computation; older unseen ones are summarized as "more"
MAX_MENTIONS = 20  # users notified by one comment, at most
FEED_PREFIX = "feed_"


@dataclass(frozen=True)
class Who:
    """The user a question is about: id for the rows, e-mail and name to recognize own commits."""

    id: int
    name: str
    email: str

    @classmethod
    def of(cls, user: "User | Actor | Who") -> "Who":
        if isinstance(user, Who):
            return user
        uid = user.user_id if isinstance(user, Actor) else user.id
        if uid is None:
            raise ValueError("anonymous visitors have no watchlist")
        return cls(uid, user.name, user.email)


@dataclass(frozen=True)
class Watch:
    page: str
    thread: str | None  # None: the whole page
    seen_at: int
    seen_commit: str | None
    created_at: datetime


@dataclass(frozen=True)
class Item:
    """One unseen commit of a watched page: an edit of the page or a change in its talk."""

    sha: str
    parent: str | None
    author: Person
    time: int
    summary: str
    kind: str  # "edit" or "talk"
    status: str  # edits: A created, M changed, D deleted; talk: thread, comment, changed, resolved, reopened
    path: str  # the page file, or the talk file
    old_blob: str | None
    new_blob: str | None
    thread: str | None = None
    comment: str | None = None  # the comment (or event) id, for an anchor
    mentions_you: bool = False


@dataclass(frozen=True)
class PageActivity:
    page: str
    items: tuple[Item, ...]  # newest first

    @property
    def latest(self) -> int:
        return max(i.time for i in self.items)

    @property
    def edits(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.kind == "edit")

    @property
    def talk(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.kind == "talk")

    @property
    def since(self) -> str | None:
        """The commit before the oldest unseen edit: a diff from there shows everything new."""
        edits = self.edits
        return edits[-1].parent if edits else None


@dataclass(frozen=True)
class Activity:
    """A user's watchlist at one head: what is unseen per page, and what is watched."""

    pages: tuple[PageActivity, ...]  # newest activity first
    watched: frozenset[str]  # pages watched as a whole
    threads: frozenset[tuple[str, str]]  # (page, thread) watched one by one
    truncated: bool = False  # more than MAX_ENTRIES commits: the oldest were not read

    def get(self, page: str) -> PageActivity | None:
        return next((p for p in self.pages if p.page == page), None)

    def without(self, page: str) -> "Activity":
        return replace(self, pages=tuple(p for p in self.pages if p.page != page))

    def items(self) -> list[tuple[str, Item]]:
        """Every unseen item, newest first, with its page."""
        flat = [(p.page, i) for p in self.pages for i in p.items]
        flat.sort(key=lambda pi: pi[1].time, reverse=True)
        return flat


@dataclass(frozen=True)
class _Known:
    """The last answer for one state of a user's watch rows, with the rows it was computed from."""

    head: str | None
    activity: Activity
    pages: dict[str, Watch]  # page -> its row (watched as a whole)
    threads: dict[tuple[str, str], Watch]  # (page, thread) -> its row

    def extended(self, head: str, entries: "list[LogEntry] | None",
                 items: Callable[[LogEntry, dict, dict], Iterable[tuple[str, Item]]]) -> "_Known | None":
        """This answer with the items of `entries` (the commits since `self.head`, newest first)."""
        if entries is None:
            return None
        new: dict[str, list[Item]] = {}
        for entry in entries:
            for page, item in items(entry, self.pages, self.threads):
                new.setdefault(page, []).append(item)
        if not new:
            return replace(self, head=head)
        found = dict(new)  # newest first, as a full read orders pages whose latest is the same second
        for earlier in self.activity.pages:
            found[earlier.page] = found.get(earlier.page, []) + list(earlier.items)
        if sum(len(items) for items in found.values()) > MAX_ENTRIES:
            return None  # read it all again: that answer is cut at MAX_ENTRIES and says so
        pages = sorted((PageActivity(page, tuple(items)) for page, items in found.items()),
                       key=lambda p: p.latest, reverse=True)
        return replace(self, head=head, activity=replace(self.activity, pages=tuple(pages)))

    def seen(self, page: str, seen_at: int, head: str | None, activity: Activity) -> "_Known":
        """This answer after the user looked at `page` (its rows, and its threads' rows, seen now)."""
        pages = {p: replace(r, seen_at=seen_at, seen_commit=head) if p == page else r for p, r in self.pages.items()}
        threads = {k: replace(r, seen_at=seen_at, seen_commit=head) if k[0] == page else r
                   for k, r in self.threads.items()}
        return _Known(head, activity, pages, threads)


class WatchStore:
    """Watches in SQL, activity from git, notifications by mail (when the mailer is enabled)."""

    def __init__(self, engine: Engine, repo: GitRepo, users: UserStore, talk: TalkStore | None = None,
                 policy: Callable[[], Policy] | None = None, mailer: Mailer | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock  # "seen" times are compared with commit times: the same clock wrote both
        self.repo = repo
        self.users = users
        self.talk = talk
        self.policy = policy
        self.mailer = mailer or Mailer()
        self._activity = LRU(1024)  # (who, head, state) -> Activity
        self._latest = LRU(1024)  # (who, state) -> _Known: the last answer, to extend when the head moves
        self._between = LRU(64)  # (old head, new head) -> the commits between, shared by every user
        self._last_stamp = 0
        self._stamp_lock = threading.Lock()

    # -- rows ----------------------------------------------------------------
    def watches(self, user: "User | Actor | Who | int") -> list[Watch]:
        uid = user if isinstance(user, int) else Who.of(user).id
        with self.engine.connect() as conn:
            rows = conn.execute(select(watches).where(watches.c.user_id == uid)
                                .order_by(watches.c.page, watches.c.thread))
            return [Watch(r.page, r.thread or None, r.seen_at, r.seen_commit, r.created_at) for r in rows]

    def is_watching(self, user_id: int, page: str, thread: str | None = None) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(watches.c.page).where(
                watches.c.user_id == user_id, watches.c.page == page, watches.c.thread == (thread or ""))
            ).first() is not None

    def _stamp(self) -> int:
        """A row's write time in nanoseconds, by the shared clock (so the newest stamp is the last write)."""
        with self._stamp_lock:
            self._last_stamp = max(self._last_stamp + 1, int(self.clock.now() * 1e9))
            return self._last_stamp

    def state(self, user_id: int) -> int:
        """The newest stamp of the user's rows (one index seek): every write to them, an unwatch
        included, gives it a new value."""
        with self.engine.connect() as conn:
            stamp = conn.execute(select(func.max(watches.c.stamp)).where(watches.c.user_id == user_id)).scalar()
        return stamp or 0

    def watch(self, user_id: int, page: str, thread: str | None = None) -> bool:
        """Start watching (from now on: nothing older shows as new); False if already watching."""
        page = names.check_name(page)
        return self._insert(user_id, page, thread, int(self.clock.now()), self.repo.head())

    def unwatch(self, user_id: int, page: str, thread: str | None = None) -> bool:
        """Stop watching the page (thread None: the page row and its thread rows) or one thread."""
        query = delete(watches).where(watches.c.user_id == user_id, watches.c.page == page)
        if thread:
            query = query.where(watches.c.thread == thread)
        with self.engine.begin() as conn:
            if conn.execute(query).rowcount == 0:
                return False
            # the newest stamp may have left with the row, or not: give a remaining row a new one,
            # so the state changes either way (none left: it is 0 now)
            left = conn.execute(select(watches.c.page, watches.c.thread)
                                .where(watches.c.user_id == user_id).limit(1)).first()
            if left is not None:
                conn.execute(update(watches).where(watches.c.user_id == user_id, watches.c.page == left.page,
                                                   watches.c.thread == left.thread).values(stamp=self._stamp()))
            return True

    def _insert(self, user_id: int, page: str, thread: str | None, seen_at: int, seen_commit: str | None) -> bool:
        try:
            with self.engine.begin() as conn:
                if self._row(conn, user_id, page, thread) is not None:
                    return False
                conn.execute(insert(watches).values(
                    user_id=user_id, page=page, thread=thread or "", seen_at=seen_at, seen_commit=seen_commit,
                    stamp=self._stamp(), created_at=now()))
            return True
        except IntegrityError:  # another request added it meanwhile
            return False

    @staticmethod
    def _row(conn: Connection, user_id: int, page: str, thread: str | None):
        return conn.execute(select(watches).where(watches.c.user_id == user_id, watches.c.page == page,
                                                  watches.c.thread == (thread or ""))).first()

    # -- seen ----------------------------------------------------------------
    def mark_seen(self, user_id: int, page: str | None = None, upto: int = 0, head: str | None = None) -> int:
        """Everything committed until now (or until `upto`, if later: clocks differ) counts as seen,
        for one page or (page None) all; one UPDATE. Returns the rows changed."""
        return self._mark_seen(user_id, page, max(int(self.clock.now()), upto), head or self.repo.head())

    def _mark_seen(self, user_id: int, page: str | None, seen_at: int, head: str | None) -> int:
        query = update(watches).where(watches.c.user_id == user_id)
        if page is not None:
            query = query.where(watches.c.page == page)
        with self.engine.begin() as conn:
            return conn.execute(query.values(seen_at=seen_at, seen_commit=head, stamp=self._stamp())).rowcount

    def mark_all_seen(self, user: "User | Actor | Who") -> int:
        """Everything the user's watchlist shows now counts as seen (the "mark all as seen" button)."""
        who = Who.of(user)
        head = self.repo.head()
        latest = max((p.latest for p in self.activity(who, head).pages), default=0)
        return self.mark_seen(who.id, upto=latest, head=head)

    def looked_at(self, user: "User | Actor | Who", page: str, head: str | None = None) -> bool:
        """The user viewed the page: mark it seen, with one write, only when something was unseen."""
        who = Who.of(user)
        head = head or self.repo.head()
        state, current = self._activity_now(who, head)
        return self._look(who, page, head, state, current) is not current

    def visit(self, user: "User | Actor | Who", page: str | None) -> Activity:
        """A page view: mark `page` (if any) seen and answer the watchlist as it is after that,
        with one query of the watch state when nothing was new."""
        who = Who.of(user)
        head = self.repo.head()
        state, current = self._activity_now(who, head)
        return self._look(who, page, head, state, current) if page is not None else current

    def _look(self, who: Who, page: str, head: str | None, state: int, current: Activity) -> Activity:
        found = current.get(page)
        if found is None:
            return current
        seen_at = max(int(self.clock.now()), found.latest)
        self._mark_seen(who.id, page, seen_at, head)
        # the answer for the new state is known: the same minus this page; git is not asked again
        after, new_state = current.without(page), self.state(who.id)
        self._activity.put((who, head, new_state), after)
        known = self._latest.get((who, state))
        if known is not None and known.head == head:
            self._latest.put((who, new_state), known.seen(page, seen_at, head, after))
        return after

    # -- what is new ---------------------------------------------------------
    def activity(self, user: "User | Actor | Who", head: str | None = None) -> Activity:
        """What the user has not seen yet, per watched page; cached per (user, head, watch state)."""
        return self._activity_now(Who.of(user), head or self.repo.head())[1]

    def _activity_now(self, who: Who, head: str | None) -> tuple[int, Activity]:
        """When only the head moved since the last answer for these rows, that answer is extended
        with the new commits (read once per process for every user); when the rows changed, git
        is asked over every watched path."""
        state = self.state(who.id)
        key = (who, head, state)
        cached = self._activity.get(key)
        if cached is not None:
            return state, cached
        known = self._latest.get((who, state))
        extended = known.extended(head, self._commits_between(known.head, head), self._items_of(who)) \
            if known is not None and known.head is not None and head is not None else None
        if extended is None:
            rows = self.watches(who.id)
            known = _Known(head, self._compute(who, rows, head), {r.page: r for r in rows if r.thread is None},
                           {(r.page, r.thread): r for r in rows if r.thread})
        else:
            known = extended
        self._latest.put((who, state), known)
        return state, self._activity.put(key, known.activity)

    def _commits_between(self, old: str, new: str) -> "list[LogEntry] | None":
        """The commits from `old` to `new` when `new` descends from it (first parents lead back to
        it) and there are at most MAX_ENTRIES; None otherwise."""
        known = self._between.get((old, new))
        if known is None:
            known = self._between.put((old, new), self._read_between(old, new))
        descends, entries = known
        return entries if descends else None

    def _read_between(self, old: str, new: str) -> tuple[bool, list[LogEntry]]:
        try:
            entries = self.repo.log(f"{old}..{new}", limit=MAX_ENTRIES + 1)
        except GitError:
            return False, []
        if len(entries) > MAX_ENTRIES:
            return False, []
        by_sha = {e.sha: e for e in entries}
        commit = new
        while commit != old:
            entry = by_sha.get(commit)
            if entry is None or not entry.parents:
                return False, []
            commit = entry.parents[0]
        return True, entries

    def _items_of(self, who: Who) -> Callable[[LogEntry, dict, dict], Iterable[tuple[str, Item]]]:
        def items(entry: LogEntry, pages: dict, threads: dict) -> Iterable[tuple[str, Item]]:
            if _same_person(entry.author, who):
                return ()
            return self._items(entry, pages, threads, who)
        return items

    def unread_count(self, user: "User | Actor | Who", readable: Callable[[str], bool] = lambda _: True) -> int:
        """Watched pages (that the user may read) with something unseen."""
        return sum(1 for p in self.activity(user).pages if readable(p.page))

    def _compute(self, who: Who, rows: list[Watch], head: str | None) -> Activity:
        pages = {r.page: r for r in rows if r.thread is None}
        threads = {(r.page, r.thread): r for r in rows if r.thread}
        activity = Activity((), frozenset(pages), frozenset(threads))
        if not rows or head is None:
            return activity
        paths: list[str] = []
        for page in pages:
            paths += [names.page_file(page), talk_folder(page) + "/"]
        paths += [f"{talk_folder(p)}/{t}/" for p, t in threads if p not in pages]
        since = self._oldest_seen_commit(rows)
        entries = None
        if since:
            try:
                entries = self.repo.log(f"{since}..{head}", *paths, limit=MAX_ENTRIES)
            except GitError:  # that commit is gone (a rewritten branch): read back from the head
                entries = None
        if entries is None:
            entries = self.repo.log(head, *paths, limit=MAX_ENTRIES)
        found: dict[str, list[Item]] = {}
        for entry in entries:
            if _same_person(entry.author, who):
                continue
            for page, item in self._items(entry, pages, threads, who):
                found.setdefault(page, []).append(item)
        result = [PageActivity(page, tuple(items)) for page, items in found.items()]
        result.sort(key=lambda p: p.latest, reverse=True)
        return replace(activity, pages=tuple(result), truncated=len(entries) >= MAX_ENTRIES)

    def _oldest_seen_commit(self, rows: list[Watch]) -> str | None:
        """The head at the user's oldest look; looks in the same second are told apart by
        ancestry (None: read from the head back)."""
        first = min(r.seen_at for r in rows)
        commits = {r.seen_commit for r in rows if r.seen_at == first}
        if None in commits:
            return None
        if len(commits) == 1:
            return commits.pop()
        for commit in commits:
            try:
                if all(other == commit or self.repo.is_ancestor(commit, other) for other in commits):
                    return commit
            except GitError:
                return None
        return None

    def _items(self, entry: LogEntry, pages: dict[str, Watch], threads: dict[tuple[str, str], Watch],
               who: Who) -> Iterable[tuple[str, Item]]:
        """The unseen items one commit makes, one per watched page it touches."""
        edits: dict[str, Item] = {}
        talk: dict[str, Item] = {}
        parent = entry.parents[0] if entry.parents else None
        for change in entry.files:
            page = names.page_name(change.path)
            if page is not None and not change.path.startswith("."):
                row = pages.get(page)
                if row is not None and page not in edits and self._unseen(entry, row):
                    edits[page] = Item(entry.sha, parent, entry.author, entry.time, entry.summary, "edit",
                                       change.status, change.path, change.old_blob, change.new_blob)
                continue
            where = page_of_talk_file(change.path)
            if where is None or where[0] in talk:
                continue
            page, thread = where
            rows = [r for r in (pages.get(page), threads.get((page, thread))) if r is not None]
            if not any(self._unseen(entry, r) for r in rows):
                continue
            comment, _, suffix = change.path.rsplit("/", 1)[-1].rpartition(".")  # <id>.md, <id>.resolved
            comment = comment or None
            if suffix == "md":
                status = ("thread" if comment == thread else "comment") if change.status == "A" else "changed"
            else:
                status = suffix or "changed"
            talk[page] = Item(entry.sha, parent, entry.author, entry.time, entry.summary, "talk", status,
                              change.path, change.old_blob, change.new_blob, thread, comment,
                              mentions_you=suffix == "md" and self._mentions(change.new_blob, who.name))
        for page, item in edits.items():
            yield page, item  # a commit that changed the page (a rename moves its talk too) is an edit
        for page, item in talk.items():
            if page not in edits:
                yield page, item

    def _unseen(self, entry: LogEntry, row: Watch) -> bool:
        """Newer than the row's look; a commit of that very second is seen if the head then had it."""
        if entry.time != row.seen_at:
            return entry.time > row.seen_at
        return not row.seen_commit or not (entry.sha == row.seen_commit
                                           or self.repo.is_ancestor(entry.sha, row.seen_commit))

    def _mentions(self, blob: str | None, name: str) -> bool:
        if not blob:
            return False
        try:
            _, body = parse_file(self.repo.read_blob(blob))
        except (BadTalk, GitError):
            return False
        return name.casefold() in (m.casefold() for m in mentions(body))

    # -- automatic watching ----------------------------------------------------
    def after_edit(self, user_id: int, page: str) -> None:
        """Whoever edits (creates, renames) a page watches it, and has seen it as they left it."""
        if not self.watch(user_id, page):
            self.mark_seen(user_id, page)

    def renamed(self, old: str, new: str) -> int:
        """Watches follow a renamed page (the threads move with it, so thread rows do too)."""
        with self.engine.begin() as conn:
            moving = conn.execute(select(watches.c.user_id, watches.c.thread).where(watches.c.page == old)).all()
            for user_id, thread in moving:  # already watching the new name: keep that row
                if self._row(conn, user_id, new, thread) is not None:
                    conn.execute(delete(watches).where(watches.c.user_id == user_id, watches.c.page == old,
                                                       watches.c.thread == thread))
            conn.execute(update(watches).where(watches.c.page == old).values(page=new, stamp=self._stamp()))
        return len(moving)

    def after_comment(self, user: "User | Actor", page: str, thread_id: str, comment_body: str,
                      reply_to_author: str | None = None, commit: str | None = None,
                      link: str | None = None) -> list[str]:
        """After a comment: the commenter watches the page and the thread; users @mentioned in it and
        the author of the comment replied to get the thread on their watchlist with this comment
        unseen, and a mail when mail is configured. Returns the names of the users notified.

        `commit` is the comment's commit (SaveResult.commit); `link` the thread's absolute URL for
        the mail. Users who may not read the page are not told anything.
        """
        who = Who.of(user)
        self.watch(who.id, page)
        self.watch(who.id, page, thread_id)
        reasons: dict[str, tuple[User, str]] = {}
        for name in mentions(comment_body)[:MAX_MENTIONS]:
            target = self.users.by_name(name)
            if target is not None:
                reasons.setdefault(target.name, (target, "mentioned you"))
        if reply_to_author:
            target = self.users.by_name(reply_to_author)
            if target is not None:
                reasons.setdefault(target.name, (target, "replied to your comment"))
        told = []
        before = None
        for target, reason in reasons.values():
            if target.id == who.id or not target.active or not self._may_read(target, page):
                continue
            before = before or self._before(page, thread_id, commit)
            self._notify(target.id, page, thread_id, *before)
            self._mail(target, who, reason, page, thread_id, comment_body, link)
            told.append(target.name)
        return told

    def _may_read(self, user: User, page: str) -> bool:
        if self.policy is None:
            return True
        return self.policy().can_read(Actor(user.id, user.name, user.email, user.role, user.groups), page)

    def _before(self, page: str, thread_id: str, commit: str | None) -> tuple[int, str | None]:
        """A seen state just before the comment: (its time - 1, its parent)."""
        if commit is None:  # not given: the thread's newest commit is the comment (or a later one)
            head = self.repo.head()
            found = self.repo.log(head, f"{talk_folder(page)}/{thread_id}/", limit=1) if head else []
            commit = found[0].sha if found else None
        if commit is None:
            return int(self.clock.now()) - 1, None
        c = self.repo.commit(commit)
        return c.time - 1, (c.parents[0] if c.parents else None)

    def _notify(self, user_id: int, page: str, thread: str, seen_at: int, seen_commit: str | None) -> None:
        """Make sure the thread is watched with the comment unseen (an older seen state is kept)."""
        if self._insert(user_id, page, thread, seen_at, seen_commit):
            return
        with self.engine.begin() as conn:
            conn.execute(update(watches).where(
                watches.c.user_id == user_id, watches.c.page == page, watches.c.thread == thread,
                watches.c.seen_at > seen_at).values(seen_at=seen_at, seen_commit=seen_commit, stamp=self._stamp()))

    def _mail(self, target: User, who: Who, reason: str, page: str, thread_id: str, body: str,
              link: str | None) -> None:
        if not self.mailer.enabled or not target.email:
            return
        title = ""
        if self.talk is not None:
            try:
                title = self.talk.thread(page, thread_id).title
            except (TalkNotFound, BadTalk, GitError):
                title = ""
        quoted = "\n".join("> " + line for line in body.strip()[:4000].splitlines())
        where = f'the thread "{title}" on {page}' if title else f"a thread on {page}"
        text = f"{who.name} {reason} in {where}:\n\n{quoted}\n"
        if link:
            text += f"\nReply or read the thread: {link}\n"
        text += ("\nYou get this mail because someone mentioned you or answered your comment. "
                 "The thread is on your watchlist.\n")
        self.mailer.send(target.email, f"{who.name} {reason} on {page}", text)

    # -- the private feed ------------------------------------------------------
    def new_feed_token(self, user_id: int) -> str:
        """A new read-only feed token (the old one stops working); only its hash is kept."""
        secret = FEED_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(delete(watch_feeds).where(watch_feeds.c.user_id == user_id))
            conn.execute(insert(watch_feeds).values(user_id=user_id, token_hash=_hash(secret), created_at=now()))
        return secret

    def feed_created(self, user_id: int) -> datetime | None:
        with self.engine.connect() as conn:
            when = conn.execute(select(watch_feeds.c.created_at).where(watch_feeds.c.user_id == user_id)).scalar()
        return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when  # SQLite

    def feed_user(self, secret: str) -> User | None:
        """The active user a feed token belongs to, or None."""
        if not secret or not secret.startswith(FEED_PREFIX) or len(secret) > 200:
            return None
        with self.engine.connect() as conn:
            user_id = conn.execute(select(watch_feeds.c.user_id)
                                   .where(watch_feeds.c.token_hash == _hash(secret))).scalar()
        user = self.users.get(user_id) if user_id is not None else None
        return user if user is not None and user.active else None


def _same_person(author: Person, who: Who) -> bool:
    return author.email.casefold() == who.email.casefold() if author.email and who.email else author.name == who.name


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
