"""Talk threads in git: the file format, every action as one commit, merging without loss."""

import multiprocessing
import subprocess

import pytest

from wiki.core import talk as talk_mod
from wiki.core.gitrepo import GitRepo, Person
from wiki.core.pages import PageNotFound, PageStore, SaveStatus
from wiki.core.render import Renderer
from wiki.core.talk import BadTalk, NotAllowed, TalkNotFound, TalkStore, check_file, format_file, parse_file

from .conftest import ALICE, BOB, git


@pytest.fixture
def talk(store):
    store.save("Projects/Alpha", "# Alpha\n\nThe vendor contract is late.\n", ALICE)
    return TalkStore(store)


def commits(repo: GitRepo) -> int:
    return int(repo.git("rev-list", "--count", repo.head()).decode())


def test_file_format_round_trips_odd_values():
    header = {"author": "alice", "name": "Alice", "date": "2026-11-29T10:00:00Z",
              "title": '"quoted" title', "quote": "two\nlines", "reply-to": "20261129-100000-abcdef"}
    data = format_file(header, "Body with ---\nlines\n")
    back, body = parse_file(data)
    assert back == header
    assert body == "Body with ---\nlines"
    assert data.decode().startswith("---\nauthor: alice\n")


@pytest.mark.parametrize("data, why", [
    (b"no header", "starts with a --- line"),
    (b"---\nauthor: a\n", "ends with a --- line"),
    (b"---\nauthor: a\ncolour: red\ndate: 2026-01-01T00:00:00Z\n---\nx\n", "unknown header line"),
    (b"---\ndate: 2026-01-01T00:00:00Z\n---\nx\n", "needs author"),
    (b"---\nauthor: a\ndate: yesterday\n---\nx\n", "is not a date"),
    (b"\xff\xfe", "UTF-8"),
])
def test_malformed_files_say_why(data, why):
    with pytest.raises(BadTalk, match=why):
        parse_file(data)


def test_check_file_knows_the_layout():
    good = format_file({"author": "a", "date": "2026-01-01T00:00:00Z"}, "hello")
    thread = "20260101-000000-abcdef"
    assert check_file(f".talk/Home.md/{thread}/{thread}.md", good) is None
    assert check_file(f".talk/Home.md/{thread}/20260101-000001-abcdef.resolved", good) is None
    assert "thread id" in check_file(f".talk/Home.md/not-an-id/{thread}.md", good)
    assert "page file" in check_file(f".talk/Home/{thread}/{thread}.md", good)
    assert "not a comment" in check_file(f".talk/Home.md/{thread}/notes.txt", good)
    assert "needs a body" in check_file(f".talk/Home.md/{thread}/{thread}.md",
                                        format_file({"author": "a", "date": "2026-01-01T00:00:00Z"}))
    assert check_file("Home.md", b"anything") is None  # not talk


def test_every_action_is_one_commit_by_the_actor(talk, store):
    repo = store.repo
    before = commits(repo)
    thread_id, result = talk.start("Projects/Alpha", "  Vendor   contract ", "Who calls them?", BOB, "bob")
    assert result.status is SaveStatus.TALK and commits(repo) == before + 1
    assert repo.commit(result.commit).author.name == "Bob Example"
    reply_id, _ = talk.reply("Projects/Alpha", thread_id, "I will, @bob.", ALICE, "alice", reply_to=thread_id)
    nested_id, _ = talk.reply("Projects/Alpha", thread_id, "Thanks!", BOB, "bob", reply_to=reply_id)
    talk.edit("Projects/Alpha", thread_id, reply_id, "I will call on Monday.", ALICE, "alice")
    talk.set_status("Projects/Alpha", thread_id, "resolved", BOB, "bob", may_change=False)
    assert commits(repo) == before + 5
    thread = talk.thread("Projects/Alpha", thread_id)
    assert thread.title == "Vendor contract" and thread.author == "bob" and thread.resolved
    assert [(c.id, c.depth) for c in thread.tree()] == [(thread_id, 0), (reply_id, 1), (nested_id, 2)]
    assert thread.comment(reply_id).edited is not None
    assert thread.comment(reply_id).body == "I will call on Monday."
    assert thread.reply_count == 2
    assert talk.counts("Projects/Alpha") == talk_mod.Counts(0, 1)
    talk.set_status("Projects/Alpha", thread_id, "reopened", ALICE, "alice", may_change=True)
    assert talk.counts("Projects/Alpha") == talk_mod.Counts(1, 0)
    history = talk.comment_history("Projects/Alpha", thread_id, reply_id)
    assert [h[3] for h in history] == ["I will call on Monday.", "I will, @bob."]
    # the files are where the documentation says, readable as text
    files = [p for p, _ in repo.list_files(repo.head()) if p.startswith(".talk/")]
    assert f".talk/Projects/Alpha.md/{thread_id}/{thread_id}.md" in files
    assert sum(p.endswith(".resolved") for p in files) == 1 and sum(p.endswith(".reopened") for p in files) == 1
    assert "Projects/Alpha" in store.listing() and len(store.listing()) == 1  # talk files are not pages


