"""Attachments: files and images uploaded to a page, kept beside it in the content repository.

The attachments of ``Projects/Alpha`` are the files of the folder ``Projects/Alpha/`` that are
not pages (``Projects/Alpha/diagram.png``), so a clone carries them with the page and a relative
link from the page (``![diagram](Alpha/diagram.png)``) works in any markdown viewer too. Each
upload, replacement and deletion is one commit by the acting user through ``PageStore.commit``,
so files are versioned like pages and an old version stays in the history.

File names are one path segment, never start with a dot (hidden files are no part of a wiki),
never end in ``.md`` (that would be a page) and follow the portability rules of new page names.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from . import names
from .gitrepo import TREE_MODE, Change, Person
from .pages import Conflict, ConflictReason, PageNotFound, PageStore, SaveResult, SaveStatus

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
_BLOB_MODES = (b"100644", b"100755")

# Raster images browsers show without running anything: served inline and shown as thumbnails.
SAFE_IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".bmp": "image/bmp",
    ".ico": "image/vnd.microsoft.icon",
}
SVG_TYPE = "image/svg+xml"
# Types a browser would run as a document or a script on the wiki's origin: served as bytes only.
_ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/xsl",
                 "application/xslt+xml", "text/javascript", "application/javascript",
                 "application/x-javascript", "application/ecmascript", "text/ecmascript",
                 "application/vnd.adobe.flash.movie", "application/x-shockwave-flash"}


class BadFileName(ValueError):
    """A name that cannot be an attachment; the message says why."""


class FileTooLarge(ValueError):
    def __init__(self, size: int, limit: int) -> None:
        shown, most = human_size(size), human_size(limit)
        if shown == most:
            shown, most = f"{size:,} bytes", f"{limit:,} bytes"
        super().__init__(f"The file is {shown}; files can be at most {most}.")
        self.size = size
        self.limit = limit


class FileNotFound(LookupError):
    def __init__(self, page: str, name: str) -> None:
        super().__init__(f"{page} has no file named {name}.")
        self.page = page
        self.name = name


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes" if n != 1 else "1 byte"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"  # unreachable


def content_type(name: str) -> str:
    """The type a file is served with: from its name, never one that runs on the wiki's origin."""
    lower = name.lower()
    suffix = lower[lower.rfind("."):] if "." in lower else ""
    if suffix in SAFE_IMAGE_TYPES:
        return SAFE_IMAGE_TYPES[suffix]
    if suffix == ".svg":
        return SVG_TYPE
    guessed, encoding = mimetypes.guess_type(lower, strict=False)
    if encoding is not None:
        return "application/gzip" if encoding == "gzip" else "application/octet-stream"
    if guessed is None or guessed in _ACTIVE_TYPES or guessed.startswith("message/") \
            or (guessed.endswith("+xml") and guessed != SVG_TYPE):
        return "application/octet-stream"
    return guessed


def is_safe_image(name: str) -> bool:
    """A raster image: shown inline when opened, never a document that can run script."""
    return content_type(name) in SAFE_IMAGE_TYPES.values()


def is_image(name: str) -> bool:
    """Anything an <img> can show (SVG included: an image element never runs its script)."""
    return is_safe_image(name) or content_type(name) == SVG_TYPE


def check_file_name(page: str, name: str) -> str:
    """The normalized file name, or BadFileName saying which rule it breaks."""
    if not isinstance(name, str) or not name.strip():
        raise BadFileName("A file needs a name.")
    name = unicodedata.normalize("NFC", name)
    if "/" in name or "\\" in name:
        raise BadFileName("A file name cannot contain / or \\ (files sit directly beside their page).")
    if name.startswith("."):
        raise BadFileName("A file name cannot start with a dot (hidden files are no part of a wiki).")
    if name.lower().endswith(names.PAGE_SUFFIX):
        raise BadFileName("A file name cannot end in .md: that would be a page. Create a page instead.")
    try:
        names.check_new_name(f"{page}/{name}")
    except names.BadPageName as e:
        raise BadFileName(e.rule.replace("page name", "file name").replace("page or folder name", "file name")) from None
    return name


_UNSAFE_CHARS = re.compile(r'[\\/:*?"<>|\[\]#{}\x00-\x1f\x7f]+')


