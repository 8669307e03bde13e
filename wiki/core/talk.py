"""Talk threads: discussion on every page, kept in the content repository beside the pages.

Layout (documented for people who edit a clone by hand, see docs/architecture.md)::

    .talk/<page file>/<thread id>/<comment id>.md     one file per comment
    .talk/<page file>/<thread id>/<event id>.resolved  a "resolved" event
    .talk/<page file>/<thread id>/<event id>.reopened  a "reopened" event

``<page file>`` is the page's own file name (``Projects/Alpha.md``), so the threads of
``Projects/Alpha`` and of ``Projects/Alpha/Sub`` never share a folder level with the same
name: thread ids never end in ``.md``. Ids are ``YYYYMMDD-HHMMSS-xxxxxx`` (UTC time and six
random hex digits): they sort by time and two processes or two clones never pick the same.

Every action adds or rewrites exactly one file, so concurrent comments (other processes,
other clones merged with ``git pull``) touch different files and merge without conflicts.
A thread's status is its newest event; the opening comment (the oldest) carries the title.

A comment file is a header of ``key: value`` lines between ``---`` lines, then the markdown
body. Values that hold a line break or start with a double quote are JSON strings. Keys:
``author`` (user name), ``name`` (display name), ``date`` (ISO 8601 UTC), and optionally
``title``, ``quote``, ``revision`` (opening comment), ``reply-to`` (a comment id),
``edited`` (date), ``deleted`` (date) and ``deleted-by``. Event files have the header only.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from . import names
from .gitrepo import TREE_MODE, Person
from .pages import PageNotFound, PageStore, SaveResult, SaveStatus

TALK_ROOT = ".talk"
MAX_TITLE = 200
MAX_BODY = 64 * 1024
MAX_QUOTE = 2000
_ID = re.compile(r"\d{8}-\d{6}(?:\d{3})?-[0-9a-f]{6}")
_FILE = re.compile(r"(\d{8}-\d{6}(?:\d{3})?-[0-9a-f]{6})\.(md|resolved|reopened)")
_KEYS = {"author", "name", "date", "title", "quote", "revision", "reply-to", "edited", "deleted", "deleted-by"}
EVENT_KINDS = ("resolved", "reopened")
ALLOWED_TAGS = ("a", "abbr", "b", "blockquote", "cite", "code", "del", "em", "i", "q", "s", "strong")


class BadTalk(ValueError):
    """Input that cannot become a comment (empty, too long, unknown thread); the message says why."""


class NotAllowed(PermissionError):
    """Only a comment's author (or a moderator) may change it."""


class TalkNotFound(LookupError):
    pass


def new_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def now_text() -> str:
    """UTC time to the millisecond, so comments made within one second keep their order."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def parse_date(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadTalk(f"{text!r} is not a date (use 2026-01-31T12:00:00Z).") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# -- the file format -----------------------------------------------------------
def format_file(header: dict[str, str], body: str = "") -> bytes:
    lines = ["---"]
    for key, value in header.items():
        if value is None or value == "":
            continue
        value = str(value)
        if "\n" in value or "\r" in value or value.startswith('"') or value != value.strip():
            value = json.dumps(value, ensure_ascii=False)
        lines.append(f"{key}: {value}")
    lines.append("---")
    text = "\n".join(lines) + "\n"
    body = body.replace("\r\n", "\n").strip("\n")
    if body:
        text += body + "\n"
    return text.encode("utf-8")


def parse_file(data: bytes) -> tuple[dict[str, str], str]:
    """(header, body) of a talk file; BadTalk says what is wrong with a malformed one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadTalk("a talk file must be UTF-8 text") from None
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        raise BadTalk("a talk file starts with a --- line")
    end = text.find("\n---\n", 3)
    if end < 0 and text.endswith("\n---"):
        end = len(text) - 4
    if end < 0:
        raise BadTalk("the header of a talk file ends with a --- line")
    header: dict[str, str] = {}
    for line in text[4:end].split("\n") if end > 3 else []:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in _KEYS:
            raise BadTalk(f"unknown header line {line!r} (known keys: {', '.join(sorted(_KEYS))})")
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                raise BadTalk(f"the {key} value is not a valid quoted string") from None
        header[key] = value
    for key in ("author", "date"):
        if not header.get(key):
            raise BadTalk(f"the header needs {key}:")
    parse_date(header["date"])
    body = text[end + 5:] if end + 5 <= len(text) else ""
    return header, body.strip("\n")


