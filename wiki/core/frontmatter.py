"""Page metadata: optional YAML front matter at the top of a page.

    ---
    title: Alpha status
    tags: [status, alpha]
    owner: ann
    status: at-risk
    review_every: 14d
    reviewed: 2026-11-20
    summary: Vendor late; migration slipped a week.
    ---

Front matter is part of the page's text (so it is versioned, diffed and merged like the rest)
and never breaks a page: invalid YAML or values give a `problems` list the editor shows, and the
page renders its body with whatever could be understood.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import yaml

DEFAULT_STATUSES = ("on-track", "at-risk", "blocked", "done")
KNOWN_KEYS = ("title", "tags", "owner", "status", "review_every", "reviewed", "summary")
_BLOCK = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(d|day|days|w|week|weeks|m|month|months|y|year|years)\s*$", re.I)
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader: same answers, ten times faster


@dataclass(frozen=True)
class PageMeta:
    title: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    status: str | None = None
    review_every: timedelta | None = None
    review_every_text: str | None = None
    reviewed: date | None = None
    summary: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    present: bool = False  # the page has a front matter block at all

    def as_json(self) -> dict:
        return {"title": self.title, "tags": list(self.tags), "owner": self.owner, "status": self.status,
                "review_every": self.review_every_text, "reviewed": self.reviewed.isoformat() if self.reviewed else None,
                "summary": self.summary, **{k: _jsonable(v) for k, v in self.extra.items()}}

    def next_review(self, last_edit: datetime | None) -> date | None:
        """When the page is due: review_every after the later of its last edit and last confirmation."""
        if self.review_every is None:
            return None
        start = [d for d in (last_edit.date() if last_edit else None, self.reviewed) if d]
        return (max(start) + self.review_every) if start else None

    def overdue(self, last_edit: datetime | None, today: date | None = None) -> bool:
        due = self.next_review(last_edit)
        return due is not None and due < (today or datetime.now(timezone.utc).date())


def split(markdown: str) -> tuple[str | None, str]:
    """(front matter text or None, body)."""
    m = _BLOCK.match(markdown)
    if not m:
        return None, markdown
    return m.group(1), markdown[m.end():]


def parse(markdown: str, statuses: tuple[str, ...] = DEFAULT_STATUSES) -> tuple[PageMeta, str]:
    """The page's metadata and its body (the markdown without the front matter)."""
    raw, body = split(markdown)
    if raw is None:
        return PageMeta(), markdown
    try:
        data = yaml.load(raw, Loader=_LOADER) if raw.strip() else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        return PageMeta(problems=(f"The front matter is not valid YAML{where}: {problem}.",), present=True), body
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return PageMeta(problems=("The front matter must be `key: value` lines.",), present=True), body
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key in ("title", "owner", "summary"):
        value = data.get(key)
        if value is not None and not isinstance(value, (str, int, float)):
            problems.append(f"`{key}` must be text.")
        elif value is not None:
            values[key] = str(value).strip() or None
    tags = data.get("tags")
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    if tags is not None and not isinstance(tags, list):
        problems.append("`tags` must be a list, e.g. `tags: [status, alpha]`.")
        tags = []
    values["tags"] = tuple(dict.fromkeys(_tag(t) for t in (tags or []) if _tag(t)))
    status = data.get("status")
    if status is not None:
        status = str(status).strip().lower()
        if status not in statuses:
            problems.append(f"`status` must be one of {', '.join(statuses)} (not {status!r}).")
            status = None
    values["status"] = status
    every = data.get("review_every")
    if every is not None:
        period = parse_period(str(every))
        if period is None:
            problems.append(f"`review_every` must be like 14d, 2w, 3m or 1y (not {every!r}).")
        else:
            values["review_every"], values["review_every_text"] = period, str(every).strip()
    reviewed = data.get("reviewed")
    if reviewed is not None:
        if isinstance(reviewed, datetime):
            values["reviewed"] = reviewed.date()
        elif isinstance(reviewed, date):
            values["reviewed"] = reviewed
        else:
            try:
                values["reviewed"] = date.fromisoformat(str(reviewed).strip())
            except ValueError:
                problems.append(f"`reviewed` must be a date like 2026-11-29 (not {reviewed!r}).")
    extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS and isinstance(k, str)}
    return PageMeta(**values, extra=extra, problems=tuple(problems), present=True), body


def parse_period(text: str) -> timedelta | None:
    m = _PERIOD.match(text)
    if not m:
        return None
    days = int(m.group(1)) * _DAYS[m.group(2)[0].lower()]
    return timedelta(days=days) if days > 0 else None


def with_meta(markdown: str, changes: dict[str, Any]) -> str:
    """The page with some front matter keys set (None removes one), other keys and the body kept.

    Used by the metadata form above the editor and by "reviewed, still current". Comments and
    key order inside the block are not preserved when it is rewritten; the body is untouched.
    """
    raw, body = split(markdown)
    data: dict[str, Any] = {}
    if raw is not None and raw.strip():
        try:
            loaded = yaml.load(raw, Loader=_LOADER)
        except yaml.YAMLError:
            raise ValueError("The front matter is not valid YAML; fix it in the text first.") from None
        if isinstance(loaded, dict):
            data = loaded
    for key, value in changes.items():
        if value is None or value == "" or value == [] or value == ():
            data.pop(key, None)
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    ordered = {k: data[k] for k in KNOWN_KEYS if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    if not ordered:
        return body.lstrip("\n") if raw is not None else markdown
    block = "".join(f"{key}: {_yaml_value(value)}\n" for key, value in ordered.items())
    return f"---\n{block}---\n" + body


def _yaml_value(value: Any) -> str:
    """One value as YAML on one line (lists in flow style: `[a, b]`)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _tag(value: Any) -> str:
    return re.sub(r"\s+", "-", str(value).strip().lower()).strip("#,")


def _jsonable(value: Any) -> Any:
    """A front-matter value in a form JSON holds. YAML has more than JSON: dates become ISO text,
    sets lists, binary its text, and the floats JSON has no form for (.inf, .nan) YAML's spelling,
    so a page's metadata never makes a response that is not JSON (or a 500)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
