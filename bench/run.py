"""Tacit benchmark: page views, raw, page list, saves and memory on the tldr corpus.

    .venv/bin/python bench/run.py            # the full run (several minutes)
    .venv/bin/python bench/run.py --quick    # a smoke run (about a minute)

Every wiki (and bench/hello.py, the baseline) is served by the same command,
``gunicorn -w N -k sync -b 127.0.0.1:PORT APP`` with the access log off, in
its own fresh temporary WIKI_DATA. The tldr repository is cloned from
/work/shared/corpora/tldr-pages.git.tar.gz into a temporary directory, so the
corpus is never modified. Results go to --out (default bench/out/) as
results.json and results.md, and a table is printed at the end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
GUNICORN = VENV_BIN / "gunicorn"
CORPUS = Path("/work/shared/corpora/tldr-pages.git.tar.gz")
WRK = "/usr/bin/wrk"
HOST = "127.0.0.1"
PAGE = "common/tar"
REQUEST_TIMEOUT = 60.0

TARGETS = {
    "save_ratio": 1.5,  # tldr save median / 10-page save median, at most
    "hello_ratio": 0.5,  # page view (repeated) req/s / hello req/s, at least
    "rss_mb": 150.0,  # each worker's resident memory, below
    "history_ms": 100.0,  # history of common/find, blame of common/grep, recent changes: median below
}


# ---------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def ms_stats(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "median_ms": statistics.median(ms) if ms else None,
            "p95_ms": pct(ms, 95), "max_ms": max(ms) if ms else None}


def url(name: str) -> str:
    """A page's view URL; names whose last part is . or .. (tldr's common/.) go by query, as in the app."""
    if name.rsplit("/", 1)[-1] in (".", ".."):
        return "/-/view?" + urllib.parse.urlencode({"page": name})
    return "/" + urllib.parse.quote(name, safe="/")


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, bytes, float]:
    """One request on a new connection (gunicorn's sync workers close after each); (status, body, seconds)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.perf_counter() - t0
    finally:
        conn.close()


def git(git_dir: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], input=input, check=True,
                          stdout=subprocess.PIPE, env={**os.environ, **(env or {})}, timeout=600).stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- servers