def safe_file_name(name: str) -> str:
    """A browser's file name made acceptable (for uploads, where people cannot rename first)."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE_CHARS.sub("-", name).strip().lstrip(".").strip()
    stem, dot, suffix = name.rpartition(".")
    if dot:
        stem = stem.rstrip(". ") or "file"
        name = f"{stem}.{suffix}"
    name = name.rstrip(". ")
    while len(name.encode("utf-8")) > names.MAX_SEGMENT_BYTES:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:-1] + dot + suffix) if dot and len(suffix) < 16 and stem else name[:-1]
    if name.split(".", 1)[0].lower() in names._WINDOWS_DEVICES:
        name = "file-" + name
    return name or "file"


@dataclass(frozen=True)
class Attachment:
    """One file of a page at one commit."""

    page: str
    name: str
    blob: str
    size: int
    commit: str  # the commit it was read at
    _changes: Callable[[str, str], Change | None] = field(compare=False, repr=False)

    @property
    def path(self) -> str:
        return f"{self.page}/{self.name}"

    @property
    def content_type(self) -> str:
        return content_type(self.name)

    @property
    def is_image(self) -> bool:
        return is_image(self.name)

    @property
    def is_safe_image(self) -> bool:
        return is_safe_image(self.name)

    @property
    def human_size(self) -> str:
        return human_size(self.size)

    @cached_property
    def change(self) -> Change | None:
        """The last commit that changed the file, as of `commit`."""
        return self._changes(self.commit, self.path)


@dataclass(frozen=True)
class Version:
    """One commit's version of a file (its history, newest first)."""

    commit: str
    author: Person
    time: int
    message: str
    path: str  # the file's path at that commit (folder renames are followed)
    blob: str | None  # None for a deletion
    status: str  # A, M, D or R

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]


