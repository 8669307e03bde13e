"""Prometheus metrics: who may read /-/metrics, what is counted, and the numbers of every gunicorn
worker added up (multiprocess mode under `wiki serve`, a plain gunicorn with the hooks module, and
the separate bind)."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from wiki.core.gitrepo import GitRepo, Person
from wiki.core.metrics import Exposure, ExposureMode, PushOutcome
from wiki.core.pages import PageStore
from wiki.core.pushreport import push_outcome

from .conftest import client_for, team_app
from .serving import ROOT, WikiServer, free_port

ADA = Person("Ada", "ada@example.org")
PAGE_VIEW = {"route": "/<path:page>", "method": "GET", "status": "200"}


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there are none)."""
    return sum(s.value for s in samples(text) if s.name == name and labels.items() <= s.labels.items())


def token_of(app, name: str) -> str:
    users = app.extensions["tacit"].users
    return users.create_token(users.by_name(name).id, "metrics")[1]


@pytest.fixture
def words_only(monkeypatch):
    monkeypatch.setenv("WIKI_SEMANTIC", "0")


# -- who may read ------------------------------------------------------------------------------------
def test_only_an_admin_reads_the_metrics(tmp_path, words_only):
    app = team_app(tmp_path, [("Ada", "admin"), ("Ed", "editor")], WIKI_READ="user")
    anonymous = app.test_client()
    r = anonymous.get("/-/metrics")
    assert r.status_code == 401  # not the login page: a scraper follows no redirect to a form
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.get("/-/metrics", headers={"Authorization": "Bearer tacit_not-a-token"}).status_code == 401
    assert anonymous.get("/-/metrics", headers={"Authorization": f"Bearer {token_of(app, 'Ed')}"}).status_code == 403
    assert client_for(app, "Ed").get("/-/metrics").status_code == 403

    r = anonymous.get("/-/metrics", headers={"Authorization": f"Bearer {token_of(app, 'Ada')}"})
    assert r.status_code == 200
    assert r.content_type.startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(r.get_data(as_text=True))}
    assert {"tacit_http_requests", "tacit_http_request_duration_seconds", "tacit_page_saves", "tacit_git_pushes",
            "tacit_search_duration_seconds", "tacit_search_index_lag_commits", "tacit_render_cache_hits",
            "tacit_render_cache_misses"} <= names
    assert client_for(app, "Ada").get("/-/metrics").status_code == 200  # an admin's session too


@pytest.mark.parametrize("setting", ["off", "127.0.0.1:9100"])
def test_metrics_off_or_on_their_own_bind_are_not_on_the_wiki(tmp_path, words_only, setting):
    app = team_app(tmp_path, [("Ada", "admin")], WIKI_METRICS=setting)
    r = app.test_client().get("/-/metrics", headers={"Authorization": f"Bearer {token_of(app, 'Ada')}"})
    assert r.status_code == 404


def test_a_bad_metrics_setting_stops_the_start(tmp_path, words_only):
    with pytest.raises(ValueError, match="WIKI_METRICS must be off, admin or a bind"):
        team_app(tmp_path, [], WIKI_METRICS="everyone")
    assert Exposure.parse("[::1]:9100") == Exposure(ExposureMode.BIND, "::1", 9100)
    assert Exposure.parse(":9100") == Exposure(ExposureMode.BIND, "0.0.0.0", 9100)
    with pytest.raises(ValueError):
        Exposure.parse("127.0.0.1:70000")