class Server:
    """One gunicorn master with its workers, in its own session so it can be stopped as a group."""

    def __init__(self, name: str, app: str, chdir: Path, env: dict, workers: int, logdir: Path,
                 ready_path: str) -> None:
        self.name, self.app, self.chdir, self.env = name, app, chdir, env
        self.workers, self.ready_path = workers, ready_path
        self.port = free_port()
        self.logfile = logdir / f"gunicorn-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    @property
    def command(self) -> list[str]:
        # No --access-logfile: gunicorn's access log is off by default. --no-control-socket keeps
        # the benchmark's servers off the shared ~/.gunicorn/gunicorn.ctl (no effect on speed).
        return [str(GUNICORN), "-w", str(self.workers), "-k", "sync", "-b", f"{HOST}:{self.port}",
                "--no-control-socket", self.app]

    def start(self, wait_s: float = 180.0) -> "Server":
        log(f"starting {self.name}: {' '.join(self.command)} (cwd {self.chdir})")
        out = open(self.logfile, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command, cwd=self.chdir, env={**os.environ, **self.env},
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        out.close()
        deadline = time.monotonic() + wait_s
        last_error = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _, _ = request(self.port, "GET", self.ready_path)
                if status == 200:
                    self.startup_s = time.perf_counter() - t0
                    log(f"{self.name} answers on port {self.port} after {self.startup_s:.1f}s")
                    return self
                last_error = f"HTTP {status}"
            except OSError as e:
                last_error = str(e)
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no answer within {wait_s:.0f}s ({last_error}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """The master's children, found by scanning /proc/*/stat for their parent pid."""
        if self.proc is None:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            if int(fields[1]) == self.proc.pid:
                pids.append(int(entry))
        return sorted(pids)

    @staticmethod
    def rss_mb(pid: int) -> float | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"stopping {self.name}")
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the master we started
                self.proc.wait(timeout=10)
            else:
                # workers that outlived their master (they should not), by our session id
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# ---------------------------------------------------------------- load

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def wrk(port: int, path: str, duration: int, threads: int = 2, connections: int = 16) -> dict:
    target = f"http://{HOST}:{port}{path}"
    if not os.access(WRK, os.X_OK):
        log(f"{WRK} is missing: falling back to the Python threaded load generator")
        return pyload(port, path, duration, connections)
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", target]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=duration + 60).stdout
    result = {"tool": "wrk", "command": " ".join(cmd)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        result[f"p{p}_ms"] = _wrk_ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = m.group(1).strip() if m else None
    if result["rps"] is None:
        result["output"] = out
    return result


def pyload(port: int, path: str, duration: int, connections: int = 16) -> dict:
    """wrk's stand-in: `connections` threads, each requesting in a loop for `duration` seconds."""
    stop_at = time.monotonic() + duration
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def loop() -> None:
        mine, bad = [], 0
        while time.monotonic() < stop_at and len(mine) < 10_000_000:
            try:
                status, _, dt = request(port, "GET", path)
                mine.append(dt)
                bad += status >= 400
            except OSError:
                bad += 1
        with lock:
            times.extend(mine)
            errors[0] += bad

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + REQUEST_TIMEOUT + 5)
    elapsed = time.perf_counter() - t0
    ms = [t * 1000 for t in times]
    return {"tool": "python threads", "rps": len(times) / elapsed, "p50_ms": pct(ms, 50),
            "p99_ms": pct(ms, 99), "requests": len(times), "non_2xx": errors[0], "socket_errors": None}


def median_round(rounds: list[dict]) -> dict:
    """The round with the median req/s (the lower middle one for an even count), with every round's req/s."""
    ranked = sorted(rounds, key=lambda r: r["rps"] or 0)
    return {**ranked[(len(ranked) - 1) // 2], "rounds_rps": [r["rps"] for r in rounds]}


def sequential(port: int, path: str, count: int, budget_s: float = 300.0) -> dict:
    times, bad = [], 0
    deadline = time.monotonic() + budget_s
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        status, _, dt = request(port, "GET", path)
        times.append(dt)
        bad += status != 200
    out = {**ms_stats(times), "errors": bad}
    if count <= 50:
        out["times_ms"] = [round(t * 1000, 2) for t in times]
    return out


HISTORY_PATHS = {
    "history": "/-/history/common/find",
    "blame": "/-/blame/common/grep",
    "recent": "/-/recent",
    "diff": "/-/diff/common/find",
    "history_api": "/-/api/v1/pages/common/find/history",
}


def history_figures(port: int, count: int) -> dict:
    """Each history view: the first GET (cold: computed from git) and then `count` sequential GETs
    (spread over the workers, so the first few per worker are cold too)."""
    out = {}
    for key, path in HISTORY_PATHS.items():
        status, _, first = request(port, "GET", path)
        out[key] = {"path": path, "first_ms": first * 1000, "first_status": status,
                    "rest": sequential(port, path, count)}
    return out


# ---------------------------------------------------------------- wikis

def unpack_tldr(tmp: Path) -> Path:
    """Unpack the corpus and clone it bare into tmp/tldr.git; the clone is the wiki repository."""
    unpacked = tmp / "corpus"
    unpacked.mkdir()
    log(f"unpacking {CORPUS}")
    with tarfile.open(CORPUS) as tar:
        tar.extractall(unpacked, filter="data")
    repo = tmp / "tldr.git"
    subprocess.run(["git", "clone", "--bare", "-q", str(unpacked / "tldr-pages.git"), str(repo)],
                   check=True, timeout=600)
    return repo


def page_names(repo: Path) -> list[str]:
    files = git(repo, "ls-tree", "-r", "--name-only", "-z", "main").decode().split("\0")
    # the app's rule (wiki.core.names.page_name): a .md file outside hidden folders
    return sorted(f[:-3] for f in files
                  if f.endswith(".md") and not any(part.startswith(".") for part in f.split("/")[:-1]))


def make_small_wiki(tmp: Path, source: Path, names: list[str]) -> Path:
    """A fresh bare repository with the given pages of the tldr clone, one commit each (git plumbing)."""
    repo = tmp / "ten.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(repo)], check=True)
    env = {"GIT_INDEX_FILE": str(tmp / "ten.index"), "GIT_AUTHOR_NAME": "Bench",
           "GIT_AUTHOR_EMAIL": "bench@wiki.invalid", "GIT_COMMITTER_NAME": "Bench",
           "GIT_COMMITTER_EMAIL": "bench@wiki.invalid"}
    parent = None
    for name in names:
        content = git(source, "cat-file", "blob", f"main:{name}.md")
        blob = git(repo, "hash-object", "-w", "--stdin", input=content).decode().strip()
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}.md", env=env)
        tree = git(repo, "write-tree", env=env).decode().strip()
        args = ["commit-tree", tree, "-m", f"Add {name}"] + (["-p", parent] if parent else [])
        parent = git(repo, *args, env=env).decode().strip()
    git(repo, "update-ref", "refs/heads/main", parent)
    return repo


def prepare(repo: Path) -> None:
    git(repo, "commit-graph", "write", "--reachable", "--changed-paths")


# ---------------------------------------------------------------- measurements

def first_views(port: int, names: list[str], budget_s: float) -> dict:
    times, bad = [], []
    deadline = time.monotonic() + budget_s
    for name in names:
        if time.monotonic() > deadline:
            break
        status, _, dt = request(port, "GET", url(name))
        times.append(dt)
        if status != 200:
            bad.append((name, status))
    return {**ms_stats(times), "errors": len(bad), "error_examples": bad[:10],
            "complete": len(times) == len(names)}


def view_all(port: int, names: list[str], threads: int, budget_s: float) -> dict:
    deadline = time.monotonic() + budget_s
    counts = {"ok": 0, "errors": 0, "skipped": 0}
    examples: list = []
    lock = threading.Lock()
    times: list[float] = []

    def one(name: str) -> None:
        if time.monotonic() > deadline:
            with lock:
                counts["skipped"] += 1
            return
        try:
            status, _, dt = request(port, "GET", url(name))
        except OSError as e:
            status, dt = repr(e), None
        with lock:
            if status == 200:
                counts["ok"] += 1
                times.append(dt)
            else:
                counts["errors"] += 1
                if len(examples) < 10:
                    examples.append((name, status))

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, names))
    return {**counts, "seconds": time.perf_counter() - t0, "error_examples": examples, **ms_stats(times)}


