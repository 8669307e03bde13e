"""Several hosts, one wiki: mirrors of a central git server (git daemon), PostgreSQL between them.

These drive the core of two or three hosts in one process (each with its own mirror and data
folder); tests/test_hosts_served.py runs them as real gunicorn servers under load and faults.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from wiki.config import load_config
from wiki.core.gitrepo import GitRepo, Person, UnknownRevision
from wiki.core.hosts import DatabaseUnavailable
from wiki.core.pages import SaveStatus
from wiki.core.remote import PushOutcome, Remote, RemoteUnavailable
from wiki.core.wiki import Wiki


ADA = Person("Ada", "ada@example.org")
BOB = Person("Bob", "bob@example.org")


@pytest.fixture
def hosts(postgres, git_server, tmp_path, request):
    """Open hosts of one new wiki: hosts(n) -> [Wiki, ...] (closed at the end)."""
    name = f"w{time.monotonic_ns()}"
    url = git_server.create(name + ".git")
    database = postgres.create_database(name)
    opened: list[Wiki] = []

    def open_hosts(n: int, follow: bool = False) -> list[Wiki]:
        for i in range(len(opened), len(opened) + n):
            settings = load_config({"WIKI_REPO": str(tmp_path / f"host{i}" / "mirror.git"),
                                    "WIKI_DATA": str(tmp_path / f"host{i}" / "data"),
                                    "WIKI_DATABASE_URL": database, "WIKI_REMOTE": url,
                                    "WIKI_SECRET_KEY": "k" * 64, "WIKI_SEMANTIC": "0"})
            wiki = Wiki.from_settings(settings, build_search=False)
            if follow:
                wiki.follow()
            opened.append(wiki)
        return opened[-n:]

    open_hosts.url = url
    open_hosts.bare = git_server.root / (name + ".git")
    yield open_hosts
    for wiki in opened:
        wiki.close()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def remote_head(bare: Path) -> str:
    return git("--git-dir", str(bare), "rev-parse", "refs/heads/main").strip()


def until(predicate, timeout: float = 5.0) -> float:
    """Seconds until predicate() holds (fails the test after timeout)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


