"""Why a change could not be made, said once: the sentence for each conflict reason and the API's
conflict body (409), for pages, folders and attached files alike, so a form and the API never
explain the same refusal in two ways."""

from __future__ import annotations

from enum import Enum
from typing import Callable

from flask import Response, jsonify

from ..core.pages import Conflict, ConflictReason


class Subject(Enum):
    """What the refused change was about: the sentences name it."""

    PAGE = "page"
    FOLDER = "folder"
    FILE = "file"


_Say = Callable[[Conflict, str], str]  # (conflict, the name asked for) -> sentence

_SENTENCES: dict[ConflictReason, _Say] = {
    ConflictReason.EXISTS: lambda c, name: f"{c.other or name} exists already.",
    ConflictReason.CHANGED: lambda c, name: "The page changed since you opened it; check it and try again.",
    ConflictReason.DELETED: lambda c, name: "The page was deleted since you opened it.",
    ConflictReason.OVERLAP: lambda c, name: "The page changed since you opened it and the changes overlap.",
    ConflictReason.CASE: lambda c, name: f"{c.other} exists already; names may not differ only in case.",
    ConflictReason.TAKEN: lambda c, name: f"{c.other} is a file or folder already; choose another name.",
    ConflictReason.INSIDE: lambda c, name: "A folder cannot move into itself.",
    ConflictReason.FOLDER: lambda c, name: f"{c.name} is a folder of subpages; choose another name.",
}

_PER_SUBJECT: dict[tuple[Subject, ConflictReason], _Say] = {
    (Subject.PAGE, ConflictReason.EXISTS): lambda c, name: f"A page named {name} already exists.",
    (Subject.PAGE, ConflictReason.SAME): lambda c, name: "That is the page's current name.",
    (Subject.FOLDER, ConflictReason.EXISTS):
        lambda c, name: f"{c.other or name} exists already: choose a folder name that is not taken.",
    (Subject.FOLDER, ConflictReason.SAME): lambda c, name: "That is the folder's current name.",
}


def conflict_text(conflict: Conflict, subject: Subject = Subject.PAGE, name: str | None = None) -> str:
    """The readable sentence for a refused change; `name` is the name asked for (default: the
    conflict's own)."""
    say = _PER_SUBJECT.get((subject, conflict.reason)) or _SENTENCES.get(conflict.reason)
    if say is None:
        return f"The {subject.value} could not be changed."
    return say(conflict, name or conflict.name)


def conflict_json(conflict: Conflict, subject: Subject = Subject.PAGE, name: str | None = None) -> tuple[Response, int]:
    """The API's one conflict body: the reason, the sentence, and whatever the client needs to
    settle it (the current text and revision, its own text, the merge with markers)."""
    body: dict = {"error": "conflict", "reason": conflict.reason.value,
                  "detail": conflict_text(conflict, subject, name), "path": conflict.name}
    if subject is Subject.PAGE:
        body.update(current=conflict.current, revision=conflict.current_revision, yours=conflict.yours)
    if conflict.merged is not None:
        body["merged_with_conflicts"] = conflict.merged
    if conflict.other is not None:
        body["other"] = conflict.other
    return jsonify(body), 409