def api_token(env: dict[str, str]) -> str:
    """An editor account and its API token: saves go through the API as a real user would."""
    env = {**os.environ, **env}
    wiki = [sys.executable, "-m", "wiki"]
    subprocess.run(wiki + ["user", "add", "bench", "--email", "bench@example.org", "--password-stdin"],
                   input="bench-password\n", text=True, env=env, check=True, capture_output=True, cwd=ROOT)
    out = subprocess.run(wiki + ["token", "create", "bench", "--label", "benchmark"], text=True, env=env,
                         check=True, capture_output=True, cwd=ROOT)
    return out.stdout.strip().splitlines()[-1]


class Saver:
    """Sequential API saves of one page: GET it for its revision, then PUT changed text with base = last revision."""

    def __init__(self, port: int, name: str, token: str) -> None:
        self.port = port
        self.path = "/-/api/v1/pages/" + urllib.parse.quote(name, safe="/")
        self.times: list[float] = []
        self.error: str | None = None
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        status, body, _ = request(port, "GET", self.path)
        if status != 200:
            self.error = f"GET {self.path} answered {status}: {body[:300]!r}"
            return
        page = json.loads(body)
        self.base, self.original = page["revision"], page["markdown"]

    def step(self) -> bool:
        if self.error:
            return False
        i = len(self.times) + 1
        payload = json.dumps({"markdown": self.original.rstrip("\n") + f"\n\nBenchmark edit {i}.\n",
                              "message": f"bench edit {i}", "base": self.base}).encode()
        status, body, dt = request(self.port, "PUT", self.path, payload, self.headers)
        if status != 200:
            self.error = f"PUT #{i} answered {status}: {body[:300]!r}"
            return False
        self.times.append(dt)
        answer = json.loads(body)
        self.base = answer.get("revision") or answer.get("commit")
        return True

    def result(self) -> dict:
        return {**ms_stats(self.times), "errors": int(self.error is not None), "error": self.error}


