"""Real servers the tests start themselves: a PostgreSQL cluster and a git server (git daemon).

Each can be stopped hard and started again on the same port and data, as a crash would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .system import ensure_package


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


class PostgresCluster:
    """initdb in a temporary folder, a server on a loopback port, database `tacit` owned by `wiki`."""

    def __init__(self) -> None:
        initdb = ensure_package("/usr/lib/postgresql/*/bin/initdb", "postgresql")
        self.bindir = Path(initdb).parent
        # its own folder under /tmp: pytest's folders are private to root, and the server runs as postgres
        self.root = Path(tempfile.mkdtemp(prefix="tacit-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        subprocess.run(self.as_postgres + [initdb, "-D", str(self.data), "-U", "wiki", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        self.port = free_port()
        self.start()
        self.create_database("tacit")

    def create_database(self, name: str) -> str:
        """A new database owned by `wiki`; returns its SQLAlchemy URL."""
        subprocess.run(self.as_postgres + [str(self.bindir / "createdb"), "-h", str(self.sockets), "-p",
                                           str(self.port), "-U", "wiki", name], check=True, capture_output=True)
        return self.database_url(name)

    def database_url(self, name: str = "tacit") -> str:
        return f"postgresql+psycopg://wiki@127.0.0.1:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.database_url()

    def start(self) -> None:
        subprocess.run(self.as_postgres + [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                                           str(self.root / "log"), "-o",
                                           f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                                           "-c max_connections=200 -c fsync=off",
                                           "start"], check=True, capture_output=True)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; `immediate` is a crash as far as the clients can tell."""
        subprocess.run(self.as_postgres + [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"],
                       capture_output=True)

    def sql(self, statement: str, database: str = "tacit") -> str:
        psql = self.bindir / "psql"
        return subprocess.run(self.as_postgres + [str(psql), "-h", str(self.sockets), "-p", str(self.port), "-U",
                                                  "wiki", "-d", database, "-Atc", statement],
                              check=True, capture_output=True, text=True).stdout

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class GitServer:
    """`git daemon` serving bare repositories under a folder, pushes allowed, on a loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def create(self, name: str = "wiki.git", seed: Path | None = None) -> str:
        """A new bare repository, empty or a copy of `seed`; returns its git:// URL."""
        if seed is None:
            subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(self.root / name)], check=True)
        else:
            subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(self.root / name)], check=True)
        return self.url(name)

    def url(self, name: str = "wiki.git") -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={self.root}",
             "--listen=127.0.0.1", f"--port={self.port}", "--max-connections=0", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_for_port(self.port)

    def stop(self) -> None:
        """kill -9 the daemon and the git processes it started."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
