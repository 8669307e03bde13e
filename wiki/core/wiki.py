"""The core bundle: one wiki's storage, rendering, accounts and access rules, with no knowledge of HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote

from sqlalchemy.engine import Engine

from .access import Policy, RuleStore
from .clock import SYSTEM_CLOCK, Clock, DatabaseClock
from .bootstrap import init_repository, write_welcome
from .db import database_url, make_engine, migrate
from .gitrepo import GitRepo, Person
from .history import History
from .hosts import HeadRegistry, MirrorFollower, libpq_dsn
from .mail import Mailer, MailSettings
from .pages import PageStore
from .publish import RemoteBranch
from .remote import Remote
from .render import Renderer
from .search import SearchIndex
from .search.semantic import SemanticSettings
from .frontmatter import DEFAULT_STATUSES
from .status import DASHBOARD, StatusBoard
from .talk import TalkStore
from .users import UserStore
from .watch import WatchStore

# A host catches its search index up with what other hosts saved after this pause, so a burst of
# their saves costs one catch-up (the pages a search reads are caught up by the search itself).
FOLLOWER_CATCH_UP_PAUSE = 1.5


def page_href(prefix: str) -> Callable[[str], str]:
    def href(name: str) -> str:
        return f"{prefix}/{quote(name, safe='/')}"
    return href


def make_renderer(data_dir: str | Path, url_prefix: str = "") -> Renderer:
    """The page renderer, with its disk cache under WIKI_DATA (shared by every process) and the
    fenced blocks features render themselves; every process builds it here, so all agree on them."""
    page_url = page_href(url_prefix)
    edit_url = page_href(url_prefix + "/-/edit")
    suffix = f"-{hashlib.sha1(url_prefix.encode()).hexdigest()[:8]}" if url_prefix else ""
    return Renderer(
        page_url=page_url,
        edit_url=edit_url,
        section_edit_url=lambda name, n: f"{edit_url(name)}?section={n}",
        cache_dir=Path(data_dir) / ("render-cache" + suffix),
        blocks=(DASHBOARD,),
    )


def open_database(data_dir: str | Path, url: str | None = None) -> Engine:
    """The accounts database, migrated to the newest schema."""
    engine = make_engine(database_url(data_dir, url))
    migrate(engine, data_dir)
    return engine


@dataclass
class Wiki:
    repo: GitRepo
    pages: PageStore
    renderer: Renderer
    anonymous: Person
    engine: Engine
    users: UserStore
    rules: RuleStore
    history: History
    search: SearchIndex
    talk: TalkStore
    read_policy: str = "anonymous"
    write_policy: str = "editor"
    talk_policy: str = "user"  # who may comment: "user" (anyone logged in who may read) or "editor"
    mailer: Mailer = field(default_factory=Mailer)  # disabled (sends nothing) without an SMTP host
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    clock: Clock = SYSTEM_CLOCK  # with several hosts, the database's
    remote: Remote | None = None  # with several hosts: the central repository this host mirrors
    follower: MirrorFollower | None = None  # with several hosts: keeps the mirror in step (started by follow())
    watches: WatchStore = field(init=False)
    status: StatusBoard = field(init=False)

    def __post_init__(self) -> None:
        self.watches = WatchStore(self.engine, self.repo, self.users, self.talk, self.policy, self.mailer,
                                  self.clock)
        self.status = StatusBoard(self.pages, self.talk, self.statuses)

    @classmethod
    def open(cls, repo_path: str | Path, data_dir: str | Path, anonymous: Person,
             url_prefix: str = "", branch: str | None = None, database: str | None = None,
             read_policy: str = "anonymous", write_policy: str = "editor", build_search: bool = True,
             talk_policy: str = "user", mail: MailSettings | None = None,
             statuses: tuple[str, ...] = DEFAULT_STATUSES,
             semantic: SemanticSettings = SemanticSettings(), remote_url: str | None = None) -> "Wiki":
        Policy(read_policy, write_policy)  # refuse a bad setting at start-up, not on the first request
        if talk_policy not in ("user", "editor"):
            raise ValueError(f"WIKI_TALK must be user or editor, not {talk_policy!r}")
        data = Path(data_dir)
        data.mkdir(parents=True, exist_ok=True)
        remote = follower = None
        clock: Clock = SYSTEM_CLOCK
        if remote_url:  # several hosts: a mirror of the central repository, saves pushed to it
            engine = open_database(data, database)
            clock = DatabaseClock(engine)
            remote = Remote.open_mirror(repo_path, remote_url, branch, clock)
            repo = remote.repo
            registry = HeadRegistry(engine, repo.ref)
            pages = PageStore(repo, RemoteBranch(remote, registry))
            if repo.head() is None:
                write_welcome(pages, anonymous)
        else:
            repo, _ = init_repository(repo_path, anonymous)
            if branch:
                repo = GitRepo(repo.path, branch)
            engine = open_database(data, database)
            pages = PageStore(repo)
        if not repo.has_commit_graph():  # opened as it is (cloned, restored): history walks every commit
            repo.maintain_in_background()
        renderer = make_renderer(data, url_prefix)
        search = SearchIndex(repo, renderer, pages.last_changes, data, url_prefix, semantic)
        pages.after_commit.append(lambda commit, parent: repo.maintain_now_and_then(commit))
        pages.after_commit.append(lambda commit, parent: search.catch_up_soon())
        if remote is not None:
            follower = MirrorFollower(remote, registry, libpq_dsn(engine),
                                      on_change=lambda head: search.catch_up_soon(FOLLOWER_CATCH_UP_PAUSE))
        if build_search:
            search.ensure_built()
        return cls(repo, pages, renderer, anonymous, engine, UserStore(engine), RuleStore(engine),
                   History(repo), search, TalkStore(pages), read_policy, write_policy, talk_policy,
                   mailer=Mailer(mail), statuses=tuple(statuses), clock=clock, remote=remote, follower=follower)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], url_prefix: str = "", build_search: bool = True) -> "Wiki":
        """The wiki as configured (wiki.config.load_config): one way to build it for the web app and the CLI."""
        anonymous = Person(settings["WIKI_ANONYMOUS_NAME"], settings["WIKI_ANONYMOUS_EMAIL"])
        statuses = tuple(s.strip().lower() for s in str(settings["WIKI_STATUSES"]).split(",") if s.strip())
        return cls.open(settings["WIKI_REPO"], settings["WIKI_DATA"], anonymous, url_prefix=url_prefix,
                        branch=settings.get("WIKI_BRANCH"), database=settings.get("WIKI_DATABASE_URL"),
                        read_policy=settings["WIKI_READ"], write_policy=settings["WIKI_WRITE"],
                        talk_policy=settings["WIKI_TALK"], build_search=build_search, statuses=statuses,
                        mail=MailSettings.from_config(settings), semantic=SemanticSettings.from_config(settings),
                        remote_url=settings.get("WIKI_REMOTE"))

    def policy(self) -> Policy:
        """The site policy with the current rules (cached for a second per process)."""
        return Policy(self.read_policy, self.write_policy, self.rules.rules())

    def follow(self) -> None:
        """With several hosts, keep this process's mirror in step with what the others publish."""
        if self.follower is not None:
            self.follower.start()

    def close(self) -> None:
        """End what this wiki runs in the background (search rebuild and catch-up, mail being
        sent, following the other hosts) and release its connections, so nothing it started
        outlives its owner."""
        if self.follower is not None:
            self.follower.stop()
        self.search.close()
        self.mailer.wait()
        self.repo.close()
        self.engine.dispose()
