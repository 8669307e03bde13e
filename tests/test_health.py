"""Liveness and readiness: /-/health, /-/ready, and the start-up check of `wiki serve`."""

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from wiki import gunicorn_hooks
from wiki.core.gitrepo import GitRepo, Person
from wiki.core.health import CheckState, HealthCheck, Readiness
from wiki.core.pages import PageStore
from wiki.core.search import semantic
from wiki.core.search.meaning import MeaningClient, MeaningState
from wiki.core.search.semantic import SemanticSettings
from wiki.core.wiki import Wiki
from wiki.gunicorn_hooks import StartupState

from .conftest import team_app
from .system import ensure_package

ADA = Person("Ada", "ada@example.org")


@pytest.fixture
def words_only(monkeypatch):
    """No meaning service: these tests are about the checks, not the model."""
    monkeypatch.setenv("WIKI_SEMANTIC", "0")


def _built(app):
    """The app's search indexes built and in step with the branch."""
    search = app.extensions["tacit"].search
    search.wait_for_rebuild(60)
    assert search.catch_up(wait=True)
    return search


def test_health_and_ready_answer_anyone_even_on_a_members_only_wiki(tmp_path, words_only):
    app = team_app(tmp_path, [("Ada", "admin")], WIKI_READ="user")
    anonymous = app.test_client()
    assert anonymous.get("/Home").status_code == 302  # the wiki itself asks for a login

    r = anonymous.get("/-/health")
    assert (r.status_code, r.json) == (200, {"status": "alive"})
    assert r.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in r.headers

    _built(app)
    r = anonymous.get("/-/ready")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "ready" and r.json["failed"] == []
    checks = r.json["checks"]
    assert {name: c["state"] for name, c in checks.items()} == {
        "repository": "ok", "database": "ok", "search": "ok", "meaning": "ok"}
    assert checks["search"]["lag"] == {"pages": 0, "history": 0}
    assert checks["meaning"]["service"] == "off"
    body = r.get_data(as_text=True)
    head = app.extensions["tacit"].pages.head()
    assert head not in body and "Welcome" not in body and str(tmp_path) not in body  # states, never content


def test_ready_fails_while_the_repository_is_moved_away_and_recovers(tmp_path, words_only, client):
    app = client.application
    repo = Path(app.config["WIKI_REPO"])
    assert client.get("/-/ready").status_code == 200
    moved = tmp_path / "elsewhere"
    repo.rename(moved)
    try:
        r = client.get("/-/ready")
        assert r.status_code == 503
        assert r.json["status"] == "not ready" and r.json["failed"] == ["repository"]
        message = r.json["checks"]["repository"]["message"]
        assert message == "the repository cannot be read: No such file or directory"
        assert r.json["checks"]["database"]["state"] == "ok"
        assert client.get("/-/health").status_code == 200  # alive all the same: no restart needed
    finally:
        moved.rename(repo)
    assert client.get("/-/ready").status_code == 200


def test_ready_reports_the_search_index_lag_and_never_fails_for_it(tmp_path, words_only):
    app = team_app(tmp_path, [("Ada", "admin")])
    _built(app)
    client = app.test_client()
    outside = PageStore(GitRepo(app.config["WIKI_REPO"]))  # commits the app hears nothing of (a push, a person)
    for n in range(3):
        outside.save(f"Outside/Page{n}", f"text {n}\n", ADA, "from outside")
    r = client.get("/-/ready")
    assert r.status_code == 200
    search = r.json["checks"]["search"]
    assert search["lag"] == {"pages": 3, "history": 3}
    assert (search["state"], search["message"]) == ("ok", "catching up (3 commits behind)")

    wiki = app.extensions["tacit"]
    strict = HealthCheck(wiki.repo, wiki.engine, wiki.search, lag_limit=2)
    check = strict.search_index()
    assert check.state is CheckState.DEGRADED and "pages 3 commits" in check.message
    assert strict.ready().state is Readiness.READY  # degraded search keeps the wiki in service

    assert client.get("/-/search?q=outside").status_code == 200  # a search catches the page index up
    assert client.get("/-/ready").json["checks"]["search"]["lag"]["pages"] == 0


def test_a_missing_index_is_degraded_and_the_probe_does_not_build_it(tmp_path):
    wiki = Wiki.open(tmp_path / "repo", tmp_path / "data", ADA, build_search=False)
    check = HealthCheck(wiki.repo, wiki.engine, wiki.search)
    report = check.ready()
    assert report.state is Readiness.READY
    search = {c.name: c for c in report.checks}["search"]
    assert search.state is CheckState.DEGRADED
    assert search.details["lag"]["pages"] is None and search.details["lag"]["history"] is None
    assert search.message.startswith("index missing or being rebuilt: pages, history")
    assert wiki.search.scheduler.background is None  # no rebuild was started by asking
    assert not (tmp_path / "data" / "index" / "pages.current").exists()


