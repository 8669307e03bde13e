"""Logs for operators: every process of a served wiki writes one format (gunicorn's error-log line,
or one JSON object a line), access lines carry the request's duration, and the records of child
processes (the rebuild process, the git hook, the meaning service) reach the server's log."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from wiki import logconfig

from .serving import ROOT, WikiServer

TEXT_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\] \[(\d+)\] \[([A-Z]+)\] (.*)$")
PASSWORD = "logging-password"


def wait_for(read, found, timeout: float = 20.0):
    """Poll `read()` until `found(text)` is true; the text (the assertion follows with it)."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        if found(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def server_log(srv: WikiServer) -> str:
    return srv.log.read_text(errors="replace")


def json_records(text: str) -> list[dict]:
    """Every line but the one `wiki serve` says on stdout must be a JSON object."""
    records = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("Serving "):
            continue
        records.append(json.loads(line))  # a line that is no JSON fails the test here
    return records


def test_text_lines_share_gunicorns_format_and_access_lines_carry_the_duration(tmp_path):
    with WikiServer(tmp_path, workers=1, WIKI_SEMANTIC="0", WIKI_PROXIES="1") as srv:
        probe = urllib.request.Request(srv.base + "/-/api/v1/pages/No/Such/Page?probe=1",
                                       headers={"X-Forwarded-For": "203.0.113.7"})  # behind a proxy
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(probe, timeout=30)
        assert answer.value.code == 404
        text = wait_for(lambda: server_log(srv), lambda t: "/-/api/v1/pages/No/Such/Page" in t
                        and "[wiki.core.search.rebuild] search indexes" in t)
        master = srv.proc.pid
    access = [line for line in text.splitlines() if "/-/api/v1/pages/No/Such/Page" in line]
    assert len(access) == 1, text[-3000:]
    stamp, pid, level, message = TEXT_LINE.match(access[0]).groups()
    assert level == "INFO" and int(pid) != master  # written by the worker that answered
    assert re.fullmatch(r'203\.0\.113\.7 "GET /-/api/v1/pages/No/Such/Page\?probe=1 HTTP/1\.1" 404 \d+ "-" '
                        r'"Python-urllib/[\d.]+" \d+ms', message), message
    listening = [TEXT_LINE.match(line) for line in text.splitlines() if "Listening at" in line]
    assert listening and listening[0].group(2) == str(master) and listening[0].group(4).startswith("Listening at")
    rebuilt = [TEXT_LINE.match(line) for line in text.splitlines() if "[wiki.core.search.rebuild]" in line]
    assert rebuilt and all(m is not None for m in rebuilt), text[-3000:]
    assert {m.group(3) for m in rebuilt} == {"INFO"}
    assert int(rebuilt[-1].group(2)) not in (master, int(pid))  # a process of its own, same format
    assert "Traceback" not in text


@pytest.fixture(scope="module")
def json_server(tmp_path_factory):
    srv = WikiServer(tmp_path_factory.mktemp("json-log"), workers=1, WIKI_SEMANTIC="0", WIKI_LOG_FORMAT="json")
    srv.token = srv.add_user("ed", PASSWORD, "editor")
    with srv:
        yield srv


