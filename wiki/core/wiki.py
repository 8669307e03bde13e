"""The core bundle: one wiki's storage and rendering, with no knowledge of HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from .bootstrap import init_repository
from .gitrepo import GitRepo, Person
from .pages import PageStore
from .render import Renderer


def page_href(prefix: str) -> Callable[[str], str]:
    def href(name: str) -> str:
        return f"{prefix}/{quote(name, safe='/')}"
    return href


@dataclass
class Wiki:
    repo: GitRepo
    pages: PageStore
    renderer: Renderer
    anonymous: Person

    @classmethod
    def open(cls, repo_path: str | Path, data_dir: str | Path, anonymous: Person,
             url_prefix: str = "", branch: str | None = None) -> "Wiki":
        repo, _ = init_repository(repo_path, anonymous)
        if branch:
            repo = GitRepo(repo.path, branch)
        data = Path(data_dir)
        data.mkdir(parents=True, exist_ok=True)
        page_url = page_href(url_prefix)
        edit_url = page_href(url_prefix + "/-/edit")
        renderer = Renderer(
            page_url=page_url,
            edit_url=edit_url,
            section_edit_url=lambda name, n: f"{edit_url(name)}?section={n}",
            cache_dir=data / ("render-cache" + (f"-{hashlib.sha1(url_prefix.encode()).hexdigest()[:8]}" if url_prefix else "")),
        )
        return cls(repo, PageStore(repo), renderer, anonymous)
