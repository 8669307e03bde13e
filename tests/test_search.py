"""Search follows git: catch-up from any commit, rebuilds, the query language, links."""

import multiprocessing
import shutil
import subprocess
from importlib.metadata import distributions

import pytest

from wiki.core.gitrepo import GitRepo, Person
from wiki.core.pages import PageStore
from wiki.core.render import Renderer
from wiki.core.search import SearchIndex

from wiki.core.search.semantic import SemanticSettings

from .conftest import ALICE, BOB, git

DANA = Person("Dana Scully", "dana@example.org")


def make_index(repo: GitRepo, data, semantic: SemanticSettings = SemanticSettings()) -> SearchIndex:
    store = PageStore(repo)
    return SearchIndex(repo, Renderer(page_url=lambda p: "/" + p), store.last_changes, data, "", semantic)


@pytest.fixture
def wiki(store, tmp_path):
    store.save("Home", "# Home\n\nWelcome. See [[Projects/Alpha]] and [[Nowhere]].\n", ALICE)
    store.save("Projects/Alpha", "---\ntags: [status, alpha]\n---\n# Alpha status\n\n"
               "The vendor contract is late. Migration slipped a week.\n\n## Risks\n\nThe database migration.\n",
               ALICE, "status")
    store.save("Projects/Beta", "# Beta\n\nA quiet project about kubernetes clusters.\n", BOB, "beta")
    store.save("Notes/Security", "# Security\n\nA pasted `<script>alert(1)</script>` never runs; tar archives are fine.\n",
               DANA, "security")
    index = make_index(store.repo, tmp_path / "data")
    index.rebuild()
    index.rebuild_history()
    return store, index


def paths(results):
    return [h.path for h in results.hits]


def test_only_whoosh_reloaded_is_installed():
    names = [d.metadata["Name"].lower() for d in distributions()]
    assert "whoosh-reloaded" in names and "whoosh" not in names


def test_query_language(wiki):
    store, index = wiki
    assert paths(index.search("vendor contract")) == ["Projects/Alpha"]
    assert paths(index.search('"migration slipped"')) == ["Projects/Alpha"]
    assert paths(index.search('"slipped migration"')) == []
    assert set(paths(index.search("vendor OR kubernetes"))) == {"Projects/Alpha", "Projects/Beta"}
    assert "Projects/Alpha" not in paths(index.search("project -vendor"))
    assert paths(index.search("kuber*")) == ["Projects/Beta"]
    assert paths(index.search("title:alpha")) == ["Projects/Alpha"]
    assert paths(index.search("tag:status")) == ["Projects/Alpha"]
    assert paths(index.search("author:dana")) == ["Notes/Security"]
    assert set(paths(index.search("in:Projects/ project"))) == {"Projects/Beta"} or \
        set(paths(index.search("in:Projects/ project"))) <= {"Projects/Alpha", "Projects/Beta"}
    assert "Notes/Security" not in paths(index.search("in:Projects/ the"))
    assert paths(index.search("changed:>2000-01-01 kubernetes")) == ["Projects/Beta"]
    assert paths(index.search("changed:<2000-01-01 kubernetes")) == []
    assert index.search("changed:>2026-13-45 x").error
    assert paths(index.search("risks"))[0] == "Projects/Alpha"  # headings count
    assert paths(index.search("secur"))[:1] == ["Notes/Security"]  # partial word matches a title


def test_exact_title_ranks_first(wiki):
    store, index = wiki
    store.save("Beta Notes", "# Beta Notes\n\nbeta " * 50, ALICE)
    assert paths(index.search("beta"))[0] == "Projects/Beta" or paths(index.search("Beta Notes"))[0] == "Beta Notes"
    assert paths(index.search("Beta Notes"))[0] == "Beta Notes"


def test_highlights_escape_html_and_mark_words(wiki):
    _, index = wiki
    hit = index.search("archives").hits[0]
    assert "<mark" in hit.snippet_html and "archives</mark>" in hit.snippet_html
    assert "<script>" not in hit.snippet_html
    hit = index.search("alert").hits[0]
    assert "&lt;script&gt;" in hit.snippet_html and "<script" not in hit.snippet_html


def test_suggestions_come_from_the_index(wiki):
    _, index = wiki
    result = index.search("kubernetse")
    assert result.total == 0 and result.suggestion == "kubernetes"
    assert index.search("vendor").suggestion is None
    assert index.search("").error and index.search("   ").error


