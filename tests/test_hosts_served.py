"""Three real hosts (gunicorn, 2 workers x 2 threads each) of one wiki over a git server (git daemon)
and PostgreSQL, every request sent to a random host: load, convergence, read-your-writes, pushes,
faults and a host whose clock is an hour off. CI-sized; bench/hosts.py runs the full figures.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import random
import re
import statistics
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from .cluster import Cluster, fsck_clean, git_out
from .serving import json_request
from .test_durability import LINES, Saver, SavingRound, page_text

PASSWORD = "several-hosts-password"


@pytest.fixture
def cluster(tmp_path, postgres, git_server):
    c = Cluster(tmp_path, postgres, git_server)
    c.token = c.add_user("loader", PASSWORD)
    with c:
        yield c


def check_against_remote(c: Cluster, results, since: str) -> dict:
    """Every 2xx save is a commit on the git server holding its text; every new commit there is an
    answered save; no answer says "unknown revision"."""
    ok = [(page, marker, body) for status, page, marker, body in results if 200 <= status < 300]
    commits = set(git_out(c.bare, "rev-list", f"{since}..main").split())
    for page, marker, body in ok:
        assert body["commit"] in commits, f"{marker}: its commit is not on the git server"
        text = git_out(c.bare, "show", f"{body['commit']}:{page}.md")
        assert marker in text, f"{marker}: its text is not in its commit"
    unknown = [b for s, _, _, b in results if "unknown revision" in json.dumps(b).lower()
               or "not a revision" in json.dumps(b).lower()]
    return {"ok": len(ok), "merged": sum(1 for _, _, b in ok if b.get("merged")), "commits": len(commits),
            "conflicts": sum(1 for s, *_ in results if s == 409), "unknown": len(unknown),
            "unanswered": commits - {b["commit"] for _, _, b in ok}}


def seed_pages(c: Cluster, pages: list[str]) -> str:
    for page in pages:
        status, body = c.any_host().request("PUT", f"/-/api/v1/pages/{page}",
                                         {"markdown": page_text([f"line {k}: initial" for k in range(LINES)])},
                                         c.token)
        assert status == 201, body
    return c.remote_head()


def test_load_on_three_hosts_loses_nothing(cluster):
    c = cluster
    pages = [f"Load/Page{i:02d}" for i in range(20)]
    since = seed_pages(c, pages)
    savers = [Saver(c.balanced(), c.token, pages, seed) for seed in range(12)]
    per_client = 25
    started = time.perf_counter()
    with ThreadPoolExecutor(len(savers)) as pool:
        list(pool.map(lambda s: [s.save_once(f"c{id(s) % 997}-{i}-{random.random():.6f}")
                                 for i in range(per_client)], savers))
    elapsed = time.perf_counter() - started
    results = [r for s in savers for r in s.results]
    statuses = {s for s, *_ in results}
    assert statuses <= {200, 409}, f"unexpected answers: {statuses - {200, 409}}: " + \
        "; ".join(json.dumps(b)[:200] for s, _, _, b in results if s not in (200, 409))[:1000]
    figures = check_against_remote(c, results, since)
    assert figures["unknown"] == 0
    assert figures["unanswered"] == set()
    assert figures["commits"] == figures["ok"]
    assert figures["merged"] > 0  # stale bases, on hosts that had not seen them, were really exercised
    c.wait_converged()
    assert c.mirrors_within_remote() == []
    assert fsck_clean(c.bare) and all(fsck_clean(h.repo) for h in c.hosts)
    print(f"\nthree hosts: {len(results)} saves by 12 clients in {elapsed:.1f} s: {figures['ok']} saved "
          f"({figures['merged']} merged), {figures['conflicts']} conflicts")


def _poll_text(host, page: str, needle: str, token: str, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while True:
        status, body = host.request("GET", f"/-/api/v1/pages/{page}", token=token)
        if status == 200 and needle in body.get("markdown", ""):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{needle!r} not on {host.base} within {timeout} s")
        time.sleep(0.005)


def test_a_save_on_one_host_shows_on_the_others_and_in_their_search(cluster, postgres):
    c = cluster
    a, b, d = c.hosts
    delays = []
    for i in range(10):
        word = f"convergence{i}x{random.randrange(10**6)}"
        status, body = a.request("PUT", f"/-/api/v1/pages/Conv/P{i}", {"markdown": f"hello {word}\n"}, c.token)
        assert status == 201, body
        delays += [_poll_text(b, f"Conv/P{i}", word, c.token), _poll_text(d, f"Conv/P{i}", word, c.token)]
        deadline = time.monotonic() + 10
        while True:  # and search on another host finds it
            _, found = b.request("GET", f"/-/api/v1/search?q={word}", token=c.token)
            if any(r.get("path") == f"Conv/P{i}" for r in found.get("results", [])):
                break
            assert time.monotonic() < deadline, f"search on another host never found {word}"
            time.sleep(0.05)
    # the notification connections killed: hosts poll the head row (at most a second apart)
    postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
                 database=c.database.rsplit("/", 1)[1])
    status, _ = a.request("PUT", "/-/api/v1/pages/Conv/Killed", {"markdown": "after the kill\n"}, c.token)
    assert status == 201
    killed = [_poll_text(h, "Conv/Killed", "after the kill", c.token) for h in (b, d)]
    print(f"\nconvergence: median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms; "
          f"with notifications killed max {max(killed) * 1000:.0f} ms")
    assert max(killed) < 5


class Browser:
    """A client with a cookie jar (what a browser keeps), talking to whichever host it is given."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, host, method: str, path: str, body: dict | None = None, token: str = ""):
        return json_request(method, host.base + path, body, token, self.opener)