def check_file(path: str, data: bytes) -> str | None:
    """Why a file under .talk/ breaks the layout or the format (None when it is fine)."""
    parts = path.split("/")
    if parts[0] != TALK_ROOT:
        return None
    if len(parts) < 4:
        return "talk files live in .talk/<page file>/<thread id>/<comment id>.md"
    page_file, thread, file = "/".join(parts[1:-2]), parts[-2], parts[-1]
    if names.page_name(page_file) is None:
        return f"{page_file!r} is not a page file name"
    if not _ID.fullmatch(thread):
        return f"{thread!r} is not a thread id (YYYYMMDD-HHMMSSmmm-xxxxxx)"
    if not _FILE.fullmatch(file):
        return f"{file!r} is not a comment (<id>.md) or event (<id>.resolved / <id>.reopened) file"
    try:
        header, body = parse_file(data)
    except BadTalk as e:
        return str(e)
    if file.endswith(".md") and not body.strip() and not header.get("deleted"):
        return "a comment needs a body"
    if len(body.encode("utf-8")) > MAX_BODY:
        return f"a comment can be at most {MAX_BODY // 1024} KB"
    return None


# -- the model -----------------------------------------------------------------
@dataclass
class Comment:
    id: str
    thread: str
    author: str
    name: str
    date: datetime
    body: str
    file: str
    reply_to: str | None = None
    edited: datetime | None = None
    deleted: bool = False
    deleted_by: str | None = None
    replies: list["Comment"] = field(default_factory=list)
    depth: int = 0


@dataclass
class Event:
    id: str
    kind: str  # resolved | reopened
    author: str
    name: str
    date: datetime


@dataclass
class Thread:
    id: str
    page: str
    title: str
    author: str
    name: str
    date: datetime
    comments: list[Comment]
    events: list[Event]
    quote: str | None = None
    revision: str | None = None

    @property
    def status(self) -> str:
        return "resolved" if self.events and self.events[-1].kind == "resolved" else "open"

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def opening(self) -> Comment:
        return self.comments[0]

    @property
    def reply_count(self) -> int:
        return len(self.comments) - 1

    @property
    def last_activity(self) -> datetime:
        dates = [c.date for c in self.comments] + [c.edited for c in self.comments if c.edited] + \
                [e.date for e in self.events]
        return max(dates)

    def participants(self) -> list[str]:
        return list(dict.fromkeys(c.author for c in self.comments))

    def comment(self, comment_id: str) -> Comment | None:
        return next((c for c in self.comments if c.id == comment_id), None)

    def tree(self, max_depth: int = 6) -> list[Comment]:
        """The comments as a reply tree, in order, each with its depth (capped for indentation)."""
        by_id = {c.id: c for c in self.comments}
        for c in self.comments:
            c.replies = []
        roots = []
        for c in self.comments:
            parent = by_id.get(c.reply_to or "")
            if parent is not None and parent is not c and parent.date <= c.date:
                parent.replies.append(c)
            else:
                roots.append(c)
        out: list[Comment] = []

        def walk(c: Comment, depth: int) -> None:
            c.depth = min(depth, max_depth)
            out.append(c)
            for r in c.replies:
                walk(r, depth + 1)

        for root in roots:
            walk(root, 0)
        return out


@dataclass(frozen=True)
class Counts:
    open: int
    resolved: int

    @property
    def total(self) -> int:
        return self.open + self.resolved


def talk_folder(page: str) -> str:
    return f"{TALK_ROOT}/{names.page_file(page)}"


