"""What the wiki relies on from a search engine (engine.SearchEngine), checked on every engine:
Whoosh on a real index in a temporary folder, and the in-memory engine."""

import threading
from datetime import datetime

import pytest

from wiki.core.render import Renderer
from wiki.core.search import SearchIndex
from wiki.core.search.engine import PageDoc, RevisionDoc
from wiki.core.search.extract import PageText
from wiki.core.search.memory_engine import MemoryEngine
from wiki.core.search.ranking import rank
from wiki.core.search.semantic import SemanticSettings
from wiki.core.search.whoosh_engine import WhooshEngine

from .conftest import ALICE, BOB

WHEN = datetime(2026, 12, 1, 12, 0)


def page(path: str, body: str, title: str | None = None, links: tuple[str, ...] = (), source: str = "page",
         tags: tuple[str, ...] = ()) -> PageDoc:
    title = title if title is not None else path.rsplit("/", 1)[-1]
    return PageDoc(PageText(path, title, "", body.split(".")[0], body, tags, frozenset(links)),
                   "Alice Example", "alice@example.org", WHEN, "c0ffee", source)


def revision(commit: str, path: str, added: str, removed: str = "", message: str = "edit") -> RevisionDoc:
    return RevisionDoc(f"{commit}:{path}", path, commit, "Bob Example", WHEN, added, removed, message)


@pytest.fixture(params=["whoosh", "memory"])
def engine(request, tmp_path):
    made = WhooshEngine(tmp_path / "index") if request.param == "whoosh" else MemoryEngine()
    yield made
    made.close()


def build(engine, pages=(), revisions=(), head: str = "one") -> None:
    for index, docs in (("pages", pages), ("history", revisions)):
        with engine.writer_lock(index, True) as locked:
            assert locked
            rebuild = engine.begin_rebuild(index)
            assert rebuild.add(list(docs)) == len(docs)
            rebuild.commit({"head": head})


def keys(candidates) -> list[str]:
    return [c.key for c in candidates.hits]


def test_a_missing_index_is_not_built_and_answers_reindexing(engine):
    assert not engine.is_built("pages") and not engine.is_built("history")
    assert engine.meta("pages") == {}
    assert engine.query("anything", 0, 10, [], False).reindexing
    assert engine.links_to("Home") == [] and engine.all_links() == {}


def test_meta_round_trips_with_rebuilds_and_updates(engine):
    build(engine, [page("Home", "Welcome home.")], [revision("a1", "Home", "Welcome home.")], head="one")
    assert engine.is_built("pages") and engine.is_built("history")
    assert engine.meta("pages") == {"head": "one"} and engine.meta("history") == {"head": "one"}
    engine.update([page("Home", "Welcome back.")], [], {"head": "two", "note": "x"})
    assert engine.meta("pages") == {"head": "two", "note": "x"}
    engine.update_history([revision("b2", "Home", "back", "home")], {"head": "two"})
    assert engine.meta("history") == {"head": "two"}


def test_update_and_remove_pages(engine):
    build(engine, [page("Home", "The zanzibar project starts here."), page("Notes", "A quokkafish was seen.")])
    assert keys(engine.query("zanzibar", 0, 10, [], False)) == ["Home"]
    engine.update([page("Home", "The project moved to kilimanjaro.")], ["Notes"], {"head": "two"})
    assert keys(engine.query("zanzibar", 0, 10, [], False)) == []  # the word saved before is gone
    assert keys(engine.query("kilimanjaro", 0, 10, [], False)) == ["Home"]
    assert engine.query("quokkafish", 0, 10, [], False).total == 0  # a removed page is never found
    assert engine.page("Notes") is None and engine.page("Home").title == "Home"
    engine.update([page("Notes", "The quokkafish is back.")], [], {"head": "three"})
    assert keys(engine.query("quokkafish", 0, 10, [], False)) == ["Notes"]


