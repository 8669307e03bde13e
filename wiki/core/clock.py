"""Whose clock says what time it is: this host's, or (with several hosts) the database's.

Times that hosts compare with each other (commit times against "seen" stamps, login-throttle
windows) must come from one clock, or a host whose clock is off would hide changes or unlock
accounts early. The database's clock is that one clock; reading it on every call would cost a
round trip, so `DatabaseClock` measures this host's offset from it now and then and adds it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """This host's clock: right for one host, where nothing compares it with another."""

    def now(self) -> float:
        return time.time()


class DatabaseClock:
    """The database server's clock, as this host's clock plus an offset measured every `every` seconds
    (half a round trip is the error). Until the database has answered once, the offset is 0."""

    def __init__(self, engine: Engine, every: float = 60.0) -> None:
        self.engine = engine
        self.every = every
        self.offset = 0.0
        self._measured: float | None = None  # time.monotonic() of the last measurement
        self._lock = threading.Lock()

    def now(self) -> float:
        if self._measured is None or time.monotonic() - self._measured > self.every:
            self._measure()
        return time.time() + self.offset

    def _measure(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is measuring: use the offset there is
        try:
            before = time.time()
            with self.engine.connect() as conn:
                server = float(conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
            after = time.time()
            offset = server - (before + after) / 2
            if abs(offset - self.offset) > 5:
                log.warning("this host's clock is %+.1f s off the database's; the database's is used", -offset)
            self.offset = offset
            self._measured = time.monotonic()
        except SQLAlchemyError as e:  # keep the last offset; try again in a few seconds
            log.warning("the database's clock could not be read: %s", str(e).splitlines()[0] if str(e) else e)
            self._measured = time.monotonic() - self.every + 5
        finally:
            self._lock.release()


SYSTEM_CLOCK = SystemClock()
