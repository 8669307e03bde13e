"""Search by meaning: a question finds the page that answers it in other words.

Real model (all-MiniLM-L6-v2 on onnxruntime), real Whoosh index, real git repositories.
"""

import subprocess

import pytest

from wiki.core.search.meaning import MeaningClient
from wiki.core.search.semantic import SemanticSettings
from wiki.core.search.vectors import VectorStore

from .conftest import ALICE, BOB, git
from .test_search import DANA, make_index, paths

pytestmark = pytest.mark.skipif(not MeaningClient().available(), reason="the embedding model is not installed")

LEAVE = ("# Time off\n\nEvery employee gets twenty-five days of paid leave a year.\n\n"
         "- Book leave in the HR tool two weeks ahead.\n- Unused days carry over until March.\n")
BACKUP = "# Backups\n\nThe database is copied to the offsite storage every night at two.\n"
COFFEE = "# Kitchen\n\nThe coffee machine is descaled on Fridays.\n"


@pytest.fixture
def wiki(store, tmp_path):
    store.save("Handbook/Time off", LEAVE, ALICE)
    store.save("Ops/Backups", BACKUP, BOB)
    store.save("Office/Kitchen", COFFEE, DANA)
    index = make_index(store.repo, tmp_path / "data")
    index.rebuild()
    index.rebuild_history()
    index.rebuild_vectors()
    return store, index


def test_a_question_finds_the_page_in_other_words(wiki):
    store, index = wiki
    # no page holds "vacation" or "holidays": the words alone find nothing
    assert index.engine.query("how many vacation days do I get", 0, 10, [], False).total == 0
    result = index.search("how many vacation days do I get")
    assert paths(result)[0] == "Handbook/Time off"
    hit = result.hits[0]
    assert "paid leave" in hit.snippet_html and "<mark>days</mark>" in hit.snippet_html
    assert result.suggestion is None  # "get" -> "gets" would find nothing: no correction offered
    assert paths(index.search("when are the nightly database backups"))[0] == "Ops/Backups"


def test_a_single_word_or_an_operator_query_asks_for_exactly_that(wiki):
    store, index = wiki
    assert paths(index.search("vacation")) == []
    assert paths(index.search("vacation OR holiday")) == []
    assert paths(index.search('"paid vacation"')) == []
    assert paths(index.search("title:vacation days")) == []


def test_pages_hidden_from_the_reader_are_never_found_by_meaning(wiki):
    store, index = wiki
    question = "how many vacation days do I get"
    assert "Handbook/Time off" not in paths(index.search(question, hidden=["Handbook/"]))
    assert "Handbook/Time off" not in paths(index.search(question, hidden=["Handbook/Time off"]))


def test_the_semantic_index_follows_commits_from_anywhere(wiki, tmp_path):
    store, index = wiki
    question = "who looks after the espresso maker"
    before = store.head()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(store.repo.git_dir), str(clone)], check=True)
    (clone / "Espresso.md").write_text("# Barista duty\n\nMaria cleans and maintains the coffee machine.\n")
    git(clone, "add", "Espresso.md")
    git(clone, "-c", "user.name=Hand", "-c", "user.email=hand@example.org", "commit", "-qm", "by hand")
    git(clone, "push", "-q", "origin", "HEAD:main")
    assert index.catch_up(wait=True)
    assert index.vectors.head() == store.head()
    assert paths(index.search(question))[0] == "Espresso"
    store.rename("Espresso", "Office/Barista duty", ALICE)
    index.catch_up(wait=True)
    found = paths(index.search(question))
    assert found[0] == "Office/Barista duty" and "Espresso" not in found
    store.delete("Office/Barista duty", BOB)
    index.catch_up(wait=True)
    assert "Office/Barista duty" not in paths(index.search(question))
    git(store.repo.git_dir, "update-ref", "refs/heads/main", before)  # a reset to an older commit
    index.catch_up(wait=True)
    assert index.vectors.head() == before
    assert not {"Espresso", "Office/Barista duty"} & set(paths(index.search(question)))