def test_a_misspelling_some_pages_share_still_gets_the_common_spelling(store, tmp_path):
    """Two pages misspell "compression"; twenty spell it right. A search for the misspelling finds
    the two and offers the spelling most pages use; a rare word with no common neighbour is left be."""
    for i in range(20):
        store.save(f"Tools/T{i}", f"# Tool {i}\n\nFast compression of logs, number {i}.\n", ALICE)
    store.save("Notes/Old", "# Old\n\nWe tried compresion once.\n", ALICE)
    store.save("Notes/Older", "# Older\n\nCompresion was slow; the zstandard level mattered.\n", ALICE)
    index = make_index(store.repo, tmp_path / "data")
    index.rebuild()
    result = index.search("compresion")
    assert sorted(paths(result)) == ["Notes/Old", "Notes/Older"]
    assert result.suggestion == "compression"
    assert index.search("zstandard").suggestion is None  # one page, but nothing commoner is near it
    assert index.search("compression").suggestion is None


def test_catch_up_follows_commits_from_anywhere(wiki, tmp_path):
    store, index = wiki
    repo = store.repo
    before = store.head()
    # a commit made by hand in a clone, pushed back
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.git_dir), str(clone)], check=True)
    (clone / "Handmade.md").write_text("# Handmade\n\nwritten with a text editor, zanzibar\n")
    git(clone, "add", "Handmade.md")
    git(clone, "-c", "user.name=Hand", "-c", "user.email=hand@example.org", "commit", "-qm", "by hand")
    git(clone, "push", "-q", "origin", "HEAD:main")
    assert paths(index.search("zanzibar")) == ["Handmade"]
    store.rename("Projects/Beta", "Archive/Beta", ALICE)
    assert paths(index.search("kubernetes")) == ["Archive/Beta"]
    store.delete("Notes/Security", BOB)
    assert paths(index.search("archives")) == []
    git(repo.git_dir, "update-ref", "refs/heads/main", before)  # a reset to an older commit
    assert paths(index.search("zanzibar")) == []
    assert paths(index.search("kubernetes")) == ["Projects/Beta"]
    assert paths(index.search("archives")) == ["Notes/Security"]


def test_a_deleted_or_corrupt_index_is_rebuilt(wiki):
    store, index = wiki
    shutil.rmtree(index.engine._generations["pages"].current())
    result = index.search("vendor")
    assert result.reindexing or paths(result) == ["Projects/Alpha"]
    index.wait_for_rebuild(60)
    assert paths(index.search("vendor")) == ["Projects/Alpha"]
    folder = index.engine._generations["pages"].current()
    for f in folder.iterdir():
        if f.suffix in (".seg", ".toc") or f.name.startswith("_"):
            f.write_bytes(b"garbage")
    index.engine._local.__dict__.clear()
    index.search("vendor")
    index.wait_for_rebuild(60)
    assert paths(index.search("vendor")) == ["Projects/Alpha"]


def test_history_search_finds_removed_text_with_its_revision(wiki):
    store, index = wiki
    page = store.get("Projects/Alpha")
    result = store.save("Projects/Alpha", page.markdown.replace("The vendor contract is late. ", ""), BOB,
                        "contract signed", base=page.commit)
    assert paths(index.search("vendor")) == []
    found = index.search("vendor", history=True)
    revisions = {h.revision for h in found.hits}
    assert result.commit in revisions  # the commit that removed it
    first = git(store.repo.git_dir, "log", "--format=%H", "--", "Projects/Alpha.md").split()[-1]
    assert first in revisions  # and the one that added it
    assert all(h.source == "history" and h.path == "Projects/Alpha" for h in found.hits)
    assert paths(index.search("history: vendor"))[0] == "Projects/Alpha"


def test_links_give_backlinks_and_wanted_pages(wiki):
    _, index = wiki
    assert index.links_to("Projects/Alpha") == ["Home"]
    links = index.all_links()
    assert "Nowhere" in links["Home"]


def _save_and_search(path: str, data: str, n: int, queue) -> None:
    repo = GitRepo(path)
    store = PageStore(repo)
    index = make_index(repo, data)
    found = 0
    for i in range(8):
        word = f"marker{n}x{i}"
        store.save(f"P{n}/{i}", f"# Page\n\n{word}\n", ALICE)
        found += paths(index.search(word)) == [f"P{n}/{i}"]
    queue.put(found)


