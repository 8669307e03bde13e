"""Is this wiki ready to serve? The repository can be read, the database answers; and, reported
beside them, how far the search indexes are behind the branch head and whether the meaning
service answers.

A load balancer or an orchestrator asks every few seconds, so every check is cheap and bounded:
nothing here starts a service, builds an index or waits long (the database gets a couple of
seconds, the meaning service half of one). Only the repository and the database decide readiness:
without them no page can be shown and nobody can log in. Search and the meaning service degrade
by design (searches answer "reindexing" or rank by words alone), so they are reported as degraded
but never take a working wiki out of service.

Messages name what failed and why (the system's words), never a path or a page: the readiness
answer is open to anyone who can reach the server.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from sqlalchemy import text
from sqlalchemy.engine import Engine

from . import metrics
from .gitrepo import GitRepo
from .hosts import MirrorFollower
from .search import SearchIndex
from .search.meaning import MeaningState

log = logging.getLogger(__name__)


class CheckState(Enum):
    OK = "ok"
    DEGRADED = "degraded"  # working, with less (search reindexing, meaning unavailable): still ready
    FAILED = "failed"  # the wiki cannot serve: not ready


class Readiness(Enum):
    READY = "ready"
    NOT_READY = "not ready"


@dataclass(frozen=True)
class Check:
    name: str
    state: CheckState
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadinessReport:
    checks: tuple[Check, ...]

    @property
    def state(self) -> Readiness:
        return Readiness.NOT_READY if self.failed else Readiness.READY

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.state is CheckState.FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.state.value, "failed": [c.name for c in self.failed],
                "checks": {c.name: {"state": c.state.value, "message": c.message, **c.details}
                           for c in self.checks}}


def _reason(e: BaseException) -> str:
    """The system's words for a failure, without the path it names."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return type(e).__name__


