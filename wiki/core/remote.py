"""The central repository of a wiki served by several hosts, and this host's bare mirror of it.

With several hosts the remote (any git server) is the source of truth. Each host reads from its
own bare mirror and publishes a save by pushing it with the old head as the lease
(``--force-with-lease=<ref>:<old>``): the remote's ref update is the compare-and-swap, so a host
that was paused or partitioned can overwrite nothing. The mirror's branch only ever moves to a
commit the remote has accepted, so no host has a commit the remote lacks.
"""

from __future__ import annotations

import enum
import logging
import subprocess
import time
from pathlib import Path

from .gitrepo import STALE_LOCK_SECONDS, ZERO, GitError, GitRepo, UnknownRevision, _git_env
from .clock import SYSTEM_CLOCK, Clock
from .locks import file_lock

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 15.0
CLONE_TIMEOUT = 1800.0
SERVER_VIEW = "refs/tacit/server"  # the remote's branch as last peeked at (never the branch the wiki reads)
PUSH_TIMEOUT = 30.0
MAINTENANCE_SECONDS = 600.0
# a fetch follows every save of every host: it spawns no `git maintenance` (maintain() does, every
# MAINTENANCE_SECONDS) and does not walk history to report forced updates (the branch never is)
FETCH_OPTIONS = ("--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance",
                 "--no-show-forced-updates")


class PushOutcome(enum.Enum):
    ACCEPTED = "accepted"  # the remote's branch moved from the lease to the new commit
    STALE = "stale"  # the remote's branch was not at the lease: someone published first
    REFUSED = "refused"  # the remote refused it (a hook, a permission): trying again will not help


class RemoteUnavailable(RuntimeError):
    """The central repository could not be reached: nothing was published; reads go on from the mirror."""


class RemoteRefused(RuntimeError):
    """The central repository refused a push for a reason of its own (its hook, a permission)."""


