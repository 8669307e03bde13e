"""Pages: read, save, rename and delete, each change exactly one commit.

Every write follows one path (``commit``): under the repository's write
lock, read the branch head, compute the new tree from it, write the commit
and move the branch by compare-and-swap. A save that started from an older
revision (``base``) is three-way merged with what was committed since; a
clean merge is committed and reported, overlapping edits raise ``Conflict``
carrying both texts, so nothing a user typed is ever dropped.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Callable

from . import metrics, names
from .changelog import LastChanges
from .gitrepo import TREE_MODE, Busy, Change, GitRepo, PathInTheWay, Person, UnknownRevision
from .publish import Branch, LocalBranch

META_FOLDER = ".wiki"
_TALK_ROOT = ".talk"  # talk.TALK_ROOT (talk imports this module)
_TREE_MODE = b"40000"
REDIRECTS_FILE = f"{META_FOLDER}/redirects.json"
MAX_PAGE_BYTES = 2 * 1024 * 1024
_CAS_RETRIES = 20


class ConflictReason(Enum):
    """Why a change could not be applied as asked (the value is the API's `reason`)."""

    EXISTS = "exists"  # a new page (or a move's target) is there already
    CHANGED = "changed"  # the page changed since the base (a rename or delete that needs it unchanged)
    DELETED = "deleted"  # the page was deleted since the base
    OVERLAP = "conflict"  # the page changed since the base and the changes overlap
    CASE = "case"  # a name differing only in case is taken
    SAME = "same"  # moved onto its own name
    TAKEN = "taken"  # a file or folder is in the way of the name
    INSIDE = "inside"  # a folder moved into itself
    FOLDER = "folder"  # an attachment's name is a folder


class Conflict(Exception):
    """The change cannot be applied as asked; both texts are kept for the user."""

    def __init__(self, name: str, reason: ConflictReason, current: str | None, current_revision: str | None,
                 yours: str | None = None, merged: str | None = None, other: str | None = None) -> None:
        super().__init__(reason.value)
        self.name = name
        self.reason = reason
        self.current = current
        self.current_revision = current_revision
        self.yours = yours
        self.merged = merged  # the text with conflict markers, when a merge was tried
        self.other = other  # the existing page a new name clashes with (taken: the file or folder in the way)


class PageNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class PageTooLarge(ValueError):
    pass


class BadContent(ValueError):
    pass


class FolderNotFound(LookupError):
    def __init__(self, folder: str) -> None:
        super().__init__(folder)
        self.folder = folder


class MoveNotAllowed(PermissionError):
    """A folder move would change a page the acting user may not change."""

    def __init__(self, name: str) -> None:
        super().__init__(f"You may not change {name}.")
        self.name = name


class Page:
    """A page at one commit. The text is read only when asked for: a cached
    rendering needs just the blob id."""

    def __init__(self, name: str, blob: str, commit: str, store: "PageStore") -> None:
        self.name = name
        self.blob = blob
        self.commit = commit  # the commit it was read at
        self._store = store

    @cached_property
    def markdown(self) -> str:
        return self._store.read_blob_text(self.blob)

    @cached_property
    def change(self) -> Change | None:
        """The last commit that changed the page, as of `commit`."""
        return self._store.last_changes.get(self.commit, names.page_file(self.name))

    @property
    def revision(self) -> str:
        return self.change.sha if self.change else self.commit


class SaveStatus(Enum):
    """What a change did (the value is the API's `status`)."""

    CREATED = "created"
    SAVED = "saved"
    MERGED = "merged"  # the edit started from an older revision and merged cleanly
    UNCHANGED = "unchanged"
    RENAMED = "renamed"
    DELETED = "deleted"
    UPLOADED = "uploaded"  # an attachment
    REPLACED = "replaced"  # an attachment's new version
    TALK = "talk"  # a thread, a reply or a thread's status


@dataclass(frozen=True)
class SaveResult:
    status: SaveStatus
    name: str
    commit: str | None  # the new commit, None when nothing changed
    head: str | None

    @property
    def merged(self) -> bool:
        return self.status is SaveStatus.MERGED


@dataclass(frozen=True)
class FolderMove(SaveResult):
    """What a folder rename moved (``name`` is the new folder)."""

    folder: str = ""
    pages: tuple[tuple[str, str], ...] = ()  # (old name, new name)
    files: tuple[tuple[str, str], ...] = ()  # other files: (old path, new path)
    threads: int = 0  # talk files moved
    rewritten: tuple[str, ...] = ()  # pages (by their new names) whose links were rewritten


class LookupKind(Enum):
    PAGE = "page"
    REDIRECT = "redirect"  # a page renamed since: `name` is where it went
    CASE = "case"  # the one page whose name differs only in case
    AMBIGUOUS = "ambiguous"  # several pages differ only in case: `candidates`
    MISSING = "missing"


@dataclass(frozen=True)
class Lookup:
    """Where a requested name leads."""

    kind: LookupKind
    name: str  # the page to show (or the requested name when missing)
    candidates: tuple[str, ...] = ()


@dataclass
class _Listing:
    head: str
    files: dict[str, str]  # page name -> blob
    folded: dict[str, list[str]] = field(default_factory=dict)


def normalize_text(text: str) -> bytes:
    """LF line endings and a final newline, as git and diff tools expect."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadContent("The text is not valid Unicode.") from None
    if len(data) > MAX_PAGE_BYTES:
        raise PageTooLarge(f"A page can be at most {MAX_PAGE_BYTES // 1024 // 1024} MiB.")
    return data


class PageStore:
    """The wiki's pages in one git branch."""

    def __init__(self, repo: GitRepo, branch: Branch | None = None) -> None:
        self.repo = repo
        self.branch: Branch = branch or LocalBranch(repo)
        self.last_changes = LastChanges(repo)
        self._listing: _Listing | None = None
        self._listing_lock = threading.Lock()
        self._redirects_cache: tuple[str | None, dict[str, str]] = (None, {})
        self.after_commit: list[Callable[[str, str | None], None]] = []
        # Set by the talk store: the tree changes that carry a page's threads along on rename.
        self.talk_moves: Callable[[str, str, str], dict[str, str | None]] = lambda head, old, new: {}

    # -- reading -------------------------------------------------------------
    def head(self) -> str | None:
        return self.repo.head()

    def _rev(self, rev: str | None) -> str | None:
        if rev is None:
            return self.head()
        return self.repo.commit(rev).sha

    def get(self, name: str, rev: str | None = None) -> Page | None:
        """The page at a revision (default: the branch head), or None."""
        name = names.check_name(name)
        commit = self._rev(rev)
        if commit is None:
            return None
        blob = self.repo.blob_id(commit, names.page_file(name))
        return Page(name, blob, commit, self) if blob else None

    def attachment(self, path: str, rev: str | None = None) -> bytes | None:
        """A file that is not a page (an image beside the pages), by its full path."""
        path = names.check_name(path)
        commit = self._rev(rev)
        blob = self.repo.blob_id(commit, path) if commit else None
        return self.repo.read_blob(blob) if blob else None

    def blob(self, name: str, rev: str | None = None) -> tuple[str, str] | None:
        """(commit, blob) of a page without reading it: the cheap existence check."""
        commit = self._rev(rev)
        if commit is None:
            return None
        blob = self.repo.blob_id(commit, names.page_file(name))
        return (commit, blob) if blob else None

    def exists(self, name: str, rev: str | None = None) -> bool:
        try:
            name = names.check_name(name)
        except names.BadPageName:
            return False
        return self.blob(name, rev) is not None

    def read_blob_text(self, blob: str) -> str:
        return self.repo.read_blob(blob).decode("utf-8", "replace")

    def last_change(self, name: str, commit: str | None = None) -> Change | None:
        commit = commit or self.head()
        return self.last_changes.get(commit, names.page_file(name)) if commit else None

    def listing(self) -> dict[str, str]:
        """Every page at the head: name -> blob."""
        return dict(self._current_listing().files)

    def _current_listing(self) -> _Listing:
        head = self.head()
        with self._listing_lock:
            if self._listing is not None and self._listing.head == head:
                return self._listing
        files: dict[str, str] = {}
        folded: dict[str, list[str]] = {}
        if head:
            for path, blob in self.repo.list_files(head):
                name = names.page_name(path)
                if name is not None:
                    files[name] = blob
                    folded.setdefault(names.fold_case(name), []).append(name)
        listing = _Listing(head or "", files, folded)
        with self._listing_lock:
            self._listing = listing
        return listing

    def pages_with_changes(self) -> list[tuple[str, Change | None]]:
        """Every page with its last change, sorted by name (one history pass, cached)."""
        head = self.head()
        if head is None:
            return []
        changes = self.last_changes.all(head)
        return [(name, changes.get(names.page_file(name)))
                for name in sorted(self._current_listing().files, key=lambda n: (n.casefold(), n))]

    def redirects(self, rev: str | None = None) -> dict[str, str]:
        commit = self._rev(rev)
        if commit is None:
            return {}
        blob = self.repo.blob_id(commit, REDIRECTS_FILE)
        cached_blob, cached = self._redirects_cache
        if blob == cached_blob:
            return cached
        data: dict[str, str] = {}
        if blob:
            try:
                loaded = json.loads(self.repo.read_blob(blob))
                if isinstance(loaded, dict):
                    data = {str(k): str(v) for k, v in loaded.items()}
            except ValueError:
                data = {}
        self._redirects_cache = (blob, data)
        return data

    def lookup(self, name: str) -> Lookup:
        """Find what a requested name means: the page, a redirect or a case variant."""
        name = names.check_name(name)
        if self.blob(name):
            return Lookup(LookupKind.PAGE, name)
        redirects = self.redirects()
        target = redirects.get(name)
        if target and self.blob(target):
            return Lookup(LookupKind.REDIRECT, target)
        listing = self._current_listing()
        matches = listing.folded.get(names.fold_case(name), [])
        if len(matches) == 1:
            return Lookup(LookupKind.CASE, matches[0])
        if len(matches) > 1:
            return Lookup(LookupKind.AMBIGUOUS, name, tuple(sorted(matches)))
        for old, new in redirects.items():
            if names.fold_case(old) == names.fold_case(name) and self.blob(new):
                return Lookup(LookupKind.REDIRECT, new)
        return Lookup(LookupKind.MISSING, name)

    # -- writing -------------------------------------------------------------
    def save(self, name: str, text: str, author: Person, message: str = "",
             base: str | None = None) -> SaveResult:
        """Create (base None) or update (base = revision the edit started from)."""
        name = names.check_name(name)
        data = normalize_text(text)
        base = self.resolve_base(base)
        file = names.page_file(name)

        def change(head: str | None) -> tuple[dict[str, str | None], SaveStatus, str] | None:
            current = self.repo.blob_id(head, file) if head else None
            new_data, status = data, (SaveStatus.SAVED if current else SaveStatus.CREATED)
            if base is None:
                if current is not None:
                    raise Conflict(name, ConflictReason.EXISTS, self.read_blob_text(current),
                                   self._revision(head, file), text)
                names.check_new_name(name)
                self._check_case_clash(head, name)
            else:
                base_blob = self.repo.blob_id(base, file)
                if current is None and base_blob is not None:
                    raise Conflict(name, ConflictReason.DELETED, None, head, text)
                if current is None:
                    names.check_new_name(name)
                    self._check_case_clash(head, name)
                elif current != base_blob:
                    base_data = self.repo.read_blob(base_blob) if base_blob else b""
                    current_data = self.repo.read_blob(current)
                    if current_data == data:
                        return None
                    merged, clean = self.repo.merge_text(base_data, current_data, data)
                    if not clean:
                        raise Conflict(name, ConflictReason.OVERLAP, current_data.decode("utf-8", "replace"),
                                       self._revision(head, file), text,
                                       merged.decode("utf-8", "replace"))
                    new_data, status = merged, SaveStatus.MERGED
            blob = self.repo.write_blob(new_data)
            if blob == current:
                return None
            default = f"{'Create' if status is SaveStatus.CREATED else 'Update'} {name}"
            return {file: blob}, status, message.strip() or default

        try:
            result = self.commit(name, author, change)
        except Conflict as conflict:
            metrics.count_save(metrics.SaveOutcome.CONFLICT)
            if conflict.reason is ConflictReason.TAKEN:
                conflict.yours = text  # handed back: nothing typed is lost
            raise
        metrics.count_save(metrics.SaveOutcome(result.status.value))
        return result

    def rename(self, name: str, new_name: str, author: Person, message: str = "",
               base: str | None = None) -> SaveResult:
        """Move a page, leaving a redirect from the old name, in one commit."""
        name = names.check_name(name)
        new_name = names.check_new_name(new_name)
        old_file, new_file = names.page_file(name), names.page_file(new_name)
        if name == new_name:
            raise Conflict(name, ConflictReason.SAME, None, None)

        def change(head: str | None):
            current = self.repo.blob_id(head, old_file) if head else None
            if current is None:
                raise PageNotFound(name)
            self._check_base(name, head, old_file, current, base)
            if self.repo.blob_id(head, new_file):
                raise Conflict(new_name, ConflictReason.EXISTS, None, self._revision(head, new_file))
            if names.fold_case(name) != names.fold_case(new_name):
                self._check_case_clash(head, new_name)
            redirects = dict(self.redirects(head))
            redirects.pop(new_name, None)
            for old, target in list(redirects.items()):
                if target == name:
                    redirects[old] = new_name
            redirects[name] = new_name
            changes = {old_file: None, new_file: current,
                       REDIRECTS_FILE: self._redirects_blob(redirects)}
            changes.update(self.talk_moves(head, name, new_name))
            changes.update(self._attachment_moves(head, name, new_name))
            return changes, SaveStatus.RENAMED, message.strip() or f"Rename {name} to {new_name}"

        return self.commit(new_name, author, change)

    def delete(self, name: str, author: Person, message: str = "", base: str | None = None) -> SaveResult:
        name = names.check_name(name)
        file = names.page_file(name)

        def change(head: str | None):
            current = self.repo.blob_id(head, file) if head else None
            if current is None:
                raise PageNotFound(name)
            self._check_base(name, head, file, current, base)
            return {file: None}, SaveStatus.DELETED, message.strip() or f"Delete {name}"

        return self.commit(name, author, change)

    def rename_folder(self, folder: str, new_folder: str, author: Person, message: str = "",
                      rewrite_links: bool = False, with_page: bool = False,
                      may_write: Callable[[str], bool] | None = None) -> "FolderMove":
        """Move a folder with all its pages, files and talk threads in one commit.

        Each moved page leaves a redirect from its old name (moved files too, so images embedded
        elsewhere keep showing). With `rewrite_links`, wiki links and relative links of every page
        that pointed into the folder are rewritten in the same commit (and those of the moved pages
        that pointed out of it). With `with_page`, the page named like the folder (whose files live
        in it) moves along. `may_write(name)` is asked for every page moved or rewritten (and for
        the page owning each moved file); a False raises MoveNotAllowed and nothing is written.
        """
        from .relink import links_into, rewrite  # relink imports render, which pages must not need

        folder = names.check_name(folder.strip().strip("/"))
        new_folder = names.check_new_name(new_folder.strip().strip("/"))
        if any(part.startswith(".") for part in folder.split("/")):
            raise FolderNotFound(folder)  # .talk, .wiki: the wiki's own, never a folder of pages
        if folder == new_folder:
            raise Conflict(folder, ConflictReason.SAME, None, None)
        if new_folder.startswith(folder + "/"):
            raise Conflict(new_folder, ConflictReason.INSIDE, None, None)
        allowed = may_write or (lambda name: True)

        def check(name: str) -> None:
            if not allowed(name):
                raise MoveNotAllowed(name)

        def change(head: str | None):
            found = self.repo.entry(head, folder) if head else None
            if found is None or found[0] != _TREE_MODE:
                raise FolderNotFound(folder)
            parts = new_folder.split("/")
            for i in range(1, len(parts) + 1):  # nothing where the new folder (or a folder above it) goes
                there = self.repo.entry(head, "/".join(parts[:i]))
                if there is not None and (i == len(parts) or there[0] != _TREE_MODE):
                    raise Conflict(new_folder, ConflictReason.EXISTS, None, None, other="/".join(parts[:i]))
            if names.fold_case(folder) != names.fold_case(new_folder):
                self._check_folder_case_clash(head, new_folder)
            changes: dict[str, str | None] = {}
            pages: dict[str, str] = {}
            files: dict[str, str] = {}
            for rel, mode, sha in self._walk(found[1]):
                old_path, new_path = f"{folder}/{rel}", f"{new_folder}/{rel}"
                if mode not in (b"100644", b"100755"):
                    raise BadContent(f"{old_path} is a symbolic link or a submodule; move it with git.")
                names.check_name(new_path)
                page = names.page_name(old_path)
                if page is not None:
                    pages[page] = names.page_name(new_path) or new_path[: -len(names.PAGE_SUFFIX)]
                    check(page)
                    check(pages[page])
                else:
                    files[old_path] = new_path
                    check(names.folder_of(old_path))
                    check(names.folder_of(new_path))
                changes[old_path] = None
                changes[new_path] = sha
            if with_page and self.repo.blob_id(head, names.page_file(folder)):
                if self.repo.entry(head, names.page_file(new_folder)):
                    raise Conflict(new_folder, ConflictReason.EXISTS, None, None, other=new_folder)
                pages[folder] = new_folder
                check(folder)
                check(new_folder)
                changes[names.page_file(folder)] = None
                changes[names.page_file(new_folder)] = self.repo.blob_id(head, names.page_file(folder))
                changes.update(self.talk_moves(head, folder, new_folder))
            threads = 0
            talk_old, talk_new = f"{_TALK_ROOT}/{folder}", f"{_TALK_ROOT}/{new_folder}"
            talk = self.repo.entry(head, talk_old)
            if talk is not None and talk[0] == _TREE_MODE:
                for rel, mode, sha in self._walk(talk[1]):
                    old_path, new_path = f"{talk_old}/{rel}", f"{talk_new}/{rel}"
                    if self.repo.entry(head, new_path) is not None:
                        raise Conflict(new_folder, ConflictReason.EXISTS, None, None, other=new_path)
                    rel_parts = rel.split("/")  # <page file>/<thread>/<comment>
                    owner = names.page_name("/".join(rel_parts[:-2])) if len(rel_parts) >= 3 else None
                    if owner is not None:
                        check(f"{folder}/{owner}")
                        check(f"{new_folder}/{owner}")
                    changes[old_path] = None
                    changes[new_path] = sha
                    threads += 1
            if not pages and not files:
                raise FolderNotFound(folder)
            moved = {**pages, **files}
            redirects = {old: moved.get(target, target) for old, target in self.redirects(head).items()}
            for old, new in moved.items():
                redirects.pop(new, None)
                redirects[old] = new
            changes[REDIRECTS_FILE] = self._redirects_blob(redirects)
            rewritten: list[str] = []
            if rewrite_links:
                for name, blob in self._link_candidates(head, folder, pages):
                    try:
                        text = self.repo.read_blob(blob).decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    new_name = pages.get(name, name)
                    if name not in pages and not links_into(text, name, folder):
                        continue
                    new_text = rewrite(text, name, new_name, folder, new_folder, folder in pages)
                    if new_text == text:
                        continue
                    check(name)
                    check(new_name)
                    changes[names.page_file(new_name)] = self.repo.write_blob(new_text.encode("utf-8"))
                    rewritten.append(new_name)
            report.update(pages=tuple(pages.items()), files=tuple(files.items()), threads=threads,
                          rewritten=tuple(sorted(rewritten)))
            summary = message.strip() or f"Move folder {folder} to {new_folder}" + (
                f", updating links in {len(rewritten)} page{'s' if len(rewritten) != 1 else ''}" if rewritten else "")
            return changes, SaveStatus.RENAMED, summary

        report: dict = {}
        result = self.commit(new_folder, author, change)
        return FolderMove(result.status, result.name, result.commit, result.head, folder=folder, **report)

    def _walk(self, tree_sha: str, prefix: str = ""):
        """(path below the tree, mode, blob) of every non-folder entry under a tree."""
        for name, (mode, sha) in self.repo.tree(tree_sha).items():
            path = prefix + name.decode("utf-8", "surrogateescape")
            if mode == _TREE_MODE:
                yield from self._walk(sha.hex(), path + "/")
            else:
                yield path, mode, sha.hex()

    def _link_candidates(self, head: str, folder: str, moving: dict[str, str]):
        """(page, blob) of the pages whose links a folder move may change: the moved pages, and
        the pages whose text names the folder (found by `git grep`, so most pages are never read)."""
        listing = {}
        for path, blob in self.repo.list_files(head):
            name = names.page_name(path)
            if name is not None and not path.startswith(_TALK_ROOT + "/"):
                listing[name] = blob
        from urllib.parse import quote

        last = folder.rsplit("/", 1)[-1]
        out = self.repo.git("grep", "-l", "-z", "-I", "-F", "-e", last, "-e", quote(last), head, check=False)
        named = set()
        for record in out.split(b"\0"):
            path = record.decode("utf-8", "surrogateescape")
            if path.startswith(head + ":"):
                name = names.page_name(path[len(head) + 1:])
                if name is not None:
                    named.add(name)
        for name in sorted(set(moving) | named):
            if name in listing:
                yield name, listing[name]

    def _check_folder_case_clash(self, head: str, folder: str) -> None:
        """A new folder whose name differs only in case from an entry beside it collides on macOS and Windows."""
        parent = names.folder_of(folder)
        entries = self.repo.folder_entries(head, parent)
        if entries is None:
            return
        wanted = names.fold_case(names.base_name(folder))
        for entry in entries:
            text = entry.decode("utf-8", "replace")
            if names.fold_case(text) == wanted:
                raise Conflict(folder, ConflictReason.CASE, None, None, other=(parent + "/" if parent else "") + text)

    # -- internals -----------------------------------------------------------
    def _attachment_moves(self, head: str, name: str, new_name: str) -> dict[str, str | None]:
        """A page's files (the non-page files in the folder named like it) move with it."""
        entries = self.repo.folder_entries(head, name)
        target = self.repo.folder_entries(head, new_name)
        changes: dict[str, str | None] = {}
        for entry, (mode, sha) in (entries.items() if entries is not None else ()):
            file = entry.decode("utf-8", "surrogateescape")
            if mode == TREE_MODE or file.endswith(names.PAGE_SUFFIX):
                continue  # subpages and their folders stay where they are
            if target is not None and target.get(entry) is not None:
                raise Conflict(new_name, ConflictReason.EXISTS, None, self._revision(head, f"{new_name}/{file}"))
            changes[f"{name}/{file}"] = None
            changes[f"{new_name}/{file}"] = sha.hex()
        return changes

    def resolve_base(self, base: str | None) -> str | None:
        """The commit an edit started from; one this host has not seen yet (made on another host)
        is fetched before it is judged unknown."""
        if base is None:
            return None
        try:
            return self.repo.commit(base).sha
        except UnknownRevision:
            self.branch.refresh(until=base)
        try:
            return self.repo.commit(base).sha
        except UnknownRevision:
            raise UnknownRevision(base) from None

    # -- internals -----------------------------------------------------------
    def _revision(self, head: str | None, file: str) -> str | None:
        if head is None:
            return None
        change = self.last_changes.get(head, file)
        return change.sha if change else head

    def _check_base(self, name: str, head: str, file: str, current: str, base: str | None) -> None:
        """A rename or delete that names its base must not discard newer edits."""
        if base is None:
            return
        base_sha = self.resolve_base(base)
        if self.repo.blob_id(base_sha, file) != current:
            raise Conflict(name, ConflictReason.CHANGED, self.read_blob_text(current), self._revision(head, file))

    def _check_case_clash(self, head: str | None, name: str) -> None:
        """Refuse a new page whose name differs from an existing one only in case.

        Such pairs collide on the case-insensitive file systems of macOS and
        Windows clones, and make case-insensitive URLs ambiguous.
        """
        if head is None:
            return
        folder = names.folder_of(name)
        entries = self.repo.folder_entries(head, folder) if folder else self.repo.folder_entries(head, "")
        if entries is None:
            return
        wanted = names.fold_case(names.page_file(names.base_name(name)))
        for entry in entries:
            text = entry.decode("utf-8", "replace")
            if names.fold_case(text) == wanted:
                other = (folder + "/" if folder else "") + text[: -len(names.PAGE_SUFFIX)]
                raise Conflict(name, ConflictReason.CASE, None, None, other=other)

    def _redirects_blob(self, redirects: dict[str, str]) -> str | None:
        if not redirects:
            return None
        text = json.dumps(dict(sorted(redirects.items())), indent=0, ensure_ascii=False)
        return self.repo.write_blob(text.encode("utf-8") + b"\n")

    def commit(self, name: str, author: Person, compute) -> SaveResult:
        """The one write path (pages and talk): compute against the head, commit, compare-and-swap.

        `compute(head)` returns (changes, status, message) or None for no change; it runs again
        when another writer moved the branch first.
        """
        for attempt in range(_CAS_RETRIES):
            if attempt:  # the branch moved or its ref was locked: give the other writer a moment
                time.sleep(min(0.02 * attempt, 0.2))
            with self.branch.turn():
                head = self.head()
                result = compute(head)
                if result is None:
                    return SaveResult(SaveStatus.UNCHANGED, name, None, head)
                changes, status, message = result
                base_tree = self.repo.commit(head).tree if head else None
                try:
                    tree = self.repo.write_tree_with(base_tree, changes)
                except PathInTheWay as e:  # a page moved onto an attachment's name, say
                    raise Conflict(name, ConflictReason.TAKEN, None, None, other=e.path) from None
                commit = self.repo.write_commit(tree, [head] if head else [], author, message)
                if self.branch.publish(commit, head, f"tacit: {status.value} {name}"):
                    for hook in self.after_commit:
                        hook(commit, head)
                    return SaveResult(status, name, commit, commit)
        raise Busy("The wiki is very busy: the branch kept moving and nothing was saved. Try again.")
