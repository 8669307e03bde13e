"""No edit is ever lost: load through a real gunicorn, kill -9 in the middle of saves, full and
read-only disks, `wiki check`, backups. Bounded in count and time; loopback only."""

import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wiki.core.gitrepo import GitRepo, Person

from .conftest import ALICE
from .serving import ROOT, WikiServer

LINES = 20


def page_text(lines: list[str]) -> str:
    return "# Load\n\n" + "".join(f"{line}\n\n" for line in lines)


def git_out(repo, *args) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True).stdout


def fsck_clean(repo) -> bool:
    proc = subprocess.run(["git", f"--git-dir={repo}", "fsck", "--strict", "--no-dangling"], capture_output=True,
                          text=True)
    return proc.returncode == 0 and "error" not in proc.stderr.lower()


def blob_at(repo, commit: str, page: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{commit}:{page}.md"], capture_output=True,
                          text=True).stdout


class Saver:
    """A client editing pages like a person: read, change one line, save with the base it read."""

    def __init__(self, srv: WikiServer, token: str, pages: list[str], seed: int) -> None:
        self.srv, self.token, self.pages = srv, token, pages
        self.rng = random.Random(seed)
        self.seen: dict[str, list[tuple[str, str]]] = {}  # page -> (revision, markdown) read earlier
        self.results: list[tuple[int, str, str, dict]] = []  # (status, page, marker, body)

    def save_once(self, marker: str) -> None:
        page = self.rng.choice(self.pages)
        known = self.seen.get(page)
        if known and self.rng.random() < 0.3:  # an editor who kept the page open a while: a stale base
            revision, markdown = self.rng.choice(known)
        else:
            try:
                status, body = self.srv.request("GET", f"/-/api/v1/pages/{page}", token=self.token)
            except (OSError, http.client.HTTPException) as e:  # the server is being killed or restarted
                status, body = 0, {"error": str(e)}
            if status != 200:
                self.results.append((status, page, marker, body))
                return
            revision, markdown = body["revision"], body["markdown"]
            self.seen.setdefault(page, []).append((revision, markdown))
            self.seen[page] = self.seen[page][-5:]
        lines = [ln for ln in markdown.split("\n") if ln.startswith("line ")]
        k = self.rng.randrange(LINES)
        lines[k] = f"line {k}: {marker}"
        try:
            status, body = self.srv.request("PUT", f"/-/api/v1/pages/{page}",
                                            {"markdown": page_text(lines), "base": revision,
                                             "message": f"save {marker}"}, self.token, timeout=60)
        except (OSError, http.client.HTTPException) as e:  # the connection died with a killed worker
            status, body = 0, {"error": str(e)}
        self.results.append((status, page, marker, body))


class SavingRound:
    """Savers at work in threads of their own (each at most `limit` saves) until finish()."""

    def __init__(self, savers: list[Saver], prefix: str, limit: int = 200) -> None:
        self.savers = savers
        self.stop = threading.Event()

        def work(saver: Saver, n: int) -> None:
            i = 0
            while not self.stop.is_set() and i < limit:
                saver.save_once(f"{prefix}-c{n}-s{i}")
                i += 1

        self.threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(savers)]
        for t in self.threads:
            t.start()

    def finish(self) -> list[tuple[int, str, str, dict]]:
        """Stop, wait for the saves under way, and return every result."""
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)
        return [r for s in self.savers for r in s.results]


def check_saves(repo, results, since: str) -> dict:
    """Every 2xx save is in the history with its text; every new commit is one of them."""
    ok = [(page, marker, body) for status, page, marker, body in results if 200 <= status < 300]
    head = git_out(repo, "rev-parse", "HEAD").strip()
    commits = set(git_out(repo, "rev-list", f"{since}..{head}").split())
    answered = {body["commit"] for _, _, body in ok if body.get("commit")}
    for page, marker, body in ok:
        assert body["commit"] in commits, f"{marker}: its commit is not in the history"
        assert marker in blob_at(repo, body["commit"], page), f"{marker}: its text is not in its commit"
    unanswered = commits - answered
    return {"ok": len(ok), "merged": sum(1 for _, _, b in ok if b.get("merged")),
            "conflicts": sum(1 for s, *_ in results if s == 409), "commits": len(commits),
            "commits_without_answer": unanswered}


