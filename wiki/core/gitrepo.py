"""The content repository: reads at a revision, object writes, CAS ref moves.

Saves never touch git's index or a working tree: blobs, the trees of the
changed folders and the commit are written straight into the object database
and the branch is moved with ``git update-ref REF NEW OLD`` (compare and
swap), under an ``flock`` shared by every process that writes. That keeps a
save's cost independent of the number of pages and makes concurrent writers
safe: a writer whose OLD no longer matches retries instead of overwriting.

Reads resolve paths through parsed trees kept in a small cache (a tree seen
once is never parsed again), so viewing a page costs a dictionary lookup and,
on a render-cache miss, one ``cat-file`` round trip to a persistent process.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
import weakref
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import git

from .clock import SYSTEM_CLOCK, Clock
from .locks import file_lock
from .lru import LRU

log = logging.getLogger(__name__)

ZERO = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_STORE_UNCOMPRESSED = 64 * 1024
_DELTA_DIR = "tacit-tree-deltas"
_DELTA_MIN_TREE = 16 * 1024
_DELTA_KEEP = 512
_DELTA_CHAIN = 16
TREE_MODE = b"40000"
BLOB_MODE = b"100644"
_BLOB_MODES = (b"100644", b"100755")
STALE_LOCK_SECONDS = 10.0
_SAFE_IDENT = re.compile(r"[<>\n\r\x00]")


class GitError(RuntimeError):
    """A git command failed; ``detail`` is what git said."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message + (f": {detail}" if detail else ""))
        self.detail = detail


class Busy(RuntimeError):
    """The branch kept moving under a save (or a lock stayed held): nothing was written; retry."""


class PathInTheWay(ValueError):
    """A change needs a folder where the tree has a file, or a file where it has a folder (a page
    moved onto an attachment's name, say): the name is taken; nothing is written."""

    def __init__(self, path: str, wanted: str) -> None:
        taken = "file" if wanted == "folder" else "folder"
        super().__init__(f"{path} is a {taken} already, and a {wanted} is needed there: choose another name.")
        self.path = path


class UnknownRevision(LookupError):
    """A revision that is not a commit of this repository."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str

    def ident(self, when: int, tz: str = "+0000") -> str:
        name = _SAFE_IDENT.sub("", self.name).strip() or "Anonymous"
        email = _SAFE_IDENT.sub("", self.email).strip()
        return f"{name} <{email}> {when} {tz}"


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    time: int  # author time, seconds since the epoch
    message: str

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class Change:
    """One commit's effect on one file (for 'last changed' and catch-up)."""

    sha: str
    author: Person
    time: int
    summary: str


@dataclass(frozen=True)
class FileChange:
    """What one commit did to one file."""

    status: str  # A(dded), M(odified), D(eleted), R(enamed from old_path), T(ype changed)
    path: str
    old_path: str | None
    old_blob: str | None
    new_blob: str | None
    mode: str


@dataclass(frozen=True)
class LogEntry:
    sha: str
    parents: tuple[str, ...]
    author: Person
    time: int
    message: str
    files: tuple[FileChange, ...]

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def change(self) -> Change:
        return Change(self.sha, self.author, self.time, self.summary)


_TREE_ENTRY = re.compile(rb"(\d{5,6}) ([^\0]+)\0(.{20})", re.S)


def _tree_sort_key(entry: tuple[bytes, bytes, bytes]) -> bytes:
    mode, name, _ = entry
    return name + b"/" if mode == TREE_MODE else name


