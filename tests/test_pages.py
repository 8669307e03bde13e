"""The storage core against real git repositories."""

import multiprocessing
import subprocess

import pytest

from wiki.core.gitrepo import GitRepo, Person, UnknownRevision
from wiki.core.pages import Conflict, ConflictReason, LookupKind, PageNotFound, PageStore, PageTooLarge, SaveStatus

from .conftest import ALICE, BOB, git


def log(repo: GitRepo, *args) -> list[str]:
    return git(repo.git_dir, "log", "--format=%H|%an|%ae|%s", *args).splitlines()


def fsck(repo: GitRepo) -> None:
    proc = subprocess.run(["git", "--git-dir", str(repo.git_dir), "fsck", "--strict", "--no-dangling"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_create_is_one_commit_by_the_author(store, repo):
    result = store.save("Projects/Alpha/Status", "# Status\n\nGreen.", ALICE, "First status")
    assert result.status is SaveStatus.CREATED
    assert log(repo) == [f"{result.commit}|Alice Example|alice@example.org|First status"]
    assert git(repo.git_dir, "show", "main:Projects/Alpha/Status.md") == "# Status\n\nGreen.\n"
    page = store.get("Projects/Alpha/Status")
    assert page.markdown == "# Status\n\nGreen.\n"
    assert page.revision == result.commit
    assert page.change.author == ALICE
    fsck(repo)


def test_default_message_and_unchanged_save_makes_no_commit(store, repo):
    first = store.save("Home", "hello\n", ALICE)
    assert log(repo)[0].endswith("|Create Home")
    again = store.save("Home", "hello", ALICE, "nothing", base=first.commit)
    assert again.status is SaveStatus.UNCHANGED and again.commit is None
    assert len(log(repo)) == 1
    second = store.save("Home", "hello\r\nworld\r\n", BOB, "", base=first.commit)
    assert second.status is SaveStatus.SAVED
    assert log(repo)[0].endswith("|Bob Example|bob@example.org|Update Home")
    assert store.get("Home").markdown == "hello\nworld\n"


def test_create_only_refuses_an_existing_page(store):
    first = store.save("Home", "one\n", ALICE)
    with pytest.raises(Conflict) as err:
        store.save("Home", "two\n", BOB)
    assert err.value.reason is ConflictReason.EXISTS
    assert err.value.current == "one\n"
    assert err.value.current_revision == first.commit


def test_stale_base_merges_edits_on_different_lines(store, repo):
    text = "".join(f"line {i}\n" for i in range(10))
    base = store.save("Page", text, ALICE).commit
    theirs = text.replace("line 1\n", "line 1 by alice\n")
    store.save("Page", theirs, ALICE, "alice", base=base)
    mine = text.replace("line 8\n", "line 8 by bob\n")
    result = store.save("Page", mine, BOB, "bob", base=base)
    assert result.status is SaveStatus.MERGED and result.merged
    merged = store.get("Page").markdown
    assert "line 1 by alice" in merged and "line 8 by bob" in merged
    assert len(log(repo)) == 3
    fsck(repo)


def test_overlapping_edits_conflict_and_keep_both_texts(store, repo):
    base = store.save("Page", "a\nb\nc\n", ALICE).commit
    second = store.save("Page", "a\nB by alice\nc\n", ALICE, base=base)
    with pytest.raises(Conflict) as err:
        store.save("Page", "a\nB by bob\nc\n", BOB, base=base)
    assert err.value.reason is ConflictReason.OVERLAP
    assert err.value.current == "a\nB by alice\nc\n"
    assert err.value.yours == "a\nB by bob\nc\n"
    assert err.value.current_revision == second.commit
    assert "<<<<<<<" in err.value.merged
    assert store.get("Page").markdown == "a\nB by alice\nc\n"
    assert len(log(repo)) == 2


def test_edit_of_a_page_deleted_meanwhile_conflicts(store):
    base = store.save("Page", "x\n", ALICE).commit
    store.delete("Page", ALICE)
    with pytest.raises(Conflict) as err:
        store.save("Page", "y\n", BOB, base=base)
    assert err.value.reason is ConflictReason.DELETED


def test_unknown_base_is_reported(store):
    store.save("Page", "x\n", ALICE)
    with pytest.raises(UnknownRevision):
        store.save("Page", "y\n", BOB, base="0123456789abcdef0123456789abcdef01234567")


def test_rename_is_one_commit_and_leaves_a_redirect(store, repo):
    store.save("Old", "text\n", ALICE)
    store.save("Other", "other\n", ALICE)
    result = store.rename("Old", "Folder/New", BOB, "")
    assert result.status is SaveStatus.RENAMED
    assert log(repo)[0].endswith("|Bob Example|bob@example.org|Rename Old to Folder/New")
    files = git(repo.git_dir, "ls-tree", "-r", "--name-only", "main").split()
    assert "Old.md" not in files and "Folder/New.md" in files and ".wiki/redirects.json" in files
    assert store.lookup("Old").kind is LookupKind.REDIRECT and store.lookup("Old").name == "Folder/New"
    store.rename("Folder/New", "Newest", BOB)
    assert store.redirects() == {"Old": "Newest", "Folder/New": "Newest"}
    with pytest.raises(Conflict):
        store.rename("Newest", "Other", BOB)
    fsck(repo)


def test_delete_and_missing(store, repo):
    store.save("A/B", "x\n", ALICE)
    store.delete("A/B", BOB, "gone")
    assert store.get("A/B") is None
    assert git(repo.git_dir, "ls-tree", "-r", "main") == ""  # the empty folder disappears too
    with pytest.raises(PageNotFound):
        store.delete("A/B", BOB)
    assert store.lookup("A/B").kind is LookupKind.MISSING
    fsck(repo)


def test_case_insensitive_lookup_and_clash(store):
    store.save("Projects/Alpha", "x\n", ALICE)
    found = store.lookup("projects/ALPHA")
    assert (found.kind, found.name) == (LookupKind.CASE, "Projects/Alpha")
    with pytest.raises(Conflict) as err:
        store.save("Projects/alpha", "y\n", BOB)
    assert err.value.reason is ConflictReason.CASE and err.value.other == "Projects/Alpha"


def test_trees_keep_git_order_and_other_files(store, repo):
    for name in ["a", "a-b", "a/b", "a.b", "z", "Z/y", "a/c/d"]:
        store.save(name, name + "\n", ALICE)
    listed = sorted(git(repo.git_dir, "ls-tree", "-r", "--name-only", "main").split())
    assert listed == sorted(["a.md", "a-b.md", "a/b.md", "a.b.md", "z.md", "Z/y.md", "a/c/d.md"])
    fsck(repo)
    assert store.get("a/c/d").markdown == "a/c/d\n"


def test_page_too_large(store):
    with pytest.raises(PageTooLarge):
        store.save("Big", "x" * (3 * 1024 * 1024), ALICE)


def test_non_bare_repository_keeps_its_checkout_in_step(tmp_path):
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "Home.md").write_text("hello\n")
    git(work, "add", "Home.md")
    git(work, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "init")
    store = PageStore(GitRepo(work))
    store.save("Home", "hello\nworld\n", ALICE, base=store.head())
    store.save("New/Page", "new\n", ALICE)
    assert (work / "Home.md").read_text() == "hello\nworld\n"
    assert (work / "New/Page.md").read_text() == "new\n"
    assert git(work, "status", "--porcelain") == ""


def _hammer(path: str, worker: int, rounds: int, queue) -> None:
    store = PageStore(GitRepo(path))
    author = Person(f"Worker {worker}", f"w{worker}@example.org")
    outcomes = []
    for i in range(rounds):
        own = store.save(f"W{worker}/P{i}", f"worker {worker} round {i}\n", author)
        outcomes.append(("own", own.commit, f"W{worker}/P{i}"))
        page = store.get("Shared")
        lines = page.markdown.splitlines(keepends=True)
        lines[worker * 10] = f"worker {worker} round {i}\n"
        try:
            result = store.save("Shared", "".join(lines), author, base=page.commit)
            outcomes.append((result.status, result.commit, "Shared"))
        except Conflict:
            outcomes.append(("conflict", None, "Shared"))
    queue.put(outcomes)


def test_concurrent_saves_from_two_processes_lose_nothing(store, repo):
    store.save("Shared", "".join(f"line {i}\n" for i in range(30)), ALICE)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(repo.path), w, 15, queue)) for w in (1, 2)]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    history = set(git(repo.git_dir, "rev-list", "main").split())
    reported = [o for result in outcomes for o in result]
    for status, commit, _ in reported:
        if commit:
            assert commit in history, f"a {status} commit was lost"
    assert len(history) == 1 + len([o for o in reported if o[1]])
    for w in (1, 2):
        for i in range(15):
            assert store.get(f"W{w}/P{i}").markdown == f"worker {w} round {i}\n"
    shared = store.get("Shared").markdown
    assert "worker 1 round" in shared and "worker 2 round" in shared
    fsck(repo)


