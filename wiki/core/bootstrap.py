"""Creating the content repository on first run, and opening existing ones as they are."""

from __future__ import annotations

from pathlib import Path

import git

from . import names
from .gitrepo import GitRepo, Person
from .pages import PageStore, SaveStatus
from .pagetemplates import SHIPPED

WELCOME = """\
# Welcome to Tacit

This is the wiki of your team: status pages, decisions and the know-how that
usually lives only in people's heads.

## Getting started

- **Edit** this page with the *Edit* button, or start a [[Getting Started|new page]].
- Link pages with `[[Page Name]]`; a link to a page that does not exist yet
  shows in red and creates the page when you follow it.
- Use folders in names: `[[Projects/Alpha/Status]]`.
- Pages are [Markdown](https://commonmark.org/help/): tables, footnotes,
  task lists and highlighted code all work.

| You want to | Do this |
|---|---|
| see every page | open *All pages* |
| undo a change | every save is a git commit; nothing is ever lost |

- [x] Install Tacit
- [ ] Write the first status page

## Working offline

Every page is a markdown file in a git repository, and every save is a commit
by its author. Clone the repository, edit with any editor, and push back.
"""

BARE_README = """\
This folder is the git repository of a Tacit wiki (a bare repository: it has
no checked-out files, so the wiki can write to it safely while it runs).

To see or edit the pages as files, clone it:

    git clone {path} my-wiki

Each page is the file <page name>.md. Commit and push back to publish.
"""


def open_repository(path: str | Path, branch: str | None = None) -> GitRepo:
    """Open an existing git repository as a wiki, untouched."""
    return GitRepo(path, branch)


def init_repository(path: str | Path, author: Person, branch: str = "main") -> tuple[GitRepo, bool]:
    """Open the repository at path, creating it with a welcome page if there is none.

    Returns (repo, created). An existing repository, bare or not, is opened
    as it is, even an empty one; only a missing or empty folder is created.
    """
    path = Path(path)
    try:
        if path.exists() and any(path.iterdir()):
            git.Repo(path).close()
            return GitRepo(path), False
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotAGitRepository(path) from None
    repo = GitRepo.init(path, branch=branch, bare=True)
    (repo.git_dir / "README").write_text(BARE_README.format(path=repo.git_dir))
    (repo.git_dir / "description").write_text("Tacit wiki\n")
    write_welcome(PageStore(repo), author)
    return repo, True


def write_welcome(store: PageStore, author: Person) -> None:
    """The first commit: a welcome page and the page templates (nothing if the branch has a head by
    the time it is written: another host of the same wiki created it first)."""
    files = {names.page_file("Home"): WELCOME, **{names.page_file(n): t for n, t in SHIPPED.items()}}
    store.commit("Home", author, lambda head: None if head else (
        {path: store.repo.write_blob(text.encode("utf-8")) for path, text in files.items()}, SaveStatus.CREATED,
        "Create the wiki with a welcome page and page templates"))


class NotAGitRepository(RuntimeError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists and is not a git repository; "
                         "point WIKI_REPO at a git repository or an empty folder")