def page_of_talk_file(path: str) -> tuple[str, str] | None:
    """(page, thread id) for a file under .talk/, or None."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != TALK_ROOT or not _ID.fullmatch(parts[-2]):
        return None
    page = names.page_name("/".join(parts[1:-2]))
    return (page, parts[-2]) if page else None


class TalkStore:
    """Threads of every page, read from and committed to the same branch as the pages."""

    def __init__(self, pages: PageStore) -> None:
        self.pages = pages
        self.repo = pages.repo
        pages.talk_moves = self.move_changes

    @classmethod
    def reading(cls, repo) -> "TalkStore":
        """Threads of a repository for reading at given revisions (the search indexer's view)."""
        store = cls.__new__(cls)
        store.pages, store.repo = None, repo
        return store

    # -- reading -------------------------------------------------------------
    def _thread_folders(self, page: str, rev: str | None) -> tuple[str | None, list[tuple[str, str]]]:
        rev = rev or self.pages.head()
        if rev is None:
            return None, []
        found = self.repo.entry(rev, talk_folder(page))
        if found is None or found[0] != TREE_MODE:
            return rev, []
        tree = self.repo.tree(found[1])
        return rev, [(name.decode(), sha.hex()) for name, (mode, sha) in tree.items()
                     if mode == TREE_MODE and _ID.fullmatch(name.decode())]

    def counts(self, page: str, rev: str | None = None) -> Counts:
        """Open and resolved threads, from file names alone (no file is read)."""
        _, folders = self._thread_folders(names.check_name(page), rev)
        resolved = 0
        for _, sha in folders:
            events = sorted(n.decode() for n in self.repo.tree(sha)
                            if n.endswith(b".resolved") or n.endswith(b".reopened"))
            resolved += bool(events) and events[-1].endswith(".resolved")
        return Counts(len(folders) - resolved, resolved)

    def threads(self, page: str, rev: str | None = None) -> list[Thread]:
        """The page's threads, newest activity first."""
        page = names.check_name(page)
        _, folders = self._thread_folders(page, rev)
        threads = [t for t in (self._load(page, tid, sha) for tid, sha in folders) if t is not None]
        threads.sort(key=lambda t: t.last_activity, reverse=True)
        return threads

    def thread(self, page: str, thread_id: str, rev: str | None = None) -> Thread:
        page = names.check_name(page)
        if not _ID.fullmatch(thread_id or ""):
            raise TalkNotFound(thread_id)
        rev = rev or self.pages.head()
        found = self.repo.entry(rev, f"{talk_folder(page)}/{thread_id}") if rev else None
        thread = self._load(page, thread_id, found[1]) if found and found[0] == TREE_MODE else None
        if thread is None:
            raise TalkNotFound(thread_id)
        return thread

    def _load(self, page: str, thread_id: str, tree_sha: str) -> Thread | None:
        comments, events = [], []
        folder = f"{talk_folder(page)}/{thread_id}"
        for name, (mode, sha) in self.repo.tree(tree_sha).items():
            m = _FILE.fullmatch(name.decode("utf-8", "replace"))
            if not m:
                continue
            try:
                header, body = parse_file(self.repo.read_blob(sha.hex()))
                date = parse_date(header["date"])
            except BadTalk:
                continue  # `wiki check` reports malformed files; readers skip them
            author, display = header["author"], header.get("name") or header["author"]
            if m.group(2) == "md":
                comments.append((header, Comment(
                    m.group(1), thread_id, author, display, date, body, f"{folder}/{name.decode()}",
                    reply_to=header.get("reply-to") or None,
                    edited=_maybe_date(header.get("edited")),
                    deleted=bool(header.get("deleted")), deleted_by=header.get("deleted-by"))))
            else:
                events.append(Event(m.group(1), m.group(2), author, display, date))
        if not comments:
            return None
        comments.sort(key=lambda hc: (hc[1].id != thread_id, hc[1].date, hc[1].id))  # the opening first
        events.sort(key=lambda e: (e.date, e.id))
        first_header, first = comments[0]
        return Thread(thread_id, page, first_header.get("title") or "(untitled)", first.author, first.name,
                      first.date, [c for _, c in comments], events,
                      quote=first_header.get("quote") or None, revision=first_header.get("revision") or None)

    def comment_history(self, page: str, thread_id: str, comment_id: str) -> list[tuple[str, datetime, str, str]]:
        """Earlier versions of a comment, newest first: (commit, date, author name, body)."""
        thread = self.thread(page, thread_id)
        comment = thread.comment(comment_id)
        if comment is None:
            raise TalkNotFound(comment_id)
        out = []
        for entry in self.repo.log(self.pages.head(), comment.file, limit=100):
            blob = self.repo.blob_id(entry.sha, comment.file)
            if blob is None:
                continue
            try:
                header, body = parse_file(self.repo.read_blob(blob))
            except BadTalk:
                continue
            out.append((entry.sha, datetime.fromtimestamp(entry.time, timezone.utc), entry.author.name, body))
        return out

    # -- writing -------------------------------------------------------------
    def start(self, page: str, title: str, body: str, author: Person, user: str,
              quote: str | None = None, revision: str | None = None) -> tuple[str, SaveResult]:
        """A new thread; returns its id and the commit."""
        page = names.check_name(page)
        title = " ".join((title or "").split())
        if not title:
            raise BadTalk("A thread needs a title.")
        if len(title) > MAX_TITLE:
            raise BadTalk(f"A thread title can be at most {MAX_TITLE} characters.")
        body = _check_body(body)
        quote = " ".join((quote or "").split()) or None
        if quote and len(quote) > MAX_QUOTE:
            raise BadTalk(f"A quote can be at most {MAX_QUOTE} characters.")
        if revision:
            try:
                revision = self.repo.commit(revision).sha
            except LookupError:
                raise BadTalk(f"{revision!r} is not a revision of this wiki.") from None
        thread_id = new_id()
        data = format_file({"author": user, "name": author.name, "date": now_text(), "title": title,
                            "quote": quote, "revision": revision if quote else None}, body)

        def change(head: str | None):
            if head is None or (self.repo.blob_id(head, names.page_file(page)) is None
                                and not self._thread_folders(page, head)[1]):
                raise PageNotFound(page)
            path = f"{talk_folder(page)}/{thread_id}/{thread_id}.md"
            return {path: self.repo.write_blob(data)}, SaveStatus.TALK, f"Talk on {page}: {title}"

        return thread_id, self.pages.commit(page, author, change)

    def reply(self, page: str, thread_id: str, body: str, author: Person, user: str,
              reply_to: str | None = None) -> tuple[str, SaveResult]:
        thread = self.thread(page, thread_id)
        if reply_to and thread.comment(reply_to) is None:
            raise BadTalk(f"There is no comment {reply_to} in this thread.")
        body = _check_body(body)
        comment_id = new_id()
        data = format_file({"author": user, "name": author.name, "date": now_text(), "reply-to": reply_to}, body)
        path = f"{talk_folder(thread.page)}/{thread_id}/{comment_id}.md"

        def change(head: str | None):
            self.thread(thread.page, thread_id, head)  # still there
            return {path: self.repo.write_blob(data)}, SaveStatus.TALK, f"Reply on {thread.page}: {thread.title}"

        return comment_id, self.pages.commit(thread.page, author, change)

    def edit(self, page: str, thread_id: str, comment_id: str, body: str, author: Person, user: str,
             moderator: bool = False) -> SaveResult:
        if self.thread(page, thread_id).comment(comment_id) is None:  # unknown before malformed: 404, not 400
            raise TalkNotFound(comment_id)
        body = _check_body(body)
        return self._rewrite(page, thread_id, comment_id, author, user, moderator, "Edit comment",
                             lambda header, _old: ({**header, "edited": now_text()}, body))

    def delete(self, page: str, thread_id: str, comment_id: str, author: Person, user: str,
               moderator: bool = False) -> SaveResult:
        def deleted(header, _old):
            header = {k: v for k, v in header.items() if k in ("author", "name", "date", "title", "reply-to",
                                                               "quote", "revision")}
            header["deleted"] = now_text()
            if header["author"] != user:
                header["deleted-by"] = user
            return header, ""
        return self._rewrite(page, thread_id, comment_id, author, user, moderator, "Delete comment", deleted)

    def _rewrite(self, page, thread_id, comment_id, author, user, moderator, verb, transform) -> SaveResult:
        thread = self.thread(page, thread_id)
        comment = thread.comment(comment_id)
        if comment is None:
            raise TalkNotFound(comment_id)
        if comment.author != user and not moderator:
            raise NotAllowed("Only the author of a comment (or an admin) may change it.")
        if comment.deleted:
            raise BadTalk("This comment was deleted.")

        def change(head: str | None):
            blob = self.repo.blob_id(head, comment.file) if head else None
            if blob is None:
                raise TalkNotFound(comment_id)
            header, old = parse_file(self.repo.read_blob(blob))
            if header.get("deleted"):
                raise BadTalk("This comment was deleted.")
            header, body = transform(header, old)
            return ({comment.file: self.repo.write_blob(format_file(header, body))}, SaveStatus.TALK,
                    f"{verb} on {thread.page}: {thread.title}")

        return self.pages.commit(thread.page, author, change)

    def set_status(self, page: str, thread_id: str, kind: str, author: Person, user: str,
                   may_change: bool) -> SaveResult:
        """Resolve or reopen (kind "resolved" / "reopened"); allowed for the thread's author and
        for whoever the caller says may (the page's editors, admins)."""
        if kind not in EVENT_KINDS:
            raise BadTalk(f"unknown status change {kind!r}")
        thread = self.thread(page, thread_id)
        if thread.author != user and not may_change:
            raise NotAllowed("Only the thread's author, the page's editors and admins may resolve or reopen it.")
        if (kind == "resolved") == thread.resolved:
            return SaveResult(SaveStatus.UNCHANGED, thread.page, None, self.pages.head())
        event_id = new_id()
        data = format_file({"author": user, "name": author.name, "date": now_text()})
        path = f"{talk_folder(thread.page)}/{thread_id}/{event_id}.{kind}"
        verb = "Resolve" if kind == "resolved" else "Reopen"

        def change(head: str | None):
            self.thread(thread.page, thread_id, head)
            return {path: self.repo.write_blob(data)}, SaveStatus.TALK, f"{verb} thread on {thread.page}: {thread.title}"

        return self.pages.commit(thread.page, author, change)

    # -- moving with the page ------------------------------------------------
    def move_changes(self, head: str, old_page: str, new_page: str) -> dict[str, str | None]:
        """Tree changes that carry a page's threads to its new name (for the rename commit)."""
        old, new = talk_folder(old_page), talk_folder(new_page)
        found = self.repo.entry(head, old)
        if found is None or found[0] != TREE_MODE:
            return {}
        changes: dict[str, str | None] = {}
        for path, blob in self._files(found[1], ""):
            if _ID.fullmatch(path.split("/", 1)[0]):  # the threads, not subpages' folders
                changes[f"{old}/{path}"] = None
                changes[f"{new}/{path}"] = blob
        return changes

    def _files(self, tree_sha: str, prefix: str) -> Iterable[tuple[str, str]]:
        for name, (mode, sha) in self.repo.tree(tree_sha).items():
            path = prefix + name.decode("utf-8", "surrogateescape")
            if mode == TREE_MODE:
                yield from self._files(sha.hex(), path + "/")
            else:
                yield path, sha.hex()


def _check_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise BadTalk("A comment cannot be empty.")
    if len(body.encode("utf-8")) > MAX_BODY:
        raise BadTalk(f"A comment can be at most {MAX_BODY // 1024} KB.")
    return body


def _maybe_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_date(text)
    except BadTalk:
        return None


MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")


def mentions(body: str) -> list[str]:
    """User names written as @name in a comment (outside code is not distinguished)."""
    return list(dict.fromkeys(m.group(1).rstrip(".") for m in MENTION.finditer(body)))
