"""The SQL database of accounts, groups, access rules and login throttling.

SQLite under WIKI_DATA by default, any SQLAlchemy URL otherwise (PostgreSQL for
teams running several app hosts). The schema is owned by Alembic migrations in
``wiki/migrations``; ``migrate`` brings a database to the newest revision and
is safe to call from every process at start-up (one runs, the others wait).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, event, text)
from sqlalchemy.engine import Engine

from .locks import file_lock

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCHEMA_HEAD = "0004"  # the newest migration; a test checks it against wiki/migrations

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("name_key", String(80), nullable=False, unique=True),  # casefolded, for lookups
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # reader, editor, admin
    Column("status", String(16), nullable=False),  # pending, active, disabled
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
)

groups = Table(
    "groups", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False, unique=True),
)

group_members = Table(
    "group_members", metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

access_rules = Table(
    "access_rules", metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False),  # "HR/" (a folder) or "Policies/Handbook" (a page)
    Column("read", Text),  # space-separated principals, NULL: as the site policy
    Column("write", Text),
    UniqueConstraint("path", name="uq_access_rules_path"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(120), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked", Boolean, nullable=False, default=False),
)

rate_limits = Table(
    "rate_limits", metadata,
    Column("key", String(512), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),  # epoch seconds
)

watches = Table(
    "watches", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("page", String(1024), primary_key=True),
    Column("thread", String(32), primary_key=True),  # "" watches the whole page, else one thread
    Column("seen_at", Integer, nullable=False),  # epoch seconds: what was committed later is unseen
    Column("seen_commit", String(40)),  # the head then: bounds the git log that finds what is new
    Column("stamp", BigInteger, nullable=False),  # nanoseconds of the row's last write (cache fingerprint)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_watches_page", "page"),
    Index("ix_watches_user_stamp", "user_id", "stamp"),  # the watch state: one seek
)

watch_feeds = Table(
    "watch_feeds", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the feed token
    Column("created_at", DateTime(timezone=True), nullable=False),
)

branch_heads = Table(
    "branch_heads", metadata,
    Column("ref", String(255), primary_key=True),  # refs/heads/<branch>
    Column("commit", String(40), nullable=False),  # the last commit the remote accepted, as hosts announced it
    Column("changed_at", DateTime(timezone=True), nullable=False),  # the database's clock
)


def now() -> datetime:
    return datetime.now(timezone.utc)


def database_url(data_dir: str | Path, url: str | None = None) -> str:
    return url or f"sqlite:///{Path(data_dir).resolve() / 'wiki.db'}"


def make_engine(url: str) -> Engine:
    """An engine with sane defaults: SQLite in WAL mode with a busy timeout, foreign keys on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def schema_version(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no table yet
        return None


def migrate(engine: Engine, lock_dir: str | Path) -> None:
    """Upgrade the schema to the newest migration (creating it on first run).

    A database already at the newest version is left alone without loading
    Alembic, which keeps every worker process lighter.
    """
    if schema_version(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with file_lock(Path(lock_dir) / "migrate.lock"), engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # several hosts may start at once
            connection.execute(text("SELECT pg_advisory_xact_lock(7206103)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