def test_a_page_many_people_wrote_counts_for_more(wiki):
    store, index = wiki
    for who in (ALICE, BOB, DANA):
        store.save("Ops/Backups", BACKUP + f"\nChecked by {who.name}.\n", who,
                   base=store.get("Ops/Backups").revision)
    index.catch_up(wait=True)
    prior = index.vectors.priors()
    assert prior("Ops/Backups") > prior("Office/Kitchen") >= 1.0
    assert prior("Ops/Backups") <= 1.5 and prior("Ops/Backups#20261129-thread") == prior("Ops/Backups")


def test_readers_see_changes_and_new_generations_of_another_writer(wiki, tmp_path):
    store, index = wiki
    other = VectorStore(index.root)  # another worker's view: its own cache of the same files
    vector = index.meaning.embed(["paid leave"])[0]
    assert other.near(vector, 5)[0][0] == "Handbook/Time off"
    store.delete("Handbook/Time off", ALICE)
    index.catch_up(wait=True)
    assert "Handbook/Time off" not in [p for p, _, _ in other.near(vector, 5)]
    index.rebuild_vectors()  # a new generation replaces the file the reader had open
    assert "Handbook/Time off" not in [p for p, _, _ in other.near(vector, 5)]
    assert len(list(index.root.glob("vectors-*.sqlite"))) == 1
    assert other.stats()["pages"] == 2


def test_without_the_model_search_ranks_by_words(wiki, tmp_path):
    store, _ = wiki
    index = make_index(store.repo, tmp_path / "data", SemanticSettings(enabled=False))
    assert not index.meaning.available()
    assert paths(index.search("how many vacation days do I get")) == []
    assert paths(index.search("paid leave")) == ["Handbook/Time off"]


def test_a_model_file_that_is_not_the_expected_one_turns_meaning_off_not_search(wiki, tmp_path, caplog):
    store, _ = wiki
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    index = make_index(store.repo, tmp_path / "data", SemanticSettings(model=bad))
    assert index.meaning.embed(["paid leave"], wait=3) is None  # no service is started for it
    assert "not the expected model" in caplog.text
    assert paths(index.search("paid leave")) == ["Handbook/Time off"]


def test_a_copy_of_the_expected_model_elsewhere_is_used(tmp_path):
    import shutil

    from wiki.core.search import semantic

    copy = tmp_path / "copy.onnx"
    shutil.copyfile(semantic.model_file(), copy)
    assert semantic.model_file(SemanticSettings(model=copy)) == copy
    assert semantic.model_file(SemanticSettings(model=copy, enabled=False)) is None


def test_the_settings_come_from_the_app_config_not_the_environment(tmp_path, monkeypatch):
    from wiki import create_app

    monkeypatch.setenv("WIKI_SEMANTIC", "1")
    app = create_app({"WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data"),
                      "WIKI_SEMANTIC": "0", "WIKI_SEMANTIC_IDLE": "77"})
    settings = app.extensions["tacit"].search.meaning.settings
    assert settings == SemanticSettings(enabled=False, model=None, idle=77.0)
    assert not app.extensions["tacit"].search.meaning.available()
    with pytest.raises(ValueError, match="WIKI_SEMANTIC"):
        create_app({"WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data"), "WIKI_SEMANTIC": "maybe"})


def test_a_vector_index_built_by_another_model_is_rebuilt(wiki):
    store, index = wiki
    current = index.vectors._current()
    assert current is not None and semantic_model_id() in current.name
    older = current.with_name("vectors-all-MiniLM-L6-v2-int8-1700000000000000000.sqlite")
    current.rename(older)  # as an index built before the model was recorded, or by another model
    (index.root / "vectors.current").write_text(older.name)
    assert not index.vectors.exists()
    index.build_missing()
    assert index.vectors.exists() and semantic_model_id() in index.vectors._current().name
    assert index.vectors.meta()["model"] == semantic_model_id()


def semantic_model_id() -> str:
    from wiki.core.search.semantic import MODEL_ID

    return MODEL_ID


def test_talk_threads_are_found_by_meaning(wiki):
    store, index = wiki
    from wiki.core.talk import TalkStore

    talk = TalkStore(store)
    talk.start("Ops/Backups", "Restore drill", "Last quarter we practised bringing the database back "
               "from the offsite copy; it took forty minutes.", ALICE, "alice")
    index.catch_up(wait=True)
    found = index.search("how long does recovering the database take")
    assert any(h.source == "talk" and h.path == "Ops/Backups" for h in found.hits[:3])


