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


def branch_head(srv, branch: str = "main") -> str:
    """The wiki branch's commit, in a bare or a non-bare repository."""
    return run_git(srv.repo, "rev-parse", f"refs/heads/{branch}").stdout.strip()


def non_bare_server(tmp_path, checked_out: str = "main", **settings) -> WikiServer:
    """A wiki whose repository is an ordinary clone with files checked out (as the README allows)."""
    repo = tmp_path / "srv" / "repo"
    repo.mkdir(parents=True)
    run_git(repo, "init", "-q", "--initial-branch=main")
    (repo / "Home.md").write_text("# Home\n\nA checked-out wiki.\n")
    (repo / "Notes.md").write_text("# Notes\n\nFirst notes.\n")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "Start")
    if checked_out != "main":
        run_git(repo, "checkout", "-q", "-b", checked_out)
    return WikiServer(tmp_path / "srv", workers=1, **settings)


def clone_and_commit(srv, token: str, where: Path, files: dict[str, str], message: str) -> Path:
    run_git(where.parent, "clone", "-q", url(srv, "ed", token), str(where))
    for path, text in files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_text(text)
    run_git(where, "add", "-A")
    run_git(where, "commit", "-q", "-m", message)
    return where


def test_a_push_to_a_non_bare_repository_updates_its_checkout(tmp_path):
    srv = non_bare_server(tmp_path)
    token = srv.add_user("ed", PASSWORD, "editor")
    with srv:
        clone = clone_and_commit(srv, token, tmp_path / "clone", {"Team/Pushed.md": "# Pushed\n\nvortexlily\n",
                                                                  "Notes.md": "# Notes\n\nChanged offline.\n"},
                                 "Offline work")
        pushed = run_git(clone, "push", "origin", "HEAD", check=False)
        assert pushed.returncode == 0, pushed.stderr
        assert branch_head(srv) == run_git(clone, "rev-parse", "HEAD").stdout.strip()
        status, page = srv.request("GET", "/-/api/v1/pages/Team/Pushed")
        assert status == 200 and "vortexlily" in page["markdown"]
        # the checkout follows: the new file is there, the changed one changed, nothing looks edited
        assert (srv.repo / "Team" / "Pushed.md").read_text() == "# Pushed\n\nvortexlily\n"
        assert (srv.repo / "Notes.md").read_text() == "# Notes\n\nChanged offline.\n"
        assert run_git(srv.repo, "status", "--porcelain").stdout == ""
        # and the wiki's own saves keep it in step after the push as before
        status, _ = srv.request("PUT", "/-/api/v1/pages/Team/Web", {"markdown": "# Web\n\nFrom the browser.\n"},
                                token)
        assert status in (200, 201)
        assert (srv.repo / "Team" / "Web.md").read_text() == "# Web\n\nFrom the browser.\n"
        assert run_git(srv.repo, "status", "--porcelain").stdout == ""
        assert [r["path"] for r in wait_for_search(srv, "vortexlily")] == ["Team/Pushed"]


def test_a_push_never_overwrites_local_edits_in_the_checkout(tmp_path):
    srv = non_bare_server(tmp_path)
    token = srv.add_user("ed", PASSWORD, "editor")
    with srv:
        (srv.repo / "Notes.md").write_text("# Notes\n\nSomeone's unsaved local edit.\n")
        clone = clone_and_commit(srv, token, tmp_path / "clone", {"Notes.md": "# Notes\n\nFrom the clone.\n"},
                                 "Change the notes")
        before = branch_head(srv)
        refused = run_git(clone, "push", "origin", "HEAD", check=False)
        assert refused.returncode != 0
        assert "Notes.md" in refused.stderr and "local" in refused.stderr
        assert branch_head(srv) == before
        assert (srv.repo / "Notes.md").read_text() == "# Notes\n\nSomeone's unsaved local edit.\n"

        # a push that touches other files goes through and leaves the local edit alone
        other = clone_and_commit(srv, token, tmp_path / "other", {"Other.md": "# Other\n\nNew page.\n"}, "Other")
        pushed = run_git(other, "push", "origin", "HEAD", check=False)
        assert pushed.returncode == 0, pushed.stderr
        assert branch_head(srv) == run_git(other, "rev-parse", "HEAD").stdout.strip()
        assert (srv.repo / "Other.md").read_text() == "# Other\n\nNew page.\n"
        assert (srv.repo / "Notes.md").read_text() == "# Notes\n\nSomeone's unsaved local edit.\n"
        assert run_git(srv.repo, "status", "--porcelain").stdout == " M Notes.md\n"


