"""Search benchmark on the tldr corpus: rebuild times, query latency (also after 40 saves),
save-then-search latency, and relevance for questions a person would ask.

    .venv/bin/python bench/search.py [--out DIR]

It serves a bare clone of the corpus with the same gunicorn settings as bench/run.py, saves through
the API with an editor's token, and searches through the JSON API.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (ROOT, Server, api_token, log, machine, ms_stats, prepare, request,  # noqa: E402
                 unpack_tldr)
from search_sets import HELD_OUT, QUERIES, RELEVANCE  # noqa: E402

TARGETS = {"pages_rebuild_s": 30, "history_rebuild_s": 180, "query_median_ms": 15, "query_p95_ms": 50,
           "after_saves_factor": 1.5, "save_then_search_ms": 100, "relevance": 18}


def search_path(q: str, limit: int = 10) -> str:
    return "/-/api/v1/search?" + urllib.parse.urlencode({"q": q, "limit": limit})


def query_round(port: int, rounds: int = 3) -> dict:
    """Every query of the set `rounds` times (the first round warms each worker's searcher)."""
    times = []
    for r in range(rounds):
        for q in QUERIES:
            status, _, dt = request(port, "GET", search_path(q))
            if status != 200:
                raise RuntimeError(f"search {q!r} answered {status}")
            if r:  # the first round opens searchers in every worker
                times.append(dt)
    return ms_stats(times)


def relevance(port: int, questions: list[tuple[str, str]] = RELEVANCE) -> dict:
    rows, ok = [], 0
    for q, want in questions:
        status, body, _ = request(port, "GET", search_path(q, 10))
        found = [r["path"] for r in json.loads(body)["results"]] if status == 200 else []
        rank = found.index(want) + 1 if want in found else None
        ok += rank is not None and rank <= 3
        rows.append({"query": q, "want": want, "rank": rank, "top3": found[:3]})
    return {"top3": ok, "of": len(questions), "rows": rows}


def save_then_search(port: int, token: str, count: int) -> dict:
    path = "/-/api/v1/pages/common/tar"
    status, body, _ = request(port, "GET", path)
    page = json.loads(body)
    base, text = page["revision"], page["markdown"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    times, misses = [], 0
    for i in range(count):
        word = f"benchword{i}x{os.getpid()}"
        t0 = time.perf_counter()
        status, body, _ = request(port, "PUT", path, json.dumps(
            {"markdown": text.rstrip("\n") + f"\n\nSearch me: {word}.\n", "base": base}).encode(), headers)
        if status != 200:
            raise RuntimeError(f"save answered {status}: {body[:200]!r}")
        base = json.loads(body)["commit"]
        status, body, _ = request(port, "GET", search_path(word))
        times.append(time.perf_counter() - t0)
        misses += "common/tar" not in [r["path"] for r in json.loads(body)["results"]]
    return {**ms_stats(times), "not_found": misses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tacit-search-bench-"))
    server = None
    results: dict = {"machine": machine(), "targets": TARGETS, "queries": QUERIES}
    try:
        tldr = unpack_tldr(tmp)
        prepare(tldr)
        data = tmp / "data"
        env = {"WIKI_REPO": str(tldr), "WIKI_DATA": str(data)}
        log("rebuilding the page, history and semantic indexes (wiki reindex)")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "wiki", "reindex"], env={**os.environ, **env}, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        results["reindex_total_s"] = time.perf_counter() - t0
        for line in out.splitlines():
            if line.startswith("Indexed") and "pages in" in line:
                results["pages_rebuild_s"] = float(line.split(" in ")[1].split()[0])
            if line.startswith("Indexed") and "revisions in" in line:
                results["history_rebuild_s"] = float(line.split(" in ")[1].split()[0])
            if line.startswith("Indexed") and "passages" in line:
                results["semantic_rebuild_s"] = float(line.split(" in ")[1].split()[0])
                results["passages"] = int(line.split()[1])
        token = api_token(env)
        server = Server("search", "wsgi:app", ROOT, env, args.workers, tmp, "/-/raw/common/tar").start()
        log("queries: 30 queries x 2 rounds (after a warm-up round)")
        results["queries_before"] = query_round(server.port)
        log("relevance: 20 questions")
        results["relevance"] = relevance(server.port)
        results["held_out"] = relevance(server.port, HELD_OUT)
        log("40 saves, each followed by a search for the word it added")
        results["save_then_search"] = save_then_search(server.port, token, 40)
        log("queries again, after the 40 saves")
        results["queries_after"] = query_round(server.port)
        results["after_factor"] = results["queries_after"]["median_ms"] / results["queries_before"]["median_ms"]
    finally:
        if server:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "search.json").write_text(json.dumps(results, indent=2, default=str))
    qb, qa, st, rel = results["queries_before"], results["queries_after"], results["save_then_search"], results["relevance"]
    lines = [
        ("Page index rebuild (7,425 pages)", f"{results.get('pages_rebuild_s', 0):.1f} s", "< 30 s"),
        ("History index rebuild (13,401 commits)", f"{results.get('history_rebuild_s', 0):.1f} s", "< 180 s"),
        (f"Semantic index rebuild ({results.get('passages', 0):,} passages)",
         f"{results.get('semantic_rebuild_s', 0):.1f} s", "-"),
        ("30 queries, median / p95", f"{qb['median_ms']:.1f} ms / {qb['p95_ms']:.1f} ms", "< 15 ms / < 50 ms"),
        ("Same, after 40 saves", f"{qa['median_ms']:.1f} ms / {qa['p95_ms']:.1f} ms "
                                 f"(x{results['after_factor']:.2f})", "<= 1.5x"),
        ("Save, then search finds the new word", f"median {st['median_ms']:.1f} ms, p95 {st['p95_ms']:.1f} ms, "
                                                  f"{st['not_found']} not found", "< 100 ms"),
        ("Relevance: wanted page in the top 3", f"{rel['top3']} of {rel['of']}", ">= 18"),
        ("Held-out questions: wanted page in the top 3", f"{results['held_out']['top3']} of "
                                                         f"{results['held_out']['of']}", "-"),
    ]
    print()
    for name, value, target in lines:
        print(f"{name:<42} {value:<48} {target}")
    for row in rel["rows"] + results["held_out"]["rows"]:
        print(f"  {'ok  ' if row['rank'] and row['rank'] <= 3 else 'MISS'} {row['query']!r} -> {row['want']} "
              f"(rank {row['rank']}); top 3: {', '.join(row['top3'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