def test_json_lines_parse_and_access_records_have_fields(json_server):
    srv = json_server
    status, _ = srv.request("GET", "/-/api/v1/pages/Missing?x=1")
    assert status == 404
    text = wait_for(lambda: server_log(srv), lambda t: "/-/api/v1/pages/Missing" in t
                    and "wiki.core.search.rebuild" in t)
    master = srv.proc.pid
    records = json_records(text)
    for record in records:
        assert {"time", "level", "logger", "process", "message"} <= record.keys(), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", record["time"])
    access = [r for r in records if r["logger"] == "gunicorn.access" and r["path"] == "/-/api/v1/pages/Missing"]
    assert len(access) == 1, records
    hit = access[0]
    assert hit["method"] == "GET" and hit["status"] == 404 and hit["query"] == "x=1"
    assert isinstance(hit["duration_ms"], float) and 0 <= hit["duration_ms"] < 30000
    assert hit["remote_addr"] == "127.0.0.1" and hit["user_agent"].startswith("Python-urllib/")
    assert isinstance(hit["bytes"], int) and hit["bytes"] > 0
    assert any(r["logger"] == "gunicorn.error" and r["message"].startswith("Listening at")
               and r["process"] == master for r in records)
    rebuilt = [r for r in records if r["logger"] == "wiki.core.search.rebuild"]
    assert rebuilt and rebuilt[-1]["process"] not in (master, hit["process"])


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="Ed", GIT_AUTHOR_EMAIL="ed@example.org",
               GIT_COMMITTER_NAME="Ed", GIT_COMMITTER_EMAIL="ed@example.org")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_the_git_hooks_records_reach_the_servers_log_not_the_pusher(json_server, tmp_path):
    srv = json_server
    url = f"http://ed:{srv.token}@127.0.0.1:{srv.port}/-/wiki.git"
    assert run_git(tmp_path, "clone", "-q", url, "clone").returncode == 0
    work = tmp_path / "clone"
    (work / ".hidden").mkdir()
    (work / ".hidden" / "x.md").write_text("nope\n")
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "hidden file")
    refused = run_git(work, "push", "-q", "origin", "HEAD")
    assert refused.returncode != 0 and "Tacit refused this push" in refused.stderr
    assert "wiki.core.receive" not in refused.stderr  # the pusher sees the reasons, not the log
    run_git(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "Notes.md").write_text("# Notes\n")
    run_git(work, "add", "-A")
    run_git(work, "commit", "-qm", "notes")
    assert run_git(work, "push", "-q", "origin", "HEAD").returncode == 0
    text = wait_for(lambda: server_log(srv), lambda t: "accepted" in t)
    workers = srv.worker_pids()
    hooks = [r for r in json_records(text) if r["logger"] == "wiki.core.receive"]
    assert [r["message"].split(" (")[0].split(":")[0] for r in hooks] == ["push by ed refused",
                                                                          "push by ed accepted"], hooks
    refusal, accepted = hooks
    assert refusal["level"] == "INFO" and refusal["user"] == "ed"
    assert any(".hidden/x.md" in p for p in refusal["problems"])
    assert accepted["ref"].startswith("refs/heads/") and accepted["new"] == run_git(work, "rev-parse", "HEAD").stdout.strip()
    assert refusal["process"] not in workers and refusal["process"] != accepted["process"]  # the hook's own


@pytest.fixture
def own_model(tmp_path) -> Path:
    """The packaged model under a path of its own: a meaning service of its own (the address
    is named after the model file), whose start and end this test sees."""
    from wiki.core.search import semantic

    model = semantic.model_file()
    if model is None:
        pytest.skip("no model installed")
    linked = tmp_path / "model.onnx"
    try:
        os.link(model, linked)
    except OSError:
        import shutil

        shutil.copyfile(model, linked)
    return linked


def test_the_meaning_services_records_reach_the_log_of_the_process_that_started_it(tmp_path, own_model):
    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"),
               WIKI_SEMANTIC="1", WIKI_SEMANTIC_MODEL=str(own_model), WIKI_LOG_FORMAT="json")
    env.pop("WIKI_DATABASE_URL", None)
    wiki = [sys.executable, "-m", "wiki"]
    subprocess.run([*wiki, "init"], env=env, cwd=ROOT, check=True, capture_output=True)

    # stderr a pipe (a script capturing the output): the command ends although the service lives on
    started = time.monotonic()
    done = subprocess.run([*wiki, "search", "welcome", "page"], env=dict(env, WIKI_SEMANTIC_IDLE="60"), cwd=ROOT,
                          capture_output=True, text=True, timeout=50)
    assert done.returncode == 0 and time.monotonic() - started < 50
    ready = [r for r in json_records(done.stderr) if r["logger"] == "wiki.core.search.meaning"]
    assert ready and ready[0]["message"].startswith("meaning service ready"), done.stderr
    service = ready[0]["process"]
    os.kill(service, 0)  # still running: nothing waited for it
    os.kill(service, signal.SIGTERM)
    wait_for(lambda: os.path.exists(f"/proc/{service}") and open(f"/proc/{service}/stat").read().split()[2] != "Z",
             lambda alive: not alive, 10)

    # stderr a file (a journal, a log file): the service writes there itself, to its very end
    log = tmp_path / "search.log"
    with open(log, "w") as out:
        subprocess.run([*wiki, "search", "welcome", "page"], env=dict(env, WIKI_SEMANTIC_IDLE="1"), cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=out, check=True, timeout=50)
    text = wait_for(log.read_text, lambda t: "meaning service stopped" in t)
    records = [r for r in json_records(text) if r["logger"] == "wiki.core.search.meaning"]
    assert [r["message"].split(":")[0] for r in records] == ["meaning service ready", "meaning service stopped"]
    assert records[0]["process"] == records[1]["process"] != service


