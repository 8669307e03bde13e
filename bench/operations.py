"""What the operator's endpoints cost, and what metrics add to every request, on the tldr corpus.

    .venv/bin/python bench/operations.py [--rounds 300] [--workers 2]

Serves the tldr corpus twice with ``gunicorn -c python:wiki.gunicorn_hooks -w N 'wiki:create_app()'``
(the hooks `wiki serve` uses), the page and history indexes built beforehand by ``wiki reindex``:
once with ``WIKI_METRICS=admin``, once with ``WIKI_METRICS=off``. Measures, one request at a time:
``/-/health``, ``/-/ready`` (with the index lag counted), a scrape of ``/-/metrics`` with an admin
token, and the page view of common/tar with and without metrics. Search by meaning is off
(``WIKI_SEMANTIC=0``): the readiness check then reports it off instead of pinging the service, and
the semantic index of tldr takes minutes to build. Results go to bench/out/operations.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CORPUS, HOST, ROOT, VENV_BIN, Server, log, request, unpack_tldr  # noqa: E402


class HookedServer(Server):
    """gunicorn with the hooks module of `wiki serve`: the shared metrics folder, the start-up check."""

    @property
    def command(self) -> list[str]:
        return [str(VENV_BIN / "gunicorn"), "-c", "python:wiki.gunicorn_hooks", "-w", str(self.workers), "-k", "sync",
                "-b", f"{HOST}:{self.port}", "--no-control-socket", self.app]


def ms(times: list[float]) -> dict:
    ordered = sorted(t * 1000 for t in times)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "n": len(ordered)}


def timed(port: int, path: str, rounds: int, headers: dict | None = None) -> dict:
    for _ in range(5):  # warm: both workers, their caches
        request(port, "GET", path, headers=headers)
    times, statuses = [], set()
    for _ in range(rounds):
        status, _, took = request(port, "GET", path, headers=headers)
        statuses.add(status)
        times.append(took)
    return {**ms(times), "statuses": sorted(statuses)}


def wiki(env: dict, *args: str, input: str | None = None) -> str:
    return subprocess.run([str(VENV_BIN / "wiki"), *args], env=env, input=input, text=True, check=True,
                          capture_output=True, cwd=ROOT).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"needs the tldr corpus at {CORPUS}", file=sys.stderr)
        return 2
    results: dict = {"rounds": args.rounds, "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="tacit-ops-") as tmp_name:
        tmp = Path(tmp_name)
        repo = unpack_tldr(tmp)
        for metrics in ("admin", "off"):
            data = tmp / f"data-{metrics}"
            env = {"WIKI_REPO": str(repo), "WIKI_DATA": str(data), "WIKI_SEMANTIC": "0",
                   "WIKI_METRICS": metrics, "PATH": str(VENV_BIN) + ":/usr/bin:/bin", "HOME": str(tmp)}
            log(f"building the indexes (WIKI_METRICS={metrics})")
            wiki(env, "reindex")
            wiki(env, "user", "add", "ops", "--email", "ops@example.org", "--role", "admin", "--password-stdin",
                 input="operations-password\n")
            token = wiki(env, "token", "create", "ops", "--label", "bench").strip()
            server = HookedServer(f"tacit-metrics-{metrics}", "wiki:create_app()", ROOT, env, args.workers, tmp,
                                  "/-/ready")
            server.start()
            try:
                part = results[f"metrics_{metrics}"] = {"startup_s": round(server.startup_s, 2)}
                part["page_view"] = timed(server.port, "/common/tar", args.rounds)
                if metrics == "admin":
                    part["health"] = timed(server.port, "/-/health", args.rounds)
                    part["ready"] = timed(server.port, "/-/ready", args.rounds)
                    part["scrape"] = timed(server.port, "/-/metrics", args.rounds // 3,
                                           {"Authorization": f"Bearer {token}"})
                    status, body, _ = request(server.port, "GET", "/-/metrics",
                                              headers={"Authorization": f"Bearer {token}"})
                    part["scrape_bytes"] = len(body)
                    part["series"] = sum(1 for line in body.decode().splitlines() if line and line[0] != "#")
                log(json.dumps(part))
            finally:
                server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "operations.json").write_text(json.dumps(results, indent=2))
    on, off = results["metrics_admin"]["page_view"], results["metrics_off"]["page_view"]
    print(f"\n/-/health median {results['metrics_admin']['health']['median_ms']} ms, "
          f"/-/ready {results['metrics_admin']['ready']['median_ms']} ms, "
          f"scrape {results['metrics_admin']['scrape']['median_ms']} ms "
          f"({results['metrics_admin']['series']} series, {results['metrics_admin']['scrape_bytes']} bytes); "
          f"page view with metrics {on['median_ms']} ms (p95 {on['p95_ms']}), without {off['median_ms']} ms "
          f"(p95 {off['p95_ms']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