class Remote:
    """The git server holding the wiki, seen from this host's bare mirror (``WIKI_REPO``)."""

    NAME = "origin"

    def __init__(self, repo: GitRepo, url: str) -> None:
        self.repo = repo
        self.url = url
        self.last_fetch: float | None = None  # time.time() of the last successful fetch
        self._maintained = time.monotonic()

    @classmethod
    def open_mirror(cls, path: str | Path, url: str, branch: str | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> "Remote":
        """This host's mirror of the remote, created (and fetched) when it does not exist yet.

        An empty remote gives an empty mirror: the first host to start publishes the welcome
        commit with an empty lease, so two hosts starting at once cannot both create the wiki.
        """
        path = Path(path)
        if not (path / "objects").is_dir():
            path.mkdir(parents=True, exist_ok=True)
            branch = branch or _remote_default_branch(url) or "main"
            _git(["init", "--bare", "-q", f"--initial-branch={branch}", str(path)])
        repo = GitRepo(path, branch, clock)
        # gc (which a fetch may start) keeps git's default grace for unreachable objects: a save's objects
        # are unreachable until the remote has accepted them and the mirror's branch moved
        _configure(repo.git_dir, f"remote.{cls.NAME}.url", url)
        remote = cls(repo, url)
        local = repo.head()
        if local is not None:
            remote._check_not_ahead(local)
        # a new mirror fetches the whole history (minutes for a big wiki); later fetches bring a save or two
        remote.fetch(timeout=FETCH_TIMEOUT if local is not None else CLONE_TIMEOUT)
        return remote

    def _check_not_ahead(self, local: str) -> None:
        """A mirror whose branch the remote lacks: an existing wiki moving onto an empty git server is
        published there (under an empty lease); one whose history the remote does not contain is refused."""
        actual = self.remote_head()
        if actual is None and self.push(local, None) is PushOutcome.ACCEPTED:
            log.info("published the existing wiki at %s on the empty git server %s", self.repo.path, self.url)
            return
        actual = self.remote_head()
        if actual == local:
            return
        actual = self.peek()
        if actual is None or not self.repo.is_ancestor(local, actual):
            raise GitError(f"{self.repo.path} has commits that the git server at {self.url} lacks (its branch "
                           f"{self.repo.branch} is not behind the server's): push them there first, or start "
                           "this host with an empty WIKI_REPO")

    @property
    def ref(self) -> str:
        return self.repo.ref

    def fetch(self, wait: bool | float = True, timeout: float = FETCH_TIMEOUT, until: str | None = None) -> str | None:
        """Bring the mirror's branch to the remote's; returns the head. Raises RemoteUnavailable.

        One fetch runs at a time on a host; `wait` bounds how long to wait for another one (when
        it ran out, nothing is fetched). A caller that only needs `until` gets no second fetch when
        the one it waited for brought it. The caller need not hold the write lock: the local ref
        only ever follows the remote, and a save moves it with a compare-and-swap of its own.
        """
        before = self.repo.head()
        with file_lock(self.repo.git_dir / "tacit-fetch.lock", wait=wait) as taken:
            if not taken:
                return before
            if until is not None and self.has(until):
                return self.repo.head()
            deadline = time.monotonic() + STALE_LOCK_SECONDS + 5
            while True:
                proc = self._run(["fetch", *FETCH_OPTIONS, self.NAME, f"+{self.ref}:{self.ref}"], timeout)
                if "cannot lock ref" not in proc.stderr or time.monotonic() > deadline:
                    break
                # a save or a push is moving the mirror's branch right now, or a process killed while it did
                # left its lock: the mirror's ref only ever holds what the server has, so a lock older than
                # any live git holds one can go without losing anything
                if not self.repo.clear_stale_locks(STALE_LOCK_SECONDS):
                    time.sleep(0.05)
        if proc.returncode != 0:
            detail = proc.stderr.strip()
            if "couldn't find remote ref" in detail:  # an empty remote: nothing to follow yet
                self.last_fetch = time.time()
                return before
            raise RemoteUnavailable(f"the git server at {self.url} could not be reached: {_last_line(detail)}")
        self.last_fetch = time.time()
        head = self.repo.head()
        if head != before:
            log.debug("fetched %s: %s -> %s", self.ref, (before or "none")[:12], (head or "none")[:12])
        return head

    def push(self, new: str, old: str | None) -> PushOutcome:
        """Publish `new` if and only if the remote's branch is still at `old` (None: has no branch)."""
        lease = f"--force-with-lease={self.ref}:{old or ''}"
        proc = self._run(["push", "--porcelain", "--quiet", "--no-verify", lease, self.NAME, f"{new}:{self.ref}"],
                         PUSH_TIMEOUT)
        report = proc.stdout + proc.stderr
        for line in proc.stdout.splitlines():
            if line.startswith(("*", " ", "+", "=")) and self.ref in line:
                return PushOutcome.ACCEPTED
            if line.startswith("!") and self.ref in line:
                if "stale info" in line or "fetch first" in line or "non-fast-forward" in line \
                        or "already exists" in line or "failed to update ref" in line:
                    return PushOutcome.STALE
                log.warning("the git server refused a push of %s: %s", new[:12], report.strip())
                return PushOutcome.REFUSED
        if proc.returncode == 0:
            return PushOutcome.ACCEPTED
        if "stale info" in report:
            return PushOutcome.STALE
        raise RemoteUnavailable(f"the git server at {self.url} could not be reached: {_last_line(report)}")

    def remote_head(self) -> str | None:
        """The remote's branch as it is now (``git ls-remote``); None when it has none."""
        proc = self._run(["ls-remote", self.NAME, self.ref], FETCH_TIMEOUT)
        if proc.returncode != 0:
            raise RemoteUnavailable(f"the git server at {self.url} could not be reached: "
                                    f"{_last_line(proc.stderr)}")
        for line in proc.stdout.splitlines():
            sha, _, name = line.partition("\t")
            if name == self.ref:
                return sha
        return None

    def peek(self) -> str | None:
        """The remote's branch head, with its commits fetched beside the branch (``refs/tacit/server``)
        without moving it: to count how far behind the mirror is, or to see whether it is ahead."""
        proc = self._run(["fetch", *FETCH_OPTIONS, self.NAME, f"+{self.ref}:{SERVER_VIEW}"], FETCH_TIMEOUT)
        if proc.returncode != 0:
            if "couldn't find remote ref" in proc.stderr:
                return None
            raise RemoteUnavailable(f"the git server at {self.url} could not be reached: {_last_line(proc.stderr)}")
        return self.repo.git("rev-parse", SERVER_VIEW).decode().strip()

    def advance_mirror(self, new: str, old: str | None) -> None:
        """Move the mirror's branch to a commit the remote accepted (unless a fetch already did)."""
        for _ in range(50):
            if self.repo.compare_and_swap(new, old, "tacit: published", clear_stale=False):
                return
            head = self.repo.head()
            if head != old:
                break
            time.sleep(0.01)  # a fetch holds the ref's lock for a moment
        head = self.repo.head()
        if head == new or (head and self.repo.is_ancestor(new, head)):
            return  # a fetch got there first
        self.fetch()

    def maintain(self) -> None:
        """Pack the mirror's loose objects when git thinks it is time (``git maintenance run --auto``),
        at most every MAINTENANCE_SECONDS; fetches leave it to this."""
        if time.monotonic() - self._maintained < MAINTENANCE_SECONDS:
            return
        self._maintained = time.monotonic()
        try:
            proc = self._run(["maintenance", "run", "--auto", "--quiet"], PUSH_TIMEOUT)
        except RemoteUnavailable:  # only the timeout: maintenance needs no server
            log.warning("git maintenance of %s took more than %.0f s", self.repo.path, PUSH_TIMEOUT)
            return
        if proc.returncode != 0:
            log.warning("git maintenance of %s failed: %s", self.repo.path, _last_line(proc.stderr))

    def has(self, commit: str) -> bool:
        """Whether the mirror's branch holds `commit` (it is the head or an ancestor of it)."""
        head = self.repo.head()
        if head is None:
            return False
        if commit == head:
            return True
        try:
            self.repo.commit(commit)  # through the open cat-file pipe: a commit not fetched yet costs no process
        except UnknownRevision:
            return False
        try:
            return self.repo.is_ancestor(commit, head)
        except GitError:
            return False

    def behind(self, target: str | None) -> int | None:
        """How many commits the mirror lacks of `target` (0 in step; None: not fetched yet)."""
        head = self.repo.head()
        if target is None or target == head:
            return 0
        try:
            out = self.repo.git("rev-list", "--count", target, *([f"^{head}"] if head else []))
        except GitError:
            return None
        return int(out.strip() or 0)

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        cmd = ["git", f"--git-dir={self.repo.git_dir}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=_git_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RemoteUnavailable(f"the git server at {self.url} did not answer within {timeout:.0f} s") from None


def _remote_default_branch(url: str) -> str | None:
    proc = subprocess.run(["git", "ls-remote", "--symref", url, "HEAD"], capture_output=True, text=True,
                          env=_git_env(), timeout=FETCH_TIMEOUT)
    if proc.returncode != 0:
        raise RemoteUnavailable(f"the git server at {url} could not be reached: {_last_line(proc.stderr)}")
    for line in proc.stdout.splitlines():
        if line.startswith("ref: refs/heads/"):
            return line.split()[1][len("refs/heads/"):]
    return None


def _configure(git_dir: Path, key: str, value: str) -> None:
    """Set a config value unless it is set so already (every worker of every host opens the mirror)."""
    for _ in range(50):
        current = subprocess.run(["git", "--git-dir", str(git_dir), "config", "--get", key], capture_output=True,
                                 text=True, env=_git_env()).stdout.strip()
        if current == value:
            return
        proc = subprocess.run(["git", "--git-dir", str(git_dir), "config", key, value], capture_output=True,
                              text=True, env=_git_env())
        if proc.returncode == 0:
            return
        if "could not lock config file" not in proc.stderr:
            raise GitError("git config failed", proc.stderr.strip())
        time.sleep(0.02)  # another process is writing it
    raise GitError("git config failed", f"{key}: the config file stayed locked")


def _git(args: list[str]) -> None:
    proc = subprocess.run(["git", *args], capture_output=True, text=True, env=_git_env())
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed", proc.stderr.strip())


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no answer"


__all__ = ["Remote", "PushOutcome", "RemoteUnavailable", "RemoteRefused", "ZERO"]
