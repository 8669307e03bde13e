"""Several Tacit hosts serving one wiki: a git server (git daemon over a bare repository), a
PostgreSQL cluster, and N gunicorn hosts each with its own mirror and data folder.

Used by tests/test_hosts_served.py (short runs) and bench/hosts.py (the full figures).
"""

from __future__ import annotations

import random
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .serving import WikiServer
from .services import GitServer, PostgresCluster

SECRET = "several-hosts-test-secret-" + "0" * 40


class Cluster:
    def __init__(self, tmp: Path, postgres: PostgresCluster, git_server: GitServer, hosts: int = 3,
                 workers: int = 2, threads: int = 2, skew: dict[int, float] | None = None, seed: Path | None = None,
                 **settings: str) -> None:
        self.tmp = Path(tmp)
        self.postgres, self.git = postgres, git_server
        name = f"wiki{time.monotonic_ns()}"
        self.url = git_server.create(name + ".git", seed)  # seed: an existing wiki's repository
        self.bare = git_server.root / (name + ".git")
        self.database = postgres.create_database(name)
        common = dict(WIKI_REMOTE=self.url, WIKI_DATABASE_URL=self.database, WIKI_SECRET_KEY=SECRET,
                      WIKI_SEMANTIC="0", WIKI_LOGIN_LIMIT_ADDRESS="100000 per minute",
                      WIKI_LOGIN_LIMIT_ACCOUNT="100000 per minute")
        common.update(settings)
        self.hosts: list[WikiServer] = []
        for i in range(hosts):
            extra = {}
            if skew and i in skew:  # this host's clock is off: time.time() in every process of it
                extra = {"PYTHONPATH": str(self._skewed_clock()), "TACIT_TEST_CLOCK_SKEW": str(skew[i])}
            self.hosts.append(WikiServer(self.tmp / f"host{i}", workers=workers, threads=threads, **common, **extra))
        self.rng = random.Random(11)

    def _skewed_clock(self) -> Path:
        folder = self.tmp / "skewed-clock"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(textwrap.dedent("""\
            import os, time
            _skew = float(os.environ.get("TACIT_TEST_CLOCK_SKEW") or 0)
            if _skew:
                _time, _time_ns = time.time, time.time_ns
                time.time = lambda: _time() + _skew
                time.time_ns = lambda: _time_ns() + int(_skew * 1e9)
            """))
        return folder

    def start(self) -> None:
        self.hosts[0].start()  # the first creates the wiki on the git server; the others mirror it
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            list(pool.map(lambda h: h.start(), self.hosts[1:]))

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    def add_user(self, name: str, password: str, role: str = "editor") -> str:
        return self.hosts[0].add_user(name, password, role)

    def any_host(self) -> WikiServer:
        return self.rng.choice(self.hosts)

    def balanced(self) -> "AnyHost":
        """Something with `request()` like a WikiServer's, sending each request to a random host (a
        load balancer without stickiness)."""
        return AnyHost(self)

    def remote_head(self) -> str:
        return git_out(self.bare, "rev-parse", "HEAD").strip()

    def mirror_head(self, host: WikiServer) -> str:
        return git_out(host.repo, "rev-parse", "HEAD").strip()

    def mirrors_within_remote(self) -> list[str]:
        """Hosts whose mirror's branch holds a commit the git server's branch lacks (should be none)."""
        remote = self.remote_head()
        wrong = []
        for i, host in enumerate(self.hosts):
            head = self.mirror_head(host)
            ok = subprocess.run(["git", f"--git-dir={self.bare}", "merge-base", "--is-ancestor", head, remote],
                                capture_output=True).returncode == 0
            if not ok:
                wrong.append(f"host{i} at {head[:12]}")
        return wrong

    def converged(self) -> bool:
        remote = self.remote_head()
        return all(self.mirror_head(h) == remote for h in self.hosts)

    def wait_converged(self, timeout: float = 10.0) -> float:
        start = time.monotonic()
        while not self.converged():
            if time.monotonic() - start > timeout:
                heads = [self.mirror_head(h)[:12] for h in self.hosts]
                raise AssertionError(f"hosts not in step with the git server ({self.remote_head()[:12]}): {heads}")
            time.sleep(0.02)
        return time.monotonic() - start

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class AnyHost:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def request(self, *args, **kwargs):
        return self.cluster.any_host().request(*args, **kwargs)


def git_out(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True).stdout


def fsck_clean(git_dir: Path) -> bool:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "fsck", "--strict", "--no-dangling"], capture_output=True,
                          text=True)
    return proc.returncode == 0 and "error" not in proc.stderr.lower()