def test_two_processes_saving_and_searching(wiki, tmp_path):
    store, index = wiki
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_save_and_search, args=(str(store.repo.path), str(tmp_path / "data"), n, queue))
             for n in (1, 2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(60)
    assert results == [8, 8]  # every save was found by the search right after it
    for n in (1, 2):
        for i in range(8):
            assert paths(index.search(f"marker{n}x{i}")) == [f"P{n}/{i}"]


# -- web ---------------------------------------------------------------------------------

def test_search_page_api_and_link_pages(client):
    client.put("/-/api/v1/pages/Projects/Alpha", json={"markdown": "# Alpha\n\nThe vendor contract. See [[Missing Link]].\n"})
    client.put("/-/api/v1/pages/Lonely", json={"markdown": "nobody links here, vendor\n"})
    client.put("/-/api/v1/pages/Home", json={"markdown": "Go to [[Projects/Alpha]].\n",
                                             "base": client.get("/-/api/v1/pages/Home").get_json()["commit"]})
    page = client.get("/-/search?q=vendor+contract")
    assert page.status_code == 200 and b"Projects/Alpha" in page.data and b"<mark" in page.data
    assert b"Type words" in client.get("/-/search").data
    bad = client.get("/-/search?q=changed:>2026-99-99")
    assert bad.status_code == 200 and b"not a date" in bad.data
    assert b"Did you mean" in client.get("/-/search?q=vendr").data
    api = client.get("/-/api/v1/search?q=vendor").get_json()
    assert api["total"] == 2 and {r["path"] for r in api["results"]} == {"Projects/Alpha", "Lonely"}
    assert set(api["results"][0]) >= {"path", "title", "snippet_html", "score", "source", "revision"}
    assert "suggestion" in api
    hist = client.get("/-/api/v1/search?q=vendor&history=1").get_json()
    assert hist["results"] and all(r["source"] == "history" for r in hist["results"])
    assert client.get("/-/api/v1/search").status_code == 400
    assert b"Home" in client.get("/-/backlinks/Projects/Alpha").data
    assert b"Missing Link" in client.get("/-/wanted").data
    orphans = client.get("/-/orphans").data
    assert b"Lonely" in orphans and b">Projects/Alpha<" not in orphans
    rename_form = client.get("/-/rename/Projects/Alpha").data
    assert b"link to this name" in rename_form


def test_search_honours_access_rules(tmp_path):
    from wiki import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "WIKI_REPO": str(tmp_path / "repo"),
                      "WIKI_DATA": str(tmp_path / "data")})
    wiki = app.extensions["tacit"]
    wiki.users.create("Ada", "ada@example.org", "password-123")
    wiki.rules.set("HR/", "admins", None)
    wiki.pages.save("HR/Salaries", "secret payroll numbers\n", ALICE)
    wiki.pages.save("Open", "public payroll process\n", ALICE)
    anon = app.test_client()
    found = anon.get("/-/api/v1/search?q=payroll").get_json()
    assert [r["path"] for r in found["results"]] == ["Open"]
    assert b"Salaries" not in anon.get("/-/search?q=payroll").data
    assert b"Salaries" not in anon.get("/-/search?q=payroll&history=1").data
    admin = app.test_client()
    admin.post("/-/login", data={"name": "Ada", "password": "password-123"})
    assert {r["path"] for r in admin.get("/-/api/v1/search?q=payroll").get_json()["results"]} == {"Open", "HR/Salaries"}


def test_an_index_of_an_older_schema_is_rebuilt(wiki, tmp_path):
    from whoosh import index as whoosh_index
    from whoosh.fields import ID, Schema

    store, index = wiki
    old = tmp_path / "old-index"
    old.mkdir()
    whoosh_index.create_in(str(old), Schema(path=ID(stored=True)))
    shutil.move(str(old), str(index.root / old.name))  # an index another version of the wiki made
    index.engine._generations["pages"].pointer.write_text(old.name)
    index.engine._local.__dict__.clear()
    assert index.engine.open("pages") is None  # not used as it is
    index.search("vendor")
    index.wait_for_rebuild(60)
    assert paths(index.search("vendor")) == ["Projects/Alpha"]


def test_odd_queries_never_fail(client):
    from .conftest import test_data

    client.put("/-/api/v1/pages/Odd", json={"markdown": "some text to find\n"})
    odd = ['"', "(", ")", "*", "?", "AND", "OR OR", "-", "in:", "changed:", "title:", "tag:", "author:",
           "in:../..", 'title:"', "a AND (b OR", "changed:>2026-02-30", "\\", "[x TO y]", "history:",
           "*" * 50, "\x00", "🙂"]
    strings = test_data("naughty-strings.txt").read_text(encoding="utf-8").split("\n")
    for q in odd + [s for s in strings if s and not s.startswith("#")]:
        r = client.get("/-/api/v1/search", query_string={"q": q})
        assert r.status_code in (200, 400), (q, r.status_code)
        page = client.get("/-/search", query_string={"q": q})
        assert page.status_code == 200, (q, page.status_code)


