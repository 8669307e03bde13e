"""Attachments: files uploaded to a page, kept beside it in the repository, versioned, served safely."""

import io
import re
import subprocess
import urllib.request

import pytest
from urllib.parse import quote
from werkzeug.http import parse_options_header

from wiki.core.attachments import (AttachmentStore, BadFileName, FileNotFound, FileTooLarge, check_file_name,
                                   content_type, safe_file_name)
from wiki.core.gitrepo import Person
from wiki.core.pages import Conflict, ConflictReason, PageNotFound, SaveStatus

from .conftest import ALICE, BOB, client_for, git, team_app

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")  # a 1x1 pixel
EVIL_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
            b'onload="window.__pwned=\'svg-onload\';document.title=\'PWNED\';alert(\'svg-onload\')">'
            b'<script>window.__pwned="svg-script";document.title="PWNED";alert("svg-script")</script>'
            b'<rect width="40" height="40" fill="#c00"/></svg>')
EVIL_HTML = (b'<!doctype html><html><head><title>ok</title></head><body><h1>evil</h1>'
             b'<script>window.__pwned="html";document.title="PWNED";alert("html")</script>'
             b'<img src="data:," onerror="window.__pwned=\'html-onerror\';alert(\'onerror\')"></body></html>')
FILE_CSP = "sandbox; default-src 'none'"


def commits(repo_dir) -> int:
    return int(git(repo_dir, "rev-list", "--count", "main").strip())


# -- the core ------------------------------------------------------------------------------

@pytest.fixture
def files(store) -> AttachmentStore:
    store.save("Projects/Alpha", "# Alpha\n", ALICE)
    return AttachmentStore(store, max_bytes=1000)


def test_upload_replace_and_delete_are_one_commit_each_by_the_acting_user(files, store):
    repo = store.repo.path
    before = commits(repo)
    first = files.put("Projects/Alpha", "diagram.png", PNG, ALICE)
    assert first.status is SaveStatus.UPLOADED
    assert git(repo, "show", "--name-status", "--format=%an|%s", "HEAD").split() == [
        "Alice", "Example|Upload", "diagram.png", "to", "Projects/Alpha", "A", "Projects/Alpha/diagram.png"]
    second = files.put("Projects/Alpha", "diagram.png", PNG + b"more", BOB, "A bigger picture")
    assert second.status is SaveStatus.REPLACED
    assert git(repo, "log", "-1", "--format=%an|%s").strip() == "Bob Example|A bigger picture"
    assert files.put("Projects/Alpha", "diagram.png", PNG + b"more", BOB).status is SaveStatus.UNCHANGED
    files.delete("Projects/Alpha", "diagram.png", ALICE)
    assert commits(repo) == before + 3
    assert git(repo, "log", "-1", "--format=%an|%s").strip() == "Alice Example|Delete diagram.png from Projects/Alpha"
    # the file lives beside the page, in the folder named like it: a clone carries it
    assert git(repo, "cat-file", "-s", f"{first.commit}:Projects/Alpha/diagram.png").strip() == str(len(PNG))
    assert files.list("Projects/Alpha") == []


def test_history_of_a_replaced_file_keeps_every_version(files):
    one = files.put("Projects/Alpha", "plan.pdf", b"%PDF-1 first", ALICE).commit
    two = files.put("Projects/Alpha", "plan.pdf", b"%PDF-1 second", BOB).commit
    versions = files.history("Projects/Alpha", "plan.pdf")
    assert [(v.commit, v.author.name, v.status) for v in versions] == [(two, "Bob Example", "M"),
                                                                         (one, "Alice Example", "A")]
    assert files.read_version(versions[1].blob) == b"%PDF-1 first"
    assert files.get("Projects/Alpha", "plan.pdf", rev=one)[1] == b"%PDF-1 first"
    assert files.get("Projects/Alpha", "plan.pdf")[1] == b"%PDF-1 second"
    found, _ = files.get("Projects/Alpha", "plan.pdf")
    assert (found.size, found.content_type, found.change.sha, found.change.author.name) == (
        13, "application/pdf", two, "Bob Example")


def test_listing_holds_files_only_never_pages_subfolders_or_hidden_files(files, store):
    store.save("Projects/Alpha/Plan", "a subpage\n", ALICE)
    files.put("Projects/Alpha", "b.txt", b"b", ALICE)
    files.put("Projects/Alpha", "A.png", PNG, ALICE)
    listed = files.list("Projects/Alpha")
    assert [(f.name, f.path, f.size) for f in listed] == [("A.png", "Projects/Alpha/A.png", len(PNG)),
                                                           ("b.txt", "Projects/Alpha/b.txt", 1)]
    assert files.count("Projects/Alpha") == 2 and files.count("Projects/Alpha/Plan") == 0
    assert listed[0].is_image and listed[0].is_safe_image and not listed[1].is_image


