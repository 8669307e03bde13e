"""A tldr wiki served by gunicorn for the focused benchmarks (history.py, watchlist.py): the
server, the page names that go into URLs as they are, a timed GET and the figures of a series."""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.run import page_names, unpack_tldr
from tests.serving import WikiServer

PASSWORD = "correct horse battery staple"


def tldr_server(prefix: str) -> tuple[WikiServer, list[str]]:
    """A server (2 workers, search by meaning off) over a fresh copy of tldr, not started, and its
    plain page names (letters, digits, -, _ and /)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    server = WikiServer(tmp / "wiki", workers=2, threads=1, WIKI_SEMANTIC="0",
                        WIKI_LOGIN_LIMIT_ADDRESS="100000 per minute")
    server.repo.parent.mkdir(parents=True)
    shutil.move(unpack_tldr(tmp), server.repo)
    return server, [p for p in page_names(server.repo) if re.fullmatch(r"[\w/-]+", p)]


def timed_get(server: WikiServer, path: str, token: str) -> float:
    start = time.perf_counter()
    status, _ = server.request("GET", path, token=token)
    took = time.perf_counter() - start
    assert status == 200, (path, status)
    return took


def figures(seconds: list[float]) -> dict:
    ordered = sorted(v * 1000 for v in seconds)
    return {"n": len(ordered), "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "max_ms": round(ordered[-1], 2)}
