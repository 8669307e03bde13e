"""Real servers the tests start themselves: a PostgreSQL cluster and a git server (git daemon).

Each can be stopped hard and started again on the same port and data, as a crash would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
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


GIT_HTTP_APP = r"""
# git's smart HTTP protocol over the bare repositories under GIT_PROJECT_ROOT (`git http-backend` as CGI)
import os
import subprocess

ROOT = os.environ["GIT_PROJECT_ROOT"]


def app(environ, start_response):
    length = environ.get("CONTENT_LENGTH") or ""
    body = environ["wsgi.input"].read(int(length)) if length.isdigit() else environ["wsgi.input"].read()
    env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": ROOT, "GIT_HTTP_EXPORT_ALL": "1",
           "PATH_INFO": environ.get("PATH_INFO", ""), "REQUEST_METHOD": environ["REQUEST_METHOD"],
           "QUERY_STRING": environ.get("QUERY_STRING", ""), "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
           "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "tests", "REMOTE_ADDR": environ.get("REMOTE_ADDR", ""),
           "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
           "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", "")}
    out = subprocess.run(["git", "-c", "http.receivepack=true", "http-backend"], input=body, env=env,
                         capture_output=True).stdout
    head, _, rest = out.partition(b"\r\n\r\n")
    status, headers = "200 OK", []
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = value.strip()
        elif key:
            headers.append((key.strip(), value.strip()))
    start_response(status, headers)
    return [rest]
"""


class GitServer:
    """A git server over bare repositories under a folder, pushes allowed, on a loopback port.

    `daemon` (the default): `git daemon` (git://); git's client leaves Nagle's algorithm on, so an
    exchange of small packets waits for a delayed ACK (about 40 ms on loopback). `http`: git's smart
    HTTP protocol, `git http-backend` run per request by a small WSGI app under gunicorn (as GitLab or
    Gitea serve https; slower here, where the app reads each request whole before starting git).
    """

    def __init__(self, root: Path, kind: str = "daemon") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def create(self, name: str = "wiki.git", seed: Path | None = None) -> str:
        """A new bare repository, empty or a copy of `seed`; returns its URL."""
        if seed is None:
            subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(self.root / name)], check=True)
        else:
            subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(self.root / name)], check=True)
        return self.url(name)

    def url(self, name: str = "wiki.git") -> str:
        scheme = "git" if self.kind == "daemon" else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        if self.kind == "daemon":
            args = ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                    f"--base-path={self.root}", "--listen=127.0.0.1", f"--port={self.port}", "--max-connections=0",
                    str(self.root)]
            env = None
        else:
            app = self.root / "_git_http_app.py"
            app.write_text(GIT_HTTP_APP)
            args = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "8", "-b",
                    f"127.0.0.1:{self.port}", "--chdir", str(self.root), "--no-control-socket", "--log-level",
                    "warning", "_git_http_app:app"]
            env = dict(os.environ, GIT_PROJECT_ROOT=str(self.root))
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        _wait_for_port(self.port)

    def stop(self) -> None:
        """kill -9 the server and the git processes it started."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
