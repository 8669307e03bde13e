"""Login throttling with the `limits` library (the engine of flask-limiter), counted in SQL.

In-memory counters would be per worker, multiplying every limit by the
number of processes (and hosts); this storage backend keeps the fixed-window
counters in the wiki's ``rate_limits`` table so all of them share one count.
Only the login form consults it, so no other request pays for it.
"""

from __future__ import annotations

from flask import current_app, request
from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.db import rate_limits


class SQLStorage(Storage):
    STORAGE_SCHEME = ["tacit-sql"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: Engine | None = None,
                 clock: Clock = SYSTEM_CLOCK, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        if engine is None:
            raise ValueError("SQLStorage needs the wiki's engine")
        self.engine = engine
        self.clock = clock  # windows are shared by every host: they end by one clock

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, elastic_expiry: bool = False, amount: int = 1) -> int:
        """Count a hit; limits before 5.0 pass `elastic_expiry` (always False for a fixed window)."""
        if elastic_expiry:
            raise NotImplementedError("the SQL storage counts fixed windows only")
        now = int(self.clock.now())
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
        return row.count if row is not None and row.expires_at > self.clock.now() else 0

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            row = conn.execute(select(rate_limits.c.expires_at).where(rate_limits.c.key == key)).first()
        return float(row.expires_at) if row is not None else self.clock.now()

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


class LoginThrottle:
    """Failed logins per account name and per client address, as configured."""

    def __init__(self, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.limiter = FixedWindowRateLimiter(SQLStorage(engine=engine, clock=clock))

    def _limits(self, name: str | None = None):
        name = (request.form.get("name", "") if name is None else name).strip().casefold()[:200]
        address = request.remote_addr or "unknown"
        config = current_app.config
        return [(parse(config["WIKI_LOGIN_LIMIT_ACCOUNT"]), ("login-account", name)),
                (parse(config["WIKI_LOGIN_LIMIT_ADDRESS"]), ("login-address", address))]

    def retry_after(self, name: str | None = None) -> int | None:
        """Seconds until another attempt is allowed, or None if one is allowed now.

        `name` is the account name tried (default: the login form's)."""
        waits = [self.limiter.get_window_stats(item, *key).reset_time - self.clock.now()
                 for item, key in self._limits(name) if not self.limiter.test(item, *key)]
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, name: str | None = None) -> None:
        for item, key in self._limits(name):
            self.limiter.hit(item, *key)


def init_app(app, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
    app.extensions["tacit.login_throttle"] = LoginThrottle(engine, clock)


def login_throttle() -> LoginThrottle:
    return current_app.extensions["tacit.login_throttle"]