@pytest.mark.parametrize("name", ["", ".htaccess", "a/b.png", "..", "notes.md", "NOTES.MD", "con.txt",
                                  "a:b.png", "x[1].png", "what?.png", "pipe|.png", "trailing.", "tab\t.png"])
def test_file_names_must_be_one_portable_segment(files, name):
    with pytest.raises(BadFileName):
        files.put("Projects/Alpha", name, b"x", ALICE)


def test_case_clashes_subfolders_missing_pages_and_sizes_are_refused(files, store):
    files.put("Projects/Alpha", "Diagram.png", PNG, ALICE)
    with pytest.raises(Conflict) as clash:
        files.put("Projects/Alpha", "diagram.png", PNG, ALICE)
    assert clash.value.reason is ConflictReason.CASE and clash.value.other == "Projects/Alpha/Diagram.png"
    store.save("Projects/Alpha/Sub/Page", "x\n", ALICE)
    with pytest.raises(Conflict) as folder:
        files.put("Projects/Alpha", "Sub", b"x", ALICE)
    assert folder.value.reason is ConflictReason.FOLDER
    with pytest.raises(PageNotFound):
        files.put("Nowhere", "a.png", PNG, ALICE)
    assert files.put("Projects/Alpha", "exact.bin", b"x" * 1000, ALICE).status is SaveStatus.UPLOADED  # at the limit
    with pytest.raises(FileTooLarge):
        files.put("Projects/Alpha", "over.bin", b"x" * 1001, ALICE)
    with pytest.raises(FileNotFound):
        files.delete("Projects/Alpha", "never.png", ALICE)
    assert files.unused_name("Projects/Alpha", "diagram.png") == "diagram-2.png"  # Diagram.png in another case
    assert files.unused_name("Projects/Alpha", "fresh.png") == "fresh.png"


def test_content_types_never_run_on_the_wikis_origin():
    assert [content_type(n) for n in ("a.png", "a.JPG", "a.webp", "a.avif", "a.bmp", "a.ico", "a.gif")] == [
        "image/png", "image/jpeg", "image/webp", "image/avif", "image/bmp", "image/vnd.microsoft.icon", "image/gif"]
    assert content_type("a.svg") == "image/svg+xml" and content_type("a.pdf") == "application/pdf"
    for active in ("a.html", "a.htm", "a.xhtml", "a.xml", "a.js", "a.xsl", "a.mht", "a", "a.swf"):
        assert content_type(active) == "application/octet-stream", active
    assert content_type("a.tar.gz") == "application/gzip"


def test_browser_file_names_are_made_acceptable():
    assert safe_file_name("Screen Shot 2024-01-01 at 10:00:00.png") == "Screen Shot 2024-01-01 at 10-00-00.png"
    assert safe_file_name("C:\\Users\\me\\.secret.txt") == "secret.txt"
    assert safe_file_name("con.txt") == "file-con.txt"
    assert safe_file_name("...") == "file"
    assert safe_file_name("x" * 400 + ".png").endswith(".png")
    long = safe_file_name("x" * 400 + ".png")
    assert long == check_file_name("Projects/Alpha", long) and len(long.encode()) == 252


# -- the web -------------------------------------------------------------------------------

def tacit(app):
    return app.extensions["tacit"]


@pytest.fixture
def small_app(tmp_path):
    """Uploads up to 1,000 bytes; anyone may edit."""
    from wiki import create_app

    app = create_app({"TESTING": True, "WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data"),
                      "WTF_CSRF_ENABLED": False, "WIKI_WRITE": "anonymous", "WIKI_MAX_UPLOAD": "1000B"})
    tacit(app).pages.save("Projects/Alpha", "# Alpha\n\n![diagram](Alpha/diagram.png)\n\n"
                          "Read [the spec](Alpha/spec.pdf).\n", ALICE)
    return app


def upload(client, page, name, data, headers=None, **fields):
    return client.post(f"/-/files/{page}", data={"file": (io.BytesIO(data), name), **fields},
                       content_type="multipart/form-data", headers=headers or {})


