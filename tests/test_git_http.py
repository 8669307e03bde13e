"""Clone, edit offline, push back, over git's smart HTTP protocol, against a real gunicorn server."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from wiki.core.talk import format_file

from .serving import WikiServer

PASSWORD = "git-http-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("git-http")
    srv = WikiServer(tmp, workers=2, WIKI_LOGIN_LIMIT_ADDRESS="1000 per minute")
    tokens = {"ed": srv.add_user("ed", PASSWORD, "editor"), "rita": srv.add_user("rita", PASSWORD, "reader")}
    with srv:
        yield srv, tokens


def run_git(cwd, *args, check=True) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="Offline Ed", GIT_AUTHOR_EMAIL="ed@example.org",
               GIT_COMMITTER_NAME="Offline Ed", GIT_COMMITTER_EMAIL="ed@example.org")
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc


def url(srv, user: str = "", secret: str = "") -> str:
    auth = f"{user}:{secret}@" if user else ""
    return f"http://{auth}127.0.0.1:{srv.port}/-/wiki.git"


def head(srv) -> str:
    return subprocess.run(["git", "--git-dir", str(srv.repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def wait_for_search(srv, word: str, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while True:
        status, body = srv.request("GET", f"/-/api/v1/search?q={word}")
        if status == 200 and body["results"] or time.monotonic() > deadline:
            return body.get("results", [])
        time.sleep(0.1)


def test_round_trip_clone_edit_offline_pull_merge_push(server, tmp_path):
    srv, tokens = server
    status, _ = srv.request("PUT", "/-/api/v1/pages/Team/Status", {"markdown": "# Status\n\nAll green.\n"},
                            tokens["ed"])
    assert status in (200, 201)
    status, thread = srv.request("POST", "/-/api/v1/pages/Team/Status/talk",
                                 {"title": "Green?", "body": "Really all green?"}, tokens["ed"])
    assert status == 201, thread
    thread_id = thread["id"]

    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", url(srv, "ed", tokens["ed"]), str(clone))
    assert (clone / "Team" / "Status.md").read_text().startswith("# Status")
    talk_dir = clone / ".talk" / "Team" / "Status.md" / thread_id
    assert (talk_dir / f"{thread_id}.md").exists()  # talk threads travel with the clone

    # offline: three pages and a comment
    (clone / "Team" / "Status.md").write_text("# Status\n\nAll green.\n\nOffline note: quasarbloom.\n")
    (clone / "Team" / "Plan.md").write_text("# Plan\n\nShip the nebulawidget.\n")
    (clone / "Home.md").write_text((clone / "Home.md").read_text() + "\nSee [[Team/Plan]].\n")
    comment = "20261129-120000000-abcdef"
    (talk_dir / f"{comment}.md").write_bytes(format_file(
        {"author": "ed", "name": "Ed", "date": "2026-11-29T12:00:00Z", "reply-to": thread_id}, "Yes, checked offline."))
    run_git(clone, "add", "-A")
    run_git(clone, "commit", "-q", "-m", "Offline work")

    # meanwhile someone edits on the web: the push is not a fast-forward and is refused
    status, _ = srv.request("PUT", "/-/api/v1/pages/Team/Web", {"markdown": "# Web\n\nFrom the browser.\n"},
                            tokens["ed"])
    assert status in (200, 201)
    before = head(srv)
    refused = run_git(clone, "push", "origin", "HEAD", check=False)
    assert refused.returncode != 0 and ("fetch first" in refused.stderr or "non-fast-forward" in refused.stderr)
    assert head(srv) == before

    run_git(clone, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    pushed = run_git(clone, "push", "origin", "HEAD")
    assert head(srv) == run_git(clone, "rev-parse", "HEAD").stdout.strip()
    assert "-> main" in pushed.stderr

    for path, text in (("Team/Status", "quasarbloom"), ("Team/Plan", "nebulawidget"), ("Team/Web", "browser")):
        status, page = srv.request("GET", f"/-/api/v1/pages/{path}")
        assert status == 200 and text in page["markdown"], path
    status, threads = srv.request("GET", "/-/api/v1/pages/Team/Status/talk")
    comments = threads[0]["comments"] if isinstance(threads, list) else threads["threads"][0]["comments"]
    assert "Yes, checked offline." in str(comments)
    assert [r["path"] for r in wait_for_search(srv, "quasarbloom")] == ["Team/Status"]
    status, recent = srv.request("GET", "/-/api/v1/recent?limit=5")
    assert any(c["message"] and "Offline work" in c["message"] for c in recent)


@pytest.mark.parametrize("files, why", [
    ({"Bad?Name.md": "# x\n"}, "cannot contain ?"),
    ({".secret/notes.md": "x\n"}, "hidden"),
    ({".talk/Home.md/20261129-120000-abcdef/20261129-120000-abcdef.md": "no header\n"}, "starts with a --- line"),
    ({".talk/Home.md/not-a-thread/x.md": "---\nauthor: a\ndate: 2026-01-01T00:00:00Z\n---\nx\n"}, "not a thread id"),
    ({".wiki/redirects.json": "[1, 2]\n"}, "JSON object"),
])
def test_a_push_breaking_the_rules_is_refused_whole(server, tmp_path, files, why):
    srv, tokens = server
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", url(srv, "ed", tokens["ed"]), str(clone))
    (clone / "Fine.md").write_text("# Fine\n\nThis file alone would be accepted.\n")
    for path, text in files.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
    run_git(clone, "add", "-A")
    run_git(clone, "commit", "-q", "-m", "bad push")
    before = head(srv)
    refused = run_git(clone, "push", "origin", "HEAD", check=False)
    assert refused.returncode != 0
    assert why in refused.stderr and list(files)[0] in refused.stderr
    assert head(srv) == before  # nothing changed, not even the acceptable file
    assert srv.request("GET", "/-/api/v1/pages/Fine")[0] == 404


def test_credentials_and_rights(server, tmp_path):
    srv, tokens = server
    run_git(tmp_path, "clone", "-q", url(srv), str(tmp_path / "anon"))  # anyone may read this wiki
    import base64
    import urllib.error
    import urllib.request
    req = urllib.request.Request(srv.base + "/-/wiki.git/info/refs?service=git-upload-pack", headers={
        "Authorization": "Basic " + base64.b64encode(b"ed:wrong-password").decode()})
    with pytest.raises(urllib.error.HTTPError) as wrong:
        urllib.request.urlopen(req)
    assert wrong.value.code == 401 and wrong.value.headers["WWW-Authenticate"].startswith("Basic ")
    clone = tmp_path / "rita"
    run_git(tmp_path, "clone", "-q", url(srv, "rita", PASSWORD), str(clone))  # password works too
    (clone / "Reader.md").write_text("# Reader\n")
    run_git(clone, "add", "-A")
    run_git(clone, "commit", "-q", "-m", "reader push")
    before = head(srv)
    refused = run_git(clone, "push", "origin", "HEAD", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    anon = tmp_path / "anon"
    (anon / "Anon.md").write_text("# Anon\n")
    run_git(anon, "add", "-A")
    run_git(anon, "commit", "-q", "-m", "anonymous push")
    refused = run_git(anon, "push", "origin", "HEAD", check=False)
    assert refused.returncode != 0 and ("Authentication failed" in refused.stderr or "401" in refused.stderr
                                        or "could not read Username" in refused.stderr)
    wrong = run_git(anon, "push", url(srv, "ed", "wrong-password"), "HEAD:main", check=False)
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
    deleting = run_git(tmp_path / "rita", "push", url(srv, "ed", tokens["ed"]), ":main", check=False)
    assert deleting.returncode != 0
    assert head(srv) == before


def test_the_repository_page_shows_the_clone_url(server):
    srv, _ = server
    import urllib.request
    with urllib.request.urlopen(srv.base + "/-/repository") as r:
        text = r.read().decode()
    assert f"http://127.0.0.1:{srv.port}/-/wiki.git" in text and "git clone" in text
    with urllib.request.urlopen(srv.base + "/Home") as r:
        assert "/-/repository" in r.read().decode()  # linked from the footer


def test_members_only_wiki_asks_git_for_credentials(tmp_path):
    srv = WikiServer(tmp_path / "private", workers=1, WIKI_READ="user")
    token = srv.add_user("ann", PASSWORD, "reader")
    with srv:
        anon = run_git(tmp_path, "clone", "-q", url(srv), str(tmp_path / "a"), check=False)
        assert anon.returncode != 0
        run_git(tmp_path, "clone", "-q", url(srv, "ann", token), str(tmp_path / "b"))
        assert (Path(tmp_path / "b") / "Home.md").exists()