def test_only_authors_or_moderators_change_comments(talk):
    thread_id, _ = talk.start("Projects/Alpha", "Risks", "The migration.", ALICE, "alice")
    with pytest.raises(NotAllowed):
        talk.edit("Projects/Alpha", thread_id, thread_id, "mine now", BOB, "bob")
    with pytest.raises(NotAllowed):
        talk.delete("Projects/Alpha", thread_id, thread_id, BOB, "bob")
    with pytest.raises(NotAllowed):
        talk.set_status("Projects/Alpha", thread_id, "resolved", BOB, "bob", may_change=False)
    reply_id, _ = talk.reply("Projects/Alpha", thread_id, "A reply stays.", BOB, "bob", reply_to=thread_id)
    talk.delete("Projects/Alpha", thread_id, thread_id, BOB, "bob", moderator=True)
    thread = talk.thread("Projects/Alpha", thread_id)
    opening = thread.comment(thread_id)
    assert opening.deleted and opening.body == "" and opening.deleted_by == "bob"
    assert thread.title == "Risks"  # the thread keeps its title
    assert [c.id for c in thread.tree()] == [thread_id, reply_id]  # the reply keeps its place
    with pytest.raises(BadTalk):
        talk.edit("Projects/Alpha", thread_id, thread_id, "again", ALICE, "alice")


def test_bad_input_is_refused_without_a_commit(talk, store):
    before = commits(store.repo)
    with pytest.raises(BadTalk):
        talk.start("Projects/Alpha", "", "body", ALICE, "alice")
    with pytest.raises(BadTalk):
        talk.start("Projects/Alpha", "Title", "   ", ALICE, "alice")
    with pytest.raises(BadTalk):
        talk.start("Projects/Alpha", "x" * 201, "body", ALICE, "alice")
    with pytest.raises(BadTalk):
        talk.start("Projects/Alpha", "Title", "x" * (64 * 1024 + 1), ALICE, "alice")
    with pytest.raises(BadTalk):
        talk.start("Projects/Alpha", "Title", "body", ALICE, "alice", quote="q", revision="f" * 40)
    with pytest.raises(PageNotFound):
        talk.start("Nowhere", "Title", "body", ALICE, "alice")
    with pytest.raises(TalkNotFound):
        talk.reply("Projects/Alpha", "20260101-000000-abcdef", "body", ALICE, "alice")
    with pytest.raises(TalkNotFound):
        talk.thread("Projects/Alpha", "../../etc")
    thread_id, _ = talk.start("Projects/Alpha", "Title", "body", ALICE, "alice")
    with pytest.raises(BadTalk):
        talk.reply("Projects/Alpha", thread_id, "body", ALICE, "alice", reply_to="20260101-000000-abcdef")
    assert commits(store.repo) == before + 1


def test_quote_and_revision_are_kept(talk, store):
    revision = store.head()
    thread_id, _ = talk.start("Projects/Alpha", "Late?", "Is it?", ALICE, "alice",
                              quote="  The vendor\ncontract is late. ", revision=revision[:12])
    thread = talk.thread("Projects/Alpha", thread_id)
    assert thread.quote == "The vendor contract is late." and thread.revision == revision


def test_rename_carries_threads_and_delete_keeps_them(talk, store):
    store.save("Projects/Alpha/Sub", "# Sub\n", ALICE)
    thread_id, _ = talk.start("Projects/Alpha", "Moving", "Threads move with the page.", ALICE, "alice")
    sub_thread, _ = talk.start("Projects/Alpha/Sub", "Stays", "A subpage's thread.", ALICE, "alice")
    result = store.rename("Projects/Alpha", "Projects/Omega", BOB)
    assert [t.id for t in talk.threads("Projects/Omega")] == [thread_id]
    assert talk.threads("Projects/Alpha") == []
    assert [t.id for t in talk.threads("Projects/Alpha/Sub")] == [sub_thread]  # not moved with its parent
    changed = store.repo.git("show", "--name-only", "--format=", result.commit).decode().split()
    assert any(p.startswith(".talk/Projects/Omega.md/") for p in changed)
    store.delete("Projects/Omega", BOB)
    assert [t.id for t in talk.threads("Projects/Omega")] == [thread_id]  # still readable
    talk.reply("Projects/Omega", thread_id, "The page is gone but we talk on.", ALICE, "alice")


