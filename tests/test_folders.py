"""Folder moves: pages, files and talk together in one commit, redirects left, links optionally rewritten."""

import re

import pytest

from wiki.core.attachments import AttachmentStore
from wiki.core.gitrepo import Person
from wiki.core.pages import Conflict, ConflictReason, FolderNotFound, LookupKind, MoveNotAllowed
from wiki.core.relink import relative_path, rewrite
from wiki.core.talk import TalkStore

from .conftest import ALICE, BOB, client_for, git, team_app

PNG = b"\x89PNG\r\n\x1a\n fake"


def commits(repo_dir) -> int:
    return int(git(repo_dir, "rev-list", "--count", "main").strip())


def tree(repo_dir) -> list[str]:
    return sorted(git(repo_dir, "ls-tree", "-r", "--name-only", "main").split("\n")[:-1])


@pytest.fixture
def wiki(store):
    talk = TalkStore(store)
    files = AttachmentStore(store)
    store.save("Projects/Alpha", "# Alpha\n\n![diagram](Alpha/diagram.png) and [[Projects/Alpha/Plan]]\n", ALICE)
    store.save("Projects/Alpha/Plan", "# Plan\n\nSee [notes](Notes.md), [[./Notes]], [home](../../Home.md)"
               " and [[Projects/Alpha/Notes|the notes]].\n", ALICE)
    store.save("Projects/Alpha/Notes", "# Notes\n", ALICE)
    store.save("Projects/Alpha/Deep/Down", "deep\n", ALICE)
    store.save("Home", "Start at [[Projects/Alpha/Plan]], [[Projects/Alpha/Plan#Goals|goals]], "
               "[notes](Projects/Alpha/Notes.md) or ![d](Projects/Alpha/diagram.png).\n\n"
               "`[[Projects/Alpha/Plan]]` stays as code.\n\n```\n[[Projects/Alpha/Plan]]\n```\n\n"
               "[ref]: Projects/Alpha/Notes\n", ALICE)
    store.save("Projects/Beta", "Beta links [[Projects/Alpha/Notes]] and [plan](Alpha/Plan.md), "
               "not [[Projects/Alphabet]] nor [[Projects/Alpha]].\n", ALICE)
    files.put("Projects/Alpha", "diagram.png", PNG, ALICE)
    files.put("Projects/Alpha/Plan", "sheet.csv", b"a,b\n", ALICE)
    thread, _ = talk.start("Projects/Alpha/Plan", "Timeline?", "When do we start?", BOB, "bob")
    return store, talk, files, thread


def test_a_folder_moves_with_pages_files_and_talk_in_one_commit_leaving_redirects(wiki):
    store, talk, files, thread = wiki
    repo = store.repo.path
    before_commits, before_home = commits(repo), store.get("Home").markdown
    result = store.rename_folder("Projects/Alpha", "Archive/Alpha", BOB, "Archive the project")
    assert commits(repo) == before_commits + 1
    assert git(repo, "log", "-1", "--format=%an|%s").strip() == "Bob Example|Archive the project"
    paths = tree(repo)
    assert [p for p in paths if "Alpha" in p and not p.startswith(".talk")] == [
        "Archive/Alpha/Deep/Down.md", "Archive/Alpha/Notes.md", "Archive/Alpha/Plan.md",
        "Archive/Alpha/Plan/sheet.csv", "Archive/Alpha/diagram.png", "Projects/Alpha.md"]  # the page stays
    assert not any(p.startswith(".talk/Projects/Alpha/") for p in paths)
    assert sorted(result.pages) == [("Projects/Alpha/Deep/Down", "Archive/Alpha/Deep/Down"),
                                    ("Projects/Alpha/Notes", "Archive/Alpha/Notes"),
                                    ("Projects/Alpha/Plan", "Archive/Alpha/Plan")]
    assert sorted(result.files) == [("Projects/Alpha/Plan/sheet.csv", "Archive/Alpha/Plan/sheet.csv"),
                                    ("Projects/Alpha/diagram.png", "Archive/Alpha/diagram.png")]
    assert result.threads == 1 and result.rewritten == ()
    # talk came along, files too
    moved = talk.thread("Archive/Alpha/Plan", thread)
    assert moved.title == "Timeline?" and moved.comments[0].body == "When do we start?"
    assert files.get("Archive/Alpha", "diagram.png")[1] == PNG
    assert [v.status for v in files.history("Archive/Alpha", "diagram.png")] == ["R", "A"]
    # every old name redirects; nobody's text was touched
    redirects = store.redirects()
    assert redirects["Projects/Alpha/Plan"] == "Archive/Alpha/Plan"
    assert redirects["Projects/Alpha/Deep/Down"] == "Archive/Alpha/Deep/Down"
    assert redirects["Projects/Alpha/diagram.png"] == "Archive/Alpha/diagram.png"
    assert store.lookup("Projects/Alpha/Notes").kind is LookupKind.REDIRECT
    assert store.lookup("Projects/Alpha/Notes").name == "Archive/Alpha/Notes"
    assert store.get("Home").markdown == before_home


