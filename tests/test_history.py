"""History, diffs, blame, revert, recent changes and feeds, on real repositories."""

import subprocess
import xml.etree.ElementTree as ET

import pytest

from wiki.core.gitrepo import GitRepo, Person
from wiki.core.history import BadCursor, History
from wiki.core.pages import PageStore, SaveStatus

from .conftest import ALICE, BOB, git

CAROL = Person("Carol Example", "carol@example.org")
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def history(store) -> History:
    return History(store.repo)


def test_history_follows_a_rename_and_a_delete_and_recreate(store, history):
    c1 = store.save("Old", "one\n", ALICE, "first").commit
    c2 = store.save("Old", "one\ntwo\n", BOB, "second", base=c1).commit
    c3 = store.rename("Old", "Folder/New", CAROL, "move it").commit
    c4 = store.save("Folder/New", "one\ntwo\nthree\n", ALICE, "third", base=c3).commit
    c5 = store.delete("Folder/New", BOB, "gone").commit
    c6 = store.save("Folder/New", "fresh start\n", CAROL, "again").commit
    revs = history.revisions("Folder/New")
    assert [r.commit for r in revs] == [c6, c5, c4, c3, c2, c1]
    assert [r.status for r in revs] == ["A", "D", "M", "R", "M", "A"]
    assert revs[3].old_name == "Old" and revs[3].name == "Folder/New"
    assert revs[4].name == "Old" and revs[5].name == "Old"
    assert [r.size_delta for r in revs] == [12, -14, 6, 0, 4, 4]
    page = history.page_history("Folder/New")
    assert page.names == ("Folder/New", "Old") and page.total == 6


def test_pagination_is_stable_under_new_commits(store, history):
    base = None
    commits = []
    for i in range(7):
        result = store.save("P", f"version {i}\n", ALICE, f"v{i}", base=base)
        base = result.commit
        commits.append(base)
    first = history.page_history("P", limit=3)
    assert [r.commit for r in first.revisions] == commits[::-1][:3]
    for i in range(3):  # others keep editing while the reader pages
        base = store.save("P", f"later {i}\n", BOB, base=base).commit
    second = history.page_history("P", cursor=first.next_cursor, limit=3)
    third = history.page_history("P", cursor=second.next_cursor, limit=3)
    assert [r.commit for r in second.revisions + third.revisions] == commits[::-1][3:]
    assert third.next_cursor is None
    with pytest.raises(BadCursor):
        history.page_history("P", cursor="nonsense")


def test_blame_attributes_each_line_to_its_commit(store, history):
    c1 = store.save("B", "alpha\nbeta\ngamma\n", ALICE, "start").commit
    c2 = store.save("B", "alpha\nBETA\ngamma\n", BOB, "shout", base=c1).commit
    c3 = store.save("B", "alpha\nBETA\ngamma\ndelta\n", CAROL, "append", base=c2).commit
    groups = history.blame("B")
    by_line = {line.number: (g.commit, g.author.name, line.text) for g in groups for line in g.lines}
    assert by_line == {1: (c1, "Alice Example", "alpha"), 2: (c2, "Bob Example", "BETA"),
                       3: (c1, "Alice Example", "gamma"), 4: (c3, "Carol Example", "delta")}
    assert [len(g.lines) for g in groups] == [1, 1, 1, 1]
    old = history.blame("B", c1)
    assert {line.text for g in old for line in g.lines} == {"alpha", "beta", "gamma"}
    assert all(g.commit == c1 for g in old)


def test_revert_restores_old_text_and_keeps_later_edits_of_other_lines(store, history):
    text = "".join(f"line {i}\n" for i in range(10))
    c1 = store.save("R", text, ALICE).commit
    c2 = store.save("R", text.replace("line 2\n", "line 2 vandalized\n"), BOB, base=c1).commit
    store.save("R", text.replace("line 2\n", "line 2 vandalized\n").replace("line 8\n", "line 8 fixed\n"),
               CAROL, base=c2)
    result = history.revert(store, "R", c1, ALICE, base=c2)  # the user looked at c2 when reverting
    assert result.status is SaveStatus.MERGED
    final = store.get("R").markdown
    assert "line 2\n" in final and "vandalized" not in final and "line 8 fixed" in final
    assert git(store.repo.git_dir, "log", "-1", "--format=%s").startswith("Revert R to " + c1[:10])