def interleaved_saves(savers: list[Saver], count: int, budget_s: float) -> None:
    """One save on each wiki in turn, so both see the same background load."""
    deadline = time.monotonic() + budget_s
    for i in range(count):
        if time.monotonic() > deadline:
            for s in savers:
                s.error = s.error or f"time budget of {budget_s:.0f}s exhausted after {i} saves"
            return
        for s in savers:
            s.step()


def memory(server: Server) -> dict:
    pids = server.worker_pids()
    each = {pid: server.rss_mb(pid) for pid in pids}
    values = [v for v in each.values() if v is not None]
    return {"workers": {str(k): v for k, v in each.items()}, "max_mb": max(values) if values else None,
            "master_mb": server.rss_mb(server.proc.pid) if server.proc else None}


# ---------------------------------------------------------------- report

def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    wrk_version = ""
    if os.access(WRK, os.X_OK):
        wrk_version = subprocess.run([WRK, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True).stdout.splitlines()[0:1]
        wrk_version = wrk_version[0].split(" Copyright")[0] if wrk_version else ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "git": subprocess.run(["git", "--version"], stdout=subprocess.PIPE,
                                                                    text=True).stdout.strip(),
            "wrk": wrk_version or "absent (Python load generator)"}


def fmt(v, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}{unit}"


def wrk_cell(w: dict) -> str:
    text = f"{fmt(w['rps'], ' req/s', 0)}, p50 {fmt(w['p50_ms'], ' ms')}, p99 {fmt(w['p99_ms'], ' ms')}"
    if w.get("non_2xx"):
        text += f", {w['non_2xx']} non-2xx"
    if len(w.get("rounds_rps", [])) > 1:
        text += " (median round; req/s of rounds: " + ", ".join(fmt(x, "", 0) for x in w["rounds_rps"]) + ")"
    return text