def test_upload_limit_is_a_clear_413_just_above_and_fine_at_it(small_app):
    client = small_app.test_client()
    assert small_app.config["MAX_CONTENT_LENGTH"] >= 1000
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/at.bin", data=b"x" * 1000)
    assert r.status_code == 201 and r.get_json()["size"] == 1000
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/above.bin", data=b"x" * 1001)
    assert r.status_code == 413 and r.is_json and "1000 bytes" in r.get_json()["detail"]
    assert upload(client, "Projects/Alpha", "form-at.bin", b"y" * 1000).status_code == 302
    r = upload(client, "Projects/Alpha", "form-above.bin", b"y" * 1001)
    assert r.status_code == 413 and b"form-above.bin is too large" in r.data
    # a body above MAX_CONTENT_LENGTH is refused before it is read, as a readable page or JSON
    huge = b"z" * (small_app.config["MAX_CONTENT_LENGTH"] + 1)
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/huge.bin", data=huge)
    assert r.status_code == 413 and r.is_json and "at most 1000 bytes" in r.get_json()["detail"]
    r = upload(client, "Projects/Alpha", "huge.bin", huge)
    assert r.status_code == 413 and b"Nothing was saved" in r.data and b"<html" in r.data
    names = [f["name"] for f in client.get("/-/api/v1/pages/Projects/Alpha/files").get_json()["files"]]
    assert names == ["at.bin", "form-at.bin"]


