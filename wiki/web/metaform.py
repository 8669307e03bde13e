"""The metadata form above the editor: front matter fields without writing YAML by hand.

The form starts from the text's own front matter; on save only the fields a person changed in
the form are written back (`frontmatter.with_meta`), so edits made directly in the text are
never overwritten by the form's stale values.
"""

from __future__ import annotations

import json
from typing import Mapping

from ..core.frontmatter import parse, with_meta

FIELDS = ("status", "owner", "review_every", "tags", "summary")


def form_for(text: str, statuses: tuple[str, ...]) -> dict:
    meta, _ = parse(text, statuses)
    values = {"status": meta.status or "", "owner": meta.owner or "", "review_every": meta.review_every_text or "",
              "tags": ", ".join(meta.tags), "summary": meta.summary or ""}
    return {"fields": values, "initial_json": json.dumps(values), "problems": list(meta.problems),
            "statuses": statuses, "open": bool(meta.present or meta.problems)}


def apply(text: str, form: Mapping[str, str]) -> str:
    """The text with the form's changed fields written into its front matter."""
    if "meta_initial" not in form:
        return text
    try:
        initial = json.loads(form.get("meta_initial") or "{}")
    except ValueError:
        initial = {}
    changes = {}
    for field in FIELDS:
        value = (form.get(f"meta_{field}") or "").strip()
        if value == (initial.get(field) or "").strip():
            continue
        if field == "tags":
            changes[field] = [t.strip() for t in value.replace(";", ",").split(",") if t.strip()] or None
        else:
            changes[field] = value or None
    return with_meta(text, changes) if changes else text


def problems(text: str, statuses: tuple[str, ...]) -> list[str]:
    return list(parse(text, statuses)[0].problems)
