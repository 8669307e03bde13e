"""Status dashboard benchmark: a folder of 500 status pages with a realistic history, served by
gunicorn like bench/run.py; the median time of `/-/status/<folder>` (and of the JSON API).

    .venv/bin/python bench/status.py [--pages 500] [--rounds 60]

The repository is written with git fast-import: 500 pages under Projects/ with front matter
(status, owner, review_every, tags), 2,000 edits spread over the last 16 weeks, and talk threads
on a tenth of the pages, so the board reads metadata, last changes, thread counts and twelve weeks
of edits, as it does for a real team.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, Server, log, machine, ms_stats, request  # noqa: E402

STATUSES = ("on-track", "at-risk", "blocked", "done")
TARGET_MS = 200


def page_text(i: int, rng: random.Random, edit: int) -> str:
    status = STATUSES[(i + edit) % 4] if rng.random() < 0.3 else STATUSES[i % 4]
    return (f"---\nstatus: {status}\nowner: user{i % 17}\nreview_every: {rng.choice((7, 14, 30))}d\n"
            f"tags: [status, team{i % 9}]\nsummary: Project {i} as of edit {edit}.\n---\n"
            f"# Project {i}\n\n## Done\n\n- item {edit}\n\n## Next\n\n- more work\n")


def build_repo(path: Path, pages: int, edits: int) -> None:
    """A bare repository with the scripted history, through one git fast-import stream."""
    rng = random.Random(42)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    now = int(time.time())
    start = now - 16 * 7 * 86400
    times = sorted(rng.randint(start, now - 60) for _ in range(edits))
    lines: list[bytes] = []
    mark = 0

    def commit(when: int, files: dict[str, str], message: str) -> None:
        nonlocal mark
        mark += 1
        lines.append(f"commit refs/heads/main\nmark :{mark}\n".encode())
        lines.append(f"author Bench <bench@example.org> {when} +0000\n".encode())
        lines.append(f"committer Bench <bench@example.org> {when} +0000\n".encode())
        msg = message.encode()
        lines.append(b"data %d\n%s\n" % (len(msg), msg))
        if mark > 1:
            lines.append(f"from :{mark - 1}\n".encode())
        for file, text in files.items():
            data = text.encode()
            lines.append(f'M 100644 inline "{file}"\n'.encode())
            lines.append(b"data %d\n%s\n" % (len(data), data))

    commit(start - 3600, {f"Projects/Project {i:03d}.md": page_text(i, rng, 0) for i in range(pages)}
           | {"Home.md": "# Home\n\n```dashboard\nfolder: Projects\n```\n"}, "Create the projects")
    for n, when in enumerate(times, 1):
        i = rng.randrange(pages)
        commit(when, {f"Projects/Project {i:03d}.md": page_text(i, rng, n)}, f"Update project {i}")
    for i in range(0, pages, 10):
        tid = f"20261101-120000000-{i:06x}"
        body = f"---\nauthor: user{i % 17}\ndate: 2026-11-01T12:00:00Z\ntitle: Question {i}\n---\nIs this on track?\n"
        commit(now - 30, {f".talk/Projects/Project {i:03d}.md/{tid}/{tid}.md": body}, f"Talk on project {i}")
    subprocess.run(["git", "--git-dir", str(path), "fast-import", "--quiet"], input=b"".join(lines), check=True)
    subprocess.run(["git", "--git-dir", str(path), "commit-graph", "write", "--reachable", "--changed-paths"],
                   check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--edits", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tacit-status-"))
    try:
        repo = tmp / "wiki.git"
        log(f"writing {args.pages} status pages and {args.edits} edits with git fast-import")
        build_repo(repo, args.pages, args.edits)
        env = {"WIKI_REPO": str(repo), "WIKI_DATA": str(tmp / "data")}
        server = Server("status", "wsgi:app", ROOT, env, 4, tmp, "/-/static/style.css").start()
        try:
            results = {}
            for label, path in (("dashboard", "/-/status/Projects"), ("api", "/-/api/v1/status?folder=Projects"),
                                ("embedded", "/Home")):
                first = request(server.port, "GET", path)
                assert first[0] == 200, (path, first[0], first[1][:300])
                for _ in range(8):  # every worker builds its board once
                    request(server.port, "GET", path)
                times = []
                for _ in range(args.rounds):
                    status, body, dt = request(server.port, "GET", path)
                    assert status == 200
                    times.append(dt)
                results[label] = {"first_ms": round(first[2] * 1000, 1), **ms_stats(times)}
                log(f"{label}: first {first[2] * 1000:.0f} ms, median {statistics.median(times) * 1000:.1f} ms")
            status, body, _ = request(server.port, "GET", "/-/api/v1/status?folder=Projects")
            rows = json.loads(body)["pages"]
            assert len(rows) == args.pages, len(rows)
            # after a save, the board is rebuilt for the new head: the cost a team sees after each edit
            after = []
            for n in range(5):
                subprocess.run(["git", "--git-dir", str(repo), "update-ref", "refs/heads/main",
                                _touch(repo, n)], check=True)
                after.append(request(server.port, "GET", "/-/status/Projects")[2])
            results["after_a_new_commit"] = ms_stats(after)
        finally:
            server.stop()
        results["machine"] = machine()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "status.json").write_text(json.dumps(results, indent=2))
        print(f"\nDashboard of {args.pages} status pages: median {results['dashboard']['median_ms']} ms "
              f"(target < {TARGET_MS} ms), first view {results['dashboard']['first_ms']} ms; "
              f"API median {results['api']['median_ms']} ms; embedded in a page {results['embedded']['median_ms']} ms; "
              f"first view after a new commit median {results['after_a_new_commit']['median_ms']} ms")
        return 0 if results["dashboard"]["median_ms"] < TARGET_MS else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _touch(repo: Path, n: int) -> str:
    """A new commit changing one status page (as a save would), made with plumbing."""
    head = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "main"], capture_output=True, text=True,
                          check=True).stdout.strip()
    text = page_text(n, random.Random(n), 9000 + n).encode()
    blob = subprocess.run(["git", "--git-dir", str(repo), "hash-object", "-w", "--stdin"], input=text,
                          capture_output=True, check=True).stdout.decode().strip()
    env_index = repo / f"tmp-index-{n}"
    env = {"GIT_INDEX_FILE": str(env_index)}
    e = {**os.environ, **env}
    subprocess.run(["git", "--git-dir", str(repo), "read-tree", head], env=e, check=True)
    subprocess.run(["git", "--git-dir", str(repo), "update-index", "--add", "--cacheinfo",
                    f"100644,{blob},Projects/Project {n:03d}.md"], env=e, check=True)
    tree = subprocess.run(["git", "--git-dir", str(repo), "write-tree"], env=e, capture_output=True, text=True,
                          check=True).stdout.strip()
    env_index.unlink(missing_ok=True)
    return subprocess.run(["git", "--git-dir", str(repo), "commit-tree", tree, "-p", head, "-m", f"touch {n}"],
                          capture_output=True, text=True, check=True, env={**os.environ,
                          "GIT_AUTHOR_NAME": "B", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "B",
                          "GIT_COMMITTER_EMAIL": "b@x"}).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