def test_the_same_visitor_never_sees_an_older_page_on_another_host(cluster):
    c = cluster
    browser = Browser()
    saved: dict = {}
    for i in range(20):
        saver, reader = random.sample(c.hosts, 2)
        status, saved = browser.request(saver, "PUT", "/-/api/v1/pages/Mine", {"markdown": f"version {i}\n",
                                        **({"base": saved["revision"]} if i else {})}, c.token)
        assert status in (200, 201), saved
        status, page = browser.request(reader, "GET", "/-/api/v1/pages/Mine", token=c.token)
        assert page["markdown"] == f"version {i}\n", f"round {i}: {reader.base} answered an older page"
    assert any(cookie.name == "tacit_seen" for cookie in browser.jar)


def test_pushes_through_any_host_and_straight_to_the_git_server(cluster, tmp_path):
    c = cluster
    a, b, d = c.hosts
    work = tmp_path / "clone"
    auth = f"loader:{c.token}@"
    url_b = b.base.replace("http://", f"http://{auth}") + "/-/wiki.git"
    subprocess.run(["git", "clone", "-q", url_b, str(work)], check=True, capture_output=True)
    (work / "Pushed.md").write_text("pushed through host b\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=Lo", "-c", "user.email=lo@example.org", "commit", "-qm",
                    "through b"], check=True)
    push = subprocess.run(["git", "-C", str(work), "push", "origin", "HEAD:main"], capture_output=True, text=True)
    assert push.returncode == 0, push.stderr
    assert "pushed through host b" in git_out(c.bare, "show", "main:Pushed.md")
    _poll_text(d, "Pushed", "through host b", c.token)
    # a stale push through another host is refused, naming what to do, and changes nothing
    a.request("PUT", "/-/api/v1/pages/Pushed", {"markdown": "edited on the web\n",
                                                "base": c.remote_head()}, c.token)
    (work / "Pushed.md").write_text("stale\n")
    subprocess.run(["git", "-C", str(work), "commit", "-qam", "stale"], check=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="Lo", GIT_AUTHOR_EMAIL="lo@example.org",
                            GIT_COMMITTER_NAME="Lo", GIT_COMMITTER_EMAIL="lo@example.org"))
    url_d = d.base.replace("http://", f"http://{auth}") + "/-/wiki.git"
    push = subprocess.run(["git", "-C", str(work), "push", url_d, "HEAD:main"], capture_output=True, text=True)
    assert push.returncode != 0
    assert git_out(c.bare, "show", "main:Pushed.md") == "edited on the web\n"
    # straight to the git server: every host has it within seconds
    direct = tmp_path / "direct"
    subprocess.run(["git", "clone", "-q", c.url, str(direct)], check=True, capture_output=True)
    (direct / "Direct.md").write_text("pushed to the git server\n")
    subprocess.run(["git", "-C", str(direct), "add", "."], check=True)
    subprocess.run(["git", "-C", str(direct), "-c", "user.name=Ci", "-c", "user.email=ci@example.org", "commit",
                    "-qm", "by CI"], check=True)
    subprocess.run(["git", "-C", str(direct), "push", "-q", "origin", "HEAD:main"], check=True)
    waited = c.wait_converged(timeout=10)
    print(f"\na push straight to the git server reached every host in {waited * 1000:.0f} ms")