def test_the_default_limit_is_ten_megabytes(app, client):
    assert app.config["WIKI_MAX_UPLOAD"] == 10 * 1024 * 1024
    assert 10 * 1024 * 1024 < app.config["MAX_CONTENT_LENGTH"] <= 12 * 1024 * 1024
    client.put("/-/api/v1/pages/Big", json={"markdown": "big files"})
    assert client.put("/-/api/v1/pages/Big/files/ten.bin", data=b"\0" * (10 * 1024 * 1024)).status_code == 201
    r = client.put("/-/api/v1/pages/Big/files/more.bin", data=b"\0" * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413 and "at most 10,485,760 bytes" in r.get_json()["detail"]


@pytest.mark.parametrize("name, data, mimetype, inline", [
    ("diagram.png", PNG, "image/png", True),
    ("photo.jpeg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg", True),
    ("evil.svg", EVIL_SVG, "image/svg+xml", False),
    ("evil.html", EVIL_HTML, "application/octet-stream", False),
    ("spec.pdf", b"%PDF-1.4", "application/pdf", False),
    ("notes.txt", b"plain", "text/plain", False),
    ("script.js", b"alert(1)", "application/octet-stream", False),
])
def test_files_are_served_with_their_type_and_a_safe_disposition(small_app, name, data, mimetype, inline):
    client = small_app.test_client()
    assert client.put(f"/-/api/v1/pages/Projects/Alpha/files/{name}", data=data,
                      content_type="text/html").status_code == 201  # the type sent is never trusted
    commit = tacit(small_app).pages.head()
    for url in (f"/Projects/Alpha/{name}", f"/-/file/Projects/Alpha/{name}",
                f"/-/file/Projects/Alpha/{name}?rev={commit}", f"/-/api/v1/pages/Projects/Alpha/files/{name}"):
        r = client.get(url)
        assert r.status_code == 200 and r.data == data, url
        assert r.mimetype == mimetype, url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Content-Security-Policy"] == FILE_CSP, url
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("inline" if inline else "attachment"), (url, disposition)
        assert name in disposition
        assert "text/html" not in r.headers["Content-Type"]
        etag = r.headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("name, fallback", [("图表.png", ".png"), ("Résumé 2026.pdf", "Resume 2026.pdf"),
                                            ("\U000f260d", "file")])
def test_names_beyond_ascii_travel_as_rfc_6266_filename_star(small_app, name, fallback):
    """A header carries only ASCII (gunicorn answers 500 to anything else), so such a name is sent
    as filename*=UTF-8''... beside an ASCII approximation."""
    client = small_app.test_client()
    assert client.put(f"/-/api/v1/pages/Projects/Alpha/files/{quote(name)}", data=b"x").status_code == 201
    for url in (f"/-/file/Projects/Alpha/{quote(name)}", f"/-/api/v1/pages/Projects/Alpha/files/{quote(name)}"):
        r = client.get(url)
        assert r.status_code == 200 and r.data == b"x", url
        disposition = r.headers["Content-Disposition"]
        assert disposition.isascii(), disposition
        assert re.search(f'filename="?{re.escape(fallback)}"?; filename\\*=UTF-8\'\'{re.escape(quote(name))}$',
                         disposition), disposition
        assert parse_options_header(disposition)[1]["filename"] == name


def test_the_files_page_lists_uploads_and_the_page_links_it(small_app):
    client = small_app.test_client()
    page = client.get("/Projects/Alpha").data.decode()
    assert 'href="/-/files/Projects/Alpha">Files (0)</a>' in page
    assert upload(client, "Projects/Alpha", "diagram.png", PNG, message="The diagram").status_code == 302
    upload(client, "Projects/Alpha", "spec.pdf", b"%PDF-1.4")
    html = client.get("/-/files/Projects/Alpha").data.decode()
    assert html.count('class="file-row"') == 2
    assert '<img src="/Projects/Alpha/diagram.png"' in html  # a thumbnail for the image only
    assert html.count("<img ") == 1
    assert "application/pdf" in html and "8 bytes" in html and "Anonymous" in html
    assert 'value="![diagram](Alpha/diagram.png)"' in html and 'value="[spec.pdf](Alpha/spec.pdf)"' in html
    assert 'enctype="multipart/form-data"' in html and html.count('name="action" value="delete"') == 2
    assert 'href="/-/files/Projects/Alpha">Files (2)</a>' in client.get("/Projects/Alpha").data.decode()
    listed = client.get("/-/api/v1/pages/Projects/Alpha/files").get_json()
    assert [(f["name"], f["type"], f["image"], f["message"]) for f in listed["files"]] == [
        ("diagram.png", "image/png", True, "The diagram"), ("spec.pdf", "application/pdf", False,
                                                           "Upload spec.pdf to Projects/Alpha")]
    assert listed["limit"] == 1000
    assert client.get("/-/files/Nowhere").status_code == 404
    assert client.get("/-/api/v1/pages/Nowhere/files").status_code == 404


def test_a_page_shows_its_images_inline_and_links_its_files(small_app):
    client = small_app.test_client()
    before = client.get("/Projects/Alpha").data.decode()
    spec_link = re.search(r'<a[^>]*data-wikilink="Projects/Alpha/spec.pdf"[^>]*>', before).group(0)
    assert "missing" in spec_link  # no file yet: a red link
    upload(client, "Projects/Alpha", "diagram.png", PNG)
    upload(client, "Projects/Alpha", "spec.pdf", b"%PDF-1.4")
    html = client.get("/Projects/Alpha").data.decode()
    src = re.search(r'<img src="([^"]+)" alt="diagram"', html).group(1)
    assert src == "/Projects/Alpha/diagram.png"
    image = client.get(src)
    assert image.status_code == 200 and image.data == PNG and image.mimetype == "image/png"
    spec_link = re.search(r'<a[^>]*data-wikilink="Projects/Alpha/spec.pdf"[^>]*>', html).group(0)
    assert "missing" not in spec_link and 'href="/Projects/Alpha/spec.pdf"' in spec_link
    preview = client.post("/-/preview", data={"name": "Projects/Alpha", "text": "[s](Alpha/spec.pdf)"}).data
    assert b"missing" not in preview
    api_html = client.get("/-/api/v1/pages/Projects/Alpha").get_json()["html"]
    assert 'class="missing"' not in api_html and "missing" not in re.search(
        r'<a[^>]*spec.pdf[^>]*>', api_html).group(0)
    search = tacit(small_app).search
    search.wait_for_rebuild(60)
    search.catch_up(wait=True)
    assert "Projects/Alpha/spec.pdf" in set().union(*search.all_links().values())
    assert b"spec.pdf" not in client.get("/-/wanted").data  # a file is not a wanted page


def test_versions_of_a_file_on_the_web(small_app):
    client = small_app.test_client()
    client.put("/-/api/v1/pages/Projects/Alpha/files/plan.txt", data=b"first")
    first = tacit(small_app).pages.head()
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/plan.txt?message=Second+thoughts", data=b"second")
    assert r.status_code == 200 and r.get_json()["status"] == "replaced"
    html = client.get("/-/files/Projects/Alpha?file=plan.txt").data.decode()
    assert "Versions of plan.txt" in html and "Second thoughts" in html and html.count(">Download</a>") == 2
    old = re.findall(r'href="(/-/file/Projects/Alpha/plan.txt\?rev=[0-9a-f]{40})"', html)
    assert [client.get(u).data for u in old] == [b"second", b"first"]
    assert client.get(f"/-/api/v1/pages/Projects/Alpha/files/plan.txt?rev={first}").data == b"first"
    assert client.get("/-/files/Projects/Alpha?file=never.txt").status_code == 404
    client.put("/-/api/v1/pages/Projects", json={"markdown": "projects"})
    assert client.get("/-/files/Projects").status_code == 200
    assert client.get("/-/files/Projects?file=Alpha/plan.txt").status_code == 404  # only the page's own files


def test_delete_on_the_web_and_in_the_api(small_app):
    client = small_app.test_client()
    upload(client, "Projects/Alpha", "a.txt", b"a")
    upload(client, "Projects/Alpha", "b.txt", b"b")
    r = client.post("/-/files/Projects/Alpha", data={"action": "delete", "name": "a.txt"})
    assert r.status_code == 302
    assert client.get("/Projects/Alpha/a.txt").status_code == 404
    r = client.delete("/-/api/v1/pages/Projects/Alpha/files/b.txt")
    assert r.status_code == 200 and r.get_json()["status"] == "deleted"
    assert client.get("/-/api/v1/pages/Projects/Alpha/files").get_json()["files"] == []
    r = client.delete("/-/api/v1/pages/Projects/Alpha/files/b.txt")
    assert r.status_code == 404 and r.is_json
    assert client.post("/-/files/Projects/Alpha", data={"action": "delete", "name": "b.txt"}).status_code == 404
    log = git(small_app.config["WIKI_REPO"], "log", "--format=%s", "-2").split("\n")
    assert log[:2] == ["Delete b.txt from Projects/Alpha", "Delete a.txt from Projects/Alpha"]


def test_bad_names_and_clashes_on_the_web(small_app):
    client = small_app.test_client()
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/.env", data=b"x")
    assert r.status_code == 400 and r.is_json and "dot" in r.get_json()["detail"]
    assert client.put("/-/api/v1/pages/Projects/Alpha/files/page.md", data=b"x").status_code == 400
    assert client.put("/-/api/v1/pages/Nowhere/files/a.txt", data=b"x").status_code == 404
    client.put("/-/api/v1/pages/Projects/Alpha/files/Logo.png", data=PNG)
    r = client.put("/-/api/v1/pages/Projects/Alpha/files/logo.png", data=PNG)
    assert r.status_code == 409 and r.get_json()["reason"] == "case"
    # a browser's name is made acceptable; a clash through the form says so
    assert upload(client, "Projects/Alpha", "shot 10:00.png", PNG).status_code == 302
    assert tacit(small_app).repo.blob_id(tacit(small_app).pages.head(), "Projects/Alpha/shot 10-00.png")
    r = upload(client, "Projects/Alpha", "LOGO.png", PNG)
    assert r.status_code == 409 and b"names may not differ only in case" in r.data
    r = upload(client, "Projects/Alpha", "readme.md", b"# x")
    assert r.status_code == 400 and b"cannot end in .md" in r.data
    # drag and drop asks for a free name and JSON
    r = upload(client, "Projects/Alpha", "Logo.png", PNG, headers={"Accept": "application/json"}, unique="1")
    body = r.get_json()
    assert r.status_code == 201 and body["files"][0]["name"] == "Logo-2.png"
    assert body["files"][0]["markdown"] == "![Logo-2](Alpha/Logo-2.png)"
    r = client.post("/-/files/Projects/Alpha", data={"file": (io.BytesIO(b"x"), "a b (1).txt"), "unique": "1"},
                    headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert r.get_json()["files"][0]["markdown"] == "[a b (1).txt](Alpha/a%20b%20%281%29.txt)"


@pytest.fixture
def rules_app(tmp_path):
    """Ada (admin), Ed (editor) and Rita (reader), with pages under access rules."""
    app = team_app(tmp_path, [("Ada", "admin"), ("Ed", "editor"), ("Rita", "reader")])
    wiki = tacit(app)
    wiki.rules.set("Secret", "admins", "admins")  # a page rule: its files follow it
    ada = Person("Ada", "ada@example.org")
    wiki.pages.save("Secret", "# Secret\n", ada)
    wiki.pages.save("Open", "# Open\n", ada)
    files = app.extensions["tacit.files"]
    files.put("Secret", "plan.png", PNG, ada, "Upload the secret plan")
    files.put("Open", "map.png", PNG, ada)
    return app


def test_files_follow_the_pages_read_and_write_access(rules_app):
    anon, rita, ed, ada = rules_app.test_client(), client_for(rules_app, "Rita"), client_for(rules_app, "Ed"), \
        client_for(rules_app, "Ada")
    for client in (anon, rita, ed):
        for url in ("/Secret/plan.png", "/-/file/Secret/plan.png", "/-/files/Secret",
                    "/-/api/v1/pages/Secret/files", "/-/api/v1/pages/Secret/files/plan.png"):
            r = client.get(url)
            assert r.status_code == 404 and r.data != PNG, url
        recent = client.get("/-/recent").data
        assert b"secret plan" not in recent and b"Secret" not in recent
        assert client.get("/Open/map.png").data == PNG
    assert ada.get("/Secret/plan.png").data == PNG and ada.get("/-/files/Secret").status_code == 200
    assert b"secret plan" in ada.get("/-/recent").data
    # writing: editors may, readers are refused, anonymous visitors asked to log in
    assert upload(ed, "Open", "new.txt", b"x").status_code == 302
    assert upload(rita, "Open", "new2.txt", b"x").status_code == 403
    r = upload(anon, "Open", "new3.txt", b"x")
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    assert anon.put("/-/api/v1/pages/Open/files/x.txt", data=b"x").status_code == 401
    assert rita.delete("/-/api/v1/pages/Open/files/map.png").status_code == 403
    assert ed.post("/-/files/Open", data={"action": "delete", "name": "map.png"}).status_code == 302
    assert upload(ed, "Secret", "x.txt", b"x").status_code == 404  # may not even know it exists
    html = rita.get("/-/files/Open").data
    assert b'enctype="multipart/form-data"' not in html and b'value="delete"' not in html
    assert git(rules_app.config["WIKI_REPO"], "log", "-2", "--format=%an").split() == ["Ed", "Ed"]


def test_uploads_need_the_csrf_token_and_bearer_tokens_do_not(csrf_app):
    wiki = tacit(csrf_app)
    wiki.pages.save("Doc", "doc\n", ALICE)
    client = csrf_app.test_client()
    r = upload(client, "Doc", "a.txt", b"a")
    assert r.status_code == 400 and b"CSRF" in r.data
    html = client.get("/-/files/Doc").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert upload(client, "Doc", "a.txt", b"a", csrf_token=token).status_code == 302
    wiki.users.create("Bot", "bot@example.org", "password-bot")
    _, secret = wiki.users.create_token(wiki.users.by_name("Bot").id, "bot")
    r = client.put("/-/api/v1/pages/Doc/files/b.txt", data=b"b", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 201
    assert git(csrf_app.config["WIKI_REPO"], "log", "-1", "--format=%an").strip() == "Bot"
    assert client.put("/-/api/v1/pages/Doc/files/c.txt", data=b"c").status_code == 400


# -- in a real browser ----------------------------------------------------------------------

from tests.browser import DESKTOP, PHONE, browser, screenshot_dir, start_live_wiki  # noqa: E402,F401


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    wiki = start_live_wiki(tmp_path_factory.mktemp("attachments-live"))
    try:
        wiki.put_page("Projects/Alpha", "# Alpha\n\nThe plan:\n\n![evil](Alpha/evil.svg)\n")
        for name, data in (("evil.svg", EVIL_SVG), ("evil.html", EVIL_HTML), ("diagram.png", PNG)):
            put_raw(wiki, f"/-/api/v1/pages/Projects/Alpha/files/{name}", data)
        yield wiki
    finally:
        wiki.server.stop()


def put_raw(wiki, path: str, data: bytes, user: str = "editor") -> int:
    request = urllib.request.Request(wiki.url(path), data=data, method="PUT", headers={
        "Authorization": f"Bearer {wiki.tokens[user]}", "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status


TRAP = """
window.__trapped = [];
for (const name of ["alert", "confirm", "prompt"]) {
  const original = window[name];
  window[name] = function (m) { window.__trapped.push(name + ":" + m); return original.apply(this, arguments); };
}
window.__sentinel = "untouched";
"""


def _watched_page(browser):
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.add_init_script(TRAP)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return context, page, dialogs


def _assert_nothing_ran(page, dialogs):
    assert dialogs == []
    state = page.evaluate("() => [window.__pwned || null, document.title, (window.__trapped || []).join()]")
    assert state[0] is None and state[1] != "PWNED" and state[2] == "", state


@pytest.mark.parametrize("name", ["evil.svg", "evil.html"])
def test_malicious_files_do_not_run_when_opened_in_chromium(live, browser, name):
    from playwright.sync_api import Error

    context, page, dialogs = _watched_page(browser)
    try:
        page.goto(live.url("/Home"))
        url = live.url(f"/Projects/Alpha/{name}")
        with page.expect_download() as download:  # never rendered: a download
            try:
                page.goto(url)
            except Error as e:
                assert "Download is starting" in str(e) or "ERR_ABORTED" in str(e), e
        assert download.value.suggested_filename == name
        page.wait_for_timeout(300)
        _assert_nothing_ran(page, dialogs)
        assert page.url.endswith("/Home")

        # and if a browser rendered it anyway (the disposition stripped on the way), the CSP sandbox holds
        def without_disposition(route):
            response = route.fetch()
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-disposition"}
            if name.endswith(".html"):
                headers["content-type"] = "text/html"
            route.fulfill(response=response, headers=headers)

        page.route("**/Projects/Alpha/evil.*", without_disposition)
        response = page.goto(url)
        assert response.status == 200 and response.headers["content-security-policy"] == FILE_CSP
        page.wait_for_timeout(500)
        root = page.evaluate("() => document.documentElement.tagName.toLowerCase()")
        assert root == ("svg" if name.endswith(".svg") else "html")  # it did render this time
        assert name.endswith(".svg") or "<h1>evil</h1>" in page.content()
        _assert_nothing_ran(page, dialogs)
    finally:
        context.close()


def test_a_malicious_svg_embedded_as_an_image_shows_and_does_not_run(live, browser):
    context, page, dialogs = _watched_page(browser)
    try:
        page.goto(live.url("/Projects/Alpha"))
        image = page.locator(".content img[alt=evil]")
        assert image.get_attribute("src") == "/Projects/Alpha/evil.svg"
        page.wait_for_function("() => document.querySelector('.content img[alt=evil]').complete")
        assert page.evaluate("() => document.querySelector('.content img[alt=evil]').naturalWidth") == 40
        page.wait_for_timeout(300)
        _assert_nothing_ran(page, dialogs)
        assert page.evaluate("() => window.__sentinel") == "untouched"  # the trap was there to catch it
    finally:
        context.close()


def _drop(page, selector: str, name: str, data: bytes, mime: str, event: str = "drop") -> None:
    """Dispatch a drop (or a paste) of one file, as a person dragging it from their desktop."""
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => { const t = new DataTransfer();
             t.items.add(new File([new Uint8Array(bytes)], name, { type: mime })); return t; }""",
        [name, list(data), mime])
    if event == "drop":
        page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
        page.dispatch_event(selector, "drop", {"dataTransfer": transfer})
    else:
        page.evaluate("""([selector, t]) => document.querySelector(selector).dispatchEvent(
                           new ClipboardEvent("paste", { clipboardData: t, bubbles: true, cancelable: true }))""",
                      [selector, transfer])


def _file_bytes(live, path: str) -> bytes:
    with urllib.request.urlopen(live.url(path), timeout=30) as r:
        return r.read()


def test_drag_and_drop_and_paste_into_the_editor_upload_and_insert_markdown(live, browser):
    live.put_page("Projects/Beta", "# Beta\n\nFirst line.\nLast line.\n")
    page = live.new_page(browser, live.editor)
    try:
        page.goto(live.url("/-/edit/Projects/Beta"))
        page.wait_for_selector(".attach-bar .attach-button")
        text = page.locator("#text")
        page.evaluate("() => { const t = document.querySelector('#text');"
                      " const at = t.value.indexOf('Last'); t.focus(); t.setSelectionRange(at, at); }")
        _drop(page, "#text", "dropped.png", PNG, "image/png")
        page.wait_for_function("() => document.querySelector('#text').value.includes('![dropped](Beta/dropped.png)')")
        assert "First line.\n![dropped](Beta/dropped.png)Last line." in text.input_value()
        assert _file_bytes(live, "/Projects/Beta/dropped.png") == PNG
        # the same name again gets a free one; a pasted screenshot too
        _drop(page, "#text", "dropped.png", PNG, "image/png")
        page.wait_for_function("() => document.querySelector('#text').value.includes('Beta/dropped-2.png')")
        _drop(page, "#text", "image.png", PNG, "image/png", event="paste")
        page.wait_for_function("() => document.querySelector('#text').value.includes('![image](Beta/image.png)')")
        # the hidden file input behind "Attach files"
        page.set_input_files(".attach-input", files=[{"name": "spec.pdf", "mimeType": "application/pdf",
                                                      "buffer": b"%PDF-1.4 spec"}])
        page.wait_for_function("() => document.querySelector('#text').value.includes('[spec.pdf](Beta/spec.pdf)')")
        assert "Uploaded spec.pdf" in page.inner_text(".attach-status")
        assert "Uploading" not in text.input_value()
        # too large: refused in the browser, nothing inserted
        big = b"\0" * (10 * 1024 * 1024 + 1)
        page.set_input_files(".attach-input", files=[{"name": "big.bin", "mimeType": "application/octet-stream",
                                                      "buffer": big}])
        page.wait_for_function("() => document.querySelector('.attach-status').textContent.includes('too large')")
        assert "big.bin" not in text.input_value()
        with page.expect_navigation():
            page.click(".save-row button[type=submit]")
        image = page.locator(".content img[alt=dropped]")
        page.wait_for_function("() => [...document.querySelectorAll('.content img')].every(i => i.complete)")
        assert image.evaluate("i => i.naturalWidth") == 1
        listed = [f["name"] for f in live.server.request("GET", "/-/api/v1/pages/Projects/Beta/files",
                                                         token=live.tokens["editor"])[1]["files"]]
        assert listed == ["dropped-2.png", "dropped.png", "image.png", "spec.pdf"]
        log = subprocess.run(["git", "--git-dir", str(live.server.repo), "log", "-5", "--format=%an|%s"],
                             capture_output=True, text=True).stdout.split("\n")
        assert log[1:5] == ["editor|Upload spec.pdf to Projects/Beta", "editor|Upload image.png to Projects/Beta",
                            "editor|Upload dropped-2.png to Projects/Beta", "editor|Upload dropped.png to Projects/Beta"]
    finally:
        page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_screens_of_the_files_page_and_the_folder_form(live, browser, viewport):
    live.put_page("Projects/Gamma/Plan", "# Plan\n")
    put_raw(live, "/-/api/v1/pages/Projects/Alpha/files/a%20long%20report%20name%20for%20the%20quarter.pdf",
            b"%PDF-1.4")
    page = live.new_page(browser, live.editor, viewport=viewport)
    try:
        for path, shot in (("/-/files/Projects/Alpha", "files"), ("/-/rename-folder?folder=Projects/Gamma",
                                                                  "rename-folder")):
            page.goto(live.url(path))
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= viewport["width"], (path, width)  # nothing runs off the screen
            page.screenshot(path=str(screenshot_dir() / f"{shot}-{viewport['width']}.png"), full_page=True)
        response = page.goto(live.url("/-/files/Projects/Alpha"))
        assert response.status == 200, page.inner_text("main")
        page.locator(".file-row").nth(3).wait_for(timeout=10_000)  # at least 4 rows
        page.wait_for_function("() => document.querySelector('.file-thumb img').complete")
        assert page.evaluate("() => document.querySelector('.file-thumb img').naturalWidth") == 1
    finally:
        page.context.close()


def test_a_push_changing_a_pages_files_needs_write_access_to_the_page(store):
    from wiki.core.receive import Update, check_push

    store.save("Secret", "# Secret\n", ALICE)
    store.save("Open", "# Open\n", ALICE)
    old = store.head()
    files = AttachmentStore(store)
    files.put("Secret", "plan.png", PNG, ALICE)
    files.put("Open", "map.png", PNG, ALICE)
    update = [Update(old, store.head(), "refs/heads/main")]
    git_dir = str(store.repo.git_dir)
    problems = check_push(git_dir, "main", update, may_write=lambda p: p != "Secret", may_read=lambda p: True)
    assert problems == ["Secret/plan.png: you may not change the files of this page"]
    assert check_push(git_dir, "main", update, may_write=lambda p: True, may_read=lambda p: True) == []


def test_renaming_a_page_moves_its_files_but_not_its_subpages(files, store):
    files.put("Projects/Alpha", "diagram.png", PNG, ALICE)
    store.save("Projects/Alpha/Sub", "# Sub\n", ALICE)
    result = store.rename("Projects/Alpha", "Archive/Alpha", BOB)
    moved = git(store.repo.path, "show", "--name-status", "--format=", result.commit).split()
    assert "Archive/Alpha/diagram.png" in moved and "Projects/Alpha/diagram.png" in moved
    assert [f.name for f in files.list("Archive/Alpha")] == ["diagram.png"]
    assert files.list("Projects/Alpha") == [] and store.exists("Projects/Alpha/Sub")  # subpages stay


# -- names taken by a file of another kind ---------------------------------------------------------
def test_a_page_moved_onto_a_files_name_is_a_conflict_and_nothing_is_written(files, store):
    """(Found by schemathesis: a 503 "git failed" before.) Home's files move with it, so its folder
    would land where a file already is."""
    files.put("Projects/Alpha", "Plan", PNG, ALICE)  # a file without an extension: the name a page could take
    store.save("Home", "# Home\n", ALICE)
    files.put("Home", "diagram.png", PNG, ALICE)
    head = store.head()
    with pytest.raises(Conflict) as caught:
        store.rename("Home", "Projects/Alpha/Plan", ALICE)
    assert (caught.value.reason, caught.value.other) == (ConflictReason.TAKEN, "Projects/Alpha/Plan")
    with pytest.raises(Conflict) as caught:
        store.save("Projects/Alpha/Plan/Steps", "# Steps\n", ALICE)
    assert (caught.value.reason, caught.value.other, caught.value.yours) == (
        ConflictReason.TAKEN, "Projects/Alpha/Plan", "# Steps\n")
    assert store.head() == head


def test_the_api_and_the_form_answer_409_and_keep_the_text(app):
    client = app.test_client()
    assert client.put("/-/api/v1/pages/Notes", json={"markdown": "# Notes\n"}).status_code == 201
    r = client.put("/-/api/v1/pages/Notes/files/Plan", data=PNG, content_type="application/octet-stream")
    assert r.status_code == 201
    r = client.put("/-/api/v1/pages/Notes/Plan/Steps", json={"markdown": "my steps"})
    assert r.status_code == 409
    assert (r.json["reason"], r.json["other"], r.json["yours"]) == ("taken", "Notes/Plan", "my steps")
    assert "is a file or folder already" in r.json["detail"]
    client.put("/-/api/v1/pages/Home/files/diagram.png", data=PNG, content_type="application/octet-stream")
    r = client.post("/-/api/v1/pages/Home/move", json={"to": "Notes/Plan"})
    assert r.status_code == 409 and r.json["reason"] == "taken"
    r = client.post("/-/new", data={"name": "Notes/Plan/Steps", "text": "typed in the form", "message": ""})
    assert r.status_code == 409
    assert b"Notes/Plan is a file or folder already" in r.data and b"typed in the form" in r.data