def test_rewrite_links_points_every_link_at_the_new_names_in_the_same_commit(wiki):
    store, talk, files, _ = wiki
    repo = store.repo.path
    before = commits(repo)
    result = store.rename_folder("Projects/Alpha", "Archive/Old Alpha", ALICE, rewrite_links=True)
    assert commits(repo) == before + 1
    assert git(repo, "log", "-1", "--format=%s").strip() == \
        "Move folder Projects/Alpha to Archive/Old Alpha, updating links in 4 pages"
    assert result.rewritten == ("Archive/Old Alpha/Plan", "Home", "Projects/Alpha", "Projects/Beta")
    home = store.get("Home").markdown
    assert home == ("Start at [[Archive/Old Alpha/Plan]], [[Archive/Old Alpha/Plan#Goals|goals]], "
                    "[notes](Archive/Old%20Alpha/Notes.md) or ![d](Archive/Old%20Alpha/diagram.png).\n\n"
                    "`[[Projects/Alpha/Plan]]` stays as code.\n\n```\n[[Projects/Alpha/Plan]]\n```\n\n"
                    "[ref]: Archive/Old%20Alpha/Notes\n")
    assert store.get("Projects/Beta").markdown == (
        "Beta links [[Archive/Old Alpha/Notes]] and [plan](../Archive/Old%20Alpha/Plan.md), "
        "not [[Projects/Alphabet]] nor [[Projects/Alpha]].\n")
    assert store.get("Projects/Alpha").markdown == (
        "# Alpha\n\n![diagram](../Archive/Old%20Alpha/diagram.png) and [[Archive/Old Alpha/Plan]]\n")
    # the moved page's links out of the folder still reach what they reached; relative ones inside stay
    assert store.get("Archive/Old Alpha/Plan").markdown == (
        "# Plan\n\nSee [notes](Notes.md), [[./Notes]], [home](../../Home.md)"
        " and [[Archive/Old Alpha/Notes|the notes]].\n")
    changes = git(repo, "show", "-M", "--name-status", "--format=", "HEAD").splitlines()
    assert "R100\tProjects/Alpha/Notes.md\tArchive/Old Alpha/Notes.md" in changes  # moved as it was
    assert "R100\tProjects/Alpha/diagram.png\tArchive/Old Alpha/diagram.png" in changes
    assert any(c.startswith("M\tHome.md") for c in changes)


def test_the_page_named_like_the_folder_can_move_along(wiki):
    store, talk, files, _ = wiki
    talk.start("Projects/Alpha", "About Alpha", "Hello", BOB, "bob")
    result = store.rename_folder("Projects/Alpha", "Gamma", ALICE, with_page=True, rewrite_links=True)
    assert ("Projects/Alpha", "Gamma") in result.pages
    assert store.get("Gamma").markdown == "# Alpha\n\n![diagram](Gamma/diagram.png) and [[Gamma/Plan]]\n"
    assert store.get("Projects/Beta").markdown == (
        "Beta links [[Gamma/Notes]] and [plan](../Gamma/Plan.md), not [[Projects/Alphabet]] nor [[Gamma]].\n")
    assert [t.title for t in talk.threads("Gamma")] == ["About Alpha"]
    assert store.redirects()["Projects/Alpha"] == "Gamma"
    assert store.get("Projects/Alpha") is None


