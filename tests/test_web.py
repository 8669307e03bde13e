"""The web pages through Flask's test client."""

import re
from pathlib import Path

import pytest


from .conftest import git, test_data


def commits(app) -> int:
    return int(git(app.config["WIKI_REPO"], "rev-list", "--count", "main").strip())


def test_first_run_creates_the_repository_with_a_welcome_page(app, client):
    repo = Path(app.config["WIKI_REPO"])
    assert (repo / "HEAD").exists() and (repo / "README").exists()  # bare, with a note for people
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/Home")
    page = client.get("/Home")
    assert page.status_code == 200
    assert b"Welcome to Tacit" in page.data
    assert b"Last changed by" in page.data


def test_create_view_edit_flow(client, app):
    r = client.post("/-/new", data={"name": "Projects/Alpha/Status", "text": "# Alpha\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSee [[Missing Page]].",
                                    "message": "Start the status page"})
    assert r.status_code == 302
    page = client.get("/Projects/Alpha/Status")
    html = page.data.decode()
    assert "<table>" in html
    assert 'class="wikilink missing"' in html and "/-/edit/Missing%20Page" in html
    assert 'href="/-/pages/Projects"' in html  # breadcrumbs
    edit = client.get("/-/edit/Projects/Alpha/Status")
    base = re.search(r'name="base" value="([0-9a-f]{40})"', edit.data.decode()).group(1)
    r = client.post("/-/edit/Projects/Alpha/Status", data={"text": "# Alpha\n\nAll green.", "message": "", "base": base})
    assert r.status_code == 302
    assert b"All green." in client.get("/Projects/Alpha/Status").data
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%s").strip() == "Update Projects/Alpha/Status"


def test_red_link_leads_to_creation(client):
    r = client.get("/Missing Page")
    assert r.status_code == 404
    assert b"Create this page" in r.data and b"/-/edit/Missing%20Page" in r.data
    form = client.get("/-/edit/Missing Page")
    assert form.status_code == 200 and b'name="base" value=""' in form.data
    assert client.post("/-/edit/Missing Page", data={"text": "now here", "base": ""}).status_code == 302
    assert b"now here" in client.get("/Missing Page").data


def test_section_edit_saves_through_the_merge_path(client, app):
    client.post("/-/new", data={"name": "Doc", "text": "# Doc\n\n## One\n\nfirst\n\n## Two\n\nsecond\n"})
    page = client.get("/Doc").data.decode()
    assert "/-/edit/Doc?section=3" in page
    form = client.get("/-/edit/Doc?section=3").data.decode()
    assert "second" in form and "first" not in form.split("<textarea")[1]
    base = re.search(r'name="base" value="([0-9a-f]{40})"', form).group(1)
    # someone else edits section One meanwhile
    edit = client.get("/-/edit/Doc").data.decode()
    client.post("/-/edit/Doc", data={"text": "# Doc\n\n## One\n\nfirst, edited\n\n## Two\n\nsecond\n",
                                     "base": re.search(r'name="base" value="([0-9a-f]{40})"', edit).group(1)})
    r = client.post("/-/edit/Doc", data={"text": "## Two\n\nsecond, edited\n", "base": base, "section": "3"})
    assert r.status_code == 302
    text = client.get("/-/raw/Doc").data.decode()
    assert "first, edited" in text and "second, edited" in text


def test_conflict_screen_keeps_the_users_text(client):
    client.post("/-/new", data={"name": "C", "text": "line\n"})
    base = re.search(r'name="base" value="([0-9a-f]{40})"', client.get("/-/edit/C").data.decode()).group(1)
    client.post("/-/edit/C", data={"text": "their line\n", "base": base})
    r = client.post("/-/edit/C", data={"text": "my line\n", "base": base})
    assert r.status_code == 409
    html = r.data.decode()
    assert "their line" in html and "my line" in html and "Edit conflict" in html


def test_rename_redirects_old_name(client, app):
    client.post("/-/new", data={"name": "Old Name", "text": "content"})
    r = client.post("/-/rename/Old Name", data={"new_name": "Archive/New Name", "message": ""})
    assert r.status_code == 302
    old = client.get("/Old Name")
    assert old.status_code == 302 and "/Archive/New%20Name" in old.headers["Location"]
    assert b"Redirected from" in client.get(old.headers["Location"]).data
    assert client.post("/-/rename/Archive/New Name", data={"new_name": "Home"}).status_code == 409
    assert client.post("/-/rename/Archive/New Name", data={"new_name": "../x"}).status_code == 400


def test_case_variant_redirects_to_canonical(client):
    client.post("/-/new", data={"name": "Team/Onboarding", "text": "hi"})
    r = client.get("/team/ONBOARDING")
    assert r.status_code == 301 and r.headers["Location"].endswith("/Team/Onboarding")


def test_delete(client, app):
    client.post("/-/new", data={"name": "Temp", "text": "x"})
    before = commits(app)
    assert client.get("/-/delete/Temp").status_code == 200
    assert client.post("/-/delete/Temp", data={"message": "obsolete"}).status_code == 302
    assert client.get("/Temp").status_code == 404
    assert commits(app) == before + 1


def test_raw_and_page_list(client):
    client.post("/-/new", data={"name": "A/B", "text": "# B\n"})
    raw = client.get("/-/raw/A/B")
    assert raw.status_code == 200 and raw.mimetype == "text/markdown" and raw.data == b"# B\n"
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    listing = client.get("/-/pages").data.decode()
    assert "/A/B" in listing and "Home" in listing
    assert client.get("/-/pages/A").status_code == 200
    assert client.get("/-/pages/Nope").status_code == 404
    assert client.get("/A/").status_code == 302


