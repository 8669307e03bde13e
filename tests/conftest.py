import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from wiki.core.gitrepo import GitRepo, Person
from wiki.core.pages import PageStore
from tests.browser import screenshot_dir_if_used

# The meaning service the tests start (one for the run) exits soon after they end.
os.environ.setdefault("WIKI_SEMANTIC_IDLE", "120")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
DATA = Path(__file__).resolve().parent / "data"
ALICE = Person("Alice Example", "alice@example.org")
BOB = Person("Bob Example", "bob@example.org")


def test_data(name: str) -> Path:
    """A small file of tests/data (kept in the repository with its license; see its README)."""
    return DATA / name


test_data.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL cluster for the run (tests make a database each with create_database)."""
    from .services import PostgresCluster

    cluster = PostgresCluster()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def git_server(tmp_path_factory):
    """A real git server (git daemon) for the run (tests make a bare repository each with create)."""
    from .services import GitServer

    server = GitServer(tmp_path_factory.mktemp("git-server"))
    yield server
    server.close()


def shared_file(name: str) -> Path:
    """A large corpus of ../shared/corpora beside the checkout. Absent on a plain clone, where the
    tests that need it skip; with WIKI_TESTS_REQUIRE_CORPORA=1 (CI) a missing corpus fails instead."""
    path = SHARED / name
    if not path.exists():
        message = f"needs the corpus {name} from ../shared/corpora beside the checkout"
        if os.environ.get("WIKI_TESTS_REQUIRE_CORPORA") == "1":
            pytest.fail(message + " (WIKI_TESTS_REQUIRE_CORPORA=1)")
        pytest.skip(message)
    return path


def git(repo_dir, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo_dir, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    return GitRepo.init(tmp_path / "content.git")


@pytest.fixture
def store(repo) -> PageStore:
    return PageStore(repo)


@pytest.fixture
def app(tmp_path):
    from wiki import create_app

    app = create_app({  # the page tests edit anonymously; accounts are tested on their own
        "TESTING": True,
        "WIKI_REPO": str(tmp_path / "pages_repo"),
        "WIKI_DATA": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": False,
        "WIKI_WRITE": "anonymous",
    })
    yield app
    app.extensions["tacit"].close()  # its search rebuild and catch-up end with the test


@pytest.fixture
def csrf_app(tmp_path):
    """An app with CSRF protection on, as in production."""
    from wiki import create_app

    app = create_app({"WIKI_REPO": str(tmp_path / "pages_repo"), "WIKI_DATA": str(tmp_path / "instance"),
                      "WIKI_WRITE": "anonymous"})
    yield app
    app.extensions["tacit"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture(scope="session")
def tldr_repo(tmp_path_factory) -> Path:
    """A bare clone of the tldr-pages corpus (7,425 pages, 13,401 commits)."""
    archive = shared_file("tldr-pages.git.tar.gz")
    tmp = tmp_path_factory.mktemp("tldr")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    clone = tmp / "wiki.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp / "tldr-pages.git"), str(clone)], check=True)
    return clone


def pytest_terminal_summary(terminalreporter):
    """Say where the browser tests left their screenshots, so a person can look."""
    folder = screenshot_dir_if_used()
    if folder is not None:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(str(folder))


TEAM_PASSWORD = "password-123"


def team_app(tmp_path, people: list[tuple[str, str]], csrf: bool = False, **settings):
    """An app with accounts (name, role); the first becomes admin, as on a fresh wiki."""
    from wiki import create_app

    app = create_app({"TESTING": True, "WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data"),
                      "WTF_CSRF_ENABLED": csrf, **settings})
    users = app.extensions["tacit"].users
    for name, role in people:
        users.create(name, f"{name.lower()}@example.org", TEAM_PASSWORD, role=role)
    return app


def client_for(app, name: str | None = None):
    """A test client, logged in as `name` (a team_app account) unless None."""
    client = app.test_client()
    if name:
        r = client.post("/-/login", data={"name": name, "password": TEAM_PASSWORD})
        assert r.status_code == 302, name
    return client



def _stop_rebuilds(wait: float = 10.0) -> None:
    """Stop the search rebuild processes still running for wikis the tests made and did not close
    (the `app` fixtures close theirs), so none prints after the summary."""
    import signal
    import time

    me = os.getpid()
    children: list[int] = []
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            with open(f"/proc/{me}/task/{task}/children") as f:
                children += [int(p) for p in f.read().split()]
        except OSError:
            continue
    stopping = []
    for pid in children:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"wiki.core.search.rebuild" in f.read().split(b"\0"):
                    os.kill(pid, signal.SIGTERM)
                    stopping.append(pid)
        except OSError:
            continue
    deadline = time.monotonic() + wait
    while stopping and time.monotonic() < deadline:  # the thread that started each one reaps it
        time.sleep(0.05)
        stopping = [pid for pid in stopping if _running(pid)]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def pytest_sessionfinish(session, exitstatus):
    """Stop the search rebuilds and the meaning service this run started, so nothing outlives the tests."""
    _stop_rebuilds()
    from wiki.core.search.meaning import MeaningClient

    MeaningClient().stop()