def test_several_hosts_need_postgresql_and_a_shared_secret(tmp_path):
    base = {"WIKI_REPO": str(tmp_path / "r"), "WIKI_DATA": str(tmp_path / "d"), "WIKI_REMOTE": "git://x/wiki.git"}
    with pytest.raises(ValueError, match="WIKI_DATABASE_URL to be a PostgreSQL"):
        load_config(base)
    with pytest.raises(ValueError, match="WIKI_SECRET_KEY"):
        load_config({**base, "WIKI_DATABASE_URL": "postgresql+psycopg://wiki@db/tacit"})
    load_config({**base, "WIKI_DATABASE_URL": "postgresql+psycopg://wiki@db/tacit", "WIKI_SECRET_KEY": "s" * 64})
    env = {"WIKI_REPO": str(tmp_path / "r"), "WIKI_DATA": str(tmp_path / "d"), "WIKI_REMOTE": "git://x/wiki.git",
           "PATH": "/usr/bin:/bin"}
    import sys
    proc = subprocess.run([sys.executable, "-m", "wiki", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: WIKI_REMOTE (several hosts) needs")


def test_the_first_host_creates_the_wiki_on_the_remote_and_the_others_mirror_it(hosts):
    a, b = hosts(2)
    assert a.pages.get("Home") is not None and b.pages.get("Home") is not None
    assert a.repo.head() == b.repo.head() == remote_head(hosts.bare)
    assert len(git("--git-dir", str(hosts.bare), "rev-list", "main").split()) == 1  # one welcome, not two


def test_a_save_is_pushed_and_a_stale_mirror_merges_through_the_same_path(hosts):
    a, b = hosts(2)
    base = a.pages.get("Home").revision
    first = a.pages.save("Plan", "one\ntwo\nthree\n", ADA)
    assert remote_head(hosts.bare) == first.commit == a.repo.head()
    assert b.repo.head() != first.commit  # b has not heard of it (not following)
    # b saves on top of what it has: its push is stale, it fetches and commits on the new head
    second = b.pages.save("Other", "b's page\n", BOB)
    assert remote_head(hosts.bare) == second.commit
    assert b.repo.commit(second.commit).parents == (first.commit,)
    # an edit whose base b has never seen (made on a) is fetched, not "unknown revision"
    third = a.pages.save("Plan", "one\nTWO\nthree\n", ADA, base=first.commit)
    merged = b.pages.save("Plan", "one\ntwo\nthree\nfour\n", BOB, base=first.commit)
    assert merged.status is SaveStatus.MERGED
    assert b.pages.get("Plan").markdown == "one\nTWO\nthree\nfour\n"
    assert remote_head(hosts.bare) == merged.commit
    assert b.repo.commit(merged.commit).parents == (third.commit,)
    with pytest.raises(UnknownRevision):
        b.pages.save("Plan", "x\n", BOB, base="0123456789abcdef0123456789abcdef01234567")
    assert b.pages.get("Home", base).markdown == a.pages.get("Home", base).markdown  # old revisions read alike
    subprocess.run(["git", "--git-dir", str(hosts.bare), "fsck", "--strict"], check=True, capture_output=True)


def test_the_push_is_the_fence(hosts):
    """A host that computed against an old head cannot overwrite: the lease refuses it."""
    a, b = hosts(2)
    old = b.repo.head()
    a.pages.save("Fence", "a\n", ADA)
    tree = b.repo.commit(old).tree
    stale = b.repo.write_commit(tree, [old], BOB, "stale")
    assert b.remote.push(stale, old) is PushOutcome.STALE
    assert remote_head(hosts.bare) == a.repo.head()


def test_a_host_holding_the_save_lock_cannot_stop_the_others(hosts, postgres):
    """Saves queue for the save lock; one held by a paused host is given up after its wait, and the
    push still fences: the save lands on the head the remote has."""
    a, b = hosts(2)
    import psycopg
    from wiki.core.hosts import _SAVE_LOCK

    ref = a.repo.ref
    a.pages.branch.registry.lock_wait = 2.0  # the setting, shortened for the test
    with psycopg.connect(a.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)) as paused:
        paused.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SAVE_LOCK, ref))
        start = time.monotonic()
        saved = a.pages.save("Paused", "saved while another host held the lock\n", ADA)
        waited = time.monotonic() - start
        paused.rollback()
    assert waited >= 2.0  # it queued for the lock first
    assert remote_head(hosts.bare) == saved.commit
    after = b.pages.save("Paused", "and the next save queues and takes the lock\n", BOB, base=saved.commit)
    assert remote_head(hosts.bare) == after.commit
    assert b.repo.commit(after.commit).parents == (saved.commit,)


def test_the_mirror_never_holds_what_the_remote_lacks(hosts, git_server):
    a, = hosts(1)
    git_server.stop()
    try:
        before = a.repo.head()
        with pytest.raises(RemoteUnavailable):
            a.pages.save("Down", "text\n", ADA)
        assert a.repo.head() == before  # nothing published, the mirror unchanged
        assert a.pages.get("Home") is not None  # reads go on
    finally:
        git_server.start()
    assert a.pages.save("Down", "text\n", ADA).status is SaveStatus.CREATED