# -- what is counted (one process: the test client) ----------------------------------------------------
def test_requests_saves_searches_renders_and_lag_are_counted(tmp_path, words_only):
    app = team_app(tmp_path, [("Ada", "admin"), ("Ed", "editor")])
    wiki = app.extensions["tacit"]
    wiki.search.wait_for_rebuild(60)
    admin = {"Authorization": f"Bearer {token_of(app, 'Ada')}"}
    ed = {"Authorization": f"Bearer {token_of(app, 'Ed')}"}
    client = app.test_client()
    before = client.get("/-/metrics", headers=admin).get_data(as_text=True)

    for _ in range(3):
        assert client.get("/Home").status_code == 200
    assert client.patch("/Home/of/nobody").status_code == 405  # matched no rule (for this method)
    assert client.put("/-/api/v1/pages/Plan", json={"markdown": "one\n\ntwo\n\nthree\n"}, headers=ed).status_code == 201
    base = wiki.pages.head()
    assert client.put("/-/api/v1/pages/Plan", json={"markdown": "ONE\n\ntwo\n\nthree\n", "base": base},
                      headers=ed).status_code == 200
    r = client.put("/-/api/v1/pages/Plan", json={"markdown": "one\n\ntwo\n\nTHREE\n", "base": base}, headers=ed)
    assert r.json["merged"] is True  # begun on the older revision, merged cleanly
    r = client.put("/-/api/v1/pages/Plan", json={"markdown": "uno\n\ntwo\n\nthree\n", "base": base}, headers=ed)
    assert r.status_code == 409  # the same line changed by both
    assert client.get("/-/api/v1/search?q=three").status_code == 200
    wiki.renderer.render("# Rendered\n", "Some/Page", cache_key="blob-of-this-test")
    wiki.renderer.render("# Rendered\n", "Some/Page", cache_key="blob-of-this-test")

    after = client.get("/-/metrics", headers=admin).get_data(as_text=True)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tacit_http_requests_total", **PAGE_VIEW) == 3
    assert delta("tacit_http_request_duration_seconds_count", **PAGE_VIEW) == 3
    assert delta("tacit_http_requests_total", route="unmatched", method="PATCH", status="405") == 1
    assert "Home/of/nobody" not in after  # never a raw path as a label
    assert delta("tacit_http_requests_total", route="/-/api/v1/pages/<path:page>", method="PUT", status="409") == 1
    assert delta("tacit_page_saves_total", outcome="created") == 1
    assert delta("tacit_page_saves_total", outcome="saved") == 1
    assert delta("tacit_page_saves_total", outcome="merged") == 1
    assert delta("tacit_page_saves_total", outcome="conflict") == 1
    assert delta("tacit_search_duration_seconds_count", kind="pages") == 1
    assert delta("tacit_render_cache_misses_total") >= 1
    assert delta("tacit_render_cache_hits_total", tier="memory") >= 1

    outside = PageStore(GitRepo(app.config["WIKI_REPO"]))  # commits the app hears nothing of
    for n in range(2):
        outside.save(f"Outside/{n}", "x\n", ADA, "outside")
    lagging = client.get("/-/metrics", headers=admin).get_data(as_text=True)
    assert value(lagging, "tacit_search_index_lag_commits", index="pages") == 2  # measured by the scrape


def test_git_report_of_a_push_tells_accepted_from_refused():
    def pkt(data: bytes) -> bytes:
        return b"%04x" % (len(data) + 4) + data

    accepted = pkt(b"unpack ok\n") + pkt(b"ok refs/heads/main\n") + b"0000"
    refused = pkt(b"unpack ok\n") + pkt(b"ng refs/heads/main pre-receive hook declined\n") + b"0000"
    assert push_outcome(accepted) is PushOutcome.ACCEPTED
    assert push_outcome(refused) is PushOutcome.REFUSED
    # side-band: progress on channel 2 (a hook's words may say anything), the report split over channel 1
    banded = (pkt(b"\x02remote: ok refs/heads/main looks fine\n") + pkt(b"\x01" + refused[:9])
              + pkt(b"\x01" + refused[9:]) + b"0000")
    assert push_outcome(banded) is PushOutcome.REFUSED
    assert push_outcome(pkt(b"unpack index-pack abnormal exit\n") + pkt(b"ng refs/heads/main unpacker error\n")) \
        is PushOutcome.REFUSED
    assert push_outcome(accepted[:12]) is None  # cut short
    assert push_outcome(b"") is None