@pytest.mark.parametrize("url,status", [
    ("/-/edit/..%2F..%2Fetc%2Fpasswd", 400), ("/a%5Cb", 400), ("/.git/config", 400),
    ("/-/raw/.wiki/redirects.json", 400), ("/-/nonexistent", 404), ("/x?rev=nothex", 404),
    ("/-/raw/Nope", 404), ("/%00", 400),
])
def test_bad_requests_get_clear_errors(client, url, status):
    r = client.get(url)
    assert r.status_code == status
    assert b"<title>" in r.data and b"Traceback" not in r.data


def test_preview_is_sanitized(client):
    r = client.post("/-/preview", data={"text": "**hi** <script>alert(1)</script> [[Home]]", "name": "X"})
    assert r.status_code == 200
    assert b"<strong>hi</strong>" in r.data and b"<script" not in r.data


def test_forms_need_a_csrf_token(csrf_app):
    client = csrf_app.test_client()
    r = client.post("/-/new", data={"name": "Sneaky", "text": "x"})
    assert r.status_code == 400 and b"CSRF" in r.data
    form = client.get("/-/new").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/-/new", data={"name": "Fine", "text": "x", "csrf_token": token}).status_code == 302


def test_session_cookie_flags(csrf_app):
    client = csrf_app.test_client()
    r = client.get("/-/new")
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_old_revision_view(client, app):
    client.post("/-/new", data={"name": "R", "text": "first"})
    first = git(app.config["WIKI_REPO"], "rev-parse", "main").strip()
    base = re.search(r'name="base" value="([0-9a-f]{40})"', client.get("/-/edit/R").data.decode()).group(1)
    client.post("/-/edit/R", data={"text": "second", "base": base})
    old = client.get(f"/R?rev={first}").data.decode()
    assert "first" in old and "Old revision of" in old


def test_naughty_strings_as_page_names(client, app):
    repo_dir = Path(app.config["WIKI_REPO"]).resolve()
    outside_before = set(repo_dir.parent.iterdir())
    strings = test_data("naughty-strings.txt").read_text(encoding="utf-8").split("\n")
    worked = refused = 0
    for s in strings:
        if not s or s.startswith("#"):
            continue
        resp = client.put("/-/api/v1/pages/" + _quote(s), json={"markdown": "naughty"})
        assert resp.status_code in (201, 400, 404, 405, 409), (s, resp.status_code, resp.data[:200])
        if resp.status_code == 201:
            name = resp.get_json()["path"]
            assert client.get("/-/api/v1/pages/" + _quote(name)).status_code == 200
            assert client.get("/-/raw/" + _quote(name)).status_code in (200,)
            upd = client.put("/-/api/v1/pages/" + _quote(name), json={"markdown": "edited", "base": resp.get_json()["revision"]})
            assert upd.status_code == 200
            assert client.delete("/-/api/v1/pages/" + _quote(name)).status_code == 200
            worked += 1
        else:
            refused += 1
    assert worked > 100 and refused > 10
    assert set(repo_dir.parent.iterdir()) == outside_before
    files = git(repo_dir, "ls-tree", "-r", "--name-only", "main").split("\n")
    assert all(not f.startswith((".git/", "/")) and ".." not in f.split("/") for f in files)
    fsck = __import__("subprocess").run(["git", "--git-dir", str(repo_dir), "fsck", "--no-dangling"], capture_output=True)
    assert fsck.returncode == 0


def _quote(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="")


def test_files_beside_pages_are_served_safely(app, client):
    from wiki.core.gitrepo import GitRepo
    from wiki.core.pages import PageStore

    store = PageStore(GitRepo(app.config["WIKI_REPO"]))
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    with store.repo.write_lock():
        head = store.head()
        tree = store.repo.write_tree_with(store.repo.commit(head).tree, {
            "img/logo.png": store.repo.write_blob(png),
            "img/evil.html": store.repo.write_blob(b"<script>alert(1)</script>")})
        commit = store.repo.write_commit(tree, [head], store.repo.commit(head).author, "files")
        assert store.repo.compare_and_swap(commit, head)
    r = client.get("/img/logo.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png
    evil = client.get("/img/evil.html")
    assert evil.mimetype == "application/octet-stream" and "attachment" in evil.headers["Content-Disposition"]
    assert "sandbox" in evil.headers["Content-Security-Policy"]


def test_cached_view_follows_every_commit_and_revalidates(client, app):
    first = client.put("/-/api/v1/pages/Cached", json={"markdown": "version one"}).get_json()
    view = client.get("/Cached")
    assert b"version one" in view.data and view.headers.get("ETag")
    assert client.get("/Cached", headers={"If-None-Match": view.headers["ETag"]}).status_code == 304
    # a commit made outside the web app (a person in the repository) is seen at once
    from wiki.core.gitrepo import GitRepo
    from wiki.core.pages import PageStore
    from .conftest import BOB

    PageStore(GitRepo(app.config["WIKI_REPO"])).save("Cached", "version two", BOB, base=first["commit"])
    again = client.get("/Cached", headers={"If-None-Match": view.headers["ETag"]})
    assert again.status_code == 200 and b"version two" in again.data and b"Bob Example" in again.data


def test_save_message_shows_once_after_a_cached_view(client):
    client.post("/-/new", data={"name": "Flashy", "text": "x"})
    shown = client.get("/Flashy")
    assert b"Page created." in shown.data
    assert b"Page created." not in client.get("/Flashy").data
