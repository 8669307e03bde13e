"""Page-path rules: which names are pages, and how a name maps to a file.

A page name is its URL and its file: ``Projects/Alpha/Status`` is the file
``Projects/Alpha/Status.md``. Two levels of checking exist on purpose:

* ``check_name`` guards safety and is applied to every name that reaches the
  repository (reads included): nothing may address a file outside the
  repository, inside ``.git`` or in the wiki's own hidden folders.
* ``check_new_name`` adds portability rules for names that are being created
  (new page, rename target), so the repository stays cloneable on Windows and
  macOS and every page stays linkable with ``[[...]]``. Existing pages that
  break those rules (tldr's ``common/[``) keep working.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

PAGE_SUFFIX = ".md"
RESERVED_PREFIX = "-"  # /-/ holds every non-page route
MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255 - len(PAGE_SUFFIX)

_WINDOWS_FORBIDDEN = set('\\:*?"<>|')
_LINK_FORBIDDEN = set("[]#|{}")
_WINDOWS_DEVICES = {
    "con", "prn", "aux", "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


class BadPageName(ValueError):
    """A name that cannot be a page; ``rule`` says which rule it broke."""

    def __init__(self, name: str, rule: str) -> None:
        super().__init__(rule)
        self.name = name
        self.rule = rule


@dataclass(frozen=True)
class Folder:
    """A folder of pages, for breadcrumbs and listings."""

    path: str  # "" for the root

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def normalize(name: str) -> str:
    """NFC form, so a name typed on macOS (NFD) and on Linux is one page."""
    return unicodedata.normalize("NFC", name)


def check_name(name: str) -> str:
    """Return the normalized page name or raise BadPageName."""
    if not isinstance(name, str) or name == "":
        raise BadPageName("", "A page name cannot be empty.")
    name = normalize(name)
    for ch in name:
        if ch == "\x00" or _is_control(ch):
            raise BadPageName(name, "A page name cannot contain control characters or line breaks.")
    if "\\" in name:
        raise BadPageName(name, "A page name cannot contain a backslash (\\); use / for folders.")
    if name.startswith("/"):
        raise BadPageName(name, "A page name cannot start with /.")
    if name.endswith("/"):
        raise BadPageName(name, "A page name cannot end with /.")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BadPageName(name, f"A page name can be at most {MAX_NAME_BYTES} bytes long.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPageName(name, "A page name must be valid Unicode text.") from None
    segments = name.split("/")
    if segments[0] == RESERVED_PREFIX:
        raise BadPageName(name, f"Names starting with {RESERVED_PREFIX}/ are reserved for the wiki itself.")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "":
            raise BadPageName(name, "A page name cannot contain an empty folder (//).")
        # The last part always gains ".md", so only folders can reach .git, ".." or hidden folders.
        if seg in (".", "..") and not last:
            raise BadPageName(name, "A page name cannot contain . or .. as a folder.")
        if seg.startswith(".") and not last:
            raise BadPageName(name, "A folder name cannot start with a dot (those are hidden folders such as .git).")
        if seg != seg.strip():
            raise BadPageName(name, "A page or folder name cannot start or end with a space.")
        if len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise BadPageName(name, f"Each part of a page name can be at most {MAX_SEGMENT_BYTES} bytes long.")
    return name


def check_new_name(name: str) -> str:
    """Stricter rules for names being created: portable and linkable."""
    name = check_name(name)
    if base_name(name).startswith("."):
        raise BadPageName(name, "A new page name cannot start with a dot.")
    for seg in name.split("/"):
        bad = sorted({c for c in seg if c in _WINDOWS_FORBIDDEN or c in _LINK_FORBIDDEN})
        if bad:
            raise BadPageName(
                name, "A new page name cannot contain " + " ".join(bad)
                + " (they break links or clones on Windows).")
        if seg.endswith("."):
            raise BadPageName(name, "A page or folder name cannot end with a dot.")
        if seg.split(".", 1)[0].lower() in _WINDOWS_DEVICES:
            raise BadPageName(name, f"{seg} is a reserved device name on Windows and cannot be a page name.")
    return name


def needs_query_url(name: str) -> bool:
    """True for names a browser would rewrite in a URL path (a last part of . or ..)."""
    return base_name(name) in (".", "..")


def page_file(name: str) -> str:
    """The repository path of a (checked) page name."""
    return name + PAGE_SUFFIX


def page_name(file: str) -> str | None:
    """The page name for a repository path, or None if the file is not a page."""
    if not file.endswith(PAGE_SUFFIX) or len(file) == len(PAGE_SUFFIX):
        return None
    name = file[: -len(PAGE_SUFFIX)]
    try:
        if check_name(name) != name:
            return None
    except BadPageName:
        return None
    return name


def folder_of(name: str) -> str:
    """The folder holding a page ("" at the root)."""
    return name.rsplit("/", 1)[0] if "/" in name else ""


def folders_of(name: str) -> list[Folder]:
    """Every folder above a page, outermost first, for breadcrumbs."""
    parts = name.split("/")[:-1]
    return [Folder("/".join(parts[: i + 1])) for i in range(len(parts))]


def base_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def fold_case(name: str) -> str:
    """Key for case-insensitive lookup of a page name."""
    return normalize(name).casefold()