# -- the real server: several gunicorn workers, one set of numbers --------------------------------------
def run_git(cwd, *args) -> None:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="Ed", GIT_AUTHOR_EMAIL="ed@example.org",
               GIT_COMMITTER_NAME="Ed", GIT_COMMITTER_EMAIL="ed@example.org")
    subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True, timeout=120)


def push(cwd) -> bool:
    proc = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=cwd, capture_output=True, timeout=120,
                          env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
    return proc.returncode == 0


def scrape(url: str, token: str = "") -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def per_process(folder: Path, name: str, **labels: str) -> dict[int, float]:
    """A counter's value in each process's own files of the metrics folder."""
    counts: dict[int, float] = {}
    for file in folder.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(file)]):
            counts[pid] = counts.get(pid, 0) + sum(
                s.value for s in metric.samples if s.name == name and labels.items() <= s.labels.items())
    return {pid: n for pid, n in counts.items() if n}


def views_until_two_workers_answered(srv: WikiServer, folder: Path) -> int:
    """Concurrent page views until at least two workers answered some; how many were made.
    (Bounded by time, not count: on a busy machine a worker may boot seconds after the first.)"""
    made, deadline = 0, time.monotonic() + 60
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            statuses = list(pool.map(lambda _: srv.request("GET", "/Home")[0], range(40)))
            assert statuses == [200] * 40
            made += 40
            if len(per_process(folder, "tacit_http_requests_total", **PAGE_VIEW)) >= 2:
                return made
    raise AssertionError("every view landed on one worker")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    srv = WikiServer(tmp, workers=3, WIKI_SEMANTIC="0")
    tokens = {"ada": srv.add_user("ada", "metrics-password", "admin"),
              "ed": srv.add_user("ed", "metrics-password", "editor")}
    stale = srv.data / "metrics" / "counter_999999.db"  # an earlier run's numbers: not this run's
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"left over by an earlier run")
    with srv:
        yield srv, tokens, stale


