"""Template helpers: page URLs, times people can read, breadcrumbs."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from urllib.parse import quote

from flask import Flask, request, url_for

from ..core import names


def page_url(name: str, **query: str) -> str:
    """URL of a page; names are paths, so '/' stays and everything else is quoted."""
    if names.needs_query_url(name) and not name.startswith("-/"):
        query = {"page": name, **query}
        name = "-/view"
    url = request.script_root + "/" + quote(name, safe="/")
    if query:
        from urllib.parse import urlencode
        url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
    return url


def action_url(action: str, name: str, **query: str) -> str:
    if names.needs_query_url(name):
        return page_url(f"-/{action}", page=name, **query)
    return page_url(f"-/{action}/{name}", **query)


def talk_url(name: str, thread: str | None = None) -> str:
    """The talk page of a page, or one of its threads."""
    return action_url("talk", name, **({"thread": thread} if thread else {}))


# Characters XML 1.0 forbids (C0 controls other than tab and line breaks, U+FFFE/U+FFFF, lone
# surrogates). Page text and commit messages may hold them; one in a feed makes the whole feed
# unreadable to every reader, so feeds show U+FFFD instead.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with the characters XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def reltime(ts: int | float | None) -> str:
    if not ts:
        return ""
    delta = time.time() - ts
    if delta < 45:
        return "just now"
    for unit, seconds in (("year", 31536000), ("month", 2592000), ("week", 604800),
                          ("day", 86400), ("hour", 3600), ("minute", 60)):
        n = int(delta // seconds)
        if n >= 1:
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def isotime(ts: int | float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        page_url=page_url,
        action_url=action_url,
        talk_url=talk_url,
        folders_of=names.folders_of,
        base_name=names.base_name,
        wiki_name=lambda: app.config["WIKI_NAME"],
    )
    app.jinja_env.filters["reltime"] = reltime
    app.jinja_env.filters["isotime"] = isotime
    app.jinja_env.globals["url_for"] = url_for