def table(r: dict) -> list[tuple[str, str, str, str]]:
    """(measure, result, target, met) rows."""
    rows = []
    fv = r["first_view"]
    rows.append((f"Page view, first (cold cache), {fv['n']} random pages, sequential",
                 f"median {fmt(fv['median_ms'], ' ms')}, p95 {fmt(fv['p95_ms'], ' ms')}"
                 + (f", {fv['errors']} errors" if fv["errors"] else ""), "", ""))
    for key, label in (("view", f"Page view, repeated /{PAGE}"), ("raw", f"Raw, repeated /-/raw/{PAGE}")):
        w, s = r[key]["wrk"], r[key]["sequential"]
        rows.append((f"{label}, wrk -t2 -c16", wrk_cell(w), "", ""))
        rows.append((f"{label}, {s['n']} sequential", f"median {fmt(s['median_ms'], ' ms')}, "
                     f"p95 {fmt(s['p95_ms'], ' ms')}", "", ""))
    pl = r["page_list"]
    rows.append(("Page list /-/pages, first GET", fmt(pl["first_ms"], " ms"), "", ""))
    rows.append((f"Page list /-/pages, next {pl['rest']['n']} GETs",
                 f"median {fmt(pl['rest']['median_ms'], ' ms')}, p95 {fmt(pl['rest']['p95_ms'], ' ms')}, "
                 f"max {fmt(pl['rest']['max_ms'], ' ms')}", "", ""))
    for key, label in (("tldr", f"Save (API PUT) on tldr, {PAGE}"), ("ten", "Save (API PUT) on the 10-page wiki")):
        s = r["save"][key]
        rows.append((f"{label}, {s.get('n', 0)} sequential", f"median {fmt(s.get('median_ms'), ' ms')}, "
                     f"p95 {fmt(s.get('p95_ms'), ' ms')}" + (f"; ERROR {s['error']}" if s.get("error") else ""),
                     "", ""))
    ratio = r["save"]["ratio"]
    rows.append(("Save ratio tldr / 10-page (medians)", fmt(ratio, "", 2), f"<= {TARGETS['save_ratio']}",
                 "n/a" if ratio is None else ("yes" if ratio <= TARGETS["save_ratio"] else "NO")))
    h = r["hello"]["wrk"]
    rows.append(("Hello world (bench/hello.py), wrk -t2 -c16", wrk_cell(h), "", ""))
    hr = r["hello"]["ratio"]
    per_round = ", ".join(fmt(x, "", 2) for x in r["hello"].get("round_ratios", []))
    rows.append(("Page view repeated / hello (req/s), median of rounds", fmt(hr, "", 2)
                 + (f" (rounds: {per_round})" if len(r["hello"].get("round_ratios", [])) > 1 else ""),
                 f">= {TARGETS['hello_ratio']}",
                 "n/a" if hr is None else ("yes" if hr >= TARGETS["hello_ratio"] else "NO")))
    va = r["view_all"]
    rows.append((f"View every page once ({va['ok'] + va['errors'] + va['skipped']} pages, "
                 f"{r['settings']['view_all_threads']} threads)",
                 f"{va['ok']} ok, {va['errors']} errors, {va['skipped']} skipped in {fmt(va['seconds'], ' s')}; "
                 f"median {fmt(va['median_ms'], ' ms')}", "", ""))
    for when, key in (("", "history"), (" after the saves", "history_after_saves")):
        for name, h in r.get(key, {}).items():
            target = f"< {TARGETS['history_ms']:.0f} ms" if name in ("history", "blame", "recent") else ""
            median = h["rest"].get("median_ms")
            met = "" if not target else ("n/a" if median is None else ("yes" if median < TARGETS["history_ms"] else "NO"))
            rows.append((f"{h['path']}{when}: first GET; median, p95 of {h['rest'].get('n', 0)}",
                         f"first {fmt(h['first_ms'], ' ms')}; median {fmt(median, ' ms')}, "
                         f"p95 {fmt(h['rest'].get('p95_ms'), ' ms')}"
                         + (f", {h['rest']['errors']} errors" if h['rest'].get('errors') else ""), target, met))
    m = r["memory"]["after_view_all"]
    each = ", ".join(fmt(v, "", 0) for v in m["workers"].values())
    mx = m["max_mb"]
    rows.append(("Worker RSS after viewing every page: max (each)", f"{fmt(mx, ' MB')} ({each})",
                 f"< {TARGETS['rss_mb']:.0f} MB each",
                 "n/a" if mx is None else ("yes" if mx < TARGETS["rss_mb"] else "NO")))
    return rows