def test_tldr_corpus_opens_as_it_is(tldr_repo):
    store = PageStore(GitRepo(tldr_repo))
    assert store.repo.branch == "main"
    assert store.get("common/[").markdown.startswith("# [")
    assert store.get("common/%") is not None
    assert len(store.listing()) == 7425
    head = store.head()
    page = store.get("common/tar")
    result = store.save("common/tar", page.markdown + "\nOne more line.\n", ALICE, "bench", base=page.commit)
    assert result.status is SaveStatus.SAVED
    assert git(tldr_repo, "rev-parse", "main^") .strip() == head
    assert git(tldr_repo, "diff", "--name-only", head, "main").split() == ["common/tar.md"]


def test_random_edits_keep_trees_valid(store, repo):
    """Creates, edits and deletes in folders whose names stress git's tree order."""
    import random

    rng = random.Random(7)
    parts = ["a", "a.b", "a-b", "a0", "ab", "A", "b", "é", "z z"]
    alive: dict[str, str] = {}
    for step in range(120):
        name = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 3)))
        if any(n.startswith(name + "/") or name.startswith(n + "/") for n in alive if n != name):
            continue
        try:
            if name in alive and rng.random() < 0.3:
                store.delete(name, ALICE)
                del alive[name]
            elif name in alive:
                text = f"step {step}\n"
                store.save(name, text, ALICE, base=store.head())
                alive[name] = text
            else:
                store.save(name, f"new {step}\n", ALICE)
                alive[name] = f"new {step}\n"
        except Conflict as e:
            assert e.reason is ConflictReason.CASE
    fsck(repo)
    files = set(git(repo.git_dir, "ls-tree", "-r", "-z", "--name-only", "main").split("\0")) - {""}
    assert files == {n + ".md" for n in alive}
    for name, text in alive.items():
        assert store.get(name).markdown == text


