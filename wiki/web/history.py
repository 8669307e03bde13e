"""History routes: page history, diffs, blame, revert, recent changes, commits, Atom feeds."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from itertools import groupby

from flask import (Blueprint, Response, abort, flash, redirect, render_template, request, url_for)

from ..core import names
from ..core.diff import rendered_diff
from ..core.gitrepo import UnknownRevision
from ..core.history import BadCursor, Change, PageDiff
from ..core.pages import Conflict, SaveStatus
from . import get_wiki
from .access import can_read, current_author
from .pages import strip_section_edits
from .routing import page_arg, page_name, page_route
from .templating import action_url, page_url, xml_text

bp = Blueprint("history", __name__)
DIFF_VIEWS = ("inline", "side", "rendered")
DIFF_VIEW_COOKIE = "tacit_diff_view"


def _history_route(rule: str, suffix: str = "", **options):
    return page_route(bp, rule, suffix, **options)


def _cursor_errors(fn):
    """A cursor or revision from a stale or hand-made URL gets a clear 400/404, not a 500."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BadCursor as e:
            abort(400, str(e))
    return wrapper


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name, type=int)
    if value is None:
        return default
    return max(low, min(high, value))


@_history_route("/-/history")
@_cursor_errors
def page_history(page: str | None = None):
    name = page_name(page_arg(page))
    wiki = get_wiki()
    result = wiki.history.page_history(name, request.args.get("cursor"), _int_arg("limit", 50, 1, 500))
    if not result.revisions and not result.total:
        abort(404, f"There is no page named {name}, and there never was.")
    exists = wiki.pages.exists(name)
    with_talk = request.args.get("talk") == "1"
    talk = wiki.history.talk_activity(result.names or (name,)) if with_talk else []
    return render_template("history.html", name=name, result=result, exists=exists, with_talk=with_talk,
                           talk=talk)


@_history_route("/-/history", ".atom")
def page_feed(page: str | None = None):
    name = page_name(page_arg(page))
    wiki = get_wiki()
    revisions = wiki.history.page_history(name, None, 30).revisions
    entries = []
    for r in revisions:
        diff = wiki.history.diff_blobs(r.old_blob, r.new_blob)
        entries.append(_feed_entry(
            title=f"{r.name}: {r.summary or 'changed'}", commit=r.commit, author=r.author, when=r.time,
            link=url_for("history.diff", page=r.name, to=r.commit, _external=True),
            summary=_diff_summary(r.status, diff), diff=diff.unified(f"a/{r.old_name or r.name}", f"b/{r.name}")))
    return _feed(f"History of {name}", url_for("history.page_history", page=name, _external=True), entries)


def _diff_view() -> str:
    view = request.args.get("view")
    if view not in DIFF_VIEWS:
        view = request.cookies.get(DIFF_VIEW_COOKIE)
    return view if view in DIFF_VIEWS else "inline"