def wait_until_checked(srv: WikiServer, timeout: float = 60) -> str:
    """`wiki check` (no repair) passes once the background catch-ups are done."""
    deadline = time.monotonic() + timeout
    while True:
        srv.request("GET", "/-/api/v1/search?q=line")  # a search catches the page index up
        proc = subprocess.run([sys.executable, "-m", "wiki", "check"], env=srv.env, cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode == 0 or time.monotonic() > deadline:
            return proc.stdout + proc.stderr
        time.sleep(0.5)


def test_load_many_workers_and_threads_lose_nothing(tmp_path):
    srv = WikiServer(tmp_path / "load", workers=4, threads=2, WIKI_LOGIN_LIMIT_ADDRESS="100000 per minute")
    token = srv.add_user("loader", "load-test-password")
    pages = [f"Load/Page{i:02d}" for i in range(20)]
    with srv:
        for page in pages:
            status, _ = srv.request("PUT", f"/-/api/v1/pages/{page}",
                                    {"markdown": page_text([f"line {k}: initial" for k in range(LINES)])}, token)
            assert status == 201
        since = git_out(srv.repo, "rev-parse", "HEAD").strip()
        savers = [Saver(srv, token, pages, seed) for seed in range(16)]
        per_client = 2000 // len(savers)
        started = time.perf_counter()

        def work(saver: Saver, n: int) -> None:
            for i in range(per_client):
                saver.save_once(f"c{n}-s{i}")

        with ThreadPoolExecutor(len(savers)) as pool:
            list(pool.map(work, savers, range(len(savers))))
        elapsed = time.perf_counter() - started
        results = [r for s in savers for r in s.results]
        assert len(results) == 2000
        statuses = {s for s, *_ in results}
        assert statuses <= {200, 409}, f"unexpected answers: {statuses - {200, 409}}"
        figures = check_saves(srv.repo, results, since)
        assert figures["commits_without_answer"] == set()
        assert figures["commits"] == figures["ok"]
        assert fsck_clean(srv.repo)
        report = wait_until_checked(srv)
        assert "All good" in report, report
        print(f"\nload: 2000 saves by 16 clients through 4 workers x 2 threads in {elapsed:.1f} s "
              f"({2000 / elapsed:.0f} saves/s): {figures['ok']} saved ({figures['merged']} merged), "
              f"{figures['conflicts']} conflicts (409)")
        assert figures["merged"] > 0 and figures["conflicts"] > 0  # stale bases were really exercised


def test_kill_9_in_the_middle_of_saves_never_breaks_the_repository(tmp_path):
    srv = WikiServer(tmp_path / "crash", workers=2, WIKI_LOGIN_LIMIT_ADDRESS="100000 per minute")
    token = srv.add_user("crasher", "crash-test-password")
    pages = [f"Crash/Page{i}" for i in range(6)]
    rng = random.Random(7)
    srv.start()
    try:
        for page in pages:
            srv.request("PUT", f"/-/api/v1/pages/{page}",
                        {"markdown": page_text([f"line {k}: initial" for k in range(LINES)])}, token)
        since = git_out(srv.repo, "rev-parse", "HEAD").strip()
        all_results = []
        for round_no in range(20):
            saving = SavingRound([Saver(srv, token, pages, round_no * 10 + n) for n in range(4)], f"r{round_no}")
            time.sleep(rng.uniform(0.05, 0.6))
            whole = round_no % 5 == 4
            if whole:
                srv.kill()  # master and workers, and any git they were running
            else:
                os.kill(rng.choice(srv.worker_pids()), signal.SIGKILL)
            time.sleep(0.2)
            all_results += saving.finish()
            if whole:
                srv.start()
            repo = srv.repo
            assert fsck_clean(repo), f"round {round_no}: git fsck found problems"
            head = git_out(repo, "rev-parse", "HEAD").strip()
            assert git_out(repo, "cat-file", "-t", head).strip() == "commit"
            # the next save goes through: no lock or temporary file blocks it
            status, body = srv.request("PUT", f"/-/api/v1/pages/Crash/After{round_no}",
                                       {"markdown": f"# After {round_no}\n\nsurvivor{round_no}\n"}, token)
            assert status == 201, body
        figures = check_saves(srv.repo, [r for r in all_results if r[0] != 0], since)
        assert figures["ok"] > 100
        assert GitRepo(srv.repo).lock_files() == []  # git's ref and index locks (ours is an flock file)
        report = wait_until_checked(srv)
        assert "All good" in report, report
        status, found = srv.request("GET", "/-/api/v1/search?q=survivor19")
        assert [r["path"] for r in found["results"]][:1] == ["Crash/After19"]
        print(f"\ncrash: 20 kills (4 of the whole server), {figures['ok']} saves answered 2xx, all in the history")
    finally:
        srv.stop()


# -- full and read-only disks (a real tmpfs; needs root, as CI has) -------------------------

@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: " + proc.stderr.decode().strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass


def test_a_full_or_read_only_disk_gives_clear_errors_and_no_half_written_page(small_disk, tmp_path):
    from wiki import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "WIKI_REPO": str(small_disk / "repo"),
                      "WIKI_DATA": str(tmp_path / "data"), "WIKI_WRITE": "anonymous"})
    client = app.test_client()
    assert client.put("/-/api/v1/pages/Disk", json={"markdown": "# Disk\n\nfirst\n"}).status_code == 201
    repo = small_disk / "repo"
    before = git_out(repo, "rev-parse", "HEAD").strip()
    _fill(small_disk / "filler")
    big = "# Disk\n\n" + "a long paragraph of text that will not fit. " * 2000
    api = client.put("/-/api/v1/pages/Disk", json={"markdown": big, "base": before})
    assert api.status_code == 507 and "disk is full" in api.get_json()["error"]
    form = client.post("/-/edit/Disk", data={"text": big + "MYTEXT", "base": before})
    assert form.status_code == 507 and b"MYTEXT" in form.data  # the person's text is handed back
    assert git_out(repo, "rev-parse", "HEAD").strip() == before
    os.unlink(small_disk / "filler")
    assert fsck_clean(repo)
    assert client.get("/Disk").status_code == 200
    assert client.put("/-/api/v1/pages/Disk", json={"markdown": "# Disk\n\nsecond\n", "base": before}).status_code == 200

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        head = git_out(repo, "rev-parse", "HEAD").strip()
        refused = client.put("/-/api/v1/pages/Disk", json={"markdown": "# Disk\n\nthird\n", "base": head})
        assert refused.status_code == 503 and "read-only" in refused.get_json()["error"]
        assert client.get("/Disk").status_code == 200  # reading still works
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert git_out(repo, "rev-parse", "HEAD").strip() == head
    assert client.put("/-/api/v1/pages/Disk", json={"markdown": "# Disk\n\nthird\n", "base": head}).status_code == 200


