"""Status dashboards, stale pages, tags, and "reviewed, still current".

    /-/status, /-/status/<folder>     every page with a status: table (sortable, filterable), chart
    /-/stale                          pages overdue for review
    /-/tags, /-/tags/<tag>            tags with counts; the pages of one tag
    POST /-/reviewed/<page>           record "reviewed, still current" (a commit setting `reviewed:`)

A ```dashboard block in a page embeds the same table (see `embed_dashboards`).
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime, timezone
from urllib.parse import parse_qsl

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from ..core import names
from ..core.frontmatter import with_meta
from ..core.pages import Conflict
from ..core.status import StatusRow
from . import get_wiki
from .access import can_read, can_write, current_author
from .charts import sparkline, status_chart
from .routing import page_arg, page_name, page_route
from .templating import page_url

bp = Blueprint("status", __name__)

SORTS = {
    "page": lambda r: r.page.casefold(),
    "status": lambda r: r.meta.status or "",
    "owner": lambda r: (r.meta.owner or "").casefold(),
    "changed": lambda r: r.last_change.time if r.last_change else 0,
    "review": lambda r: r.next_review or date.max,
    "threads": lambda r: r.open_threads,
}


def board_rows(folder: str | None, status: str | None = None, owner: str | None = None,
               overdue: bool = False, sort: str = "folder", descending: bool = False) -> list[StatusRow]:
    """The visitor's view of a board: readable pages, filtered and sorted (default: by folder)."""
    rows = get_wiki().status.board(folder, readable=can_read)
    if status:
        rows = [r for r in rows if r.meta.status == status]
    if owner:
        rows = [r for r in rows if (r.meta.owner or "").casefold() == owner.casefold()]
    if overdue:
        rows = [r for r in rows if r.overdue]
    if sort in SORTS:
        rows = sorted(rows, key=SORTS[sort], reverse=descending)
    return rows


def _args() -> dict:
    return {"status": request.args.get("status") or None, "owner": request.args.get("owner") or None,
            "overdue": request.args.get("overdue") == "1", "sort": request.args.get("sort") or "folder",
            "descending": request.args.get("order") == "desc"}


@bp.route("/-/status")
@bp.route("/-/status/<path:folder>")
def dashboard(folder: str | None = None):
    if folder:
        folder = folder.strip("/")
        names.check_name(folder)
    args = _args()
    rows = board_rows(folder, **args)
    everything = board_rows(folder)
    wiki = get_wiki()
    owners = sorted({r.meta.owner for r in everything if r.meta.owner}, key=str.casefold)
    return render_template("status.html", folder=folder, rows=rows, args=args, owners=owners,
                           statuses=wiki.statuses, chart=status_chart(wiki.status.counts(everything)),
                           total=len(everything))


@bp.route("/-/stale")
def stale():
    rows = get_wiki().status.stale(readable=can_read)
    return render_template("stale.html", rows=rows, today=_today())


@bp.route("/-/tags")
def tags():
    found = get_wiki().status.tags(readable=can_read)
    return render_template("tags.html", tags=sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0])))


@bp.route("/-/tags/<path:tag>")
def tag(tag: str):
    tag = tag.strip().lower()
    pages = get_wiki().status.tags(readable=can_read).get(tag)
    if not pages:
        abort(404, f"No page you may read has the tag {tag}.")
    wiki = get_wiki()
    rows = [(p, wiki.status.row(p)) for p in pages]
    return render_template("tag.html", tag=tag, rows=rows)


@page_route(bp, "/-/reviewed", methods=["POST"])
def reviewed(page: str | None = None):
    """Record that the page was reviewed and is still current: one commit setting `reviewed:`."""
    name = page_name(page_arg(page), "write")
    wiki = get_wiki()
    found = wiki.pages.get(name)
    if found is None:
        abort(404, f"There is no page named {name}.")
    try:
        text = with_meta(found.markdown, {"reviewed": _today()})
    except ValueError as e:
        abort(400, str(e))
    base = request.form.get("base") or found.commit
    try:
        wiki.pages.save(name, text, current_author(), f"Reviewed {name}: still current", base)
    except Conflict:
        flash("The page changed meanwhile; look at it again before confirming.", "error")
        return redirect(page_url(name))
    flash("Marked as reviewed and still current.", "ok")
    return redirect(page_url(name))


def _today() -> date:
    return datetime.now(timezone.utc).date()


_EMBED = re.compile(r'<div class="dashboard-embed" data-dashboard="([^"]*)">.*?</div>', re.S)


def embed_dashboards(html: str) -> str:
    """Fill the markers of ```dashboard blocks with the live table (read access applied)."""
    if 'class="dashboard-embed"' not in html:
        return html

    def table(m: re.Match[str]) -> str:
        query = dict(parse_qsl(html_lib.unescape(m.group(1))))
        folder = query.get("folder", "").strip("/") or None
        try:
            if folder:
                names.check_name(folder)
        except names.BadPageName:
            return '<p class="flash flash-error">This dashboard names a folder that cannot exist.</p>'
        rows = board_rows(folder, status=query.get("status"), owner=query.get("owner"),
                          sort=query.get("sort", "folder"))
        return render_template("_status_table.html", rows=rows, args=None, folder=folder, embedded=True)

    return _EMBED.sub(table, html)


def init_app(app) -> None:
    app.jinja_env.globals["sparkline"] = sparkline
    app.jinja_env.globals["status_row"] = lambda page: get_wiki().status.row(page)
    app.jinja_env.globals["may_review"] = lambda page: can_write(page)
    app.jinja_env.globals["today"] = _today
    app.jinja_env.filters["markup"] = Markup
    app.jinja_env.globals["status_url"] = lambda folder=None, **query: url_for(
        "status.dashboard", folder=folder or None, **{k: v for k, v in query.items() if v not in (None, "", False)})
