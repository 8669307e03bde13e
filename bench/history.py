"""Page history, blame and recent changes right after a save, on tldr, through gunicorn (2 workers),
every index built; and what writing the commit-graph costs a repository opened without one.

    .venv/bin/python bench/history.py [--rounds 60]

Each round saves a page through the API, then asks for the history of a random page, the blame of
another and recent changes, each the first request after the save (every view is cached per head,
so this is the cost of computing it). Writes bench/out/history.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tldr_wiki import PASSWORD, figures, timed_get, tldr_server  # noqa: E402
from wiki.core.gitrepo import GitRepo  # noqa: E402







def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    server, pages = tldr_server("tacit-history-")
    repo = GitRepo(server.repo)
    assert not repo.has_commit_graph()
    started = time.monotonic()  # what a wiki opening the repository does in the background
    assert repo.maintain()
    results: dict = {"commit_graph_write_s": round(time.monotonic() - started, 2)}
    token = server.add_user("editor", PASSWORD)
    server.cli("reindex")  # every index built before anything is timed
    rng = random.Random(5)
    with server:
        times: dict[str, list[float]] = {"history": [], "blame": [], "recent": [], "save": []}
        for i in range(args.rounds):
            page = rng.choice(pages)
            status, current = server.request("GET", f"/-/api/v1/pages/{quote(page)}", token=token)
            assert status == 200, current
            start = time.perf_counter()
            status, answer = server.request("PUT", f"/-/api/v1/pages/{quote(page)}",
                                            {"markdown": current["markdown"] + f"\nround {i}\n",
                                             "base": current["revision"]}, token)
            times["save"].append(time.perf_counter() - start)
            assert status in (200, 201), answer
            times["history"].append(timed_get(server, f"/-/history/{quote(rng.choice(pages))}", token))
            times["blame"].append(timed_get(server, f"/-/blame/{quote(rng.choice(pages))}", token))
            times["recent"].append(timed_get(server, "/-/recent", token))
        results.update({key: figures(values[3:]) for key, values in times.items()})
    print(json.dumps(results, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "history.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
