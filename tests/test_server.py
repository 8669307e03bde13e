"""The wiki served for real: `python -m wiki serve` (gunicorn, several workers)."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import git
from .serving import _is_helper, json_request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = dict(os.environ, WIKI_REPO=str(tmp / "repo"), WIKI_DATA=str(tmp / "data"))
    subprocess.run([sys.executable, "-m", "wiki", "user", "add", "loader", "--email", "loader@example.org",
                    "--password-stdin"], input="load-test-password\n", text=True, env=env, check=True)
    token = subprocess.run([sys.executable, "-m", "wiki", "token", "create", "loader", "--label", "test"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "wiki", "serve", "--port", str(port), "--workers", "3"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/Home", timeout=30)  # a first view may be slow on a busy machine
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start: " + proc.stdout.read1().decode())
        yield base, tmp / "repo", proc.pid, token
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serves_the_welcome_page_with_gunicorn(server):
    base, _, pid, _ = server
    with urllib.request.urlopen(base + "/") as r:
        assert r.status == 200 and b"Welcome to Tacit" in r.read()
    for _ in range(100):  # workers boot one after another
        workers = set()
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                workers.update(p for p in f.read().split() if not _is_helper(int(p)))
        if len(workers) >= 3:
            break
        time.sleep(0.1)
    assert len(workers) == 3  # one gunicorn worker process per --workers (the arbiter's helpers aside)


def test_concurrent_saves_through_several_workers_lose_nothing(server):
    base, repo, _, token = server
    status, first = json_request("PUT", base + "/-/api/v1/pages/Load/Shared",
                             {"markdown": "".join(f"line {i}\n" for i in range(40))}, token)
    assert status == 201

    def worker(n: int) -> list[tuple[int, dict]]:
        results = []
        for i in range(8):
            results.append(json_request("PUT", f"{base}/-/api/v1/pages/Load/W{n}-{i}", {"markdown": f"{n} {i}\n"},
                                    token))
            _, page = json_request("GET", base + "/-/api/v1/pages/Load/Shared", token=token)
            lines = page["markdown"].splitlines(keepends=True)
            lines[n * 4] = f"worker {n} round {i}\n"
            results.append(json_request("PUT", base + "/-/api/v1/pages/Load/Shared",
                                    {"markdown": "".join(lines), "base": page["commit"]}, token))
        return results

    with ThreadPoolExecutor(8) as pool:
        outcomes = [r for rs in pool.map(worker, range(8)) for r in rs]
    assert all(status in (200, 201, 409) for status, _ in outcomes), outcomes
    history = set(git(repo, "rev-list", "main").split())
    made = [body["commit"] for status, body in outcomes if status in (200, 201) and body.get("commit")]
    assert made and all(c in history for c in made)
    assert len(history) == 2 + len(made)  # welcome page + shared page + every reported commit
    assert set(git(repo, "log", "--format=%an <%ae>", "-n", "20").splitlines()) == {"loader <loader@example.org>"}
    for n in range(8):
        for i in range(8):
            assert git(repo, "show", f"main:Load/W{n}-{i}.md") == f"{n} {i}\n"
    assert subprocess.run(["git", "--git-dir", str(repo), "fsck", "--no-dangling"]).returncode == 0
