"""What the hosts of one wiki share through PostgreSQL: the published head, notifications, the watcher.

Nothing here decides what is saved: the remote's compare-and-swap on push does. PostgreSQL carries
hints that make the hosts quick and polite: a row with the head last published (and a NOTIFY in the
same transaction), an advisory lock that takes saves one at a time so hosts do not push into each
other's leases (correctness never depends on it: it is given up after SAVE_LOCK_WAIT), and a second
advisory lock electing the one host that watches the remote for pushes made straight to it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from .remote import FETCH_TIMEOUT, Remote, RemoteUnavailable

log = logging.getLogger(__name__)

CHANNEL = "tacit_heads"
_SAVE_LOCK = 7206104  # advisory lock keys (with hashtext(ref) as the second half)
_WATCH_LOCK = 7206105
SAVE_LOCK_WAIT = 10.0  # every save of the wiki queues here; a host paused holding the lock delays saves this long
POLL_SECONDS = 1.0  # how often a host compares its head with the published one, and the watcher asks the remote


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached: nothing was saved; reads go on from the mirror."""


@dataclass(frozen=True)
class SaveTurn:
    published: str | None  # the head row when the turn began
    record: Callable[[str], None]  # note a newly published head (committed with the turn)


class HeadRegistry:
    """The head each branch was last published at, in PostgreSQL, announced with NOTIFY."""

    def __init__(self, engine: Engine, ref: str, lock_wait: float = SAVE_LOCK_WAIT) -> None:
        self.engine = engine
        self.ref = ref
        self.lock_wait = lock_wait

    @contextlib.contextmanager
    def save_turn(self) -> Iterator["SaveTurn"]:
        """One save at a time across hosts (or, after `lock_wait`, without the lock): yields the
        head published when the turn began and `record(commit)`, which notes a new one in the
        same transaction.

        Raises DatabaseUnavailable before anything is pushed when PostgreSQL cannot be reached.
        """
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as e:
            raise DatabaseUnavailable(f"the database could not be reached: {_first_line(e)}") from None
        try:
            try:
                trans = conn.begin()
                self._take_save_lock(conn)
                published = conn.execute(text("SELECT commit FROM branch_heads WHERE ref = :ref"),
                                         {"ref": self.ref}).scalar()
            except (OperationalError, DBAPIError) as e:
                raise DatabaseUnavailable(f"the database could not be reached: {_first_line(e)}") from None
            recorded: list[str] = []
            yield SaveTurn(published, recorded.append)
            try:
                for commit in recorded:
                    self._upsert(conn, commit)
                trans.commit()
            except DBAPIError as e:  # published already, so the save stands: the watcher announces it
                log.warning("the new head %s is on the git server but was not announced: %s",
                            recorded[-1][:12] if recorded else "-", _first_line(e))
        finally:
            with contextlib.suppress(DBAPIError):
                conn.close()

    def _take_save_lock(self, conn) -> bool:
        """The save lock of this branch: hosts queue for it in PostgreSQL (first come, first served, no
        polling); after `lock_wait` seconds the save goes on without it (a host paused while holding it
        cannot stop the others: the push is the fence)."""
        conn.execute(text("SAVEPOINT tacit_save_lock"))
        conn.execute(text(f"SET LOCAL lock_timeout = {int(self.lock_wait * 1000)}"))
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(:ref))"),
                         {"key": _SAVE_LOCK, "ref": self.ref})
        except OperationalError as e:
            if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available: the wait ran out
                raise
            conn.execute(text("ROLLBACK TO SAVEPOINT tacit_save_lock"))
            log.info("saving without the save lock (a host held it for more than %.1f s)", self.lock_wait)
            return False
        conn.execute(text("RELEASE SAVEPOINT tacit_save_lock"))
        conn.execute(text("SET LOCAL lock_timeout = 0"))
        return True

    def record(self, commit: str) -> None:
        """Note a head published some other way (a push through the wiki, the watcher)."""
        with self.engine.begin() as conn:
            self._upsert(conn, commit)

    def published(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT commit FROM branch_heads WHERE ref = :ref"), {"ref": self.ref}).scalar()

    def _upsert(self, conn, commit: str) -> None:
        conn.execute(text("WITH noted AS (INSERT INTO branch_heads (ref, commit, changed_at) "
                          "VALUES (:ref, :commit, now()) ON CONFLICT (ref) "
                          "DO UPDATE SET commit = excluded.commit, changed_at = now() RETURNING ref) "
                          "SELECT pg_notify(:channel, :payload) FROM noted"),
                     {"ref": self.ref, "commit": commit, "channel": CHANNEL, "payload": f"{self.ref} {commit}"})


class MirrorFollower:
    """Keeps this host's mirror in step: LISTENs for published heads and fetches, compares with the
    head row every second (so a lost notification or a dropped connection costs at most that), and,
    when elected, watches the remote itself for pushes that did not come through a host.

    One runs in each process that serves requests (a thread of a gunicorn worker, never of its
    arbiter); fetches are taken one at a time per host under a file lock.
    """

    def __init__(self, remote: Remote, registry: HeadRegistry, dsn: str,
                 on_change: Callable[[str | None], None] = lambda head: None) -> None:
        self.remote = remote
        self.registry = registry
        self.dsn = dsn
        self.on_change = on_change
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._closed = False
        self._watched_at = 0.0  # time.monotonic() of the elected watcher's last look at the remote
        self._thread: threading.Thread | None = None
        self.listening = False
        self.watching = False  # elected to watch the remote
        self.published: str | None = None  # the head row, as last read
        self.last_error: str | None = None

    def start(self) -> None:
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        with self._starting:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mirror-follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def catch_up(self, commit: str | None = None, wait: float | bool = 1.0, timeout: float = FETCH_TIMEOUT) -> bool:
        """Fetch until the mirror holds `commit` (None: whatever the remote has), waiting at most `wait`
        seconds for another process's fetch and `timeout` for the git server; True when it does."""
        if commit is not None and self.remote.has(commit):
            return True
        before = self.remote.repo.head()
        try:
            head = self.remote.fetch(wait=wait, timeout=timeout, until=commit)
        except RemoteUnavailable as e:
            self.last_error = str(e)
            log.warning("%s", e)
            return False
        if head != before:
            self.on_change(head)
        return commit is None or self.remote.has(commit)

    def announce(self) -> None:
        """Tell the other hosts of the mirror's head (after a push through this host)."""
        head = self.remote.repo.head()
        if head is None:
            return
        try:
            self.registry.record(head)
        except DBAPIError as e:  # the elected watcher finds it on the git server within a second or two
            log.warning("the new head %s was not announced: %s", head[:12], _first_line(e))

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening, self.last_error = True, None
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            break
                        self._follow(conn)
            except Exception as e:  # the connection dropped or the database is down: poll until it is back
                if self.listening or self.last_error is None:
                    log.warning("no notifications from the database (%s); following the git server directly",
                                _first_line(e))
                self.listening, self.watching = False, False
                self.last_error = _first_line(e)
                self._poll_remote()
                self._stop.wait(POLL_SECONDS)

    def _follow(self, conn) -> None:
        self.remote.maintain()
        row = conn.execute("SELECT commit FROM branch_heads WHERE ref = %s", (self.registry.ref,)).fetchone()
        self.published = row[0] if row else None
        if self.published and not self.remote.has(self.published):
            self.catch_up(self.published, wait=POLL_SECONDS)
        if not self.watching:
            self.watching = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                         (_WATCH_LOCK, self.registry.ref)).fetchone()[0]
        if self.watching and time.monotonic() - self._watched_at >= POLL_SECONDS:
            self._watched_at = time.monotonic()  # once a second, however many notifications arrive
            self._watch(conn)

    def _watch(self, conn) -> None:
        """The elected host asks the remote itself: a push made straight to it (by a person, by CI)
        is fetched and announced like a save."""
        try:
            actual = self.remote.remote_head()
        except RemoteUnavailable as e:
            self.last_error = str(e)
            return
        if actual is None or actual == self.published:
            return
        self.catch_up(actual, wait=POLL_SECONDS)
        with conn.transaction():  # only over the row this host read: a save that announced since wins
            cur = conn.execute("UPDATE branch_heads SET commit = %s, changed_at = now() "
                               "WHERE ref = %s AND commit IS NOT DISTINCT FROM %s",
                               (actual, self.registry.ref, self.published))
            if cur.rowcount == 0 and self.published is None:
                conn.execute("INSERT INTO branch_heads (ref, commit, changed_at) VALUES (%s, %s, now()) "
                             "ON CONFLICT (ref) DO NOTHING", (self.registry.ref, actual))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.registry.ref} {actual}"))
        self.published = actual

    def _poll_remote(self) -> None:
        """Without the database, ask the remote (at most once a second)."""
        try:
            actual = self.remote.remote_head()
        except RemoteUnavailable as e:
            self.last_error = str(e)
            return
        if actual and not self.remote.has(actual):
            self.catch_up(actual, wait=POLL_SECONDS)


def libpq_dsn(engine: Engine) -> str:
    """The engine's URL as libpq takes it (without SQLAlchemy's driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


__all__ = ["HeadRegistry", "MirrorFollower", "DatabaseUnavailable", "libpq_dsn", "CHANNEL"]