class Tree:
    """A parsed git tree that keeps its raw bytes.

    Parsing is one regex pass in C; replacing an entry in place (the common
    save: one page edited in a big folder) splices the raw bytes instead of
    rebuilding and sorting thousands of entries.
    """

    __slots__ = ("raw", "entries", "index")

    def __init__(self, raw: bytes, entries: list[tuple[bytes, bytes, bytes]] | None = None,
                 index: dict[bytes, int] | None = None) -> None:
        if entries is None:
            entries = _TREE_ENTRY.findall(raw)
            names = [e[1] for e in entries]
            if sum(map(len, names)) + sum(len(e[0]) for e in entries) + 22 * len(entries) != len(raw):
                raise GitError("malformed tree object")
            index = dict(zip(names, range(len(names))))
        self.raw = raw
        self.entries = entries
        self.index = index if index is not None else {e[1]: i for i, e in enumerate(entries)}

    @classmethod
    def build(cls, entries: dict[bytes, tuple[bytes, bytes]]) -> "Tree":
        ordered = sorted(((mode, name, sha) for name, (mode, sha) in entries.items()), key=_tree_sort_key)
        raw = b"".join([mode + b" " + name + b"\0" + sha for mode, name, sha in ordered])
        return cls(raw, ordered, None)

    def get(self, name: bytes) -> tuple[bytes, bytes] | None:
        i = self.index.get(name)
        if i is None:
            return None
        mode, _, sha = self.entries[i]
        return mode, sha

    def items(self) -> Iterator[tuple[bytes, tuple[bytes, bytes]]]:
        return ((name, (mode, sha)) for mode, name, sha in self.entries)

    def __iter__(self) -> Iterator[bytes]:
        return (e[1] for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def replaced(self, changes: dict[bytes, tuple[bytes, bytes]]) -> "Tree":
        """The tree with existing entries given new (mode, sha); names and order unchanged."""
        raw, entries = self.raw, list(self.entries)
        for name, (mode, sha) in changes.items():
            i = self.index[name]
            old_mode, _, old_sha = entries[i]
            entries[i] = (mode, name, sha)
            if raw is None:
                continue
            needle = b" " + name + b"\0" + old_sha
            pos = raw.find(needle)
            # A unique occurrence must be the entry itself (it contains the needle).
            if mode != old_mode or pos < 0 or raw.find(needle, pos + 1) >= 0:
                raw = None
                continue
            cut = pos + len(needle) - 20
            raw = raw[:cut] + sha + raw[cut + 20:]
        if raw is None:
            raw = b"".join([m + b" " + n + b"\0" + s for m, n, s in entries])
        return Tree(raw, entries, self.index)


def _parse_commit(sha: str, data: bytes) -> Commit:
    head, _, message = data.partition(b"\n\n")
    tree, parents, author, when = "", [], Person("", ""), 0
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode()
        elif key == b"parent":
            parents.append(value.decode())
        elif key == b"author":
            text = value.decode("utf-8", "replace")
            m = re.match(r"(.*?) <(.*?)> (\d+) ([+-]\d{4})$", text)
            if m:
                author = Person(m.group(1), m.group(2))
                when = int(m.group(3))
            else:
                author = Person(text, "")
    return Commit(sha, tree, tuple(parents), author, when, message.decode("utf-8", "replace"))


class GitRepo:
    """One content repository (bare or not), shared by the threads of a process."""

    def __init__(self, path: str | os.PathLike, branch: str | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path).resolve()
        self.clock = clock  # commit times (with several hosts, the database's clock)
        probe = git.Repo(self.path)
        self.bare = probe.bare
        self.git_dir = Path(probe.git_dir).resolve()
        self.work_tree = None if self.bare else Path(probe.working_tree_dir).resolve()
        if branch is None:
            try:
                branch = probe.head.reference.name
            except TypeError:  # detached HEAD: fall back to main
                branch = "main"
        probe.close()
        self.branch = branch
        self.ref = f"refs/heads/{branch}"
        self._local = threading.local()
        self._trees = LRU(256)
        self._commits = LRU(1024)
        self._lock_path = self.git_dir / "tacit-write.lock"
        self._maintenance: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # commit-graph writers running

    # -- creation ---------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike, branch: str = "main", bare: bool = True) -> "GitRepo":
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        args = ["git", "init", "-q", f"--initial-branch={branch}"]
        if bare:
            args.append("--bare")
        _run(args + [str(path)])
        return cls(path, branch)

    # -- plumbing ---------------------------------------------------------
    @property
    def _repo(self) -> git.Repo:
        repo = getattr(self._local, "repo", None)
        if repo is None or getattr(self._local, "pid", None) != os.getpid():
            repo = git.Repo(self.git_dir)
            self._local.repo = repo
            self._local.pid = os.getpid()
        return repo

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run a git command against this repository and return its stdout."""
        return _run(["git", f"--git-dir={self.git_dir}", "--literal-pathspecs", *args],
                    input=input, check=check)

    def close(self) -> None:
        repo = getattr(self._local, "repo", None)
        if repo is not None:
            repo.close()
            self._local.repo = None
        for thread in list(self._maintenance):  # a commit-graph being written: let it finish
            thread.join(30)

    # -- reads ------------------------------------------------------------
    def head(self) -> str | None:
        """The branch's commit, or None while the branch has no commits.

        Read from the ref files on every call (cheap: one small file), so
        every process sees a commit made by any other at once.
        """
        try:
            with open(self.git_dir / self.ref, "rb") as f:
                value = f.read(100).strip()
            if re.fullmatch(rb"[0-9a-f]{40}", value):
                return value.decode()
        except FileNotFoundError:
            pass
        except OSError:
            pass
        return self._packed_ref()

    def _packed_ref(self) -> str | None:
        path = self.git_dir / "packed-refs"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = getattr(self, "_packed", None)
        if cached is None or cached[0] != key:
            refs: dict[bytes, str] = {}
            for line in path.read_bytes().splitlines():
                if line[:1] in (b"#", b"^") or b" " not in line:
                    continue
                sha, _, name = line.partition(b" ")
                refs[name] = sha.decode()
            cached = (key, refs)
            self._packed = cached
        return cached[1].get(self.ref.encode())

    def object_data(self, sha: str) -> tuple[str, bytes]:
        """(type, data) of an object; raises KeyError if it does not exist."""
        try:
            _, kind, _, data = self._repo.git.get_object_data(sha)
        except ValueError:
            raise KeyError(sha) from None
        return kind.decode(), data

    def commit(self, rev: str) -> Commit:
        """Parse a commit (full sha, or any revision git understands)."""
        cached = self._commits.get(rev)
        if cached is not None:
            return cached
        if not re.fullmatch(r"[0-9a-fA-F]{4,64}|[\w./-]{1,200}", rev) or rev.startswith("-"):
            raise UnknownRevision(rev)
        try:
            sha, kind, _, data = self._repo.git.get_object_data(rev)
        except ValueError:
            raise UnknownRevision(rev) from None
        if kind != b"commit":
            raise UnknownRevision(rev)
        commit = _parse_commit(sha.decode(), data)
        self._commits.put(rev, commit)
        self._commits.put(commit.sha, commit)
        return commit

    def tree(self, sha: str) -> Tree:
        tree = self._trees.get(sha)
        if tree is None:
            tree = self._tree_from_deltas(sha)
        if tree is None:
            kind, data = self.object_data(sha)
            if kind != "tree":
                raise GitError(f"{sha} is not a tree")
            tree = Tree(data)
        self._trees.put(sha, tree)
        return tree

    # Big trees (a folder of thousands of pages) cost a millisecond or two to
    # read and parse, and with several worker processes each save lands in a
    # process that has not seen the previous save's tree. So the writer of a
    # big tree leaves a note of how it derived it from its predecessor; a
    # process that has the predecessor parsed applies the note instead of
    # parsing, and checks the result against the object id.

    def _record_delta(self, old_sha: str, new_sha: str, changes: dict[bytes, tuple[bytes, bytes]]) -> None:
        lines = [old_sha] + [f"{name.hex()} {mode.decode()} {sha.hex()}" for name, (mode, sha) in changes.items()]
        folder = self.git_dir / _DELTA_DIR
        try:
            folder.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="tmp_", dir=folder)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines))
            os.replace(tmp, folder / new_sha)
            if int.from_bytes(os.urandom(1), "big") < 8:  # now and then, keep the newest notes only
                notes = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
                for stale in notes[:-_DELTA_KEEP]:
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # only a speed-up; never fail a save for it

    def _tree_from_deltas(self, sha: str) -> Tree | None:
        chain: list[dict[bytes, tuple[bytes, bytes]]] = []
        current, base = sha, None
        for _ in range(_DELTA_CHAIN):
            try:
                text = (self.git_dir / _DELTA_DIR / current).read_text()
            except (OSError, ValueError):
                return None
            lines = text.split("\n")
            try:
                chain.append({bytes.fromhex(n): (m.encode(), bytes.fromhex(s))
                              for n, m, s in (line.split(" ") for line in lines[1:])})
            except ValueError:
                return None
            current = lines[0]
            base = self._trees.get(current)
            if base is not None:
                break
        if base is None:
            return None
        try:
            for changes in reversed(chain):
                base = base.replaced(changes)
        except (KeyError, IndexError):
            return None
        check = hashlib.sha1(b"tree %d\0" % len(base.raw))
        check.update(base.raw)
        return base if check.hexdigest() == sha else None

    def entry(self, rev: str, file: str) -> tuple[bytes, str] | None:
        """(mode, sha) of a path at a revision, or None if it is absent."""
        tree = self.commit(rev).tree
        parts = file.encode("utf-8").split(b"/")
        for i, part in enumerate(parts):
            found = self.tree(tree).get(part)
            if found is None:
                return None
            mode, binsha = found
            if i < len(parts) - 1:
                if mode != TREE_MODE:
                    return None
                tree = binsha.hex()
            else:
                return mode, binsha.hex()
        return None

    def blob_id(self, rev: str, file: str) -> str | None:
        """The blob of a regular file at a revision (None if absent or not a file)."""
        found = self.entry(rev, file)
        if found is None or found[0] not in _BLOB_MODES:
            return None
        return found[1]

    def read_blob(self, sha: str) -> bytes:
        kind, data = self.object_data(sha)
        if kind != "blob":
            raise GitError(f"{sha} is not a blob")
        return data

    def blob_size(self, sha: str) -> int:
        """The size of a blob without reading it (object ids never change, so it is cached)."""
        sizes = getattr(self, "_sizes", None)
        if sizes is None:
            sizes = self._sizes = LRU(4096)
        size = sizes.get(sha)
        if size is None:
            try:
                _, _, size = self._repo.git.get_object_header(sha)
            except ValueError:
                raise KeyError(sha) from None
            sizes.put(sha, size)
        return size

    def folder_entries(self, rev: str, folder: str) -> Tree | None:
        """Entries of a folder at a revision ("" is the root), or None."""
        tree = self.commit(rev).tree
        if folder:
            found = self.entry(rev, folder)
            if found is None or found[0] != TREE_MODE:
                return None
            tree = found[1]
        return self.tree(tree)

    def list_files(self, rev: str) -> list[tuple[str, str]]:
        """Every regular file at a revision as (path, blob sha)."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", rev)
        files = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, sha = meta.split(b" ")
            if kind == b"blob" and mode in _BLOB_MODES:
                files.append((path.decode("utf-8", "surrogateescape"), sha.decode()))
        return files

    def is_ancestor(self, old: str, new: str) -> bool:
        return _run(["git", f"--git-dir={self.git_dir}", "merge-base", "--is-ancestor", old, new],
                    check=False, returncode=True) == 0

    def last_change(self, rev: str, file: str) -> Change | None:
        """The newest commit reachable from rev that touched file."""
        entries = self.log(rev, file, limit=1)
        return entries[0].change if entries else None

    def log(self, rev_range: str, *paths: str, limit: int | None = None, skip: int = 0,
            author: str | None = None, renames: bool = False, merges: str | None = None) -> list[LogEntry]:
        """Commits in a range, newest first, with every file each one touched (blob ids included).

        ``author`` keeps commits whose author name or e-mail contains that text
        (an e-mail in angle brackets matches that address exactly). ``merges``
        is git's --diff-merges mode for showing what merges changed.
        """
        args = ["log", "--raw", "-z", "--no-abbrev", f"--format={_LOG_FORMAT}",
                "-M" if renames else "--no-renames"]
        if limit:
            args.append(f"-{limit}")
        if skip:
            args.append(f"--skip={skip}")
        if author:
            if "\0" in author:  # no author holds a NUL (git's idents cannot), and no argument can carry one
                return []
            args += ["--fixed-strings", f"--author={author}"]
        if merges:
            args.append(f"--diff-merges={merges}")
        args.append(rev_range)
        if paths:
            args += ["--", *paths]
        return _parse_log(self.git(*args))

    def changes(self, rev_range: str, *paths: str, limit: int | None = None,
                author: str | None = None) -> list[tuple[Change, list[tuple[str, str]]]]:
        """Commits in a range, newest first, with (status, path) of each file they touched.

        ``author`` keeps the commits whose author e-mail is exactly that address.
        """
        entries = self.log(rev_range, *paths, limit=limit, author=f"<{author}>" if author else None)
        return [(e.change, [(f.status, f.path) for f in e.files]) for e in entries]

    def renamed_from(self, commit: str, file: str) -> FileChange | None:
        """If `commit` created `file` by renaming another file: that change (old path, old blob)."""
        parent = self.commit(commit).parents[:1]
        if not parent:
            return None
        out = self.git("diff-tree", "-r", "-M", "--raw", "-z", "--no-abbrev", parent[0], commit)
        for change in _parse_raw(out):
            if change.status == "R" and change.path == file:
                return change
        return None

    def diff_trees(self, old: str | None, new: str) -> list[FileChange]:
        """Files that differ between two commits' trees (old None: the empty tree), renames not paired."""
        return _parse_raw(self.git("diff", "--raw", "-z", "--no-abbrev", "--no-renames", old or EMPTY_TREE, new))

    def blame(self, rev: str, file: str) -> bytes:
        """`git blame --porcelain` of a file at a revision (whole-file renames followed)."""
        return self.git("blame", "--porcelain", rev, "--", file)

    # -- writes -----------------------------------------------------------
    def write_object(self, kind: bytes, data: bytes) -> str:
        """Write a loose object in-process, the way git does (no process per object).

        The object goes to a temporary file in its fan-out folder and is
        renamed into place, so a crash never leaves a half-written object
        under its final name. Big objects (the tree of a folder of thousands
        of pages) are stored uncompressed, as git's `core.looseCompression=0`
        does: zlib would cost more than the rest of the save, and `git gc`
        packs them with deltas later anyway.
        """
        header = kind + b" " + str(len(data)).encode() + b"\0"
        digest = hashlib.sha1(header)
        digest.update(data)
        sha = digest.hexdigest()
        folder = self.git_dir / "objects" / sha[:2]
        path = folder / sha[2:]
        if path.exists():
            return sha
        level = 1 if len(data) < _STORE_UNCOMPRESSED else 0
        packed = zlib.compress(header + data, level)
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(packed)
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha

    def write_blob(self, data: bytes) -> str:
        return self.write_object(b"blob", data)

    def write_tree_with(self, base_tree: str | None, changes: dict[str, str | None]) -> str:
        """A new root tree: base_tree with files set to blobs (or removed for None).

        Only the trees on the paths of the changed files are read and
        rewritten; empty folders disappear as git expects.
        """
        nested: dict[bytes, dict] = {}
        for file, blob in changes.items():
            node = nested
            parts = file.encode("utf-8").split(b"/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise PathInTheWay(file, "folder")
            node[parts[-1]] = blob
        sha = self._write_subtree(base_tree, nested)
        return sha or self.write_object(b"tree", b"")

    def _write_subtree(self, tree_sha: str | None, changes: dict, prefix: str = "") -> str | None:
        tree = self.tree(tree_sha) if tree_sha else None
        replace: dict[bytes, tuple[bytes, bytes]] = {}  # entries that keep their place
        reshape: dict[bytes, tuple[bytes, bytes] | None] = {}  # entries added or removed
        for name, change in changes.items():
            current = tree.get(name) if tree else None
            if isinstance(change, dict):
                if current and current[0] != TREE_MODE:
                    raise PathInTheWay(prefix + name.decode(), "folder")
                new_sub = self._write_subtree(current[1].hex() if current else None, change,
                                              prefix + name.decode() + "/")
                new = (TREE_MODE, bytes.fromhex(new_sub)) if new_sub else None
            elif change is None:
                new = None
            else:
                if current and current[0] == TREE_MODE:
                    raise PathInTheWay(prefix + name.decode(), "file")
                mode = current[0] if current and current[0] in _BLOB_MODES else BLOB_MODE
                new = (mode, bytes.fromhex(change))
            if current is not None and new is not None:
                if new != current:
                    replace[name] = new
            elif current is not None or new is not None:
                reshape[name] = new
        if not replace and not reshape:
            return tree_sha
        if tree is not None and not reshape:
            new_tree = tree.replaced(replace)
            if len(new_tree.raw) >= _DELTA_MIN_TREE:
                sha = self.write_object(b"tree", new_tree.raw)
                self._record_delta(tree_sha, sha, replace)
                self._trees.put(sha, new_tree)
                return sha
        else:
            entries = dict(tree.items()) if tree else {}
            entries.update(replace)
            for name, new in reshape.items():
                if new is None:
                    entries.pop(name, None)
                else:
                    entries[name] = new
            if not entries:
                return None
            new_tree = Tree.build(entries)
        sha = self.write_object(b"tree", new_tree.raw)
        self._trees.put(sha, new_tree)
        return sha

    def write_commit(self, tree: str, parents: list[str], author: Person, message: str,
                     when: int | None = None, committer: Person | None = None) -> str:
        when = int(self.clock.now()) if when is None else when
        lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
        lines.append(f"author {author.ident(when)}")
        lines.append(f"committer {(committer or author).ident(when)}")
        # no NUL: git refuses one in a message (fsck's nulInCommit), and its log, which we read
        # NUL-separated, would cut the message there and take the rest for the next record
        message = message.replace("\0", "").replace("\r\n", "\n").strip("\n") + "\n"
        data = ("\n".join(lines) + "\n\n" + message).encode("utf-8")
        return self.write_object(b"commit", data)

    def compare_and_swap(self, new: str, old: str | None, reason: str = "tacit", clear_stale: bool = True) -> bool:
        """Move the branch from old to new; False if it no longer points at old.

        `clear_stale` lets it remove a ref lock older than 2 s, on the premise that the caller holds
        the write lock that every other writer of this repository takes; a mirror that fetches
        without it passes False.
        """
        args = ["git", f"--git-dir={self.git_dir}", "update-ref", "-m", reason, self.ref, new, old or ZERO]
        proc = subprocess.run(args, capture_output=True, env=_git_env())
        if proc.returncode == 0:
            self._sync_work_tree(old, new)
            return True
        detail = proc.stderr.decode("utf-8", "replace")
        # Callers hold the write lock, so no other save of the wiki's holds the ref lock; git's own
        # ref updates (a push) hold it for milliseconds. One this old was left by a killed process.
        if clear_stale and "cannot lock ref" in detail and ".lock" in detail and self.clear_stale_locks(older_than=2.0):
            return self.compare_and_swap(new, old, reason)  # a killed git left its lock behind
        if "is at" in detail or "but expected" in detail or "reference already exists" in detail \
                or "unable to resolve reference" in detail or "cannot lock ref" in detail:
            return False
        if "No space left" in detail or "Read-only file system" in detail or "Disk quota" in detail:
            raise OSError(errno.ENOSPC if "space" in detail else errno.EROFS, detail.strip())
        raise GitError("could not move the branch", detail.strip())

    def lock_files(self) -> list[Path]:
        """Lock files git creates while changing refs or the index (normally gone within milliseconds)."""
        found = [p for p in (self.git_dir / "index.lock", self.git_dir / "packed-refs.lock",
                             self.git_dir / "HEAD.lock") if p.exists()]
        found += list((self.git_dir / "refs").rglob("*.lock"))
        return found

    def clear_stale_locks(self, older_than: float = STALE_LOCK_SECONDS) -> list[str]:
        """Remove lock files older than a git command ever holds one (a process killed mid-write).

        git holds a ref or index lock for milliseconds; one this old has no live owner.
        """
        removed = []
        now = time.time()
        for path in self.lock_files():
            try:
                if now - path.stat().st_mtime > older_than:
                    path.unlink()
                    removed.append(str(path.relative_to(self.git_dir)))
            except OSError:
                continue
        return removed

    def stale_temp_objects(self, older_than: float = 3600) -> list[Path]:
        """Temporary object files a killed writer left (never under a final object name)."""
        now = time.time()
        out = []
        for path in (self.git_dir / "objects").glob("??/tmp_obj_*"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > older_than:
                    out.append(path)
        return out

    def _sync_work_tree(self, old: str | None, new: str) -> None:
        """Keep a non-bare repository's checkout in step when it has our branch out.

        ``read-tree -m -u`` touches only the files that differ and refuses to
        overwrite local edits, in which case the checkout is left as it was.
        """
        if self.work_tree is None or old is None:
            return
        try:
            if self._repo.head.reference.path != self.ref:
                return
        except TypeError:
            return
        proc = subprocess.run(["git", "read-tree", "-m", "-u", old, new], cwd=self.work_tree,
                              capture_output=True, env=_git_env())
        if proc.returncode:  # the branch is right; the checkout shows the older commit until fixed by hand
            log.warning("the checkout at %s was left at %s (the branch is at %s): %s", self.work_tree, old[:12],
                        new[:12], proc.stderr.decode("utf-8", "replace").strip())

    def write_lock(self):
        """Serialize writers of every process; released by the kernel if one dies."""
        return file_lock(self._lock_path)

    def merge_text(self, base: bytes, ours: bytes, theirs: bytes,
                   labels: tuple[str, str, str] = ("current", "base", "yours")) -> tuple[bytes, bool]:
        """Three-way merge with git merge-file; returns (text, clean)."""
        with tempfile.TemporaryDirectory(prefix="tacit-merge-") as tmp:
            paths = []
            for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
                p = Path(tmp) / name
                p.write_bytes(data)
                paths.append(str(p))
            proc = subprocess.run(
                ["git", "merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2], *paths],
                capture_output=True, env=_git_env())
        if proc.returncode < 0 or proc.returncode > 127:
            raise GitError("merge failed", proc.stderr.decode("utf-8", "replace"))
        return proc.stdout, proc.returncode == 0

    def maintain(self, wait: bool | float = True) -> bool:
        """Write the commit-graph with changed-path filters: makes `log -- path` fast (`--split`:
        only the commits not in it yet are added). One process at a time (a second one waiting at
        most `wait` seconds gives up: the first writes what it would). Without it only history and
        blame are slower, so a failure is logged, not raised. Returns whether it was written."""
        with file_lock(self.git_dir / "tacit-commit-graph.lock", wait) as taken:
            if not taken:
                return False
            started = time.monotonic()
            try:
                self.git("commit-graph", "write", "--reachable", "--changed-paths", "--split")
            except GitError as e:
                log.warning("commit-graph not written (page history and blame stay slower): %s", e)
                return False
            log.debug("commit-graph written in %.0f ms", 1000 * (time.monotonic() - started))
            return True

    def has_commit_graph(self) -> bool:
        info = self.git_dir / "objects" / "info"
        return (info / "commit-graph").exists() or (info / "commit-graphs" / "commit-graph-chain").exists()

    def maintain_in_background(self) -> threading.Thread:
        """Write the commit-graph in a thread (a repository opened without one: cloned, pushed,
        restored). A `git log` of a page's history walks every commit without it (700 ms on tldr),
        with it about 10 ms."""
        thread = threading.Thread(target=self.maintain, kwargs={"wait": False}, name="commit-graph", daemon=True)
        self._maintenance.add(thread)
        thread.start()
        return thread

    def maintain_now_and_then(self, commit: str) -> None:
        """After about one commit in 64, extend the commit-graph in the background.

        The graph's changed-path Bloom filters keep page history and blame fast;
        commits made since the last write are walked without them. Commit ids
        are random, so this needs no counter shared between processes.
        """
        if int(commit[:2], 16) % 64 == 0:
            self.maintain_in_background()


_LOG_FORMAT = "%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B%x1f"
_NO_BLOB = "0" * 40


def _parse_raw(data: bytes) -> list[FileChange]:
    """`--raw -z --no-abbrev` records: ':old_mode new_mode old new STATUS\0path\0[new path\0]'."""
    tokens = data.split(b"\0")
    files: list[FileChange] = []
    i = 0
    while i < len(tokens):
        token = tokens[i].strip(b"\n")
        i += 1
        if not token.startswith(b":"):
            continue
        fields = token[1:].split(b" ")
        if len(fields) < 5:
            continue
        new_mode, old_blob, new_blob, status = fields[1].decode(), fields[2].decode(), fields[3].decode(), \
            fields[4].decode()
        if status[:1] in ("R", "C") and i + 1 < len(tokens):
            old_path, path = tokens[i], tokens[i + 1]
            i += 2
        else:
            old_path, path = None, tokens[i] if i < len(tokens) else b""
            i += 1
        files.append(FileChange(
            status[:1], path.decode("utf-8", "surrogateescape"),
            old_path.decode("utf-8", "surrogateescape") if old_path is not None else None,
            None if old_blob == _NO_BLOB else old_blob, None if new_blob == _NO_BLOB else new_blob, new_mode))
    return files


def _parse_log(out: bytes) -> list[LogEntry]:
    entries = []
    for chunk in out.split(b"\x1e"):
        if not chunk.strip(b"\n\0"):
            continue
        fields = chunk.split(b"\x1f", 6)
        if len(fields) < 7:
            continue
        sha, parents, name, email, when, body = (f.decode("utf-8", "replace") for f in fields[:6])
        entries.append(LogEntry(sha, tuple(parents.split()), Person(name, email), int(when or 0),
                                body.strip("\n"), tuple(_parse_raw(fields[6]))))
    return entries


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def _run(args: list[str], input: bytes | None = None, check: bool = True, returncode: bool = False):
    proc = subprocess.run(args, input=input, capture_output=True, env=_git_env())
    if returncode:
        return proc.returncode
    if check and proc.returncode != 0:
        raise GitError(f"git {args[1] if len(args) > 1 else ''} failed",
                       proc.stderr.decode("utf-8", "replace").strip())
    return proc.stdout