def test_a_deleted_page_can_be_restored(store, history):
    c1 = store.save("Gone", "precious\n", ALICE).commit
    store.delete("Gone", BOB)
    assert store.get("Gone") is None
    assert history.revisions("Gone")[0].status == "D"
    result = history.revert(store, "Gone", c1, ALICE, base=None)
    assert result.status is SaveStatus.CREATED and store.get("Gone").markdown == "precious\n"


def test_page_diff_between_revisions_across_a_rename(store, history):
    c1 = store.save("A", "the quick brown fox\n", ALICE).commit
    c2 = store.rename("A", "B", BOB).commit
    c3 = store.save("B", "the quick red fox\n", CAROL, base=c2).commit
    d = history.page_diff("B", c1, c3)
    assert d.old_name == "A" and d.diff.added == 1 and d.diff.removed == 1
    assert [r.commit for r in d.between] == [c3, c2]
    assert "-the quick brown fox" in d.diff.unified() and "+the quick red fox" in d.diff.unified()
    single = history.page_diff("B", None, c3)  # what c3 changed
    assert single.old_commit == c2 and single.diff.added == 1


def test_recent_changes_filter_by_author_and_folder(store, history):
    store.save("Team/A", "a\n", ALICE, "alice in team")
    store.save("Other", "o\n", BOB, "bob elsewhere")
    store.save("Team/B", "b\n", BOB, "bob in team")
    changes, cursor, _ = history.recent()
    assert [c.entry.summary for c in changes] == ["bob in team", "bob elsewhere", "alice in team"]
    assert cursor is None
    bob = history.recent(author="bob@example.org")[0]
    assert [c.entry.summary for c in bob] == ["bob in team", "bob elsewhere"]
    team = history.recent(folder="Team")[0]
    assert [c.pages[0][0] for c in team] == ["Team/B", "Team/A"]
    first, cursor, _ = history.recent(limit=2)
    rest, _, _ = history.recent(cursor=cursor, limit=2)
    assert len(first) == 2 and [c.entry.summary for c in rest] == ["alice in team"]
    assert history.recent(author="bob\0")[0] == []  # no author holds a NUL; git's argv could not carry it


def test_recent_changes_after_new_commits_read_as_from_scratch(store, history):
    """After the head moved, the first page is the commits since, then the last first page: it must
    equal what a fresh read says, with filters, renames and the "more" cursor."""
    def shape(answer):
        changes, cursor, _ = answer
        return [(c.entry.sha, c.pages and [(n, f.status, f.old_path) for n, f in c.pages]) for c in changes], cursor

    for i in range(4):
        store.save(f"Team/P{i}", f"{i}\n", ALICE if i % 2 else BOB, f"page {i}")
    asked = [dict(limit=3), dict(limit=10), dict(limit=3, folder="Team"), dict(limit=10, author="bob@example.org")]
    for kwargs in asked:
        history.recent(**kwargs)
    store.save("Team/P0", "changed\n", ALICE, "edit", base=store.head())
    store.rename("Team/P1", "Team/Renamed", BOB, "move")
    store.save("Elsewhere", "x\n", BOB, "outside")
    for kwargs in asked:
        assert shape(history.recent(**kwargs)) == shape(History(store.repo).recent(**kwargs)), kwargs
    first, cursor, _ = history.recent(limit=3)
    assert cursor is not None and [c.entry.summary for c in first] == ["outside", "move", "edit"]


def test_recent_changes_by_an_author_with_a_nul_are_none_not_a_500(client):
    r = client.get("/-/api/v1/recent?author=%00")
    assert r.status_code == 200 and r.get_json() == []
    assert client.get("/-/recent?author=a%00b").status_code == 200


def test_tldr_history_with_merges_and_renames(tldr_repo):
    repo = GitRepo(tldr_repo)
    history = History(repo)
    revs = history.revisions("common/find")
    assert len(revs) >= 43
    renamed = [r for r in revs if r.status == "R"]
    assert renamed and renamed[-1].old_name == "osx/find"
    assert revs == tuple(sorted(revs, key=lambda r: r.time, reverse=True))
    merges = subprocess.run(["git", "--git-dir", str(tldr_repo), "rev-list", "--merges", "--count", "main"],
                            capture_output=True, text=True).stdout.strip()
    assert int(merges) > 500
    groups = history.blame("common/grep")
    assert sum(len(g.lines) for g in groups) == len(PageStore(repo).get("common/grep").markdown.splitlines())
    changes, _, _ = history.recent(limit=20)
    assert len(changes) == 20


# -- web ---------------------------------------------------------------------------------