def test_a_rebuild_goes_live_only_when_committed(engine):
    build(engine, [page("Home", "The zanzibar project.")])
    rebuild = engine.begin_rebuild("pages")
    rebuild.add([page("Other", "Nothing of the kind.")])
    assert keys(engine.query("zanzibar", 0, 10, [], False)) == ["Home"]  # the old generation answers
    rebuild.cancel()
    assert keys(engine.query("zanzibar", 0, 10, [], False)) == ["Home"] and engine.meta("pages") == {"head": "one"}
    rebuild = engine.begin_rebuild("pages")
    rebuild.add([page("Other", "Nothing of the kind.")])
    rebuild.commit({"head": "two"})
    assert keys(engine.query("zanzibar", 0, 10, [], False)) == [] and engine.meta("pages") == {"head": "two"}


def test_hidden_pages_folders_and_their_threads_are_never_returned(engine):
    build(engine, [page("HR/Salaries", "secret payroll numbers"), page("Open", "public payroll process"),
                   page("HR/Salaries#t1", "payroll talk", "Payroll", source="talk"),
                   page("Open#t2", "payroll chat", "Chat", source="talk"),
                   page("HRtips", "payroll tips")])
    everything = {"HR/Salaries", "Open", "HR/Salaries#t1", "Open#t2", "HRtips"}
    assert set(keys(engine.query("payroll", 0, 10, [], False))) == everything
    assert set(keys(engine.query("payroll", 0, 10, ["HR/"], False))) == {"Open", "Open#t2", "HRtips"}
    assert set(keys(engine.query("payroll", 0, 10, ["Open"], False))) == everything - {"Open", "Open#t2"}
    hidden = engine.query("payroll", 0, 10, ["HR/", "Open", "HRtips"], False)
    assert hidden.hits == [] and hidden.total == 0 and hidden.exact is None
    talk = [c.show(c.score) for c in engine.query("chat", 0, 10, [], False).hits]
    assert [(h.path, h.thread, h.source) for h in talk] == [("Open", "t2", "talk")]


def test_offset_and_limit_page_through_every_match(engine):
    build(engine, [page(f"P{i:02}", f"common word, and {'common ' * (i % 7)}more") for i in range(25)])
    found = engine.query("common", 0, 5, [], False)
    assert found.total == 25 and len(found.hits) == 5
    scores = [c.score for c in found.hits]
    assert scores == sorted(scores, reverse=True)  # best first
    shown = [rank(engine, "common", offset, 10, [], False) for offset in (0, 10, 20)]
    assert [len(r.hits) for r in shown] == [10, 10, 5] and all(r.total == 25 for r in shown)
    assert len({h.path for r in shown for h in r.hits}) == 25  # no page twice, none left out


def test_history_documents_are_searchable_when_history_is_asked(engine):
    build(engine, [page("Projects/Alpha", "The contract is signed.")],
          [revision("a1", "Projects/Alpha", "The vendor contract is late."),
           revision("b2", "Projects/Alpha", "", "The vendor contract is late.", "contract signed")])
    assert engine.query("vendor", 0, 10, [], False).total == 0  # gone from the page
    found = engine.query("vendor", 0, 10, [], True)
    assert found.index == "history" and found.total == 2
    hits = [c.show(c.score) for c in found.hits]
    assert {h.revision for h in hits} == {"a1", "b2"}
    assert all(h.source == "history" and h.path == "Projects/Alpha" for h in hits)
    assert "vendor</mark>" in hits[0].snippet_html
    assert engine.query("history: vendor", 0, 10, [], False).index == "history"
    assert engine.query("vendor", 0, 10, ["Projects/"], True).total == 0


def test_snippets_mark_the_words_and_escape_html(engine):
    build(engine, [page("Notes/Security", "A pasted <script>alert(1)</script> never runs; tar archives are fine.")])
    hit = [c.show(c.score) for c in engine.query("archives", 0, 10, [], False).hits][0]
    assert "archives</mark>" in hit.snippet_html and "<script>" not in hit.snippet_html
    hit = [c.show(c.score) for c in engine.query("alert", 0, 10, [], False).hits][0]
    assert "&lt;script&gt;" in hit.snippet_html


