"""`wiki check`: is the repository sound, does derived data agree with it, and repair what can be.

The repository is the source of truth, so repairs never touch its commits: they clear lock
and temporary files a killed process left behind, and bring the search indexes back in step
(catch up, or rebuild an unreadable one). What cannot be repaired (a corrupt object, a talk
file someone broke by hand) is reported for a person to fix.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .remote import RemoteUnavailable
from .talk import TALK_ROOT, check_file

if TYPE_CHECKING:
    from .wiki import Wiki


@dataclass
class Finding:
    area: str  # repository | remote | locks | talk | search
    problem: str
    repaired: bool = False


def check_wiki(wiki: "Wiki", repair: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    repo = wiki.repo

    proc = subprocess.run(["git", f"--git-dir={repo.git_dir}", "fsck", "--strict", "--no-dangling", "--no-progress"],
                          capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and not line.startswith(("Checking", "notice:")):
            findings.append(Finding("repository", line.strip()))
    if proc.returncode != 0 and not any(f.area == "repository" for f in findings):
        findings.append(Finding("repository", f"git fsck failed (exit {proc.returncode})"))

    findings += _check_remote(wiki, repair)
    head = repo.head()
    if head is not None:
        ok = subprocess.run(["git", f"--git-dir={repo.git_dir}", "cat-file", "-e", f"{head}^{{tree}}"],
                            capture_output=True).returncode == 0
        if not ok:
            findings.append(Finding("repository", f"the branch {repo.branch} points at {head[:12]}, "
                                                  "which is not a complete commit"))

    for path in repo.lock_files():
        findings.append(Finding("locks", f"lock file {path.relative_to(repo.git_dir)} is present"))
    if repair:
        removed = set(repo.clear_stale_locks())
        for f in findings:
            if f.area == "locks" and any(r in f.problem for r in removed):
                f.repaired = True
    for path in repo.stale_temp_objects():
        finding = Finding("locks", f"temporary object file {path.relative_to(repo.git_dir)} left by a killed writer")
        if repair:
            path.unlink(missing_ok=True)
            finding.repaired = True
        findings.append(finding)

    if head is not None:
        for path, blob in repo.list_files(head):
            if path.startswith(TALK_ROOT + "/"):
                why = check_file(path, repo.read_blob(blob))
                if why:
                    findings.append(Finding("talk", f"{path}: {why}"))

    findings += _check_search(wiki, head, repair)
    return findings


def _check_remote(wiki: "Wiki", repair: bool) -> list[Finding]:
    """With several hosts: is this host's mirror at the git server's head (and never ahead of it)?"""
    remote = wiki.remote
    if remote is None:
        return []
    try:
        actual = remote.peek()
    except RemoteUnavailable as e:
        return [Finding("remote", str(e))]
    head = remote.repo.head()
    if actual == head:
        return []
    if head and actual and remote.repo.is_ancestor(actual, head):
        finding = Finding("remote", f"the mirror is at {head[:12]}, ahead of the git server's {actual[:12]}: "
                                    "it holds commits the git server lacks")
    else:
        behind = remote.behind(actual)
        finding = Finding("remote", f"the mirror is {behind if behind is not None else 'some'} commit"
                                    f"{'' if behind == 1 else 's'} behind the git server "
                                    f"({(head or 'none')[:12]}, the server has {(actual or 'none')[:12]})")
    if repair:
        try:
            finding.repaired = remote.fetch() == actual
        except RemoteUnavailable:
            pass
    return [finding]


def _check_search(wiki: "Wiki", head: str | None, repair: bool) -> list[Finding]:
    search = wiki.search
    out = []
    for name in ("pages", "history"):
        if not search.engine.is_built(name):
            finding = Finding("search", f"the {name} index is missing or unreadable")
            if repair:
                (search.rebuild if name == "pages" else search.rebuild_history)()
                finding.repaired = True
            out.append(finding)
            continue
        indexed = search.engine.meta(name).get("head") or None
        if indexed != head:
            finding = Finding("search", f"the {name} index reflects {str(indexed)[:12]}, the branch is at "
                                        f"{str(head)[:12]}")
            if repair:
                search.catch_up(wait=True)
                finding.repaired = (search.engine.meta(name).get("head") or None) == head
            out.append(finding)
    out += _check_semantic(search, head, repair)
    return out


def _check_semantic(search, head: str | None, repair: bool) -> list[Finding]:
    """The semantic index, when the model is there: present and at the branch head."""
    if not search.meaning.available():
        return []
    if not search.vectors.exists():
        finding = Finding("search", "the semantic index is missing")
        if repair:
            search.rebuild_vectors()
            finding.repaired = search.vectors.exists()
        return [finding]
    indexed = search.vectors.head()
    if indexed == head:
        return []
    finding = Finding("search", f"the semantic index reflects {str(indexed)[:12]}, the branch is at {str(head)[:12]}")
    if repair:
        search.catch_up(wait=True)
        finding.repaired = search.vectors.head() == head
    return [finding]
