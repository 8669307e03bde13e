"""A real wiki server for tests: `python -m wiki serve` (gunicorn) on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_helper(pid: int) -> bool:
    """A helper process of the arbiter (the start-up check, the metrics server), not a worker."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"wiki.gunicorn_hooks" in f.read()
    except OSError:
        return False


def json_request(method: str, url: str, body: dict | None = None, token: str = "",
                 opener: urllib.request.OpenerDirector | None = None) -> tuple[int, dict]:
    """A JSON API call (with a bearer token, through `opener` when cookies are to be kept)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with (opener.open if opener else urllib.request.urlopen)(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class WikiServer:
    """One wiki (repository + data) and the gunicorn serving it; can be killed and started again."""

    def __init__(self, tmp: Path, workers: int = 3, threads: int = 1, **settings: str) -> None:
        self.tmp = Path(tmp)
        self.repo = self.tmp / "repo"
        self.data = self.tmp / "data"
        self.workers, self.threads = workers, threads
        inherited = {k: v for k, v in os.environ.items() if k != "WIKI_DATABASE_URL"}  # SQLite unless given
        self.env = dict(inherited, WIKI_REPO=str(self.repo), WIKI_DATA=str(self.data), **settings)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, input: str | None = None) -> str:
        return subprocess.run([sys.executable, "-m", "wiki", *args], input=input, text=True, env=self.env,
                              check=True, capture_output=True, cwd=ROOT).stdout

    def add_user(self, name: str, password: str, role: str = "editor") -> str:
        """A user with an API token; returns the token."""
        self.cli("user", "add", name, "--email", f"{name}@example.org", "--role", role, "--password-stdin",
                 input=password + "\n")
        return self.cli("token", "create", name, "--label", "test").strip()

    def start(self, timeout: float = 60) -> None:
        args = [sys.executable, "-m", "wiki", "serve", "--port", str(self.port), "--workers", str(self.workers)]
        if self.threads > 1:
            args += ["--threads", str(self.threads)]
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.log = self.tmp / "server.log"
        with open(self.log, "ab") as log:  # a file, not a pipe: nobody reads a pipe and a full one blocks
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/-/health", timeout=2)  # alive: a worker answers
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        out = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError("the server did not start: " + out)

    def worker_pids(self) -> list[int]:
        pids = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
        return [pid for pid in pids if not _is_helper(pid)]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """kill -9 of gunicorn and every worker: a crash, not a shutdown."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        self.proc = None

    def request(self, method: str, path: str, body: dict | None = None, token: str = "",
                timeout: float = 60) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else {}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"body": raw.decode("utf-8", "replace")}

    def __enter__(self) -> "WikiServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
