"""What a watchlist costs a page view: an account watching 1,000 pages and threads against one
watching none, on tldr, through gunicorn (2 workers), while a third account keeps saving.

    .venv/bin/python bench/watchlist.py [--rounds 150]

Each round: the editor saves a watched page (so the watcher has news and the branch moved), then
the watcher and the plain account view the same page (in alternating order). A second series
views without saves in between (the cached case). Writes bench/out/watchlist.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tldr_wiki import PASSWORD, figures, timed_get, tldr_server  # noqa: E402
from wiki.config import load_config  # noqa: E402
from wiki.core.gitrepo import Person  # noqa: E402
from wiki.core.wiki import Wiki  # noqa: E402

WATCHED_PAGES, WATCHED_THREADS = 1000, 100






def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    server, pages = tldr_server("tacit-watchlist-")
    tokens = {name: server.add_user(name, PASSWORD) for name in ("watcher", "plain", "editor")}
    rng = random.Random(7)
    watched = rng.sample(pages, WATCHED_PAGES)
    wiki = Wiki.from_settings(load_config({k: v for k, v in server.env.items() if k.startswith("WIKI_")}),
                              build_search=False)
    try:  # the watches, written as the watch button would
        watcher, editor = wiki.users.by_name("watcher"), wiki.users.by_name("editor")
        for page in watched:
            wiki.watches.watch(watcher.id, page)
        for other in rng.sample([p for p in pages if p not in set(watched)], WATCHED_THREADS):
            thread, _ = wiki.talk.start(other, "A question", "Is this current?",
                                        Person(editor.name, editor.email), editor.name)
            wiki.watches.watch(watcher.id, other, thread)
    finally:
        wiki.close()
    with server:
        target = "common/tar"
        for token in tokens.values():  # warm both workers
            for _ in range(4):
                timed_get(server, f"/{target}", token)
        results: dict = {"watched_pages": WATCHED_PAGES, "watched_threads": WATCHED_THREADS}
        for series in ("after_each_save", "no_saves"):
            times: dict[str, list[float]] = {"watcher": [], "plain": []}
            for i in range(args.rounds):
                if series == "after_each_save":
                    page = rng.choice(watched)
                    status, current = server.request("GET", f"/-/api/v1/pages/{quote(page)}", token=tokens["editor"])
                    assert status == 200, current
                    status, answer = server.request("PUT", f"/-/api/v1/pages/{quote(page)}",
                                                    {"markdown": current["markdown"] + f"\nround {i}\n",
                                                     "base": current["revision"]}, tokens["editor"])
                    assert status in (200, 201), answer
                order = ("watcher", "plain") if i % 2 else ("plain", "watcher")
                for who in order:
                    times[who].append(timed_get(server, f"/{target}", tokens[who]))
            results[series] = {who: figures(t) for who, t in times.items()}
            results[series]["ratio_of_medians"] = round(
                results[series]["watcher"]["median_ms"] / results[series]["plain"]["median_ms"], 3)
            print(series, json.dumps(results[series]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "watchlist.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