def test_faults_lose_no_acknowledged_save(cluster):
    c = cluster
    pages = [f"Fault/Page{i}" for i in range(6)]
    since = seed_pages(c, pages)
    rng = random.Random(5)
    results = []
    for round_no in range(6):
        saving = SavingRound([Saver(c.balanced(), c.token, pages, round_no * 10 + n) for n in range(4)],
                             f"r{round_no}", limit=100)
        time.sleep(rng.uniform(0.2, 0.8))
        victim = rng.choice(c.hosts)
        victim.kill()
        down = {2: c.git, 4: c.postgres}.get(round_no)
        if down is not None:
            down.stop()
            time.sleep(0.3)
            survivor = next(h for h in c.hosts if h is not victim)
            status, body = survivor.request("PUT", "/-/api/v1/pages/Fault/While", {"markdown": "kept text\n"},
                                            c.token)
            assert status == 503 and body.get("yours") == "kept text\n", (status, body)
            status, body = survivor.request("GET", "/-/api/v1/pages/Fault/Page0")
            assert status == 200, (status, body)  # reads go on from the mirror (open to everyone here)
        time.sleep(0.2)
        results += saving.finish()
        if down is not None:
            down.start()
        victim.start()
        deadline = time.monotonic() + 5
        while True:  # the next save goes through within 5 s
            status, body = c.any_host().request("PUT", f"/-/api/v1/pages/Fault/After{round_no}",
                                                {"markdown": "after\n"}, c.token)
            if status == 201:
                break
            assert time.monotonic() < deadline, (status, body)
            time.sleep(0.1)
        c.wait_converged(timeout=10)
    acknowledged = [(s, p, m, b) for s, p, m, b in results if 200 <= s < 300]
    for _, page, marker, body in acknowledged:
        assert marker in git_out(c.bare, "show", f"{body['commit']}:{page}.md")
        assert subprocess.run(["git", f"--git-dir={c.bare}", "merge-base", "--is-ancestor", body["commit"], "main"],
                              capture_output=True).returncode == 0
    assert c.mirrors_within_remote() == []
    assert fsck_clean(c.bare) and all(fsck_clean(h.repo) for h in c.hosts)
    print(f"\nfaults: {len(acknowledged)} acknowledged saves over 6 rounds, all on the git server; "
          f"{len(git_out(c.bare, 'rev-list', f'{since}..main').split())} commits")


class FormSession(Browser):
    """A person in a browser: logs in with the form on one host, the session cookie works on all."""

    def page(self, host, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(host.base + path, data=data), timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def csrf(self, host) -> str:
        _, html = self.page(host, "/-/login" if not self.jar else "/-/watchlist")
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def login(self, host, name: str, password: str) -> None:
        status, html = self.page(host, "/-/login", {"name": name, "password": password, "csrf_token": self.csrf(host)})
        assert status == 200 and "Log out" in html, html[:500]

    def unread(self, host) -> int:
        _, html = self.page(host, "/-/watchlist")
        found = re.search(r"\((\d+) unread\)", html)
        return int(found.group(1)) if found else 0


def test_a_host_an_hour_off_loses_nothing_and_counts_unread_right(tmp_path, postgres, git_server):
    c = Cluster(tmp_path, postgres, git_server, skew={2: 3600.0})
    token_ann = c.add_user("ann", PASSWORD)
    c.add_user("ben", PASSWORD)
    with c:
        normal, skewed = c.hosts[0], c.hosts[2]
        status, saved = normal.request("PUT", "/-/api/v1/pages/Skew/Page", {"markdown": "first\n"}, token_ann)
        assert status == 201, saved
        c.wait_converged()
        ben = FormSession()
        ben.login(skewed, "ben", PASSWORD)
        status, _ = ben.page(skewed, "/-/watch?page=Skew/Page", {"action": "watch", "csrf_token": ben.csrf(skewed)})
        assert status == 200
        assert [ben.unread(h) for h in c.hosts] == [0, 0, 0]
        status, saved = normal.request("PUT", "/-/api/v1/pages/Skew/Page",
                                       {"markdown": "second\n", "base": saved["revision"]}, token_ann)
        assert status == 200
        c.wait_converged()
        assert [ben.unread(h) for h in c.hosts] == [1, 1, 1]  # the skewed host's "seen" is not an hour ahead
        ben.page(skewed, "/Skew/Page")  # looking at it marks it seen
        assert [ben.unread(h) for h in c.hosts] == [0, 0, 0]
        status, saved = skewed.request("PUT", "/-/api/v1/pages/Skew/Page",
                                       {"markdown": "third\n", "base": saved["revision"]}, token_ann)
        assert status == 200
        commit_time = int(git_out(c.bare, "log", "-1", "--format=%ct", "main").strip())
        assert abs(commit_time - time.time()) < 60  # the database's clock, not the host's
        c.wait_converged()
        assert [ben.unread(h) for h in c.hosts] == [1, 1, 1]
        assert "third" in git_out(c.bare, "show", "main:Skew/Page.md")