def test_the_page_titled_as_the_question_is_offered(engine):
    build(engine, [page("Beta Notes", "beta " * 50, "Beta Notes"), page("Projects/Beta", "beta notes, a few")])
    found = engine.query("Beta Notes", 0, 10, [], False)
    assert found.exact is not None and found.exact.key == "Beta Notes"
    assert [h.path for h in rank(engine, "Beta Notes", 0, 10, [], False).hits][0] == "Beta Notes"


def test_links_to_and_all_links(engine):
    build(engine, [page("Home", "See alpha.", links=("Projects/Alpha", "Nowhere")),
                   page("Projects/Alpha", "Back home.", links=("Home",)),
                   page("Projects/Alpha#t1", "Thread", source="talk", links=("Elsewhere",))])
    assert engine.links_to("Projects/Alpha") == ["Home"]
    assert engine.links_to("Elsewhere") == []  # threads are not pages
    links = engine.all_links()
    assert links == {"Home": {"Projects/Alpha", "Nowhere"}, "Projects/Alpha": {"Home"}}
    engine.update([], ["Home"], {"head": "two"})
    assert engine.links_to("Projects/Alpha") == [] and "Home" not in engine.all_links()


def test_suggest_answers_none_or_a_correction(engine):
    build(engine, [page("Beta", "A quiet project about kubernetes clusters.")])
    assert engine.suggest("kubernetes") is None
    suggestion = engine.suggest("kubernetse")
    assert suggestion is None or isinstance(suggestion, str)
    assert rank(engine, "kubernetse", 0, 10, [], False).suggestion == suggestion


def test_queries_without_words_are_explained(engine):
    build(engine)
    assert engine.query("", 0, 10, [], False).error
    assert rank(engine, "   ", 0, 10, [], False).error


def test_one_writer_per_index(engine):
    build(engine)
    with engine.writer_lock("pages", True) as first:
        other: list[bool] = []
        thread = threading.Thread(target=lambda: other.append(_try_lock(engine, "pages")))
        thread.start()
        thread.join()
        with engine.writer_lock("history", 0.1) as history:
            assert first and other == [False] and history  # the history has a lock of its own
    assert _try_lock(engine, "pages")


def _try_lock(engine, index: str) -> bool:
    with engine.writer_lock(index, 0.1) as taken:
        return taken


# -- the wiki's indexing through an engine given to SearchIndex -----------------------------------

def test_search_index_works_through_the_memory_engine(store, tmp_path):
    store.save("Home", "# Home\n\nWelcome. See [[Projects/Alpha]].\n", ALICE)
    store.save("Projects/Alpha", "# Alpha status\n\nThe vendor contract is late.\n", BOB)
    index = SearchIndex(store.repo, Renderer(page_url=lambda p: "/" + p), store.last_changes, tmp_path / "data",
                        semantic_settings=SemanticSettings(enabled=False), engine=MemoryEngine())
    try:
        index.rebuild()
        index.rebuild_history()
        assert [h.path for h in index.search("vendor contract").hits] == ["Projects/Alpha"]
        assert index.links_to("Projects/Alpha") == ["Home"]
        page = store.get("Projects/Alpha")
        store.save("Projects/Alpha", "# Alpha status\n\nSigned by zanzibar.\n", BOB, base=page.commit)
        assert [h.path for h in index.search("zanzibar").hits] == ["Projects/Alpha"]  # a search catches up
        assert index.search("vendor").hits == []
        assert {h.source for h in index.search("vendor", history=True).hits} == {"history"}
        store.delete("Projects/Alpha", ALICE)
        assert index.search("zanzibar").hits == [] and index.links_to("Projects/Alpha") == ["Home"]
        assert not (tmp_path / "data" / "index" / "pages.current").exists()  # nothing of Whoosh's on disk
    finally:
        index.close()