def test_settings_are_checked_and_children_inherit_them():
    from wiki.config import load_config

    assert load_config({"WIKI_LOG_FORMAT": "JSON", "WIKI_LOG_LEVEL": "Warn"})["WIKI_LOG_LEVEL"] == "warning"
    with pytest.raises(ValueError, match="WIKI_LOG_FORMAT must be text or json"):
        load_config({"WIKI_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="WIKI_LOG_LEVEL"):
        load_config({"WIKI_LOG_LEVEL": "loud"})
    options = logconfig.gunicorn_options("json", "debug")
    assert "%(M)s" in options["access_log_format"]
    assert options["logconfig_dict"]["root"]["level"] == "DEBUG"
    assert logconfig.child_environment({"PATH": "/bin"}) == {"PATH": "/bin", "WIKI_LOG_FORMAT": "json",
                                                               "WIKI_LOG_LEVEL": "debug"}


def test_create_app_installs_the_format_unless_logging_is_configured(tmp_path):
    """Under `gunicorn 'wiki:create_app()'` nothing configured the root logger: create_app does;
    a warning of the app then comes out in the wiki's format."""
    script = ("import logging, wiki; wiki.create_app(); "
              "logging.getLogger('wiki.web.errors').warning('from the app')")
    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"), WIKI_SEMANTIC="0",
               WIKI_LOG_LEVEL="warning")
    env.pop("WIKI_DATABASE_URL", None)
    text = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60).stderr
    line = [m for m in map(TEXT_LINE.match, text.splitlines()) if m and m.group(4).endswith("from the app")]
    assert line and line[0].group(3) == "WARNING" and line[0].group(4) == "[wiki.web.errors] from the app", text
    configured = subprocess.run([sys.executable, "-c", "import logging; logging.basicConfig(format='OWN %(message)s'); "
                                 + script], env=env, cwd=ROOT, capture_output=True, text=True, check=True,
                                timeout=60).stderr
    assert "OWN from the app" in configured and not TEXT_LINE.search(configured)


def test_a_checkout_left_behind_by_a_save_is_a_warning(tmp_path, caplog):
    """A save into a non-bare repository whose checkout has a local edit of that page keeps the
    edit and the branch moves on: the log says the checkout stayed behind, and why."""
    from wiki.core.gitrepo import GitRepo, Person
    from wiki.core.pages import PageStore

    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "Home.md").write_text("hello\n")
    subprocess.run(["git", "add", "Home.md"], cwd=work, check=True)
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "init"], cwd=work, check=True)
    store = PageStore(GitRepo(work))
    (work / "Home.md").write_text("hello\nlocal edit\n")
    with caplog.at_level(logging.WARNING, logger="wiki.core.gitrepo"):
        store.save("Home", "hello\nfrom the web\n", Person("Ann", "ann@example.org"), base=store.head())
    assert (work / "Home.md").read_text() == "hello\nlocal edit\n"
    warned = [r for r in caplog.records if r.name == "wiki.core.gitrepo"]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert f"the checkout at {work} was left at" in warned[0].getMessage() and "Home.md" in warned[0].getMessage()