class AttachmentStore:
    """The files beside each page, written through the one commit path of the pages."""

    def __init__(self, pages: PageStore, max_bytes: int = DEFAULT_MAX_UPLOAD) -> None:
        self.pages = pages
        self.repo = pages.repo
        self.max_bytes = max_bytes

    # -- reading -------------------------------------------------------------
    def _commit(self, rev: str | None) -> str | None:
        return self.pages._rev(rev)

    def _entries(self, page: str, commit: str) -> list[tuple[str, str]]:
        """(name, blob) of the attachments in the page's folder at a commit."""
        tree = self.repo.folder_entries(commit, page)
        if tree is None:
            return []
        out = []
        for raw, (mode, sha) in tree.items():
            if mode not in _BLOB_MODES:
                continue
            name = raw.decode("utf-8", "surrogateescape")
            if name.startswith(".") or name.lower().endswith(names.PAGE_SUFFIX):
                continue
            out.append((name, sha.hex()))
        return out

    def _attachment(self, page: str, name: str, blob: str, commit: str) -> Attachment:
        return Attachment(page, name, blob, self.repo.blob_size(blob), commit, self.pages.last_changes.get)

    def list(self, page: str, rev: str | None = None) -> list[Attachment]:
        """The page's files, sorted by name (case-insensitively)."""
        page = names.check_name(page)
        commit = self._commit(rev)
        if commit is None:
            return []
        found = [self._attachment(page, n, b, commit) for n, b in self._entries(page, commit)]
        return sorted(found, key=lambda a: (a.name.casefold(), a.name))

    def count(self, page: str, rev: str | None = None) -> int:
        """How many files the page has, from the tree's names alone (no blob is read)."""
        try:
            page = names.check_name(page)
        except names.BadPageName:
            return 0
        commit = self._commit(rev)
        return len(self._entries(page, commit)) if commit else 0

    def find(self, page: str, name: str, rev: str | None = None) -> Attachment | None:
        page = names.check_name(page)
        if not name or "/" in name or name.startswith(".") or name.lower().endswith(names.PAGE_SUFFIX):
            return None
        name = unicodedata.normalize("NFC", name)
        commit = self._commit(rev)
        if commit is None:
            return None
        found = self.repo.entry(commit, f"{page}/{name}")
        if found is None or found[0] not in _BLOB_MODES:
            return None
        return self._attachment(page, name, found[1], commit)

    def get(self, page: str, name: str, rev: str | None = None) -> tuple[Attachment, bytes] | None:
        """The file and its bytes, at a revision (default: the head), or None."""
        found = self.find(page, name, rev)
        if found is None:
            return None
        return found, self.repo.read_blob(found.blob)

    def history(self, page: str, name: str, limit: int = 200) -> list[Version]:
        """Every version of a file, newest first, following folder renames."""
        page = names.check_name(page)
        path = f"{page}/{unicodedata.normalize('NFC', name)}"
        head = self.pages.head()
        out: list[Version] = []
        rev = head
        for _ in range(20):  # renames followed
            if rev is None:
                break
            entries = self.repo.log(rev, path, limit=limit)
            older = None
            for entry in entries:
                change = next((f for f in entry.files if f.path == path), None)
                if change is None:
                    continue
                status, blob = change.status, change.new_blob
                if status == "A":
                    moved = self.repo.renamed_from(entry.sha, path)
                    if moved is not None and moved.old_path:
                        status, older = "R", (moved.old_path, entry.sha)
                out.append(Version(entry.sha, entry.author, entry.time, entry.message, path, blob, status))
                if older:
                    break
            if not older or len(out) >= limit:
                break
            path, child = older
            parents = self.repo.commit(child).parents
            rev = parents[0] if parents else None
        return out[:limit]

    def read_version(self, blob: str) -> bytes:
        return self.repo.read_blob(blob)

    # -- writing -------------------------------------------------------------
    def put(self, page: str, name: str, data: bytes, author: Person, message: str = "") -> SaveResult:
        """Upload or replace a file: one commit (uploaded, replaced or unchanged)."""
        page = names.check_name(page)
        name = check_file_name(page, name)
        if len(data) > self.max_bytes:
            raise FileTooLarge(len(data), self.max_bytes)
        path = f"{page}/{name}"

        def change(head: str | None):
            if head is None or self.repo.blob_id(head, names.page_file(page)) is None:
                raise PageNotFound(page)
            current = self.repo.entry(head, path)
            if current is not None and current[0] == TREE_MODE:
                raise Conflict(path, ConflictReason.FOLDER, None, None)
            if current is None:
                self._check_case_clash(head, page, name)
            blob = self.repo.write_blob(data)
            if current is not None and current[1] == blob:
                return None
            status = SaveStatus.REPLACED if current is not None else SaveStatus.UPLOADED
            default = f"{'Replace' if current else 'Upload'} {name} {'on' if current else 'to'} {page}"
            return {path: blob}, status, message.strip() or default

        return self.pages.commit(page, author, change)

    def delete(self, page: str, name: str, author: Person, message: str = "") -> SaveResult:
        page = names.check_name(page)
        if self.find(page, name) is None:
            raise FileNotFound(page, name)
        name = unicodedata.normalize("NFC", name)
        path = f"{page}/{name}"

        def change(head: str | None):
            if head is None or self.repo.blob_id(head, path) is None:
                raise FileNotFound(page, name)
            return {path: None}, SaveStatus.DELETED, message.strip() or f"Delete {name} from {page}"

        return self.pages.commit(page, author, change)

    def unused_name(self, page: str, name: str) -> str:
        """`name`, or `stem-2.ext`, `stem-3.ext`... when a file (in any letter case) has it."""
        head = self.pages.head()
        taken = {n.casefold() for n, _ in self._entries(page, head)} if head else set()
        tree = self.repo.folder_entries(head, page) if head else None
        if tree is not None:
            taken |= {n.decode("utf-8", "replace").casefold() for n in tree}
        if name.casefold() not in taken:
            return name
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        for n in range(2, 10000):
            candidate = f"{stem}-{n}{dot}{suffix}"
            if candidate.casefold() not in taken:
                return candidate
        raise Conflict(f"{page}/{name}", ConflictReason.EXISTS, None, None)

    def _check_case_clash(self, head: str, page: str, name: str) -> None:
        """Refuse a name differing only in case from a file or folder already there (macOS, Windows)."""
        tree = self.repo.folder_entries(head, page)
        if tree is None:
            return
        wanted = names.fold_case(name)
        for raw in tree:
            other = raw.decode("utf-8", "replace")
            if other != name and names.fold_case(other) == wanted:
                raise Conflict(f"{page}/{name}", ConflictReason.CASE, None, None, other=f"{page}/{other}")