def test_big_tree_written_by_one_process_is_derived_by_another(repo):
    """Delta notes let a second process skip parsing a big folder; a bad note is never trusted."""
    writer, reader = PageStore(repo), PageStore(GitRepo(repo.path))
    changes = {f"big/page-{i:04d}.md": repo.write_blob(f"page {i}\n".encode()) for i in range(700)}
    with repo.write_lock():
        tree = repo.write_tree_with(None, changes)
        commit = repo.write_commit(tree, [], ALICE, "many pages")
        assert repo.compare_and_swap(commit, None)
    assert reader.get("big/page-0001").markdown == "page 1\n"  # the reader parses the folder once
    base = writer.head()
    for i in range(3):  # three saves the reader does not see
        base = writer.save("big/page-0001", f"edit {i}\n", BOB, base=base).commit
    big = reader.repo.entry(base, "big")[1]
    derived = reader.repo._tree_from_deltas(big)
    assert derived is not None
    assert derived.raw == reader.repo.object_data(big)[1]
    assert reader.get("big/page-0001").markdown == "edit 2\n"
    note = repo.git_dir / "tacit-tree-deltas" / big
    lines = note.read_text().split("\n")
    name, mode, _ = lines[1].split(" ")
    note.write_text("\n".join([lines[0], f"{name} {mode} {'ab' * 20}"]))
    fresh = GitRepo(repo.path)
    fresh.tree(lines[0])  # the predecessor is known, so the note is applied ...
    assert fresh._tree_from_deltas(big) is None  # ... and fails the object-id check
    assert fresh.tree(big).raw == reader.repo.object_data(big)[1]  # parsed instead
    fsck(repo)


def test_the_core_imports_nothing_of_flask():
    import sys

    code = ("import sys, wiki.core.pages, wiki.core.render, wiki.core.bootstrap, wiki.core.wiki; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug', 'flask_wtf')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
