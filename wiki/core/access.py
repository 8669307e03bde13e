"""Who may read and write which page: the site policy plus folder and page rules.

The site policy (WIKI_READ, WIKI_WRITE) applies wherever no rule says
otherwise. A rule names a folder (``HR/``) or a page (``Policies/Handbook``)
and, for reading and/or writing, the principals allowed there:

    anonymous      everyone, logged in or not
    users          every logged-in account
    editors        accounts with the role editor or admin
    admins         admins only
    group:NAME     members of a group
    user:NAME      one account

The most specific rule (the longest path) that speaks about an action
decides it. Admins may always do everything; writing also needs reading.
Roles are principals like any other: under the default WIKI_WRITE=editor a
reader cannot edit, under WIKI_WRITE=user every account can. Everything that shows
a page's name or text asks ``can_read`` first, so a hidden page looks like a
missing one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from . import names
from .db import access_rules
from .users import AccountError

READ_POLICIES = ("anonymous", "user")
WRITE_POLICIES = ("anonymous", "user", "editor")
REGISTRATION_POLICIES = ("open", "approval", "closed")
_SIMPLE_PRINCIPALS = ("anonymous", "users", "editors", "admins")


@dataclass(frozen=True)
class Actor:
    """Whoever makes a request: an account or the anonymous visitor."""

    user_id: int | None = None
    name: str = ""
    email: str = ""
    role: str = "anonymous"  # anonymous, reader, editor, admin
    groups: frozenset[str] = frozenset()

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def cache_key(self) -> str:
        """What a cached page view for this actor may be shared by."""
        if self.user_id is None:
            return "anon"
        return f"u{self.user_id}:{self.role}:{','.join(sorted(self.groups))}"


ANONYMOUS = Actor()


@dataclass(frozen=True)
class Rule:
    id: int
    path: str  # "HR/" for a folder, "Policies/Handbook" for a page
    read: tuple[str, ...] | None
    write: tuple[str, ...] | None

    @property
    def is_folder(self) -> bool:
        return self.path.endswith("/")

    def covers(self, page: str) -> bool:
        return page.startswith(self.path) if self.is_folder else page == self.path


def parse_principals(text: str | None) -> tuple[str, ...] | None:
    """'group:hr admins' -> ('group:hr', 'admins'); empty -> None (as the site policy)."""
    if text is None or not text.strip():
        return None
    out = []
    for item in text.replace(",", " ").split():
        kind, _, value = item.partition(":")
        if item in _SIMPLE_PRINCIPALS or (kind in ("group", "user") and value):
            out.append(item)
        else:
            raise AccountError(f"Unknown principal {item!r}: use anonymous, users, editors, admins, "
                               "group:NAME or user:NAME.")
    return tuple(dict.fromkeys(out))


def check_rule_path(path: str) -> str:
    path = path.strip()
    if path.endswith("/"):
        return names.check_name(path.rstrip("/")) + "/"
    return names.check_name(path)


@dataclass
class Policy:
    read: str = "anonymous"
    write: str = "editor"
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.read not in READ_POLICIES:
            raise ValueError(f"WIKI_READ must be one of {', '.join(READ_POLICIES)}")
        if self.write not in WRITE_POLICIES:
            raise ValueError(f"WIKI_WRITE must be one of {', '.join(WRITE_POLICIES)}")
        # longest first: the first rule that speaks about an action is the most specific
        self.rules = sorted(self.rules, key=lambda r: len(r.path), reverse=True)

    def _default(self, action: str) -> tuple[str, ...]:
        if action == "read":
            return ("anonymous",) if self.read == "anonymous" else ("users",)
        return {"anonymous": ("anonymous",), "user": ("users",), "editor": ("editors",)}[self.write]

    def _allowed(self, actor: Actor, principals: Iterable[str]) -> bool:
        for p in principals:
            if p == "anonymous":
                return True
            if not actor.authenticated:
                continue
            if p == "users" or (p == "editors" and actor.role in ("editor", "admin")) \
                    or (p == "admins" and actor.is_admin):
                return True
            kind, _, value = p.partition(":")
            if (kind == "group" and value in actor.groups) or \
                    (kind == "user" and names.fold_case(value) == names.fold_case(actor.name)):
                return True
        return False

    def _decides(self, page: str, action: str) -> tuple[str, ...]:
        for rule in self.rules:
            principals = rule.read if action == "read" else rule.write
            if principals is not None and rule.covers(page):
                return principals
        return self._default(action)

    def can_read(self, actor: Actor, page: str) -> bool:
        return actor.is_admin or self._allowed(actor, self._decides(page, "read"))

    def can_write(self, actor: Actor, page: str) -> bool:
        if actor.is_admin:
            return True
        return self.can_read(actor, page) and self._allowed(actor, self._decides(page, "write"))

    def can_write_somewhere(self, actor: Actor) -> bool:
        """For showing 'New page': the site policy, or any rule that lets this actor write."""
        if actor.is_admin:
            return True
        return self._allowed(actor, self._default("write")) or any(
            r.write is not None and self._allowed(actor, r.write) for r in self.rules)

    def can_read_everything(self, actor: Actor) -> bool:
        """May this actor see every page? (Cloning the whole repository needs this.)"""
        if actor.is_admin:
            return True
        return self._allowed(actor, self._default("read")) and all(
            r.read is None or self._allowed(actor, r.read) for r in self.rules)

    def readable(self, actor: Actor, pages: Iterable[str]) -> list[str]:
        if actor.is_admin or (not self.rules and self._allowed(actor, self._default("read"))):
            return list(pages)
        return [p for p in pages if self.can_read(actor, p)]


class RuleStore:
    """Rules in the database, cached per process for a second so checks cost nothing."""

    def __init__(self, engine: Engine, ttl: float = 1.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cached: tuple[float, list[Rule]] | None = None
        self._lock = threading.Lock()

    def rules(self) -> list[Rule]:
        with self._lock:
            if self._cached and self._cached[0] > time.monotonic():
                return self._cached[1]
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(access_rules).order_by(access_rules.c.path)).fetchall()
        except SQLAlchemyError:
            if self._cached is None:
                raise
            # the database is down: nobody can change a rule meanwhile, so the last ones read still hold
            return self._cached[1]
        found = [Rule(r.id, r.path, parse_principals(r.read), parse_principals(r.write)) for r in rows]
        with self._lock:
            self._cached = (time.monotonic() + self.ttl, found)
        return found

    def _changed(self) -> None:
        with self._lock:
            self._cached = None

    def set(self, path: str, read: str | None, write: str | None) -> Rule:
        """Create or replace the rule for a folder or page."""
        path = check_rule_path(path)
        read_p, write_p = parse_principals(read), parse_principals(write)
        if read_p is None and write_p is None:
            raise AccountError("A rule needs who may read, who may write, or both.")
        values = dict(read=" ".join(read_p) if read_p else None, write=" ".join(write_p) if write_p else None)
        with self.engine.begin() as conn:
            existing = conn.execute(select(access_rules.c.id).where(access_rules.c.path == path)).scalar()
            try:
                if existing is None:
                    conn.execute(insert(access_rules).values(path=path, **values))
                else:
                    conn.execute(update(access_rules).where(access_rules.c.id == existing).values(**values))
            except IntegrityError:
                raise AccountError(f"A rule for {path} exists already.") from None
        self._changed()
        return next(r for r in self.rules() if r.path == path)

    def remove(self, rule_id: int) -> None:
        with self.engine.begin() as conn:
            if conn.execute(delete(access_rules).where(access_rules.c.id == rule_id)).rowcount == 0:
                raise AccountError("There is no such rule.")
        self._changed()