def test_history_pages_and_feeds_on_the_web(client, app):
    client.put("/-/api/v1/pages/Doc", json={"markdown": "# Doc\n\nfirst <draft>\n", "message": "one"})
    rev1 = client.get("/-/api/v1/pages/Doc").get_json()["revision"]
    client.put("/-/api/v1/pages/Doc", json={"markdown": "# Doc\n\nsecond & final\n", "message": "two", "base": rev1})
    rev2 = client.get("/-/api/v1/pages/Doc").get_json()["revision"]
    page = client.get("/-/history/Doc")
    assert page.status_code == 200 and b"one" in page.data and b"two" in page.data
    assert f'value="{rev1}"'.encode() in page.data
    diff = client.get(f"/-/diff/Doc?from={rev1}&to={rev2}")
    assert diff.status_code == 200 and b"<del>first &lt;draft&gt;</del>" in diff.data
    side = client.get(f"/-/diff/Doc?from={rev1}&to={rev2}&view=side")
    assert b"diff-side" in side.data and "tacit_diff_view=side" in side.headers.get("Set-Cookie", "")
    assert b"diff-side" in client.get(f"/-/diff/Doc?from={rev1}&to={rev2}").data  # the choice sticks
    rendered = client.get(f"/-/diff/Doc?from={rev1}&to={rev2}&view=rendered")
    assert b"diff-del" in rendered.data and b"diff-ins" in rendered.data
    old = client.get(f"/Doc?rev={rev1}")
    assert b"Old revision of" in old.data and b"Newer revision" in old.data
    blame = client.get("/-/blame/Doc")
    assert blame.status_code == 200 and rev2[:8].encode() in blame.data
    recent = client.get("/-/recent")
    assert recent.status_code == 200 and b"Doc" in recent.data
    assert client.get(f"/-/commit/{rev2}").status_code == 200
    for url in ("/-/recent.atom", "/-/history/Doc.atom", "/-/recent.atom?folder=Nope"):
        feed = client.get(url)
        assert feed.status_code == 200 and feed.mimetype == "application/atom+xml"
        root = ET.fromstring(feed.data)
        assert root.tag == f"{ATOM}feed"
        for entry in root.findall(f"{ATOM}entry"):
            for child in ("title", "id", "updated", "author", "content"):
                assert entry.find(f"{ATOM}{child}") is not None
    entries = ET.fromstring(client.get("/-/history/Doc.atom").data).findall(f"{ATOM}entry")
    assert len(entries) == 2 and "two" in entries[0].find(f"{ATOM}title").text
    assert "&lt;draft&gt;" in entries[1].find(f"{ATOM}content").text  # HTML carried as text, escaped once


def test_revert_and_restore_on_the_web(client):
    first = client.put("/-/api/v1/pages/W", json={"markdown": "good\n"}).get_json()["revision"]
    second = client.put("/-/api/v1/pages/W", json={"markdown": "bad\n", "base": first}).get_json()["revision"]
    form = client.get(f"/-/revert/W?to={first}")
    assert form.status_code == 200 and b"Revert" in form.data
    assert client.post(f"/-/revert/W?to={first}", data={"base": second}).status_code == 302
    assert client.get("/-/raw/W").data == b"good\n"
    client.delete("/-/api/v1/pages/W")
    assert b"restore" in client.get("/-/history/W").data
    assert client.post(f"/-/revert/W?to={first}", data={"base": ""}).status_code == 302
    assert client.get("/-/raw/W").data == b"good\n"
    r = client.post("/-/api/v1/pages/W/revert", json={"to": second, "base": client.get("/-/api/v1/pages/W").get_json()["commit"]})
    assert r.status_code == 200 and client.get("/-/raw/W").data == b"bad\n"


def test_history_api(client):
    first = client.put("/-/api/v1/pages/H", json={"markdown": "a\nb\n", "message": "m1"}).get_json()["revision"]
    second = client.put("/-/api/v1/pages/H", json={"markdown": "a\nc\n", "message": "m2", "base": first}).get_json()["revision"]
    page1 = client.get("/-/api/v1/pages/H/history?limit=1")
    h = page1.get_json()
    assert [r["revision"] for r in h] == [second] and page1.headers["X-Total-Count"] == "2"
    next_url = page1.headers["Link"].split(">")[0].lstrip("<")
    assert "cursor=" in next_url and "limit=1" in next_url
    rest = client.get(next_url).get_json()
    assert [r["revision"] for r in rest] == [first]
    assert set(h[0]) >= {"revision", "author", "email", "date", "message", "path"}
    d = client.get(f"/-/api/v1/pages/H/diff?from={first}&to={second}").get_json()
    assert d["from"] == first and d["to"] == second and "-b" in d["unified"] and d["hunks"]
    b = client.get("/-/api/v1/pages/H/blame").get_json()
    assert [line["commit"] for line in b["lines"]] == [first, second]
    r = client.get("/-/api/v1/recent?limit=5").get_json()
    assert r[0]["revision"] == second and r[0]["pages"][0]["path"] == "H"
    assert "Link" not in client.get("/-/api/v1/recent?limit=5").headers
    assert "Link" in client.get("/-/api/v1/recent?limit=1").headers
    assert client.get("/-/api/v1/pages/H/history?cursor=bad").status_code == 400
    assert client.get("/-/api/v1/pages/Nope/history").status_code == 404
    assert client.get("/-/api/v1/pages/H/diff?from=zzz").status_code == 404


