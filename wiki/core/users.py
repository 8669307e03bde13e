"""Accounts, groups and API tokens.

Passwords are hashed with Argon2id (argon2-cffi); API tokens are random
and only their SHA-256 is stored, so the database never holds a usable secret.
A user's ``session_version`` is part of every session: bumping it (disable,
password change or reset) ends every session of that user at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .db import api_tokens, group_members, groups, now, users

ROLES = ("reader", "editor", "admin")
STATUSES = ("pending", "active", "disabled")
MIN_PASSWORD = 8
TOKEN_PREFIX = "tacit_"
_NAME = re.compile(r"^[^\s/\\<>@:\x00-\x1f\x7f][^/\\<>@:\x00-\x1f\x7f]{0,78}[^\s/\\<>@:\x00-\x1f\x7f]$|^[^\s/\\<>@:\x00-\x1f\x7f]$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Checking a dummy hash when the name is unknown keeps failed logins equally slow.
_DUMMY_HASH = _HASHER.hash("not a real password")


def generate_password_hash(password: str) -> str:
    return _HASHER.hash(password)


def check_password_hash(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class AccountError(ValueError):
    """Bad account input; the message is safe to show to the user."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    role: str
    status: str
    session_version: int
    created_at: datetime
    last_login_at: datetime | None
    groups: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def session_id(self) -> str:
        """What a session remembers: the id and the version that must still match."""
        return f"{self.id}:{self.session_version}"


@dataclass(frozen=True)
class Token:
    id: int
    user_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _key(text: str) -> str:
    return text.strip().casefold()