def test_reindex_and_search_from_the_command_line(tmp_path):
    import os
    import sys

    from wiki.core.gitrepo import GitRepo
    from wiki.core.pages import PageStore

    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"))
    env.pop("WIKI_DATABASE_URL", None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "wiki", *args], env=env, capture_output=True, text=True)

    assert cli("init").returncode == 0
    PageStore(GitRepo(tmp_path / "repo")).save("Handbook/Time off", LEAVE, ALICE)
    built = cli("reindex")
    assert built.returncode == 0, built.stderr
    assert "passages (semantic index)" in built.stdout
    found = cli("search", "how", "many", "vacation", "days", "do", "I", "get")
    assert found.returncode == 0, found.stderr
    assert "Handbook/Time off" in found.stdout  # no page holds "vacation": found by meaning


def test_the_api_returns_pages_found_by_meaning(tmp_path):
    from wiki import create_app

    app = create_app({"TESTING": True, "WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data")})
    wiki = app.extensions["tacit"]
    wiki.pages.save("Handbook/Time off", LEAVE, ALICE)
    wiki.pages.save("Office/Kitchen", COFFEE, BOB)
    wiki.search.catch_up(wait=True)
    wiki.search.wait_for_rebuild(120)
    wiki.search.catch_up(wait=True)
    body = app.test_client().get("/-/api/v1/search?q=how+many+vacation+days+do+I+get").get_json()
    assert body["total"] >= 1 and body["suggestion"] is None
    first = body["results"][0]
    assert first["path"] == "Handbook/Time off" and first["source"] == "page"
    assert "paid leave" in first["snippet_html"] and first["score"] > 0


def test_wiki_check_finds_and_rebuilds_a_missing_semantic_index(tmp_path):
    import os
    import sys

    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"))
    env.pop("WIKI_DATABASE_URL", None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "wiki", *args], env=env, capture_output=True, text=True)

    assert cli("init").returncode == 0 and cli("reindex").returncode == 0
    assert "All good" in cli("check").stdout
    index = tmp_path / "data" / "index"
    for f in list(index.glob("vectors*")):
        f.unlink()
    found = cli("check")
    assert found.returncode == 1 and "the semantic index is missing" in found.stdout
    repaired = cli("check", "--repair")
    assert "repaired  search" in repaired.stdout, repaired.stdout
    assert list(index.glob("vectors-*.sqlite")) and "All good" in cli("check").stdout


def test_a_big_change_is_embedded_by_the_rebuild_process(wiki, tmp_path, monkeypatch):
    from wiki.core.search import vector_index

    store, index = wiki
    monkeypatch.setattr(vector_index, "EMBED_INLINE", 1)  # in this worker, two pages are "a big change"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(store.repo.git_dir), str(clone)], check=True)
    (clone / "Espresso.md").write_text("# Barista duty\n\nMaria cleans and maintains the coffee machine.\n")
    (clone / "Parking.md").write_text("# Parking\n\nBicycles go in the courtyard, cars in the garage.\n")
    git(clone, "add", ".")
    git(clone, "-c", "user.name=Hand", "-c", "user.email=hand@example.org", "commit", "-qm", "two pages")
    git(clone, "push", "-q", "origin", "HEAD:main")
    index.catch_up(wait=True)
    assert index.vectors.head() != store.head()  # not embedded here: the rebuild process does it
    index.wait_for_rebuild(120)
    assert index.vectors.head() == store.head()
    assert paths(index.search("who looks after the espresso maker"))[0] == "Espresso"


def test_reindex_says_clearly_when_meaning_is_off_or_unreachable(tmp_path):
    import os
    import sys

    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"))
    env.pop("WIKI_DATABASE_URL", None)

    def cli(*args, **extra):
        return subprocess.run([sys.executable, "-m", "wiki", *args], env={**env, **extra},
                              capture_output=True, text=True)

    assert cli("init").returncode == 0
    off = cli("reindex", WIKI_SEMANTIC="0")
    assert off.returncode == 0 and "Search by meaning is off" in off.stdout and "passages" not in off.stdout
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    broken = cli("reindex", WIKI_SEMANTIC_MODEL=str(bad))
    assert broken.returncode == 0 and "Traceback" not in broken.stderr
    assert "Search by meaning is off" in broken.stdout and "not the expected model" in broken.stderr
    assert "Indexed" in broken.stdout  # the word indexes were built all the same
