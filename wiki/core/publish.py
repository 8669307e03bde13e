"""How a save's commit becomes the branch: on this host's repository, or on the central one.

`PageStore.commit` computes a commit against the head it reads inside a `turn()` and hands it to
`publish(new, old)`, a compare-and-swap: True when the branch moved from old to new, False when
someone else moved it first (the store then computes again against the new head).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator, Protocol

from sqlalchemy.exc import DBAPIError

from .gitrepo import GitRepo
from .hosts import HeadRegistry, SaveTurn
from .remote import PushOutcome, Remote, RemoteRefused

log = logging.getLogger(__name__)


class Branch(Protocol):
    def turn(self) -> contextlib.AbstractContextManager[None]:
        """Held while a save reads the head, computes and publishes."""

    def publish(self, new: str, old: str | None, reason: str) -> bool:
        """Move the branch from old to new; False if it was not at old (nothing changed)."""

    def refresh(self, until: str | None = None) -> None:
        """Bring the head up to date (before judging a revision this host has not seen, `until`)."""


class LocalBranch:
    """One host: the repository's own ref, moved by ``update-ref NEW OLD`` under the write lock."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo

    def turn(self) -> contextlib.AbstractContextManager[None]:
        return self.repo.write_lock()

    def publish(self, new: str, old: str | None, reason: str) -> bool:
        return self.repo.compare_and_swap(new, old, reason)

    def refresh(self, until: str | None = None) -> None:
        return None


class RemoteBranch:
    """Several hosts: the branch of the central repository, moved by a push with the old head as
    the lease; the mirror follows once the remote accepted, and the new head is announced."""

    def __init__(self, remote: Remote, registry: HeadRegistry) -> None:
        self.remote = remote
        self.registry = registry
        self._turn: SaveTurn | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        marks = [time.perf_counter()]
        self._catch_up()
        marks.append(time.perf_counter())
        # every save of every host queues for the save lock in PostgreSQL, first come first served;
        # the host's own lock under it is then free at once (unless the save lock's wait ran out)
        with self.registry.save_turn() as turn, self.remote.repo.write_lock():
            marks.append(time.perf_counter())
            if turn.published and not self.remote.has(turn.published):
                self.remote.fetch(until=turn.published)  # another host saved meanwhile
            marks.append(time.perf_counter())
            self._turn = turn
            try:
                yield
            finally:
                self._turn = None
                marks.append(time.perf_counter())
        marks.append(time.perf_counter())
        if log.isEnabledFor(logging.DEBUG):
            steps = ("catch-up", "save lock", "fetch", "compute and push", "record")
            log.debug("save turn: %s", ", ".join(f"{step} {1000 * (b - a):.0f} ms"
                                                  for step, a, b in zip(steps, marks, marks[1:])))

    def _catch_up(self) -> None:
        """Fetch what another host published before taking the turn every host waits for, so that
        turn lasts a compute and a push, not a fetch too."""
        try:
            published = self.registry.published()
        except DBAPIError:
            return  # save_turn says so, before anything is pushed
        if published and not self.remote.has(published):
            self.remote.fetch(until=published)

    def publish(self, new: str, old: str | None, reason: str) -> bool:
        outcome = self.remote.push(new, old)
        if outcome is PushOutcome.ACCEPTED:
            self.remote.advance_mirror(new, old)
            if self._turn is not None:
                self._turn.record(new)
            else:
                self.registry.record(new)
            return True
        if outcome is PushOutcome.STALE:
            log.info("the git server's branch moved first (%s); fetching and trying again", reason)
            self.remote.fetch()
            return False
        raise RemoteRefused(f"the git server refused the new version ({reason}); nothing was saved")

    def refresh(self, until: str | None = None) -> None:
        self.remote.fetch(until=until)  # waits for a fetch under way, then fetches unless it brought `until`