def check_password_strength(password: str, name: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise AccountError("The password is too long.")
    if name and _key(password) == _key(name):
        raise AccountError("The password cannot be the user name.")


class UserStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reading -------------------------------------------------------------
    def _user(self, row, group_names: frozenset[str] = frozenset()) -> User:
        return User(row.id, row.name, row.email, row.role, row.status, row.session_version,
                    row.created_at, row.last_login_at, group_names)

    def _groups_of(self, conn, user_id: int) -> frozenset[str]:
        rows = conn.execute(select(groups.c.name).join(group_members, group_members.c.group_id == groups.c.id)
                            .where(group_members.c.user_id == user_id))
        return frozenset(r.name for r in rows)

    def get(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
            return self._user(row, self._groups_of(conn, row.id)) if row else None

    def by_name(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name_key == _key(name))).first()
            return self._user(row, self._groups_of(conn, row.id)) if row else None

    def from_session(self, session_id: str) -> User | None:
        """The user of a session, if the session is still valid (active, same version)."""
        try:
            raw_id, raw_version = session_id.split(":", 1)
            user = self.get(int(raw_id))
        except (ValueError, TypeError):
            return None
        if user is None or not user.active or str(user.session_version) != raw_version:
            return None
        return user

    def list(self) -> list[User]:
        with self.engine.connect() as conn:
            members: dict[int, set[str]] = {}
            for row in conn.execute(select(group_members.c.user_id, groups.c.name)
                                    .join(groups, groups.c.id == group_members.c.group_id)):
                members.setdefault(row.user_id, set()).add(row.name)
            return [self._user(r, frozenset(members.get(r.id, ())))
                    for r in conn.execute(select(users).order_by(users.c.name_key))]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    # -- accounts ------------------------------------------------------------
    def create(self, name: str, email: str, password: str, role: str = "editor",
               status: str = "active") -> User:
        """Create an account; the very first account becomes an active admin."""
        name, email = name.strip(), email.strip()
        if not _NAME.match(name):
            raise AccountError("A user name is 1 to 80 characters, without / \\ < > @ : or line breaks, "
                               "and does not start or end with a space.")
        if not _EMAIL.match(email) or len(email) > 254:
            raise AccountError("That does not look like an e-mail address.")
        if role not in ROLES:
            raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
        if status not in STATUSES:
            raise AccountError(f"The status must be one of {', '.join(STATUSES)}.")
        check_password_strength(password, name)
        values = dict(name=name, name_key=_key(name), email=email, email_key=_key(email),
                      password_hash=generate_password_hash(password), role=role, status=status,
                      session_version=1, created_at=now())
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(func.count()).select_from(users)).scalar_one() == 0:
                    values.update(role="admin", status="active")
                user_id = conn.execute(insert(users).values(**values)).inserted_primary_key[0]
        except IntegrityError:
            raise AccountError("That name or e-mail address is already taken.") from None
        return self.get(user_id)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if name and password match (any status), else None; same cost either way."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name_key == _key(name))).first()
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(row.password_hash, password):
            return None
        values = {"last_login_at": now()}
        if _HASHER.check_needs_rehash(row.password_hash):  # parameters got stronger since
            values["password_hash"] = generate_password_hash(password)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
        return self.get(row.id)

    def _update(self, user_id: int, **values) -> User:
        with self.engine.begin() as conn:
            if conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount == 0:
                raise AccountError("There is no such user.")
        return self.get(user_id)

    def set_role(self, user_id: int, role: str) -> User:
        if role not in ROLES:
            raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
        user = self.get(user_id)
        if user and user.role == "admin" and role != "admin":
            self._keep_an_admin(user_id)
        return self._update(user_id, role=role)

    def set_status(self, user_id: int, status: str) -> User:
        """Approve (active), disable or re-enable; disabling ends the user's sessions at once."""
        if status not in STATUSES:
            raise AccountError(f"The status must be one of {', '.join(STATUSES)}.")
        user = self.get(user_id)
        if user is None:
            raise AccountError("There is no such user.")
        if user.role == "admin" and status != "active":
            self._keep_an_admin(user_id)
        return self._update(user_id, status=status, session_version=user.session_version + 1)

    def set_password(self, user_id: int, password: str) -> User:
        """Set a new password and end every existing session of the user."""
        user = self.get(user_id)
        if user is None:
            raise AccountError("There is no such user.")
        check_password_strength(password, user.name)
        return self._update(user_id, password_hash=generate_password_hash(password),
                            session_version=user.session_version + 1)

    def _keep_an_admin(self, user_id: int) -> None:
        with self.engine.connect() as conn:
            others = conn.execute(select(func.count()).select_from(users).where(
                users.c.role == "admin", users.c.status == "active", users.c.id != user_id)).scalar_one()
        if others == 0:
            raise AccountError("This is the last active admin; make someone else admin first.")

    # -- groups --------------------------------------------------------------
    def groups(self) -> dict[str, list[str]]:
        """Every group with its members' names."""
        with self.engine.connect() as conn:
            result: dict[str, list[str]] = {r.name: [] for r in conn.execute(select(groups).order_by(groups.c.name))}
            for r in conn.execute(select(groups.c.name.label("group"), users.c.name)
                                  .join(group_members, group_members.c.group_id == groups.c.id)
                                  .join(users, users.c.id == group_members.c.user_id)
                                  .order_by(users.c.name_key)):
                result[r.group].append(r.name)
        return result

    def create_group(self, name: str) -> None:
        name = name.strip()
        if not re.fullmatch(r"[\w.-]{1,80}", name):
            raise AccountError("A group name is 1 to 80 letters, digits, '.', '-' or '_'.")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(groups).values(name=name))
        except IntegrityError:
            raise AccountError(f"The group {name} exists already.") from None

    def delete_group(self, name: str) -> None:
        with self.engine.begin() as conn:
            gid = conn.execute(select(groups.c.id).where(groups.c.name == name)).scalar()
            if gid is None:
                raise AccountError(f"There is no group {name}.")
            conn.execute(delete(group_members).where(group_members.c.group_id == gid))
            conn.execute(delete(groups).where(groups.c.id == gid))

    def set_membership(self, group: str, user_name: str, member: bool) -> None:
        user = self.by_name(user_name)
        if user is None:
            raise AccountError(f"There is no user {user_name}.")
        with self.engine.begin() as conn:
            gid = conn.execute(select(groups.c.id).where(groups.c.name == group)).scalar()
            if gid is None:
                raise AccountError(f"There is no group {group}.")
            conn.execute(delete(group_members).where(group_members.c.group_id == gid,
                                                     group_members.c.user_id == user.id))
            if member:
                conn.execute(insert(group_members).values(group_id=gid, user_id=user.id))

    # -- API tokens ----------------------------------------------------------
    def create_token(self, user_id: int, label: str = "") -> tuple[Token, str]:
        """A new token; the secret is returned once and only its hash is kept."""
        if self.get(user_id) is None:
            raise AccountError("There is no such user.")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            token_id = conn.execute(insert(api_tokens).values(
                user_id=user_id, label=(label or "token")[:120], token_hash=_token_hash(secret),
                created_at=now(), revoked=False)).inserted_primary_key[0]
        return self.token(token_id), secret

    def token(self, token_id: int) -> Token | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return Token(row.id, row.user_id, row.label, row.created_at, row.last_used_at, row.revoked) if row else None

    def tokens(self, user_id: int | None = None) -> list[Token]:
        query = select(api_tokens).order_by(api_tokens.c.id)
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        with self.engine.connect() as conn:
            return [Token(r.id, r.user_id, r.label, r.created_at, r.last_used_at, r.revoked)
                    for r in conn.execute(query)]

    def revoke_token(self, token_id: int) -> None:
        with self.engine.begin() as conn:
            if conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                            .values(revoked=True)).rowcount == 0:
                raise AccountError(f"There is no token {token_id}.")

    def from_token(self, secret: str) -> User | None:
        """The active user a token belongs to, if the token is valid and not revoked."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == _token_hash(secret))).first()
        if row is None or row.revoked:
            return None
        user = self.get(row.user_id)
        if user is None or not user.active:
            return None
        used = row.last_used_at
        if used is not None and used.tzinfo is None:  # SQLite hands back naive times
            used = used.replace(tzinfo=timezone.utc)
        if used is None or (now() - used).total_seconds() > 60:  # a write per minute, not per call
            with self.engine.begin() as conn:
                conn.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now()))
        return user


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