def _comment(repo_path: str, n: int, thread_id: str, queue) -> None:
    store = PageStore(GitRepo(repo_path))
    talk = TalkStore(store)
    done = []
    for i in range(n):
        cid, _ = talk.reply("Home", thread_id, f"comment {i} from pid", Person(f"P{i}", "p@example.org"), "p")
        done.append(cid)
    queue.put(done)


def test_comments_from_several_processes_are_all_kept(store, tmp_path):
    store.save("Home", "# Home\n", ALICE)
    talk = TalkStore(store)
    thread_id, _ = talk.start("Home", "Busy", "Everyone comments.", ALICE, "alice")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_comment, args=(str(store.repo.path), 8, thread_id, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    made = [cid for _ in procs for cid in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    thread = talk.thread("Home", thread_id)
    assert len(made) == 24
    assert set(made) <= {c.id for c in thread.comments}
    assert thread.reply_count == 24
    assert subprocess.run(["git", "--git-dir", str(store.repo.git_dir), "fsck", "--strict"],
                          capture_output=True).returncode == 0


def _commit_all(clone, message):
    git(clone, "add", "-A")
    git(clone, "-c", "user.name=Offline", "-c", "user.email=off@example.org", "commit", "-q", "-m", message)


def test_two_clones_merge_their_comments_without_conflict(talk, store, tmp_path):
    thread_id, _ = talk.start("Projects/Alpha", "Offline", "Discuss in clones.", ALICE, "alice")
    origin = str(store.repo.git_dir)
    a, b = tmp_path / "a", tmp_path / "b"
    git(tmp_path, "clone", "-q", origin, str(a))
    git(tmp_path, "clone", "-q", origin, str(b))
    folder = f".talk/Projects/Alpha.md/{thread_id}"
    for clone, who, cid in ((a, "ann", "20261129-120000-aaaaaa"), (b, "ben", "20261129-120001-bbbbbb")):
        (clone / folder / f"{cid}.md").write_bytes(
            format_file({"author": who, "date": "2026-11-29T12:00:00Z", "reply-to": thread_id}, f"from {who}"))
    (b / folder / "20261129-120002-cccccc.resolved").write_bytes(
        format_file({"author": "ben", "date": "2026-11-29T12:00:02Z"}))
    _commit_all(a, "comment from a")
    _commit_all(b, "comment and resolve from b")
    branch = git(a, "rev-parse", "--abbrev-ref", "HEAD").strip()
    git(a, "push", "-q", "origin", branch)
    # the server gets a comment too, then b pulls (a true merge) and pushes
    talk.reply("Projects/Alpha", thread_id, "from the web", ALICE, "alice")
    git(b, "-c", "user.name=B", "-c", "user.email=b@example.org", "pull", "-q", "--no-rebase", "origin", branch)
    git(b, "push", "-q", "origin", branch)
    thread = talk.thread("Projects/Alpha", thread_id)
    bodies = sorted(c.body for c in thread.comments)
    assert bodies == sorted(["Discuss in clones.", "from ann", "from ben", "from the web"])
    assert thread.resolved
    for path, blob in store.repo.list_files(store.head()):
        if path.startswith(".talk/"):
            assert check_file(path, store.repo.read_blob(blob)) is None, path


def test_comment_rendering_allows_only_the_small_tag_set():
    renderer = Renderer(page_url=lambda p: "/" + p)
    html = renderer.render_comment(
        "See [[Other]] and <b>bold</b> <abbr title=x onmouseover=y>A</abbr> <h1>big</h1>\n"
        "<script>alert(1)</script> <img src=x onerror=alert(1)> <a href='javascript:alert(1)'>x</a>\n\n"
        "# Heading\n\n<div onclick=x>block</div>", "Projects/Alpha").html
    assert '<a class="wikilink" href="/Projects/Other"' in html or 'href="/Other"' in html
    assert "<b>bold</b>" in html and '<abbr title="x">A</abbr>' in html
    for bad in ("<h1", "<script", "<img", "onerror=", "onmouseover", "javascript:", "<div", "onclick"):
        assert bad not in _tags(html)
    assert "&lt;script&gt;" in html and "&lt;h1&gt;" in html
    assert "<h3>Heading</h3>" in html


def _tags(html: str) -> str:
    """Only the real tags of an HTML fragment (escaped text removed)."""
    import re
    return " ".join(re.findall(r"<[^>]+>", html))


def test_mentions_are_found():
    assert talk_mod.mentions("Hi @alice and @bob.smith, mail me at x@example.org; @alice again.") == \
        ["alice", "bob.smith"]


def test_editing_an_unknown_comment_is_not_found_even_with_an_empty_body(talk):
    thread_id, _ = talk.start("Projects/Alpha", "Topic", "Words.", ALICE, "alice")
    with pytest.raises(TalkNotFound):
        talk.edit("Projects/Alpha", thread_id, "20260101-000000-abcdef", "", ALICE, "alice")