def test_database_down_refuses_saves_before_pushing(hosts, postgres):
    a, = hosts(1)
    before = remote_head(hosts.bare)
    postgres.stop()
    try:
        with pytest.raises(DatabaseUnavailable):
            a.pages.save("NoDb", "text\n", ADA)
        assert remote_head(hosts.bare) == before
        assert a.pages.get("Home") is not None
    finally:
        postgres.start()
    deadline = time.monotonic() + 5
    while True:  # the pool's connections died with the server; the next save reconnects
        try:
            assert a.pages.save("NoDb", "text\n", ADA).status is SaveStatus.CREATED
            break
        except DatabaseUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_hosts_hear_of_saves_and_of_pushes_made_straight_to_the_remote(hosts, tmp_path, postgres):
    a, b, c = hosts(3, follow=True)
    until(lambda: any(w.follower.watching for w in (a, b, c)))
    saved = a.pages.save("News", "fresh\n", ADA)
    waited = until(lambda: b.repo.head() == saved.commit and c.repo.head() == saved.commit, timeout=2)
    assert waited < 1.0
    # a person pushes to the git server directly: the elected watcher announces it
    clone = tmp_path / "clone"
    git("clone", "-q", hosts.url, str(clone))
    (clone / "Direct.md").write_text("pushed by hand\n")
    git("-C", str(clone), "add", "Direct.md")
    git("-C", str(clone), "-c", "user.name=Cy", "-c", "user.email=cy@example.org", "commit", "-q", "-m", "by hand")
    git("-C", str(clone), "push", "-q", "origin", "HEAD:main")
    pushed = remote_head(hosts.bare)
    until(lambda: all(w.repo.head() == pushed for w in (a, b, c)), timeout=2)
    assert c.pages.get("Direct").markdown == "pushed by hand\n"
    # with the notification connections killed, the hosts poll the head row (at most a second)
    postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
    saved = a.pages.save("News", "fresher\n", ADA, base=saved.commit)
    until(lambda: b.repo.head() == saved.commit and c.repo.head() == saved.commit, timeout=1.5)


def test_remote_open_mirror_of_an_existing_repository(tmp_path, git_server):
    url = git_server.create("existing.git")
    work = tmp_path / "w"
    git("clone", "-q", url, str(work))
    (work / "Page.md").write_text("hello\n")
    git("-C", str(work), "add", ".")
    git("-C", str(work), "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-q", "-m", "first")
    git("-C", str(work), "push", "-q", "origin", "HEAD:main")
    remote = Remote.open_mirror(tmp_path / "mirror.git", url)
    assert GitRepo(remote.repo.path).head() == remote.remote_head()


def test_wiki_check_and_readiness_show_a_mirror_behind(hosts):
    from wiki.core.check import check_wiki
    from wiki.core.health import CheckState, HealthCheck

    a, b = hosts(2)
    saved = a.pages.save("Ahead", "on a\n", ADA)
    findings = check_wiki(b)
    behind = [f for f in findings if f.area == "remote"]
    assert behind and "1 commit behind the git server" in behind[0].problem, findings
    b.follower.published = saved.commit  # what the head row says (the follower thread is not running here)
    health = HealthCheck(b.repo, b.engine, b.search, follower=b.follower)
    check = health.remote()
    assert check.details["behind"] == 1 and "catching up (1 commit behind)" in check.message
    assert check.state is CheckState.OK  # a little behind is normal; far behind (lag_limit) is degraded
    repaired = check_wiki(b, repair=True)
    assert [f.repaired for f in repaired if f.area == "remote"] == [True]
    assert b.repo.head() == saved.commit
    assert not [f for f in check_wiki(b) if f.area == "remote"]
    assert "behind" not in health.remote().message
    assert "remote" in health.ready().as_dict()["checks"]


def test_a_ref_lock_left_by_a_killed_process_does_not_stop_the_mirror(hosts):
    """A host killed while git moved its mirror's ref leaves the lock; the mirror only holds what the
    server has, so a lock older than any live git keeps one is cleared and the host starts again."""
    import os

    a, b = hosts(2)
    lock = b.repo.git_dir / "refs" / "heads" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("0" * 40 + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    saved = a.pages.save("Locked", "x\n", ADA)
    assert b.remote.fetch() == saved.commit
    assert not lock.exists()
    assert b.pages.save("Locked", "y\n", BOB, base=saved.commit).status is SaveStatus.SAVED