def test_words_standing_together_rank_higher(store, tmp_path):
    store.save("Apart", "# Apart\n\nA link is made here; symbolic meaning aside, it is plain.\n", ALICE)
    store.save("Together", "# Together\n\nThis makes a symbolic link to the folder, with more words after.\n", ALICE)
    index = make_index(store.repo, tmp_path / "data")
    index.rebuild()
    assert paths(index.search("symbolic link")) == ["Together", "Apart"]
    assert paths(index.search("link symbolic"))[0] in ("Together", "Apart")  # both still found
    assert len(paths(index.search("link symbolic"))) == 2


def test_talk_threads_are_found_with_their_page(wiki):
    from wiki.core.talk import TalkStore
    store, index = wiki
    talk = TalkStore(store)
    thread_id, _ = talk.start("Projects/Alpha", "Vendor escalation", "Ping the zebracorn vendor.", BOB, "bob")
    index.catch_up()
    found = index.search("zebracorn")
    assert [(h.path, h.source, h.thread) for h in found.hits] == [("Projects/Alpha", "talk", thread_id)]
    assert ">zebracorn</mark>" in found.hits[0].snippet_html
    talk.reply("Projects/Alpha", thread_id, "Done: the quokkafish contract is signed.", ALICE, "alice")
    index.catch_up()
    assert [h.thread for h in index.search("quokkafish").hits] == [thread_id]
    assert index.search("zebracorn", hidden=["Projects/Alpha"]).hits == []  # a hidden page hides its talk
    store.rename("Projects/Alpha", "Projects/Gamma", ALICE)
    index.catch_up()
    assert [(h.path, h.thread) for h in index.search("quokkafish").hits] == [("Projects/Gamma", thread_id)]
    assert "Projects/Alpha#" + thread_id not in index.all_links()  # threads are not pages
    index.rebuild()
    assert [(h.path, h.thread) for h in index.search("zebracorn").hits] == [("Projects/Gamma", thread_id)]


def test_talk_hits_on_the_search_page_link_to_their_thread(app, client):
    from .conftest import ALICE
    wiki = app.extensions["tacit"]
    client.put("/-/api/v1/pages/Ops", json={"markdown": "# Ops\n\nRunbooks.\n"})
    thread_id, _ = wiki.talk.start("Ops", "Pager rota", "Who holds the flamingopager this week?", ALICE, "alice")
    wiki.search.catch_up(wait=True)
    page = client.get("/-/search?q=flamingopager").get_data(as_text=True)
    assert f"/-/talk/Ops?thread={thread_id}" in page and ">talk</span>" in page


def test_operator_mixes_whoosh_cannot_parse_search_their_words(wiki):
    store, index = wiki
    result = index.search("vendor (+contract)")
    assert result.error is None and paths(result) == ["Projects/Alpha"]


def test_catch_ups_keep_few_segments_and_lose_no_page(wiki):
    """Each catch-up writes a segment; merging like sizes keeps O(log n) of them and rewrites each
    document O(log n) times. (Folding every small segment into one on each catch-up rewrote all the
    changes since the last build every time: saves got slower as the wiki grew.)"""
    store, index = wiki

    def segments(name: str) -> dict[str, int]:
        return {reader.segment().segment_id(): reader.doc_count_all()
                for reader, _ in index.engine.open(name).reader().leaf_readers()}

    rewritten = {"pages": 0, "history": 0}
    for i in range(40):
        store.save(f"Grow/Page{i}", f"# Page {i}\n\nword{i}x appears here.\n", ALICE)
        before = {name: segments(name) for name in rewritten}
        assert index.catch_up(wait=True)
        for name in rewritten:
            after = segments(name)
            rewritten[name] += sum(docs for seg, docs in after.items() if seg not in before[name])
            assert len(after) <= 8, (name, len(after))
    for name, docs in rewritten.items():
        assert docs < 40 * 6, (name, docs)  # about 40 x log2(40) at most (folding all into one: 536 for pages)
    for i in (0, 17, 39):
        assert paths(index.search(f"word{i}x")) == [f"Grow/Page{i}"]
    assert index.search("vendor contract").hits  # the pages of the first build are still found
