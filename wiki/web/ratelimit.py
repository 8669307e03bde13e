"""Login throttling with flask-limiter, counted in the wiki's SQL database.

flask-limiter keeps counters in memory by default, which with several
gunicorn workers (or hosts) multiplies every limit by their number. This
storage backend keeps the fixed-window counters in the ``rate_limits`` table
instead, so all processes of all hosts share them.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..core.db import rate_limits


class SQLStorage(Storage):
    STORAGE_SCHEME = ["tacit-sql"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: Engine | None = None,
                 **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        if engine is None:
            raise ValueError("SQLStorage needs the wiki's engine (storage_options={'engine': ...})")
        self.engine = engine

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = int(time.time())
        table = rate_limits
        dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(self.engine.dialect.name)
        with self.engine.begin() as conn:
            if dialect is None:  # other databases: lock the row the portable way
                row = conn.execute(select(table).where(table.c.key == key).with_for_update()).first()
                if row is None or row.expires_at <= now:
                    conn.execute(delete(table).where(table.c.key == key))
                    conn.execute(table.insert().values(key=key, count=amount, expires_at=now + expiry))
                    return amount
                conn.execute(table.update().where(table.c.key == key).values(count=row.count + amount))
                return row.count + amount
            expired = table.c.expires_at <= now
            stmt = dialect.insert(table).values(key=key, count=amount, expires_at=now + expiry)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"count": case((expired, amount), else_=table.c.count + amount),
                      "expires_at": case((expired, now + expiry), else_=table.c.expires_at)},
            ).returning(table.c.count)
            return conn.execute(stmt).scalar_one()

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(rate_limits).where(rate_limits.c.key == key)).first()
        return row.count if row is not None and row.expires_at > time.time() else 0

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            row = conn.execute(select(rate_limits.c.expires_at).where(rate_limits.c.key == key)).first()
        return float(row.expires_at) if row is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(rate_limits)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(rate_limits).where(rate_limits.c.key == key))


def login_account_key() -> str:
    return "login-account:" + request.form.get("name", "").strip().casefold()[:200]


def login_address_key() -> str:
    return "login-address:" + (get_remote_address() or "unknown")


limiter = Limiter(get_remote_address, strategy="fixed-window", default_limits=[], headers_enabled=True)


def init_app(app: Flask, engine: Engine) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = "tacit-sql://"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"engine": engine}
    limiter.init_app(app)


def only_failures(response) -> bool:
    """Count failed logins only; a successful one costs nothing."""
    return response.status_code == 401


def login_limits(view):
    """Per account and per address, as configured (WIKI_LOGIN_LIMIT_ACCOUNT/ADDRESS)."""
    view = limiter.limit(lambda: current_app.config["WIKI_LOGIN_LIMIT_ACCOUNT"], key_func=login_account_key,
                         methods=["POST"], scope="login-account", deduct_when=only_failures)(view)
    return limiter.limit(lambda: current_app.config["WIKI_LOGIN_LIMIT_ADDRESS"], key_func=login_address_key,
                         methods=["POST"], scope="login-address", deduct_when=only_failures)(view)