def test_the_workers_numbers_add_up_in_one_scrape(server, tmp_path):
    srv, tokens, stale = server
    folder = srv.data / "metrics"
    assert not stale.exists()  # emptied at start
    assert len(srv.worker_pids()) == 3

    views = views_until_two_workers_answered(srv, folder)
    status, _ = srv.request("PUT", "/-/api/v1/pages/Plan", {"markdown": "one\n\ntwo\n\nthree\n"}, tokens["ed"])
    assert status == 201
    base = srv.request("GET", "/-/api/v1/pages/Plan")[1]["commit"]
    assert srv.request("PUT", "/-/api/v1/pages/Plan", {"markdown": "ONE\n\ntwo\n\nthree\n", "base": base},
                       tokens["ed"])[0] == 200
    assert srv.request("PUT", "/-/api/v1/pages/Plan", {"markdown": "one\n\ntwo\n\nTHREE\n", "base": base},
                       tokens["ed"])[1]["merged"] is True
    assert srv.request("PUT", "/-/api/v1/pages/Plan", {"markdown": "uno\n\ntwo\n\nthree\n", "base": base},
                       tokens["ed"])[0] == 409
    assert srv.request("GET", "/-/api/v1/search?q=three")[0] == 200

    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", f"http://ed:{tokens['ed']}@127.0.0.1:{srv.port}/-/wiki.git", str(clone))
    (clone / "Pushed.md").write_text("# Pushed\n")
    run_git(clone, "add", "-A")
    run_git(clone, "commit", "-q", "-m", "A page by push")
    assert push(clone)
    (clone / ".hidden").mkdir()
    (clone / ".hidden" / "Secret.md").write_text("no\n")
    run_git(clone, "add", "-A")
    run_git(clone, "commit", "-q", "-m", "A hidden folder")
    assert not push(clone)  # the wiki's rules refuse it

    assert scrape(srv.base + "/-/metrics")[0] == 401
    assert scrape(srv.base + "/-/metrics", tokens["ed"])[0] == 403
    status, text = scrape(srv.base + "/-/metrics", tokens["ada"])
    assert status == 200
    workers = per_process(folder, "tacit_http_requests_total", **PAGE_VIEW)
    assert len(workers) >= 2 and set(workers) <= set(srv.worker_pids())
    assert value(text, "tacit_http_requests_total", **PAGE_VIEW) == views == sum(workers.values())
    assert value(text, "tacit_http_request_duration_seconds_count", **PAGE_VIEW) == views
    assert value(text, "tacit_http_requests_total", route="/-/api/v1/pages/<path:page>", method="PUT") == 4
    assert {o: value(text, "tacit_page_saves_total", outcome=o) for o in ("created", "saved", "merged", "conflict")} \
        == {"created": 1, "saved": 1, "merged": 1, "conflict": 1}
    assert value(text, "tacit_git_pushes_total", outcome="accepted") == 1
    assert value(text, "tacit_git_pushes_total", outcome="refused") == 1
    assert value(text, "tacit_search_duration_seconds_count", kind="pages") == 1
    assert value(text, "tacit_render_cache_misses_total") >= 1
    assert value(text, "tacit_render_cache_hits_total") >= 1
    assert any(s.name == "tacit_search_index_lag_commits" and s.labels == {"index": "pages"} for s in samples(text))

    # a worker that dies takes none of its numbers along (gunicorn starts another; child_exit is told)
    victim = max(workers, key=workers.get)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (victim in srv.worker_pids() or len(srv.worker_pids()) < 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert victim not in srv.worker_pids() and len(srv.worker_pids()) == 3
    text = scrape(srv.base + "/-/metrics", tokens["ada"])[1]
    assert value(text, "tacit_http_requests_total", **PAGE_VIEW) == views


def test_wiki_serve_says_when_it_is_ready(server):
    srv, _, _ = server
    deadline = time.monotonic() + 30
    while "ready: repository: readable" not in srv.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, srv.log.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    assert "NOT READY" not in srv.log.read_text(errors="replace")


def test_metrics_on_their_own_bind(tmp_path):
    metrics_port = free_port()
    srv = WikiServer(tmp_path, workers=2, WIKI_SEMANTIC="0", WIKI_METRICS=f"127.0.0.1:{metrics_port}")
    token = srv.add_user("ada", "metrics-password", "admin")
    with srv:
        for _ in range(5):
            assert scrape(srv.base + "/-/metrics", token)[0] == 404  # not on the wiki's port
        deadline = time.monotonic() + 60
        while srv.request("GET", "/-/ready")[1]["checks"]["search"]["lag"].get("pages") is None:
            assert time.monotonic() < deadline, "the search index was not built"
            time.sleep(0.2)
        status, text = scrape(f"http://127.0.0.1:{metrics_port}/metrics")  # whoever reaches the bind may read
    assert status == 200
    assert value(text, "tacit_http_requests_total", route="/-/metrics", status="404") == 5
    # the separate bind asked /-/ready before reading: the lag was measured for this scrape
    assert value(text, "tacit_http_requests_total", route="/-/ready", status="200") >= 1
    assert any(s.name == "tacit_search_index_lag_commits" for s in samples(text))


def test_a_plain_gunicorn_with_the_hooks_module_adds_up_its_workers(tmp_path):
    srv = WikiServer(tmp_path, WIKI_SEMANTIC="0")
    srv.cli("init")
    token = srv.add_user("ada", "metrics-password", "admin")
    log = tmp_path / "gunicorn.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:wiki.gunicorn_hooks", "-w", "2",
                                 "-b", f"127.0.0.1:{srv.port}", "--no-control-socket", "wiki:create_app()"],
                                env=srv.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    srv.proc = proc
    try:
        deadline = time.monotonic() + 60
        while "ready: repository: readable" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        views = views_until_two_workers_answered(srv, srv.data / "metrics")
        status, text = scrape(srv.base + "/-/metrics", token)
    finally:
        srv.stop()
    assert status == 200
    assert value(text, "tacit_http_requests_total", **PAGE_VIEW) == views