@pytest.mark.parametrize("target, reason, other", [
    ("Projects/Taken", "exists", "Projects/Taken"),  # the folder is there
    ("Projects/Taken/Plan", "exists", "Projects/Taken/Plan"),  # a page's subfolder is there
    ("Home.md/Sub", "exists", "Home.md"),  # a file where a folder would have to be
    ("Projects/Alpha/Sub", "inside", None),
    ("Projects/Alpha", "same", None),
])
def test_refusals_leave_everything_as_it_was(wiki, target, reason, other):
    store = wiki[0]
    store.save("Projects/Taken/Plan", "taken\n", ALICE)
    store.save("Projects/Taken/Plan/Sub", "a page in the way\n", ALICE)
    head = store.head()
    with pytest.raises(Conflict) as refused:
        store.rename_folder("Projects/Alpha", target, ALICE)
    assert (refused.value.reason.value, refused.value.other) == (reason, other)
    assert store.head() == head


def test_a_folder_may_go_where_only_a_page_of_that_name_is(wiki):
    store = wiki[0]
    store.rename_folder("Projects/Alpha", "Home", ALICE)  # Home.md is a page; the folder Home/ is free
    assert store.exists("Home/Plan") and store.get("Home").markdown.startswith("Start at")


def test_a_target_page_or_case_twin_or_missing_folder_is_refused(wiki):
    store = wiki[0]
    store.save("Archive", "the archive page\n", ALICE)
    head = store.head()
    with pytest.raises(Conflict) as page_there:  # moving the page along onto an existing page
        store.rename_folder("Projects/Alpha", "Archive", ALICE, with_page=True)
    assert page_there.value.reason is ConflictReason.EXISTS and page_there.value.other == "Archive"
    store.save("Projects/gamma/X", "x\n", ALICE)
    with pytest.raises(Conflict) as twin:
        store.rename_folder("Projects/Alpha", "Projects/Gamma", ALICE)
    assert twin.value.reason is ConflictReason.CASE and twin.value.other == "Projects/gamma"
    with pytest.raises(FolderNotFound):
        store.rename_folder("Nowhere", "Somewhere", ALICE)
    with pytest.raises(FolderNotFound):
        store.rename_folder(".talk", "Talk", ALICE)
    head = store.head()
    store.rename_folder("Projects/gamma", "Projects/Gamma", ALICE)  # a change of case of itself is fine
    assert store.exists("Projects/Gamma/X") and store.head() != head


def test_every_page_moved_or_rewritten_must_be_writable(wiki):
    store = wiki[0]
    head = store.head()
    with pytest.raises(MoveNotAllowed) as moved:
        store.rename_folder("Projects/Alpha", "Archive/Alpha", ALICE,
                            may_write=lambda name: name != "Projects/Alpha/Notes")
    assert moved.value.name == "Projects/Alpha/Notes"
    with pytest.raises(MoveNotAllowed) as rewritten:
        store.rename_folder("Projects/Alpha", "Archive/Alpha", ALICE, rewrite_links=True,
                            may_write=lambda name: name != "Home")
    assert rewritten.value.name == "Home"
    with pytest.raises(MoveNotAllowed):  # a file's page (outside the folder) must be writable too
        store.rename_folder("Projects/Alpha", "Archive/Alpha", ALICE, may_write=lambda name: name != "Projects/Alpha")
    assert store.head() == head
    store.rename_folder("Projects/Alpha", "Archive/Alpha", ALICE, may_write=lambda name: name != "Home")


