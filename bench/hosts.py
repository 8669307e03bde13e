"""Several hosts, one wiki: load, convergence, faults and cost, beside a single host.

    .venv/bin/python bench/hosts.py [--saves 2000] [--clients 8] [--rounds 20] [--quick] [--phases cost,load,...]

Starts a PostgreSQL cluster (initdb on a loopback port), a git server (`git daemon` over a bare
repository) and 3 Tacit hosts (`wiki serve`, 2 workers x 2 threads each, their own mirror and
WIKI_DATA), the harness of tests/test_hosts_served.py; search by meaning is off. Every client
request goes to a random host. Then:

- cost: 100 sequential saves (one client, one page, base = the last revision) on a single host
  (SQLite, local repository, the same 2 x 2 gunicorn) and on the 3 hosts; then the p95 of saves with
  3 x `--clients` clients at once on each;
- load: 3 x `--clients` clients and `--saves` saves over 20 pages, 30% with a stale base; every 2xx
  answer must be a commit on the git server with its text, every new commit there an answered save,
  no answer "unknown revision", no mirror holding a commit the server lacks, fsck clean everywhere.
  Meanwhile a probe saves a page on one host and polls the two others until they show it
  (convergence), and searches for a fresh word on another host;
- notifications killed: the LISTEN connections are terminated every half second while the probe runs;
- direct pushes: a commit pushed straight to the git server, timed until every host has it;
- faults: `--rounds` rounds of 4 clients saving, kill -9 of a random host mid-save, and in every
  fourth round the git server and every sixth PostgreSQL stopped for a moment (saves must answer 503
  with the text handed back, reads keep working); then the time until the next save succeeds and
  until every host is in step; at the end every acknowledged save must be on the git server.

Results go to bench/out/hosts.json (printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster import Cluster, fsck_clean, git_out  # noqa: E402
from tests.serving import WikiServer  # noqa: E402
from tests.services import GitServer, PostgresCluster  # noqa: E402
from tests.test_durability import LINES, Saver, SavingRound, page_text  # noqa: E402

PASSWORD = "bench-hosts-password"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ms(values: list[float]) -> dict:
    ordered = sorted(v * 1000 for v in values)
    if not ordered:
        return {"n": 0}
    return {"n": len(ordered), "median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1), "max_ms": round(ordered[-1], 1)}


def sequential_saves(servers, token: str, n: int = 100) -> dict:
    """One client saving one page n times (base = the revision it got), each server in turn."""
    times = []
    revision = None
    page = f"Cost/Seq{random.randrange(10**9)}"
    for i in range(n):
        srv = servers[i % len(servers)]
        body = {"markdown": f"save {i}\n", **({"base": revision} if revision else {})}
        start = time.perf_counter()
        status, answer = srv.request("PUT", f"/-/api/v1/pages/{page}", body, token)
        times.append(time.perf_counter() - start)
        assert status in (200, 201), answer
        revision = answer["revision"]
    return ms(times[5:])


def concurrent_saves(target, token: str, clients: int, per_client: int = 20) -> dict:
    """`clients` clients saving pages of their own at once: the latency each save sees."""
    times: list[float] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        revision = None
        for i in range(per_client):
            body = {"markdown": f"client {n} save {i}\n", **({"base": revision} if revision else {})}
            start = time.perf_counter()
            status, answer = target.request("PUT", f"/-/api/v1/pages/Cost/C{n}", body, token)
            took = time.perf_counter() - start
            assert status in (200, 201), answer
            revision = answer["revision"]
            with lock:
                times.append(took)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return ms(times)


class Probe:
    """Saves a fresh page on one host and times until the other two show it; searches for it on one."""

    def __init__(self, c: Cluster, token: str) -> None:
        self.c, self.token = c, token
        self.visible: list[float] = []  # until a GET on the other host answers the page
        self.in_mirror: list[float] = []  # until the other host's mirror holds the commit
        self.found: list[float] = []
        self.stop = threading.Event()
        self.rng = random.Random(3)

    def once(self, search: bool) -> None:
        a, *others = self.rng.sample(self.c.hosts, 3)
        word = f"probe{self.rng.randrange(10**9)}"
        page = f"Probe/{word}"
        status, answer = a.request("PUT", f"/-/api/v1/pages/{page}", {"markdown": f"# {word}\n\n{word} here\n"},
                                   self.token)
        if status != 201:
            return
        saved = time.perf_counter()
        watchers = [threading.Thread(target=self._watch_mirror, args=(host, answer["commit"], saved))
                    for host in others]
        for watcher in watchers:
            watcher.start()
        pending = set(range(len(others)))
        while pending and time.perf_counter() - saved < 10:
            for i in list(pending):
                status, body = others[i].request("GET", f"/-/api/v1/pages/{page}", token=self.token)
                if status == 200:
                    self.visible.append(time.perf_counter() - saved)
                    pending.discard(i)
            time.sleep(0.005)
        for _ in pending:
            self.visible.append(10.0)
        for watcher in watchers:
            watcher.join()
        if search:
            while time.perf_counter() - saved < 20:
                _, found = others[0].request("GET", f"/-/api/v1/search?q={word}", token=self.token)
                if any(r.get("path") == page for r in found.get("results", [])):
                    self.found.append(time.perf_counter() - saved)
                    break
                time.sleep(0.02)

    def _watch_mirror(self, host, commit: str, saved: float) -> None:
        """Time until the host's mirror holds `commit`: its branch is read from the ref file (as git
        does), and git is asked about ancestry only when that moved."""
        ref = Path(host.repo) / "refs" / "heads" / "main"
        seen = None
        while time.perf_counter() - saved < 10:
            try:
                head = ref.read_text().strip()
            except FileNotFoundError:
                head = git_out(host.repo, "rev-parse", "refs/heads/main").strip()
            if head != seen:
                seen = head
                if head == commit or subprocess.run(["git", "--git-dir", str(host.repo), "merge-base", "--is-ancestor",
                                                     commit, head], capture_output=True).returncode == 0:
                    self.in_mirror.append(time.perf_counter() - saved)
                    return
            time.sleep(0.002)
        self.in_mirror.append(10.0)

    def run(self, search: bool = True) -> None:
        while not self.stop.is_set():
            self.once(search)
            time.sleep(0.1)


def load(c: Cluster, token: str, saves: int, clients: int) -> dict:
    pages = [f"Load/Page{i:02d}" for i in range(20)]
    for page in pages:
        status, body = c.any_host().request("PUT", f"/-/api/v1/pages/{page}",
                                            {"markdown": page_text([f"line {k}: initial" for k in range(LINES)])},
                                            token)
        assert status == 201, body
    since = c.remote_head()
    savers = [Saver(c.balanced(), token, pages, seed) for seed in range(clients)]
    per_client = saves // clients
    probe = Probe(c, token)
    prober = threading.Thread(target=probe.run)
    prober.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda s: [s.save_once(f"{id(s) % 10007}-{i}-{random.random():.8f}") for i in range(per_client)],
                      savers))
    elapsed = time.perf_counter() - started
    probe.stop.set()
    prober.join()
    results = [r for s in savers for r in s.results]
    ok = [(page, marker, body) for status, page, marker, body in results if 200 <= status < 300]
    commits = set(git_out(c.bare, "rev-list", f"{since}..main", "--", "Load").split())
    missing = [m for page, m, body in ok if body["commit"] not in commits
               or m not in git_out(c.bare, "show", f"{body['commit']}:{page}.md")]
    unknown = sum(1 for *_, b in results if "revision" in json.dumps(b).lower() and "unknown" in json.dumps(b).lower())
    statuses: dict[int, int] = {}
    for status, *_ in results:
        statuses[status] = statuses.get(status, 0) + 1
    c.wait_converged(timeout=30)
    return {"saves": len(results), "seconds": round(elapsed, 1), "saves_per_second": round(len(results) / elapsed, 1),
            "statuses": statuses, "merged": sum(1 for *_, b in ok if b.get("merged")),
            "acknowledged_missing_on_remote": len(missing),
            "remote_commits_unanswered": len(commits - {b["commit"] for *_, b in ok}),
            "unknown_revision_answers": unknown, "mirrors_ahead_of_remote": c.mirrors_within_remote(),
            "fsck_clean": fsck_clean(c.bare) and all(fsck_clean(h.repo) for h in c.hosts),
            "convergence": ms(probe.visible), "in_other_mirrors": ms(probe.in_mirror),
            "search_on_another_host": ms(probe.found)}


def without_notifications(c: Cluster, token: str, seconds: float = 20) -> dict:
    probe = Probe(c, token)
    prober = threading.Thread(target=probe.run, kwargs={"search": False})
    prober.start()
    database = c.database.rsplit("/", 1)[1]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        c.postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'", database)
        time.sleep(0.5)
    probe.stop.set()
    prober.join()
    return {"visible": ms(probe.visible), "in_other_mirrors": ms(probe.in_mirror)}


def direct_pushes(c: Cluster, tmp: Path, n: int = 10) -> dict:
    work = tmp / "direct"
    subprocess.run(["git", "clone", "-q", c.url, str(work)], check=True)
    times = []
    for i in range(n):
        subprocess.run(["git", "-C", str(work), "pull", "-q", "--rebase", "origin", "main"], check=True,
                       capture_output=True)
        (work / f"Direct{i}.md").write_text(f"pushed straight to the git server {i}\n")
        subprocess.run(["git", "-C", str(work), "add", "."], check=True)
        subprocess.run(["git", "-C", str(work), "-c", "user.name=CI", "-c", "user.email=ci@example.org", "commit",
                        "-qm", f"direct {i}"], check=True)
        subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True)
        pushed = time.perf_counter()
        c.wait_converged(timeout=30)
        times.append(time.perf_counter() - pushed)
        time.sleep(random.uniform(0.1, 0.6))
    return ms(times)


def faults(c: Cluster, token: str, rounds: int) -> dict:
    pages = [f"Fault/Page{i}" for i in range(6)]
    for page in pages:
        c.any_host().request("PUT", f"/-/api/v1/pages/{page}",
                             {"markdown": page_text([f"line {k}: initial" for k in range(LINES)])}, token)
    rng = random.Random(5)
    results, recoveries, convergences, outages = [], [], [], []
    for round_no in range(rounds):
        saving = SavingRound([Saver(c.balanced(), token, pages, round_no * 10 + n) for n in range(4)], f"r{round_no}")
        time.sleep(rng.uniform(0.2, 1.0))
        victim = rng.choice(c.hosts)
        victim.kill()
        down = c.git if round_no % 4 == 1 else c.postgres if round_no % 6 == 3 else None
        if down is not None:
            down.stop()
            time.sleep(0.5)
            survivor = next(h for h in c.hosts if h is not victim)
            status, body = survivor.request("PUT", "/-/api/v1/pages/Fault/While", {"markdown": "kept\n"}, token)
            read, _ = survivor.request("GET", "/-/api/v1/pages/Fault/Page0")
            outages.append({"round": round_no, "down": "git server" if down is c.git else "postgresql",
                            "save_status": status, "text_handed_back": body.get("yours") == "kept\n",
                            "read_status": read})
        time.sleep(0.3)
        results += saving.finish()
        if down is not None:
            down.start()
        back = time.perf_counter()
        victim.start()
        while True:
            status, _ = c.any_host().request("PUT", f"/-/api/v1/pages/Fault/After{round_no}", {"markdown": "x\n"},
                                             token)
            if status == 201 or time.perf_counter() - back > 60:
                break
            time.sleep(0.05)
        recoveries.append(time.perf_counter() - back)
        convergences.append(c.wait_converged(timeout=60))
    acknowledged = [(p, m, b) for s, p, m, b in results if 200 <= s < 300]
    lost = [m for page, m, body in acknowledged
            if subprocess.run(["git", f"--git-dir={c.bare}", "merge-base", "--is-ancestor", body["commit"], "main"],
                              capture_output=True).returncode != 0
            or m not in git_out(c.bare, "show", f"{body['commit']}:{page}.md")]
    return {"rounds": rounds, "acknowledged": len(acknowledged), "acknowledged_lost": len(lost),
            "outages": outages, "next_save_after_restart": ms(recoveries),
            "host_restart_to_converged": ms(convergences), "mirrors_ahead_of_remote": c.mirrors_within_remote(),
            "fsck_clean": fsck_clean(c.bare) and all(fsck_clean(h.repo) for h in c.hosts)}


def search_on_every_host(tmp: Path, postgres: PostgresCluster, git_server: GitServer) -> dict:
    """tldr served by one host and by 3 hosts (words only): the same questions, the same answers?"""
    sys.path.insert(0, str(ROOT / "bench"))
    from run import CORPUS, unpack_tldr
    from search_sets import HELD_OUT, QUERIES, RELEVANCE

    if not CORPUS.exists():
        return {"skipped": f"no corpus at {CORPUS}"}
    (tmp / "tldr").mkdir(parents=True, exist_ok=True)
    corpus = unpack_tldr(tmp / "tldr")
    single = WikiServer(tmp / "tldr-single", workers=2, threads=2, WIKI_SEMANTIC="0")
    single.repo, single.env["WIKI_REPO"] = corpus, str(corpus)
    c = Cluster(tmp / "tldr-hosts", postgres, git_server, seed=corpus)
    servers = [single, *c.hosts]
    try:
        single.start()
        c.start()
        started = time.perf_counter()
        for srv in servers:  # every host builds its own indexes from its mirror
            while True:
                status, ready = srv.request("GET", "/-/ready")
                lag = ready.get("checks", {}).get("search", {}).get("lag", {})
                if lag and all(v == 0 for v in lag.values()):
                    break
                if time.perf_counter() - started > 1800:
                    raise RuntimeError(f"{srv.base}: search indexes not built: {ready}")
                time.sleep(1)
        log(f"tldr indexed on 4 servers in {time.perf_counter() - started:.0f} s")
        answers = []
        for srv in servers:
            answers.append({q: [r["path"] for r in srv.request("GET", "/-/api/v1/search?" + urllib.parse.urlencode(
                {"q": q, "limit": 10}))[1].get("results", [])] for q in QUERIES + [q for q, _ in RELEVANCE + HELD_OUT]})

        def top3(answer: dict, questions) -> int:
            return sum(1 for q, want in questions if want in answer[q][:3])

        return {"queries": len(answers[0]),
                "hosts_answering_exactly_as_the_single_host": sum(1 for a in answers[1:] if a == answers[0]),
                "relevance_top3": [top3(a, RELEVANCE) for a in answers],
                "held_out_top3": [top3(a, HELD_OUT) for a in answers], "of": [len(RELEVANCE), len(HELD_OUT)]}
    finally:
        c.stop()
        single.stop()


def enter_network_namespace() -> None:
    """Run the whole cluster in a network namespace of its own with `quickack 1` on its loopback.

    git's git:// client leaves Nagle's algorithm on, so each exchange of small packets in a push or
    a fetch waits for the receiver's delayed ACK (40 ms on loopback): a push to `git daemon` takes
    75 ms instead of 26 ms, a fetch 110 ms instead of 29 ms. Hosts and a git server on a network
    are deployed with the same route option (docs/deploy.md); the namespace gives the benchmark that
    setting without touching the machine's own routes.
    """
    if os.environ.get("TACIT_BENCH_NETNS") == "1":
        for route in ("127.0.0.0/8", "127.0.0.1"):
            subprocess.run(["ip", "route", "change", "local", route, "dev", "lo", "table", "local", "proto", "kernel",
                            "scope", "host", "src", "127.0.0.1", "quickack", "1"], check=True)
        log("in a network namespace of its own, loopback with quickack 1")
        return
    if os.geteuid() != 0 or not shutil.which("unshare"):
        log("not root (or no unshare): running on the machine's loopback; pass --network loopback to say so")
        return
    os.execvpe("unshare", ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           sys.executable, *sys.argv], {**os.environ, "TACIT_BENCH_NETNS": "1"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8, help="clients per host")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="200 saves, 4 fault rounds")
    parser.add_argument("--phases", default="cost,load,convergence,faults,search",
                        help="which to run, of cost,load,convergence,faults,search")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--network", choices=("namespace", "loopback"), default="namespace",
                        help="namespace: a network namespace of its own whose loopback acknowledges at once "
                             "(root; see below); loopback: the machine's loopback as it is")
    args = parser.parse_args()
    if args.network == "namespace":
        enter_network_namespace()
    if args.quick:
        args.saves, args.rounds = 200, 4
    tmp = Path(tempfile.mkdtemp(prefix="tacit-hosts-"))
    results: dict = {"network": args.network, "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()}
    phases = set(args.phases.split(","))
    if "cost" in phases:
        log("single host (SQLite, local repository, 2 workers x 2 threads)")
        single = WikiServer(tmp / "single", workers=2, threads=2, WIKI_SEMANTIC="0",
                            WIKI_LOGIN_LIMIT_ADDRESS="100000 per minute")
        token = single.add_user("bench", PASSWORD)
        with single:
            results["single_sequential_save"] = sequential_saves([single], token)
            results["single_concurrent_save"] = concurrent_saves(single, token, 3 * args.clients)
        log(f"single: {results['single_sequential_save']}, {results['single_concurrent_save']}")
    postgres, git_server = PostgresCluster(), GitServer(tmp / "git")
    try:
        c = Cluster(tmp / "cluster", postgres, git_server)
        token = c.add_user("bench", PASSWORD)
        with c:
            if "cost" in phases:
                results["hosts_sequential_save"] = sequential_saves(c.hosts, token)
                results["hosts_sequential_save_one_host"] = sequential_saves(c.hosts[:1], token)
                results["hosts_sequential_save_random_host"] = sequential_saves(
                    [c.balanced()], token)  # AnyHost: a random host for each request
                results["hosts_concurrent_save"] = concurrent_saves(c.balanced(), token, 3 * args.clients)
                log(f"3 hosts: {results['hosts_sequential_save']} (one host: "
                    f"{results['hosts_sequential_save_one_host']}, random: {results['hosts_sequential_save_random_host']}), "
                    f"{results['hosts_concurrent_save']}")
            if "load" in phases:
                log(f"load: {args.saves} saves by {3 * args.clients} clients")
                results["load"] = load(c, token, args.saves, 3 * args.clients)
                log(f"load: {json.dumps(results['load'])}")
            if "convergence" in phases:
                results["without_notifications"] = without_notifications(c, token)
                log(f"notifications killed: {results['without_notifications']}")
                results["direct_push"] = direct_pushes(c, tmp)
                log(f"direct pushes: {results['direct_push']}")
            if "faults" in phases:
                log(f"faults: {args.rounds} rounds")
                results["faults"] = faults(c, token, args.rounds)
                log(f"faults: {json.dumps(results['faults'])}")
        if "search" in phases:
            results["search"] = search_on_every_host(tmp, postgres, git_server)
            log(f"search: {results['search']}")
    finally:
        postgres.close()
        git_server.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hosts.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