def test_a_push_to_the_wiki_branch_leaves_a_checkout_of_another_branch_alone(tmp_path):
    srv = non_bare_server(tmp_path, checked_out="drafts", WIKI_BRANCH="main")
    token = srv.add_user("ed", PASSWORD, "editor")
    with srv:
        clone = clone_and_commit(srv, token, tmp_path / "clone", {"Notes.md": "# Notes\n\nPushed.\n"}, "Push")
        pushed = run_git(clone, "push", "origin", "HEAD:main", check=False)
        assert pushed.returncode == 0, pushed.stderr
        assert branch_head(srv) == run_git(clone, "rev-parse", "HEAD").stdout.strip()
        assert run_git(srv.repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == "drafts"
        assert (srv.repo / "Notes.md").read_text() == "# Notes\n\nFirst notes.\n"
        assert srv.request("GET", "/-/api/v1/pages/Notes")[1]["markdown"] == "# Notes\n\nPushed.\n"


def test_update_checkout_outcomes(tmp_path):
    """The push-to-checkout step itself: updated, refused over local edits, refused when the branch moved."""
    from wiki.core.receive import CheckoutOutcome, checked_out_at, update_checkout

    work = tmp_path / "work"
    work.mkdir()
    run_git(work, "init", "-q", "--initial-branch=main")
    (work / "A.md").write_text("a\n")
    (work / "B.md").write_text("b\n")
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", "one")
    git_dir = str(work / ".git")
    assert checked_out_at(git_dir, "refs/heads/main") == str(work)
    assert checked_out_at(git_dir, "refs/heads/other") is None
    one = run_git(work, "rev-parse", "HEAD").stdout.strip()

    def commit_elsewhere(files: dict[str, str], parent: str) -> str:
        """A commit on top of `parent` that does not touch the checkout (as a push brings it)."""
        env = dict(os.environ, GIT_INDEX_FILE=str(tmp_path / "scratch-index"))
        subprocess.run(["git", "read-tree", parent], cwd=work, env=env, check=True)
        for path, text in files.items():
            blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=work, env=env, input=text,
                                  capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"], cwd=work,
                           env=env, check=True)
        tree = subprocess.run(["git", "write-tree"], cwd=work, env=env, capture_output=True, text=True,
                              check=True).stdout.strip()
        return run_git(work, "commit-tree", tree, "-p", parent, "-m", "pushed").stdout.strip()

    (work / "A.md").write_text("a, edited here\n")
    two = commit_elsewhere({"A.md": "a, pushed\n", "C.md": "c\n"}, one)
    assert update_checkout(str(work), git_dir, two) == (CheckoutOutcome.LOCAL_EDITS, ["A.md"])
    assert (work / "A.md").read_text() == "a, edited here\n" and not (work / "C.md").exists()

    three = commit_elsewhere({"B.md": "b, pushed\n", "C.md": "c\n"}, one)
    assert update_checkout(str(work), git_dir, three) == (CheckoutOutcome.UPDATED, [])
    run_git(work, "update-ref", "refs/heads/main", three, one)  # what git does after the hook
    assert (work / "B.md").read_text() == "b, pushed\n" and (work / "C.md").read_text() == "c\n"
    assert (work / "A.md").read_text() == "a, edited here\n"  # the local edit of another file stays
    assert run_git(work, "status", "--porcelain").stdout == " M A.md\n"

    (work / "E.md").write_text("e, not yet added here\n")  # an untracked file the push would replace
    four = commit_elsewhere({"E.md": "e, pushed\n"}, three)
    assert update_checkout(str(work), git_dir, four) == (CheckoutOutcome.LOCAL_EDITS, ["E.md"])
    assert (work / "E.md").read_text() == "e, not yet added here\n"

    sideways = commit_elsewhere({"D.md": "d\n"}, one)  # not a descendant of the checkout's commit
    assert update_checkout(str(work), git_dir, sideways) == (CheckoutOutcome.MOVED, [])
    assert not (work / "D.md").exists()