def test_relative_paths_and_rewrites_in_detail():
    assert relative_path("A/B/P", "A/B/Q") == "Q"
    assert relative_path("A/B/P", "A/C/Q") == "../C/Q"
    assert relative_path("P", "A/Q") == "A/Q"
    assert relative_path("A/B/P", "A") == "../../A"
    assert relative_path("A/P", "C:x") == "../C:x"
    text = ("[a](Old/x.md \"title\") [b](<Old/y z.md>) [[../Old/p]] [[Old/p#s|l]] [c](Old/p?q=1#f) "
            "[![i](Old/i.png)](Old/big.png) [d](https://x/Old/p) [e](/Old/p) [f](#Old)\n")
    assert rewrite(text, "Home", "Home", "Old", "New") == (
        "[a](New/x.md \"title\") [b](<New/y z.md>) [[../Old/p]] [[New/p#s|l]] [c](New/p?q=1#f) "
        "[![i](New/i.png)](New/big.png) [d](https://x/Old/p) [e](/Old/p) [f](#Old)\n")
    # [[../Old/p]] from Home escapes the root and is no link: left as it was
    assert rewrite("[[../Old/p]]", "F/Home", "F/Home", "Old", "New/Deep") == "[[../New/Deep/p]]"
    assert rewrite("~~~\n[x](Old/a)\n~~~\n[x](Old/a)\n", "P", "P", "Old", "N") == "~~~\n[x](Old/a)\n~~~\n[x](N/a)\n"
    assert rewrite("unrelated [x](Olden/a)", "P", "P", "Old", "N") == "unrelated [x](Olden/a)"


# -- the web -------------------------------------------------------------------------------

def tacit(app):
    return app.extensions["tacit"]


@pytest.fixture
def web(app):
    wiki = tacit(app)
    wiki.pages.save("Team/Plan", "# Plan\n\n![chart](Plan/chart.png)\n", ALICE)
    wiki.pages.save("Team/Notes", "notes\n", ALICE)
    wiki.pages.save("Home", "See [[Team/Plan]] and ![c](Team/Plan/chart.png)\n", ALICE, base=wiki.pages.head())
    app.extensions["tacit.files"].put("Team/Plan", "chart.png", PNG, ALICE)
    wiki.talk.start("Team/Plan", "Scope", "What is in?", BOB, "bob")
    return app


def test_the_folder_form_moves_and_old_links_keep_working(web, client):
    listing = client.get("/-/pages/Team").data.decode()
    assert 'href="/-/rename-folder?folder=Team"' in listing
    form = client.get("/-/rename-folder?folder=Team").data.decode()
    assert 'name="new_folder"' in form and 'value="Team"' in form and 'name="rewrite_links"' in form
    assert "Moves 2 pages, 1 other file and their talk threads together" in form
    assert 'href="/Team/Plan"' in form and "Team/Plan/chart.png" in form
    before = commits(web.config["WIKI_REPO"])
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Crew", "message": "Rename the team"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/-/pages/Crew")
    assert commits(web.config["WIKI_REPO"]) == before + 1
    assert "Moved Team/ to Crew/: 2 pages, 1 file" in client.get(r.headers["Location"]).data.decode()
    old = client.get("/Team/Plan")
    assert old.status_code == 302 and old.headers["Location"].endswith("/Crew/Plan?redirected_from=Team%2FPlan")
    image = client.get("/Team/Plan/chart.png")  # an embedded image follows too
    assert image.status_code == 302 and image.headers["Location"].endswith("/Crew/Plan/chart.png")
    assert client.get(image.headers["Location"]).data == PNG
    home = client.get("/Home").data.decode()
    plan_link = re.search(r'<a[^>]*data-wikilink="Team/Plan"[^>]*>', home).group(0)
    assert "missing" not in plan_link  # the link still leads somewhere: through the redirect
    assert tacit(web).talk.threads("Crew/Plan")[0].title == "Scope"
    assert tacit(web).pages.get("Home").markdown == "See [[Team/Plan]] and ![c](Team/Plan/chart.png)\n"


def test_the_form_with_rewrite_and_its_refusals(web, client):
    tacit(web).pages.save("Taken/X", "x\n", ALICE)
    head = tacit(web).pages.head()
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Taken", "rewrite_links": "1"})
    assert r.status_code == 409 and b"Taken exists already" in r.data and b'value="Taken"' in r.data
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Bad:Name"})
    assert r.status_code == 400
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Team/Inner"})
    assert r.status_code == 409 and b"cannot move into itself" in r.data
    assert tacit(web).pages.head() == head
    assert client.get("/-/rename-folder?folder=Nowhere").status_code == 404
    assert client.get("/-/rename-folder").status_code == 400
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Crew", "rewrite_links": "1"})
    assert r.status_code == 302
    assert "links were updated in 1 page." in client.get("/-/pages/Crew").data.decode()
    assert tacit(web).pages.get("Home").markdown == "See [[Crew/Plan]] and ![c](Crew/Plan/chart.png)\n"