def markdown(r: dict) -> str:
    lines = ["| Measure | Result | Target | Met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table(r)]
    m = r["machine"]
    lines += ["", f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Python {m['python']}, "
              f"{m['git']}, {m['wrk']}; {m['platform']}.",
              f"Command: `{r['settings']['command']}`; servers: `{r['settings']['server_command']}`.",
              f"Run {r['started']}, {r['settings']['mode']} mode, {fmt(r['seconds'], ' s', 0)}; "
              f"load average {fmt(r['loadavg_start'][0], '', 2)} at the start, "
              f"{fmt(r.get('loadavg_end', [None])[0], '', 2)} at the end."]
    return "\n".join(lines) + "\n"


def print_table(r: dict) -> None:
    rows = [("Measure", "Result", "Target", "Met")] + table(r)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()


# ---------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small counts")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="results directory (default bench/out/)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random page sample")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating wrk rounds of page view, raw and hello (default 5, quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (repos, data, logs)")
    args = parser.parse_args()
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    if args.rounds is not None and not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    quick = args.quick
    n = {
        "first": 40 if quick else 500,
        "seq": 40 if quick else 200,
        "wrk_s": 3 if quick else 10,
        "list": 5 if quick else 20,
        "saves": 10 if quick else 100,
        "history": 8 if quick else 40,
        "view_all": 300 if quick else None,  # None: every page
        "view_all_threads": 4,
        "rounds": args.rounds or (1 if quick else 5),
    }

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tacit-bench-"))
    servers: list[Server] = []
    results: dict = {"started": started, "machine": machine(), "loadavg_start": os.getloadavg()}
    if results["loadavg_start"][0] > 0.5:
        log(f"note: load average {results['loadavg_start'][0]:.2f} before the start; other work shares the CPUs")
    argv = " ".join(["bench/run.py", *sys.argv[1:]])
    results["settings"] = {
        "mode": "quick" if quick else "full", "workers": args.workers, "seed": args.seed,
        "command": f".venv/bin/python {argv}",
        "server_command": f"gunicorn -w {args.workers} -k sync -b 127.0.0.1:PORT wsgi:app (hello:app)",
        "wrk": f"wrk -t2 -c16 -d{n['wrk_s']}s --latency", **{f"{k}": v for k, v in n.items()},
    }

    tokens: dict[str, str] = {}

    def serve(name: str, app: str, chdir: Path, repo: Path | None, ready: str) -> Server:
        env = {}
        if repo is not None:
            data = tmp / f"data-{name}"
            data.mkdir()
            env = {"WIKI_REPO": str(repo), "WIKI_DATA": str(data)}
            tokens[name] = api_token(env)
        server = Server(name, app, chdir, env, args.workers, tmp, ready)
        servers.append(server)
        return server.start()

    try:
        tldr = unpack_tldr(tmp)
        names = page_names(tldr)
        log(f"tldr: {len(names)} pages")
        if PAGE not in names:
            raise RuntimeError(f"{PAGE} is not a page of the corpus")
        rng = random.Random(args.seed)
        others = [p for p in names if p != PAGE]
        ten_names = [PAGE] + sorted(rng.sample(others, 9))
        ten = make_small_wiki(tmp, tldr, ten_names)
        prepare(tldr)
        prepare(ten)
        results["corpus"] = {"pages": len(names), "commits": int(git(tldr, "rev-list", "--count", "main")),
                             "ten_pages": ten_names}

        # ---- tldr: first views; then view, raw and hello under wrk in alternating rounds (the
        # machine may be shared, so the ratio compares runs made under the same background load)
        srv = serve("tldr", "wsgi:app", ROOT, tldr, f"/-/raw/{PAGE}")
        results["startup_s"] = {"tldr": srv.startup_s}
        sample = rng.sample(others, min(n["first"], len(others)))
        log(f"1. first view of {len(sample)} random pages, sequential")
        results["first_view"] = first_views(srv.port, sample, 900)

        view_path, raw_path = url(PAGE), "/-/raw" + url(PAGE)
        for path in (view_path, raw_path):
            status, _, _ = request(srv.port, "GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
        hello = serve("hello", "hello:app", BENCH, None, "/")
        results["startup_s"]["hello"] = hello.startup_s
        rounds: dict[str, list] = {"view": [], "raw": [], "hello": []}
        for i in range(n["rounds"]):
            log(f"2, 6, 3. wrk round {i + 1}/{n['rounds']}: /{PAGE}, hello, /-/raw/{PAGE}")
            rounds["view"].append(wrk(srv.port, view_path, n["wrk_s"]))
            rounds["hello"].append(wrk(hello.port, "/", n["wrk_s"]))
            rounds["raw"].append(wrk(srv.port, raw_path, n["wrk_s"]))
        hello.stop()
        log(f"2, 3. {n['seq']} sequential GETs each of /{PAGE} and /-/raw/{PAGE}")
        results["view"] = {"wrk": median_round(rounds["view"]), "sequential": sequential(srv.port, view_path, n["seq"])}
        results["raw"] = {"wrk": median_round(rounds["raw"]), "sequential": sequential(srv.port, raw_path, n["seq"])}
        results["hello"] = {"wrk": median_round(rounds["hello"])}
        ratios = [v["rps"] / h["rps"] for v, h in zip(rounds["view"], rounds["hello"]) if v["rps"] and h["rps"]]
        results["hello"]["round_ratios"] = ratios
        # the target's figure: the median of the per-round ratios (each round's view and hello runs
        # follow each other, so they share the background load better than the overall medians do)
        results["hello"]["ratio"] = statistics.median(ratios) if ratios else None
        v, h = results["view"]["wrk"]["rps"], results["hello"]["wrk"]["rps"]
        results["hello"]["ratio_of_medians"] = v / h if v and h else None

        log(f"4. page list: {n['list']} sequential GETs of /-/pages")
        status, body, first = request(srv.port, "GET", "/-/pages")
        rest = sequential(srv.port, "/-/pages", n["list"] - 1)
        results["page_list"] = {"first_ms": first * 1000, "first_status": status, "bytes": len(body),
                                "rest": rest}

        log("8. history: first and repeated GETs of history, blame, diff and recent changes")
        results["history"] = history_figures(srv.port, n["history"])

        results["memory"] = {"before_view_all": memory(srv)}
        targets = names if n["view_all"] is None else names[:: max(1, len(names) // n["view_all"])]
        log(f"7. viewing {len(targets)} pages once with {n['view_all_threads']} threads")
        results["view_all"] = view_all(srv.port, targets, n["view_all_threads"], 1800)
        results["memory"]["after_view_all"] = memory(srv)

        # ---- saves: tldr and the 10-page wiki in turn (saves change the repositories, so they come last)
        small = serve("ten", "wsgi:app", ROOT, ten, f"/-/raw/{PAGE}")
        results["startup_s"]["ten"] = small.startup_s
        log(f"5. saves: {n['saves']} PUTs to {PAGE} on tldr and on the 10-page wiki, alternating")
        savers = [Saver(srv.port, PAGE, tokens["tldr"]), Saver(small.port, PAGE, tokens["ten"])]
        interleaved_saves(savers, n["saves"], 900)
        results["save"] = {"tldr": savers[0].result(), "ten": savers[1].result()}
        a, b = results["save"]["tldr"].get("median_ms"), results["save"]["ten"].get("median_ms")
        results["save"]["ratio"] = a / b if a and b else None
        results["memory"]["after_saves"] = memory(srv)
        log("8. history again, after the saves (new commits not yet in the commit-graph)")
        results["history_after_saves"] = history_figures(srv.port, n["history"])
        small.stop()
        srv.stop()
        results["loadavg_end"] = os.getloadavg()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:
        for s in servers:
            tail = s.log_tail()
            if tail:
                print(f"--- {s.logfile.name} (last lines)\n{tail}", file=sys.stderr)
        raise
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping {s.name} failed: {e!r}", file=sys.stderr)
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    results["seconds"] = time.perf_counter() - t_start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(results))
    print_table(results)
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