def test_history_routes_refuse_bad_input(client):
    for url in ("/-/history/Nope", "/-/blame/Nope", "/-/diff/H?to=deadbeef", "/-/commit/nothex",
                "/-/revert/Home?to=deadbeef", "/-/history/..%2Fx"):
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert b"Traceback" not in r.data
    assert client.get("/-/recent?cursor=x").status_code == 400
    assert client.get("/-/revert/Home").status_code == 400


def test_an_empty_repository_has_no_changes_yet(tmp_path):
    from wiki import create_app

    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    client = create_app({"TESTING": True, "WIKI_REPO": str(tmp_path / "repo"),
                         "WIKI_DATA": str(tmp_path / "data")}).test_client()
    assert client.get("/-/recent").status_code == 200
    assert client.get("/-/recent.atom").status_code == 200
    assert client.get("/-/api/v1/recent").get_json() == []
    assert client.get("/Home").status_code == 404


def test_talk_shows_in_recent_changes_history_and_feeds(client, app):
    from .conftest import ALICE
    client.put("/-/api/v1/pages/Plans/Q4", json={"markdown": "# Q4\n\nShip it.\n", "message": "plan"})
    wiki = app.extensions["tacit"]
    thread_id, result = wiki.talk.start("Plans/Q4", "Ship date", "Is December realistic?", ALICE, "alice")
    recent = client.get("/-/recent").get_data(as_text=True)
    assert 'class="tag tag-talk">talk</span>' in recent and thread_id in recent
    filtered = client.get("/-/recent?folder=Plans").get_data(as_text=True)
    assert thread_id in filtered  # the folder filter keeps the folder's talk
    api = client.get("/-/api/v1/recent").get_json()
    assert api[0]["talk"] == [{"path": "Plans/Q4", "thread": thread_id}] and api[0]["pages"] == []
    assert "Talk:Plans/Q4" in client.get("/-/recent.atom").get_data(as_text=True)
    plain = client.get("/-/history/Plans/Q4").get_data(as_text=True)
    assert "Talk activity" not in plain and "Show talk activity" in plain
    with_talk = client.get("/-/history/Plans/Q4?talk=1").get_data(as_text=True)
    assert "Talk activity" in with_talk and "Ship date" in with_talk and result.commit[:8] in with_talk


def test_a_repository_opened_without_a_commit_graph_gets_one_in_the_background(tmp_path):
    """A cloned or restored repository has no commit-graph, so a page's history walks every commit:
    opening it writes one (with changed-path Bloom filters), and history reads the same after."""
    from wiki.core.wiki import Wiki

    source = tmp_path / "source.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(source)], check=True)
    store = PageStore(GitRepo(source))
    for i in range(5):
        store.save("Plan", f"version {i}\n", ALICE, base=store.head() if i else None)
    assert not store.repo.has_commit_graph()
    wiki = Wiki.open(source, tmp_path / "data", ALICE, build_search=False)
    try:
        before = [r.commit for r in wiki.history.revisions("Plan")]
    finally:
        wiki.close()  # waits for the commit-graph being written
    assert GitRepo(source).has_commit_graph()
    chain = (source / "objects" / "info" / "commit-graphs" / "commit-graph-chain").read_text().split()
    assert chain, "a split commit-graph"
    graph = (source / "objects" / "info" / "commit-graphs" / f"graph-{chain[-1]}.graph").read_bytes()
    assert b"BIDX" in graph and b"BDAT" in graph  # the changed-path Bloom filters
    verify = subprocess.run(["git", "--git-dir", str(source), "commit-graph", "verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    wiki = Wiki.open(source, tmp_path / "data", ALICE, build_search=False)
    try:
        assert [r.commit for r in wiki.history.revisions("Plan")] == before and len(before) == 5
    finally:
        wiki.close()
