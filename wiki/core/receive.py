"""What a `git push` may change: the same rules as an edit in the browser, checked before git
accepts anything.

git's receive-pack runs `pre-receive` with the pushed objects still in quarantine; the hook
(written by `install_hooks`, run as ``python -m wiki.core.receive``) reads the ref updates and
refuses the whole push, naming the file and the reason, when any rule fails:

* only the wiki's branch, only fast-forwards, no deletion of it;
* page files must have names the wiki accepts for new pages (when added or renamed), and stay
  under the page size limit;
* files under `.talk/` must follow the talk layout and format; `.wiki/redirects.json` must be a
  JSON object of names;
* hidden folders other than `.talk/` and `.wiki/` are refused (a clone must not carry files the
  wiki never shows or checks);
* the pusher must be allowed to write every page it changes and to read every page whose talk
  it changes (access rules apply to pushes as to the web).

Only `git` subprocesses read the objects: they see the quarantine through the environment git
gives the hook.

A non-bare repository with the wiki's branch checked out is served with
``receive.denyCurrentBranch=updateInstead``, so git asks the `push-to-checkout` hook (also written
by `install_hooks`) to bring the checkout to the pushed commit before it moves the branch.
`update_checkout` does what the wiki's own saves do (``read-tree -m -u``: only the changed files,
local edits elsewhere kept), but refuses the push when it would overwrite a local edit: a checkout
left behind would look like uncommitted edits undoing the push.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

from . import names
from .gitrepo import ZERO
from .locks import file_lock
from .talk import TALK_ROOT, check_file, page_of_talk_file

MAX_PAGE_BYTES = 4 * 1024 * 1024
ALLOWED_HIDDEN_FILES = {".gitignore", ".gitattributes"}
WIKI_FILES = {".wiki/redirects.json"}
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

log = logging.getLogger("wiki.core.receive")  # by name: the hook runs as __main__


def _log_to_operator() -> None:
    """The hook's records go to the wiki's log, on the descriptor the server hands over (git sends
    the hook's stderr to the pusher); format and level come with the environment."""
    from ..logconfig import hook_stream, install

    install(stream=hook_stream() or sys.stderr)


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def _git(git_dir: str, *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", *args], input=input, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return proc.stdout


def _changed_files(git_dir: str, old: str, new: str) -> list[tuple[str, str, str | None]]:
    """(status, path, new blob) for every file that differs between two commits (renames as A + D)."""
    out = _git(git_dir, "diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", old, new)
    parts = out.split(b"\0")
    files = []
    i = 0
    while i + 1 < len(parts):
        meta, path = parts[i], parts[i + 1]
        i += 2
        if not meta.startswith(b":"):
            continue
        _, new_mode, _, new_sha, status = meta[1:].decode().split(" ")
        files.append((status[0], path.decode("utf-8", "surrogateescape"),
                      None if status[0] == "D" else new_sha if new_mode != "160000" else None))
    return files


def _read_blobs(git_dir: str, shas: list[str]) -> dict[str, bytes]:
    if not shas:
        return {}
    out = _git(git_dir, "cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
    blobs, pos = {}, 0
    for sha in shas:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        size = int(header[2])
        blobs[sha] = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return blobs


def check_push(git_dir: str, branch: str, updates: list[Update],
               may_write: Callable[[str], bool], may_read: Callable[[str], bool]) -> list[str]:
    """Every reason to refuse the push (empty: accept)."""
    problems: list[str] = []
    for u in updates:
        if u.ref != f"refs/heads/{branch}":
            problems.append(f"{u.ref}: only the branch {branch} can be pushed to this wiki")
            continue
        if u.new == ZERO:
            problems.append(f"{u.ref}: the wiki's branch cannot be deleted")
            continue
        if u.old != ZERO:
            proc = subprocess.run(["git", f"--git-dir={git_dir}", "merge-base", "--is-ancestor", u.old, u.new])
            if proc.returncode != 0:
                problems.append(f"{u.ref}: not a fast-forward; pull, merge and push again")
                continue
        files = _changed_files(git_dir, u.old if u.old != ZERO else EMPTY_TREE, u.new)
        wanted = [sha for status, path, sha in files if sha and (path.startswith(TALK_ROOT + "/")
                                                               or path in WIKI_FILES)]
        blobs = _read_blobs(git_dir, wanted)
        sizes = _blob_sizes(git_dir, [sha for status, path, sha in files if sha and path.endswith(names.PAGE_SUFFIX)
                                      and not path.startswith(TALK_ROOT + "/")])
        for status, path, sha in files:
            why = _check_file(status, path, sha, blobs, sizes, may_write, may_read)
            if why:
                problems.append(f"{path}: {why}")
    return problems


def _blob_sizes(git_dir: str, shas: list[str]) -> dict[str, int]:
    if not shas:
        return {}
    out = _git(git_dir, "cat-file", "--batch-check", input=("\n".join(shas) + "\n").encode())
    return {line.split()[0]: int(line.split()[2]) for line in out.decode().splitlines() if len(line.split()) == 3}


def _check_file(status: str, path: str, sha: str | None, blobs: dict[str, bytes], sizes: dict[str, int],
                may_write: Callable[[str], bool], may_read: Callable[[str], bool]) -> str | None:
    if path.startswith(TALK_ROOT + "/"):
        page = page_of_talk_file(path)
        if page and not may_read(page[0]):
            return "you may not take part in this page's talk"
        if sha is None:
            return None
        return check_file(path, blobs.get(sha, b""))
    if path in WIKI_FILES:
        if sha is None:
            return None
        try:
            data = json.loads(blobs.get(sha, b"").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return "must be valid JSON"
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            return 'must be a JSON object of "old name": "new name"'
        return None
    try:
        names.check_name(path)
    except names.BadPageName as e:
        return e.rule
    first = path.split("/", 1)[0]
    if any(part.startswith(".") for part in path.split("/")[:-1]) or (
            "/" not in path and first.startswith(".") and first not in ALLOWED_HIDDEN_FILES):
        return "hidden files and folders are not part of a wiki (only .talk/ and .wiki/ are)"
    page = names.page_name(path)
    if page is None:  # an attachment: any file with a valid path, changed by who may change its page
        owner = names.folder_of(path)
        if not may_write(path) or (owner and not may_write(owner)):
            return "you may not change the files of this page"
        return None
    if not may_write(page):
        return "you may not edit this page"
    if status == "A":
        try:
            names.check_new_name(page)
        except names.BadPageName as e:
            return e.rule
    if sha is not None and sizes.get(sha, 0) > MAX_PAGE_BYTES:
        return f"a page can be at most {MAX_PAGE_BYTES // (1024 * 1024)} MB"
    return None


class CheckoutOutcome(Enum):
    UPDATED = "updated"          # the checkout shows the pushed commit
    LOCAL_EDITS = "local edits"  # the push would overwrite files edited in the checkout: refused
    MOVED = "moved"              # the branch moved since the push began: refused (git would refuse it too)
    FAILED = "failed"            # git could not update the checkout: refused


def _work_git(work_tree: str, git_dir: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_PREFIX")}
    env.update(GIT_DIR=git_dir, GIT_WORK_TREE=work_tree, LC_ALL="C")
    return subprocess.run(["git", *args], cwd=work_tree, env=env, capture_output=True)


def update_checkout(work_tree: str, git_dir: str, new: str) -> tuple[CheckoutOutcome, list[str]]:
    """Bring the checkout of the pushed branch from HEAD to `new`; the outcome and the files in the way.

    Runs under the wiki's write lock, so no save of the wiki's updates the same checkout meanwhile.
    """
    with file_lock(Path(git_dir) / "tacit-write.lock"):
        old, in_the_way = local_edits_in_the_way(work_tree, git_dir, new)
        if old is None:
            return CheckoutOutcome.MOVED, []
        if in_the_way:
            return CheckoutOutcome.LOCAL_EDITS, in_the_way
        proc = _work_git(work_tree, git_dir, "read-tree", "-m", "-u", old, new)
        if proc.returncode:
            return CheckoutOutcome.FAILED, [proc.stderr.decode("utf-8", "replace").strip()]
        return CheckoutOutcome.UPDATED, []


def local_edits_in_the_way(work_tree: str, git_dir: str, new: str) -> tuple[str | None, list[str]]:
    """(the checkout's commit, or None when `new` does not descend from it; the files that going to
    `new` would overwrite: edited, staged or untracked in the checkout)."""
    proc = _work_git(work_tree, git_dir, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    old = proc.stdout.decode().strip() if proc.returncode == 0 else EMPTY_TREE
    if old != EMPTY_TREE and _work_git(work_tree, git_dir, "merge-base", "--is-ancestor", old, new).returncode:
        return None, []
    changed = set(_z_paths(_work_git(work_tree, git_dir, "diff-tree", "-r", "-z", "--name-only", "--no-renames",
                                     old, new).stdout))
    if not changed:
        return old, []
    _work_git(work_tree, git_dir, "update-index", "-q", "--refresh")  # a touched file alone is no edit
    edited = set(_z_paths(_work_git(work_tree, git_dir, "diff-files", "-z", "--name-only").stdout))
    edited |= set(_z_paths(_work_git(work_tree, git_dir, "diff-index", "-z", "--cached", "--name-only",
                                     old).stdout))
    edited |= set(_z_paths(_work_git(work_tree, git_dir, "ls-files", "-z", "--others").stdout))
    return old, sorted(changed & edited)


def checked_out_at(git_dir: str, ref: str) -> str | None:
    """The working tree that has `ref` checked out (the repository's own or a linked one), if any."""
    out = subprocess.run(["git", f"--git-dir={git_dir}", "worktree", "list", "--porcelain", "-z"],
                         capture_output=True).stdout
    for block in out.split(b"\0\0"):
        fields = dict(f.split(b" ", 1) if b" " in f else (f, b"") for f in block.split(b"\0") if f)
        if b"bare" not in fields and fields.get(b"branch") == ref.encode() and b"worktree" in fields:
            return fields[b"worktree"].decode("utf-8", "surrogateescape")
    return None


def _z_paths(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def checkout_hook(new: str) -> int:
    """The push-to-checkout hook: git gives the pushed commit, GIT_DIR and GIT_WORK_TREE."""
    _log_to_operator()
    git_dir, work_tree = os.path.abspath(os.environ["GIT_DIR"]), os.path.abspath(os.environ["GIT_WORK_TREE"])
    outcome, paths = update_checkout(work_tree, git_dir, new)
    if outcome is CheckoutOutcome.UPDATED:
        return 0
    log.info("push refused: the checkout at %s was not updated (%s) %s", work_tree, outcome.value, " ".join(paths[:5]))
    print("Tacit refused this push; nothing was changed:", file=sys.stderr)
    if outcome is CheckoutOutcome.LOCAL_EDITS:
        print(f"  the wiki's repository has a checkout ({work_tree}) with local edits the push would overwrite:",
              file=sys.stderr)
        for path in paths[:50]:
            print(f"  {path}", file=sys.stderr)
        print("  commit or discard them there, then push again", file=sys.stderr)
    elif outcome is CheckoutOutcome.MOVED:
        print("  the wiki changed while you pushed; pull, merge and push again", file=sys.stderr)
    else:
        print(f"  the checkout of the wiki's repository could not be updated: {' '.join(paths)}", file=sys.stderr)
    return 1


HOOK = """#!/bin/sh
# Written by Tacit: checks a push with the wiki's rules before git accepts it.
exec "{python}" -m wiki.core.receive
"""

CHECKOUT_HOOK = """#!/bin/sh
# Written by Tacit: brings a checkout of the wiki's branch to the pushed commit, never over local edits.
exec "{python}" -m wiki.core.receive checkout "$1"
"""

FORWARD_HOOK = """#!/bin/sh
# Written by Tacit: with several hosts, publishes a checked push on the central git server while git
# holds the lock of the mirror's ref (so no fetch moves it between the two), or aborts the update.
[ "$1" = prepared ] || exit 0
exec "{python}" -m wiki.core.receive forward
"""


def install_hooks(data_dir: str | os.PathLike, remote: bool = False) -> Path:
    """The hooks folder git is pointed at (core.hooksPath) when serving pushes; written each start.

    With several hosts (`remote`), its own folder also has the reference-transaction hook that
    publishes the push on the central git server."""
    folder = Path(data_dir) / ("githooks-remote" if remote else "githooks")
    folder.mkdir(parents=True, exist_ok=True)
    hooks = [("pre-receive", HOOK)] + ([("reference-transaction", FORWARD_HOOK)] if remote
                                       else [("push-to-checkout", CHECKOUT_HOOK)])
    for name, template in hooks:
        hook = folder / name
        text = template.format(python=sys.executable)
        if not hook.exists() or hook.read_text() != text:
            tmp = folder / f".{name}.{os.getpid()}"
            tmp.write_text(text)
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            os.replace(tmp, hook)
    return folder


def main() -> int:
    """The pre-receive hook: the environment names the pusher and the wiki's settings."""
    _log_to_operator()
    from .access import ANONYMOUS, Actor, Policy, RuleStore
    from .db import database_url, make_engine
    from .users import UserStore

    env = os.environ
    git_dir = env.get("GIT_DIR", ".")
    updates = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    engine = make_engine(database_url(env["TACIT_DATA"], env.get("TACIT_DATABASE_URL") or None))
    actor = ANONYMOUS
    if env.get("TACIT_USER_ID"):
        user = UserStore(engine).get(int(env["TACIT_USER_ID"]))
        if user is None or not user.active:
            log.info("push refused: account %s is not active", env["TACIT_USER_ID"])
            print("refused: your account is not active", file=sys.stderr)
            return 1
        actor = Actor(user.id, user.name, user.email, user.role, user.groups)
    policy = Policy(env.get("TACIT_READ", "anonymous"), env.get("TACIT_WRITE", "editor"), RuleStore(engine).rules())
    problems = check_push(git_dir, env["TACIT_BRANCH"], updates,
                          lambda page: policy.can_write(actor, page), lambda page: policy.can_read(actor, page))
    engine.dispose()
    for u in updates if not problems else []:  # said here, where git passes the words on to the pusher
        work_tree = checked_out_at(git_dir, u.ref)
        if work_tree is not None:
            problems += [f"{path}: has local edits in the wiki's own checkout on the server, which this push "
                         "would overwrite; they must be committed or discarded there first"
                         for path in local_edits_in_the_way(work_tree, os.path.abspath(git_dir), u.new)[1]]
    who = actor.name or "anonymous"
    if problems:
        log.info("push by %s refused (%d problems): %s", who, len(problems), "; ".join(problems[:3]),
                 extra={"user": who, "problems": problems[:50]})
        print("Tacit refused this push; nothing was changed:", file=sys.stderr)
        for problem in problems[:50]:
            print(f"  {problem}", file=sys.stderr)
        if len(problems) > 50:
            print(f"  … and {len(problems) - 50} more", file=sys.stderr)
        return 1
    for u in updates:
        log.info("push by %s accepted: %s %s..%s", who, u.ref, u.old[:12], u.new[:12],
                 extra={"user": who, "ref": u.ref, "old": u.old, "new": u.new})
    return 0


def forward_to_remote(git_dir: str, branch: str, url: str, updates: list[Update]) -> str | None:
    """With several hosts, a push checked here is published on the central repository under the same
    lease as a save (the branch as this host's mirror has it); returns why not, or None when it was."""
    from .gitrepo import GitRepo
    from .remote import PushOutcome, Remote, RemoteUnavailable

    remote = Remote(GitRepo(git_dir, branch), url)
    for u in updates:
        if u.ref != remote.ref:
            continue
        try:
            outcome = remote.push(u.new, None if u.old == ZERO else u.old)
        except RemoteUnavailable as e:
            return f"{e}; try again later"
        if outcome is PushOutcome.STALE:
            with contextlib.suppress(RemoteUnavailable):
                remote.fetch(wait=5.0)  # so that the pull the pusher is told to make brings the news
            return "the wiki changed since you last pulled: pull (git pull --rebase), then push again"
        if outcome is PushOutcome.REFUSED:
            return "the central git server refused it"
    return None


def forward_hook() -> int:
    """The reference-transaction hook (state "prepared") with several hosts: the updates git is about to
    make to the mirror are first published on the central git server, or git is told to abort them."""
    _log_to_operator()
    updates = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    env = os.environ
    refused = forward_to_remote(env.get("GIT_DIR", "."), env["TACIT_BRANCH"], env["TACIT_REMOTE"], updates)
    if refused:
        log.info("push not published: %s", refused)
        print(f"Tacit refused this push; nothing was changed: {refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["checkout"] and len(sys.argv) == 3:
        sys.exit(checkout_hook(sys.argv[2]))
    if sys.argv[1:2] == ["forward"]:
        sys.exit(forward_hook())
    sys.exit(main())