def test_the_api_moves_folders(web, client):
    r = client.post("/-/api/v1/folders/Team/move", json={"to": "Crew", "rewrite_links": True})
    body = r.get_json()
    assert r.status_code == 200 and body["from"] == "Team" and body["to"] == "Crew"
    assert sorted(p["to"] for p in body["pages"]) == ["Crew/Notes", "Crew/Plan"]
    assert body["files"] == [{"from": "Team/Plan/chart.png", "to": "Crew/Plan/chart.png"}]
    assert body["threads"] == 1 and body["rewritten"] == ["Home"]
    assert body["commit"] == tacit(web).pages.head()
    tacit(web).pages.save("Team/Again", "x\n", ALICE)
    r = client.post("/-/api/v1/folders/Team/move", json={"to": "Crew"})
    assert r.status_code == 409 and r.get_json()["reason"] == "exists" and r.is_json
    r = client.post("/-/api/v1/folders/Team/move", json={"to": "Crew2", "rewrite_links": "yes"})
    assert r.status_code == 400 and r.is_json
    assert client.post("/-/api/v1/folders/Nowhere/move", json={"to": "X"}).status_code == 404
    assert client.post("/-/api/v1/folders/Team/move", json={}).status_code == 400


@pytest.fixture
def rules_app(tmp_path):
    """Ada (admin), Ed (editor) and Rita (reader), with pages under access rules."""
    app = team_app(tmp_path, [("Ada", "admin"), ("Ed", "editor"), ("Rita", "reader")])
    wiki = tacit(app)
    ada = Person("Ada", "ada@example.org")
    wiki.pages.save("Open/One", "one\n", ada)
    wiki.pages.save("Mixed/Public", "public\n", ada)
    wiki.pages.save("Mixed/Hidden", "hidden\n", ada)
    wiki.pages.save("Locked", "Links to [[Open/One]]\n", ada)
    wiki.rules.set("Mixed/Hidden", "admins", "admins")
    wiki.rules.set("Locked", None, "admins")
    return app


def test_moving_needs_write_access_to_every_page_involved(rules_app):
    ed, rita, anon, ada = client_for(rules_app, "Ed"), client_for(rules_app, "Rita"), rules_app.test_client(), \
        client_for(rules_app, "Ada")
    head = tacit(rules_app).pages.head()
    assert rita.get("/-/rename-folder?folder=Open").status_code == 403
    r = anon.get("/-/rename-folder?folder=Open")
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    assert anon.post("/-/api/v1/folders/Open/move", json={"to": "X"}).status_code == 401
    assert rita.post("/-/api/v1/folders/Open/move", json={"to": "X"}).status_code == 403
    # a hidden page inside: refused without naming it
    r = ed.post("/-/rename-folder?folder=Mixed", data={"new_folder": "Other"})
    assert r.status_code == 403 and b"Hidden" not in r.data
    # a page whose links would be rewritten but which Ed may not edit
    r = ed.post("/-/api/v1/folders/Open/move", json={"to": "Moved", "rewrite_links": True})
    assert r.status_code == 403 and "Locked" in r.get_json()["detail"]
    assert tacit(rules_app).pages.head() == head
    # without rewriting, Ed may move it; Ada may do everything
    assert ed.post("/-/api/v1/folders/Open/move", json={"to": "Moved"}).status_code == 200
    assert ada.post("/-/api/v1/folders/Mixed/move", json={"to": "Other", "rewrite_links": True}).status_code == 200
    assert tacit(rules_app).pages.exists("Other/Hidden")


def test_folder_moves_need_the_csrf_token(csrf_app):
    tacit(csrf_app).pages.save("Team/A", "a\n", ALICE)
    client = csrf_app.test_client()
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Crew"})
    assert r.status_code == 400 and b"CSRF" in r.data
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/-/rename-folder?folder=Team").data.decode()).group(1)
    r = client.post("/-/rename-folder?folder=Team", data={"new_folder": "Crew", "csrf_token": token})
    assert r.status_code == 302 and tacit(csrf_app).pages.exists("Crew/A")