def test_the_meaning_check_asks_without_starting_the_service(tmp_path):
    packaged = semantic.model_file()
    if packaged is None:
        pytest.skip("no model installed")
    model = tmp_path / "model.onnx"
    os.link(packaged, model)  # the same model at a path of its own: no service of this run answers for it
    wiki = Wiki.open(tmp_path / "repo", tmp_path / "data", ADA, build_search=False,
                     semantic=SemanticSettings(model=model))
    check = HealthCheck(wiki.repo, wiki.engine, wiki.search)
    meaning = check.meaning()
    assert (meaning.state, meaning.details) == (CheckState.OK, {"service": "not running"})
    assert wiki.search.meaning._process is None  # nothing was started
    time.sleep(0.5)
    assert MeaningClient(SemanticSettings(model=model)).state() is MeaningState.NOT_RUNNING
    assert MeaningClient(SemanticSettings(enabled=False)).state() is MeaningState.OFF


# -- the database unreachable: a real PostgreSQL server, stopped under the wiki --------------------
@pytest.fixture
def postgres(tmp_path):
    """A PostgreSQL cluster of this test: (URL, a function that stops the server)."""
    initdb = ensure_package("/usr/lib/postgresql/*/bin/initdb", "postgresql")
    bindir = Path(initdb).parent
    root = Path(tempfile.mkdtemp(prefix="tacit-pg-health-"))  # the server runs as postgres: not under pytest's
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(as_postgres + [str(initdb), "-D", str(data), "-U", "wiki", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pg_ctl = as_postgres + [str(bindir / "pg_ctl"), "-D", str(data)]

    def stop() -> None:
        subprocess.run(pg_ctl + ["-m", "immediate", "stop"], capture_output=True)

    subprocess.run(pg_ctl + ["-w", "-l", str(root / "log"), "-o",
                             f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run(as_postgres + [str(bindir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "wiki",
                                      "tacit"], check=True, capture_output=True)
        yield f"postgresql+psycopg://wiki@127.0.0.1:{port}/tacit", stop
    finally:
        stop()
        shutil.rmtree(root, ignore_errors=True)


def test_ready_fails_when_the_database_cannot_be_reached(tmp_path, words_only, postgres, caplog):
    url, stop = postgres
    app = team_app(tmp_path, [("Ada", "admin")], WIKI_DATABASE_URL=url)
    client = app.test_client()
    r = client.get("/-/ready")
    assert r.status_code == 200
    assert r.json["checks"]["database"] == {"state": "ok", "message": "answering (postgresql)"}

    stop()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "wiki.core.health"):
        r = client.get("/-/ready")
    assert time.monotonic() - started < 5
    assert r.status_code == 503
    assert r.json["failed"] == ["database"]
    message = r.json["checks"]["database"]["message"]
    assert message.startswith("the database cannot be reached (")
    assert url.split(":")[-1].split("/")[0] not in message  # the port (the driver's words) only in the log
    assert any("cannot be reached" in rec.getMessage() for rec in caplog.records)
    assert r.json["checks"]["repository"]["state"] == "ok"
    assert client.get("/-/health").status_code == 200


# -- the start-up check of `wiki serve` (gunicorn_hooks.wait_until_ready), against a real HTTP server -----
@pytest.fixture
def served(tmp_path, words_only):
    """The app on a real HTTP server in a thread: (app, /-/ready URL)."""
    app = team_app(tmp_path, [("Ada", "admin")])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}/-/ready"
    finally:
        server.shutdown()


def test_the_start_up_check_says_ready(served, caplog):
    app, url = served
    _built(app)
    log = logging.getLogger("test.startup")
    with caplog.at_level(logging.INFO, "test.startup"):
        assert gunicorn_hooks._report_readiness(log, url, wait=10) is StartupState.READY
    (record,) = [r for r in caplog.records if r.name == "test.startup"]
    assert record.levelname == "INFO"
    assert record.getMessage().startswith("ready: repository: readable (branch main); database: answering (sqlite); "
                                          "search: in step with the branch; meaning: ")


def test_the_start_up_check_says_clearly_what_is_not_ready(served, tmp_path, caplog):
    app, url = served
    _built(app)  # no rebuild of its own running when the repository goes
    repo = Path(app.config["WIKI_REPO"])
    repo.rename(tmp_path / "elsewhere")
    log = logging.getLogger("test.startup")
    started = time.monotonic()
    with caplog.at_level(logging.INFO, "test.startup"):
        assert gunicorn_hooks._report_readiness(log, url, wait=1) is StartupState.NOT_READY
    assert 1 <= time.monotonic() - started < 5
    (record,) = [r for r in caplog.records if r.name == "test.startup"]
    assert record.levelname == "WARNING"
    assert "NOT READY" in record.getMessage()
    assert "repository: the repository cannot be read: No such file or directory" in record.getMessage()


def test_the_start_up_check_says_when_nothing_answers(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/-/ready"  # bound, never listening: refused
        state, report = gunicorn_hooks.wait_until_ready(url, wait=0.5)
    assert (state, report) == (StartupState.NO_ANSWER, None)