class HealthCheck:
    """The readiness checks of one wiki."""

    def __init__(self, repo: GitRepo, engine: Engine, search: SearchIndex, database_wait: float = 2.0,
                 meaning_wait: float = 0.5, lag_limit: int = 100, follower: MirrorFollower | None = None) -> None:
        self.repo = repo
        self.follower = follower
        self.engine = engine
        self.search = search
        self.database_wait = database_wait
        self.meaning_wait = meaning_wait
        self.lag_limit = lag_limit  # more commits behind than this is reported as degraded
        # one thread: a database that hangs holds one connection, not one per probe
        self._database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ready-database")
        self._last_database_error = ""

    def ready(self) -> ReadinessReport:
        checks = (self.repository(), self.database(), self.search_index(), self.meaning())
        if self.follower is not None:
            checks += (self.remote(),)
        return ReadinessReport(checks)

    def remote(self) -> Check:
        """With several hosts: how far this host's mirror is behind the head last published, and whether
        it hears of new ones. Never a failure: reads go on from the mirror, saves say why they cannot."""
        follower = self.follower
        published, head = follower.published, self.repo.head()
        try:
            behind = follower.remote.behind(published)
        except Exception:  # noqa: BLE001 (an unreadable mirror is the repository check's to report)
            behind = None
        fetched = follower.remote.last_fetch
        details = {"behind": behind, "listening": follower.listening, "watching": follower.watching,
                   "fetched_seconds_ago": round(time.time() - fetched, 1) if fetched else None}
        if behind is None:
            return Check("remote", CheckState.DEGRADED, "behind the published head (not fetched yet)", details)
        if behind:
            return Check("remote", CheckState.DEGRADED if behind > self.lag_limit else CheckState.OK,
                         f"catching up ({behind} commit{'s' if behind != 1 else ''} behind)", details)
        if not follower.listening:
            return Check("remote", CheckState.DEGRADED, "in step, but without notifications from the database: "
                         "following the git server directly, once a second", details)
        return Check("remote", CheckState.OK, "in step with the published head" if head else "empty", details)

    def repository(self) -> Check:
        """The git directory, its HEAD, the branch's ref and the object folder can be read (files
        only: no git process, no cached object stands in for the disk)."""
        git_dir = self.repo.git_dir
        try:
            (git_dir / "HEAD").read_bytes()
            os.listdir(git_dir / "objects")
            head = self.repo.head()
            if head is None and ((git_dir / self.repo.ref).exists() or not (git_dir / "refs").is_dir()):
                raise OSError(0, "the branch's ref cannot be read")
        except OSError as e:
            return Check("repository", CheckState.FAILED, f"the repository cannot be read: {_reason(e)}")
        if head is None:
            return Check("repository", CheckState.OK, f"readable; the branch {self.repo.branch} has no commits yet")
        return Check("repository", CheckState.OK, f"readable (branch {self.repo.branch})")

    def _select_one(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def database(self) -> Check:
        try:
            self._database.submit(self._select_one).result(timeout=self.database_wait)
        except FutureTimeout:
            return Check("database", CheckState.FAILED,
                         f"the database did not answer within {self.database_wait:g} s")
        except Exception as e:  # noqa: BLE001 (any driver's error: unreachable, refused, locked out)
            cause = getattr(e, "orig", None) or e  # the driver's words name hosts and files: the log only
            if str(cause) != self._last_database_error:
                log.warning("readiness: the database cannot be reached: %s", cause)
                self._last_database_error = str(cause)
            return Check("database", CheckState.FAILED,
                         f"the database cannot be reached ({type(cause).__name__}; the server's log says more)")
        self._last_database_error = ""
        return Check("database", CheckState.OK, f"answering ({self.engine.dialect.name})")

    def index_lag(self) -> dict[str, int | None]:
        """Commits each search index is behind the branch head (None: missing, or at a commit the
        repository no longer has); recorded as the index lag gauge."""
        head = self.repo.head()
        indexed: dict[str, str | None] = {name: self.search.engine.meta(name).get("head")
                                          for name in ("pages", "history")}
        if self.search.meaning.available():
            vectors = self.search.vectors
            indexed["vectors"] = (vectors.head() or "") if vectors.exists() else None
        lag: dict[str, int | None] = {}
        for name, commit in indexed.items():
            if commit is None:
                lag[name] = None
            elif commit == (head or "") or not head:
                lag[name] = 0
            else:
                out = self.repo.git("rev-list", "--count", f"{commit}..{head}" if commit else head, check=False)
                lag[name] = int(out) if out.strip().isdigit() else None
        for name, commits in lag.items():
            if commits is not None:
                metrics.set_index_lag(name, commits)
        return lag

    def search_index(self) -> Check:
        try:
            lag = self.index_lag()
        except Exception as e:  # noqa: BLE001 (an unreadable index folder: search says so itself)
            return Check("search", CheckState.DEGRADED, f"the search indexes cannot be read: {_reason(e)}")
        missing = [name for name, commits in lag.items() if commits is None]
        behind = {name: commits for name, commits in lag.items() if commits and commits > self.lag_limit}
        details = {"lag": lag}
        if missing:
            return Check("search", CheckState.DEGRADED, f"index missing or being rebuilt: {', '.join(missing)} "
                         "(searches answer from what there is, or say they are reindexing)", details)
        if behind:
            return Check("search", CheckState.DEGRADED, "far behind the branch: " + ", ".join(
                f"{name} {commits} commits" for name, commits in behind.items()), details)
        most = max(lag.values(), default=0) or 0
        return Check("search", CheckState.OK, "in step with the branch" if not most
                     else f"catching up ({most} commit{'s' if most != 1 else ''} behind)", details)

    def meaning(self) -> Check:
        state = self.search.meaning.state(self.meaning_wait)
        details = {"service": state.value}
        if state is MeaningState.OFF:
            return Check("meaning", CheckState.OK, "search by meaning is off: searches rank by words", details)
        if state is MeaningState.ANSWERING:
            return Check("meaning", CheckState.OK, "the meaning service answers", details)
        if state is MeaningState.NOT_RUNNING:
            return Check("meaning", CheckState.OK, "the meaning service is not running; the next question "
                         "that needs it starts it", details)
        return Check("meaning", CheckState.DEGRADED, f"the meaning service did not answer within "
                     f"{self.meaning_wait:g} s: searches rank by words meanwhile", details)