# -- wiki check, backup and restore ---------------------------------------------------------

def cli(env, *args, input=None):
    return subprocess.run([sys.executable, "-m", "wiki", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, input=input)


def test_wiki_check_finds_and_repairs(tmp_path):
    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"))
    env.pop("WIKI_DATABASE_URL", None)
    assert cli(env, "init").returncode == 0
    assert cli(env, "reindex").returncode == 0
    ok = cli(env, "check")
    assert ok.returncode == 0 and "All good" in ok.stdout
    repo = GitRepo(tmp_path / "repo")
    lock = repo.git_dir / "refs" / "heads" / f"{repo.branch}.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    from wiki.core.pages import PageStore
    PageStore(repo).save("Later", "# Later\n", ALICE)  # the save clears the stale lock by itself
    assert not lock.exists()
    bad = repo.write_blob(b"not a talk file\n")
    tree = repo.write_tree_with(repo.commit(repo.head()).tree,
                                {".talk/Home.md/20261129-120000-abcdef/20261129-120000-abcdef.md": bad})
    commit = repo.write_commit(tree, [repo.head()], Person("Hand", "hand@example.org"), "by hand")
    assert repo.compare_and_swap(commit, repo.head())
    lock.write_text("")
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    found = cli(env, "check")
    assert found.returncode == 1
    assert "lock file" in found.stdout and "starts with a --- line" in found.stdout
    assert "index reflects" in found.stdout  # the commits made behind the wiki's back
    repaired = cli(env, "check", "--repair")
    assert "repaired  locks" in repaired.stdout and "repaired  search" in repaired.stdout
    assert repaired.returncode == 1 and "PROBLEM  talk" in repaired.stdout  # a broken file needs a person
    assert not lock.exists()


def test_backup_and_restore_on_a_fresh_machine(tmp_path):
    env = dict(os.environ, WIKI_REPO=str(tmp_path / "repo"), WIKI_DATA=str(tmp_path / "data"))
    env.pop("WIKI_DATABASE_URL", None)
    assert cli(env, "init").returncode == 0
    assert cli(env, "user", "add", "ann", "--email", "ann@example.org", "--password-stdin",
               input="backup-password\n").returncode == 0
    from wiki.core.pages import PageStore
    from wiki.core.talk import TalkStore
    store = PageStore(GitRepo(tmp_path / "repo"))
    store.save("Notes", "# Notes\n\nKeep me.\n", ALICE)
    thread, _ = TalkStore(store).start("Notes", "Backed up?", "Yes.", ALICE, "ann")
    done = cli(env, "backup", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "backup").iterdir()} == {"wiki.bundle", "database.json", "manifest.json"}

    fresh = dict(env, WIKI_REPO=str(tmp_path / "new" / "repo"), WIKI_DATA=str(tmp_path / "new" / "data"))
    restored = cli(fresh, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    assert git_out(tmp_path / "new" / "repo", "rev-parse", "HEAD") == git_out(tmp_path / "repo", "rev-parse", "HEAD")
    assert "ann" in cli(fresh, "user", "list").stdout
    new_store = PageStore(GitRepo(tmp_path / "new" / "repo"))
    assert new_store.get("Notes").markdown.endswith("Keep me.\n")
    assert TalkStore(new_store).thread("Notes", thread).title == "Backed up?"
    again = cli(fresh, "restore", str(tmp_path / "backup"))
    assert again.returncode != 0 and "not empty" in again.stderr
    (tmp_path / "empty").mkdir()
    other = dict(env, WIKI_REPO=str(tmp_path / "other" / "repo"), WIKI_DATA=str(tmp_path / "other" / "data"))
    wrong = cli(other, "restore", str(tmp_path / "empty"))
    assert wrong.returncode == 1 and "not a readable backup" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "other" / "repo").exists()