@_history_route("/-/diff")
def diff(page: str | None = None):
    name = page_name(page_arg(page))
    wiki = get_wiki()
    context = -1 if request.args.get("context") == "all" else _int_arg("context", 3, 0, 1000)
    result = wiki.history.page_diff(name, request.args.get("from") or None, request.args.get("to") or None, context)
    view = _diff_view()
    rendered = None
    if view == "rendered":
        rendered = rendered_diff(_render(wiki, result.old_name or name, result.old_blob),
                                 _render(wiki, name, result.new_blob))
    response = Response(render_template("diff.html", name=name, d=result, view=view, rendered=rendered,
                                        context=context, notes=_diff_notes(result)))
    if request.args.get("view") in DIFF_VIEWS:  # the chosen layout sticks
        response.set_cookie(DIFF_VIEW_COOKIE, view, max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


def _render(wiki, name: str, blob: str | None) -> str:
    if not blob:
        return ""
    rendered = wiki.renderer.render(lambda: wiki.history.text(blob), name, cache_key=blob)
    return strip_section_edits(rendered.html)  # a diff is read-only


def _diff_notes(d: PageDiff) -> list[str]:
    notes = []
    for r in d.between:
        if r.status == "R" and r.old_name:
            notes.append(f"Renamed from {r.old_name} to {r.name} in {r.commit[:10]}.")
        elif r.status == "D":
            notes.append(f"Deleted in {r.commit[:10]} by {r.author.name}.")
        elif r.status == "A" and r is not d.between[-1]:
            notes.append(f"Created again in {r.commit[:10]} by {r.author.name}.")
    if d.diff.line_endings_changed:
        notes.append("Line endings changed (CRLF/LF); the text itself is shown without them.")
    return notes


def _diff_summary(status: str, diff) -> str:
    words = {"A": "created", "D": "deleted", "R": "renamed"}.get(status, "changed")
    return f"{words}: +{diff.added} −{diff.removed} lines"


@_history_route("/-/blame")
def blame(page: str | None = None):
    name = page_name(page_arg(page))
    rev = request.args.get("rev") or None
    try:
        groups = get_wiki().history.blame(name, rev)
    except UnknownRevision:
        abort(404, f"There is no page named {name}" + (f" at revision {rev}." if rev else "."))
    return render_template("blame.html", name=name, groups=groups, rev=rev)


@_history_route("/-/revert", methods=["GET", "POST"])
def revert(page: str | None = None):
    name = page_name(page_arg(page), "write")
    wiki = get_wiki()
    to = request.values.get("to") or ""
    if not to:
        abort(400, "Say which revision to restore: ?to=<commit>")
    target = wiki.history.revision_at(name, to)
    if target is None:
        abort(404, f"The page {name} did not exist at revision {to}.")
    current = wiki.pages.get(name)
    if request.method == "GET":
        preview = wiki.history.diff_blobs(current.blob if current else None, target.new_blob)
        return render_template("revert.html", name=name, target=target, current=current, preview=preview,
                               base=current.commit if current else "")
    try:
        result = wiki.history.revert(wiki.pages, name, target.commit, current_author(),
                                     request.form.get("base") or None, request.form.get("message", ""))
    except Conflict as conflict:
        return render_template("conflict.html", name=name, conflict=conflict,
                               yours=wiki.history.text(target.new_blob), message=request.form.get("message", ""),
                               base=wiki.pages.head() or ""), 409
    flash({SaveStatus.UNCHANGED: "The page already has that text.", SaveStatus.MERGED:
           "Restored; changes made meanwhile to other lines were kept."}.get(
        result.status, f"Restored the revision {target.commit[:10]}."), "ok")
    return redirect(page_url(name))


def _visible_changes(changes: list[Change]) -> list[tuple[Change, list, bool]]:
    """Entries with the pages this visitor may see; the message is hidden when a page is."""
    shown = []
    for change in changes:
        pages = [(n, f) for n, f in change.pages if can_read(n)]
        talk = [(n, t) for n, t in change.talk if can_read(n)]
        hidden = len(pages) < len(change.pages) or len(talk) < len(change.talk) or not all(
            can_read(p) and (not names.folder_of(p) or can_read(names.folder_of(p)))  # a hidden page's files
            for p in change.other_files if not p.startswith("."))
        if pages or talk or (not change.pages and not change.talk and change.other_files and not hidden):
            shown.append((change, pages, talk, hidden))
    return shown


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%A, %d %B %Y")


def _folder_arg() -> str | None:
    folder = (request.args.get("folder") or "").strip().strip("/")
    if folder:
        names.check_name(folder)
    return folder or None


@bp.route("/-/recent")
@_cursor_errors
def recent():
    wiki = get_wiki()
    author, folder = (request.args.get("author") or "").strip() or None, _folder_arg()
    changes, next_cursor, _ = wiki.history.recent(request.args.get("cursor"), _int_arg("limit", 50, 1, 500),
                                                  author, folder)
    shown = _visible_changes(changes)
    days = [(day, list(items)) for day, items in groupby(shown, key=lambda item: _day(item[0].entry.time))]
    return render_template("recent.html", days=days, author=author, folder=folder, next_cursor=next_cursor)


@bp.route("/-/recent.atom")
def recent_feed():
    wiki = get_wiki()
    author, folder = (request.args.get("author") or "").strip() or None, _folder_arg()
    changes, _, _ = wiki.history.recent(None, 30, author, folder)
    entries = []
    for change, pages, talk, hidden in _visible_changes(changes):
        e = change.entry
        diffs = [wiki.history.diff_blobs(f.old_blob, f.new_blob) for _, f in pages]
        title = ", ".join([n for n, _ in pages] + [f"Talk:{n}" for n, _ in dict.fromkeys(talk)]) \
            + (f": {e.summary}" if not hidden and e.summary else "")
        entries.append(_feed_entry(
            title=title, commit=e.sha, author=e.author, when=e.time,
            link=url_for("history.commit", sha=e.sha, _external=True),
            summary="; ".join(f"{n} {_diff_summary(f.status, d)}" for (n, f), d in zip(pages, diffs)),
            diff="".join(d.unified(f"a/{f.old_path or f.path}", f"b/{f.path}") for (_, f), d in zip(pages, diffs))))
    title = "Recent changes" + (f" in {folder}/" if folder else "") + (f" by {author}" if author else "")
    return _feed(title, url_for("history.recent", folder=folder, author=author, _external=True), entries)


@bp.route("/-/commit/<sha>")
def commit(sha: str):
    wiki = get_wiki()
    try:
        change = wiki.history.commit(sha)
    except UnknownRevision:
        abort(404, f"{sha} is not a commit of this wiki.")
    shown = _visible_changes([change])
    if not shown:
        abort(404, f"{sha} is not a commit of this wiki.")
    _, pages, _, hidden = shown[0]
    diffs = [(n, f, wiki.history.diff_blobs(f.old_blob, f.new_blob)) for n, f in pages]
    return render_template("commit.html", change=change, diffs=diffs, hidden=hidden)


# -- Atom -------------------------------------------------------------------------------

def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _feed_entry(**fields) -> dict:
    """One Atom entry; `content` is HTML as text (the template escapes it once more for XML)."""
    fields["updated"] = _iso(fields["when"])
    fields["content"] = "<pre>" + html.escape(fields.pop("diff")) + "</pre>"
    return fields


def _feed(title: str, link: str, entries: list[dict]) -> Response:
    body = render_template("feed.xml", title=title, link=link, self_link=request.url, entries=entries,
                           updated=entries[0]["updated"] if entries else _iso(0),
                           feed_id=request.base_url)
    return Response(xml_text(body), mimetype="application/atom+xml")


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(diff_views=DIFF_VIEWS)
    app.jinja_env.globals.setdefault("action_url", action_url)
