"""Watchlist routes: watch and unwatch, the personal watchlist, its private Atom feed; the live
parts of cached pages (the header's unread count, the page's watch button).

Routes::

    POST /-/watch/<page>          action=watch | unwatch, thread=<id> (optional), next=<path>
    GET  /-/watchlist             what changed on watched pages since one last looked
    POST /-/watchlist/seen        mark everything as seen
    POST /-/watchlist/feed        a new private feed link (the old one stops working)
    GET  /-/watchlist.atom        the same items as Atom, for ?token=<feed token>

Page views are cached per visitor and head (viewcache.py), but the unread count and whether the
page is watched change without the head moving. So templates only leave markers
(``watchlist_badge()``, ``watch_button(name)``), and an after-request hook fills them in on every
HTML response of a logged-in user, cached or not, and gives the response an ETag that includes
them. The same hook records that a page (or its talk) was looked at.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from ..core import names
from ..core.access import Actor
from ..core.gitrepo import GitError
from ..core.talk import BadTalk, TalkNotFound, parse_file
from ..core.watch import Activity, Item
from . import access, get_wiki
from .access import can_read, current_actor, deny_anonymous
from .auth import safe_next
from .routing import page_arg, page_name, page_route
from .templating import action_url, page_url, talk_url, xml_text

log = logging.getLogger(__name__)
bp = Blueprint("watch", __name__)

UNREAD_MARK = "<!--tacit:unread-->"
_WATCH_MARK = re.compile(r"<!--tacit:watch ([^\s>]*)-->")
# Views that count as looking at a page: the page itself and its talk.
LOOKING = {"pages.view", "pages.view_by_query", "talk.talk", "talk.talk_by_query"}
FEED_ITEMS = 50

_BADGE = ('{% if count %}<span class="unread-badge" title="{{ count }} watched page{{ "s" if count != 1 }} '
          'changed since you looked">{{ count }}</span>'
          '<span class="visually-hidden"> ({{ count }} unread)</span>{% endif %}')
_BUTTON = ('<form method="post" action="{{ action }}" class="watch-form">'
           '<input type="hidden" name="csrf_token" value="{{ csrf }}">'
           '<input type="hidden" name="action" value="{{ "unwatch" if watching else "watch" }}">'
           '<button type="submit" class="button{{ " watching" if watching }}" aria-pressed="{{ "true" if watching '
           'else "false" }}" title="{{ "Stop listing this page on your watchlist" if watching else '
           '"List changes and comments to this page on your watchlist" }}">'
           '{{ "Unwatch" if watching else "Watch" }}</button></form>')


# -- helpers the other views call ------------------------------------------------------

def auto_watch(name: str, renamed_from: str | None = None) -> None:
    """After a save or rename: watches follow a renamed page, and a logged-in author watches it.
    The change is already committed, so a failure here is logged, never shown as a failed save."""
    try:
        wiki = get_wiki()
        if renamed_from:
            wiki.watches.renamed(renamed_from, name)
        actor = current_actor()
        if actor.authenticated:
            wiki.watches.after_edit(actor.user_id, name)
    except Exception:
        log.exception("could not update watches after a change of %s", name)


def comment_posted(name: str, thread_id: str, body: str, commit: str | None = None,
                   reply_to_author: str | None = None) -> list[str]:
    """After a comment is committed (talk views, API): watches and notifications, see
    WatchStore.after_comment. The comment is saved already, so a failure here is only logged."""
    actor = current_actor()
    if not actor.authenticated:
        return []
    try:
        link = request.host_url.rstrip("/") + talk_url(name, thread_id)
        return get_wiki().watches.after_comment(actor, name, thread_id, body, reply_to_author, commit, link)
    except Exception:
        log.exception("could not update watches after a comment on %s", name)
        return []


def item_url(page: str, item: Item, external: bool = False) -> str:
    """Where an item leads: the diff of an edit, or the comment in its thread."""
    if item.kind == "edit":
        return url_for("history.diff", page=page, to=item.sha, _external=external)
    url = talk_url(page, item.thread)
    anchor = f"#c-{item.comment}" if item.status in ("thread", "comment", "changed") and item.comment else \
        (f"#e-{item.comment}" if item.comment else "")
    return (request.host_url.rstrip("/") + url if external else url) + anchor


def _ensure_user() -> Actor:
    actor = current_actor()
    if not actor.authenticated:
        deny_anonymous()
    return actor


def _visible(activity: Activity) -> Activity:
    """Hidden pages (rules changed since they were watched) are left out, like everywhere."""
    return replace(activity, pages=tuple(p for p in activity.pages if can_read(p.page)))


# -- views -----------------------------------------------------------------------------

@bp.route("/-/watchlist")
def watchlist():
    return _watchlist_page(_ensure_user())


def _watchlist_page(actor: Actor, feed_url: str | None = None):
    wiki = get_wiki()
    activity = _visible(wiki.watches.activity(actor))
    rows = [w for w in wiki.watches.watches(actor.user_id) if can_read(w.page)]
    titles = {}
    for w in rows:
        if w.thread:
            try:
                titles[(w.page, w.thread)] = wiki.talk.thread(w.page, w.thread).title
            except (TalkNotFound, BadTalk, GitError, names.BadPageName):
                titles[(w.page, w.thread)] = None
    overdue = [r for r in wiki.status.stale(readable=can_read)
               if (r.meta.owner or "").casefold() in (actor.name.casefold(), actor.email.casefold())]
    return render_template("watchlist.html", activity=activity, rows=rows, titles=titles,
                           item_url=item_url, feed_url=feed_url, overdue=overdue,
                           feed_created=wiki.watches.feed_created(actor.user_id))


@bp.route("/-/watchlist/seen", methods=["POST"])
def mark_all_seen():
    get_wiki().watches.mark_all_seen(_ensure_user())
    flash("Everything on your watchlist is marked as seen.", "ok")
    return redirect(url_for("watch.watchlist"))


@bp.route("/-/watchlist/feed", methods=["POST"])
def feed_token():
    actor = _ensure_user()
    secret = get_wiki().watches.new_feed_token(actor.user_id)
    # shown once, on this response: only the token's hash is kept
    return _watchlist_page(actor, url_for("watch.feed", token=secret, _external=True))


@bp.route("/-/watchlist.atom")
def feed():
    wiki = get_wiki()
    user = wiki.watches.feed_user(request.args.get("token", ""))
    if user is None:
        abort(404, "This watchlist feed link is not valid: it is wrong, or a newer one replaced it. "
                   "Your watchlist page gives you a new link.")
    actor = Actor(user.id, user.name, user.email, user.role, user.groups)
    policy = wiki.policy()
    entries = []
    for page, item in wiki.watches.activity(actor).items():
        if not policy.can_read(actor, page):
            continue
        entries.append(_feed_entry(wiki, page, item))
        if len(entries) >= FEED_ITEMS:
            break
    body = render_template("feed.xml", title=f"Watchlist of {user.name}", link=url_for("watch.watchlist", _external=True),
                           self_link=request.url, feed_id=request.base_url + f"#{user.id}", entries=entries,
                           updated=entries[0]["updated"] if entries else _iso(0))
    response = Response(xml_text(body), mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _feed_entry(wiki, page: str, item: Item) -> dict:
    if item.kind == "edit":
        diff = wiki.history.diff_blobs(item.old_blob, item.new_blob)
        words = {"A": "created", "D": "deleted"}.get(item.status, "changed")
        summary = f"{words}: +{diff.added} −{diff.removed} lines"
        text = diff.unified(f"a/{item.path}", f"b/{item.path}")
        title = f"{page}: {item.summary or words}"
    else:
        text = ""
        if item.new_blob and item.path.endswith(".md"):
            try:
                text = parse_file(wiki.repo.read_blob(item.new_blob))[1]
            except (BadTalk, GitError):
                text = ""
        summary = {"thread": "new thread", "comment": "new comment", "changed": "comment changed",
                   "resolved": "thread resolved", "reopened": "thread reopened"}.get(item.status, "talk")
        if item.mentions_you:
            summary += ", mentions you"
        title = f"{page} (talk): {item.summary or summary}"
    return {"title": title, "link": item_url(page, item, external=True), "author": item.author,
            "updated": _iso(item.time), "summary": summary, "content": "<pre>" + html.escape(text) + "</pre>"}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@page_route(bp, "/-/watch", methods=["POST"])
def watch(page: str | None = None):
    actor = _ensure_user()
    name = page_name(page_arg(page))
    thread = request.form.get("thread") or None
    action = request.form.get("action", "watch")
    if action not in ("watch", "unwatch"):
        abort(400, "Say action=watch or action=unwatch.")
    watches = get_wiki().watches
    if action == "watch":
        watches.watch(actor.user_id, name, thread)
        flash(f"{'This thread' if thread else name} is on your watchlist now.", "ok")
    else:
        watches.unwatch(actor.user_id, name, thread)
        flash(f"You no longer watch {'this thread' if thread else name}.", "ok")
    target = request.form.get("next")
    return redirect(safe_next(target) if target else page_url(name))


# -- the live parts of every page -------------------------------------------------------

def watchlist_badge() -> Markup:
    """Where the header shows the unread count (each place it is shown; filled in per request)."""
    return Markup(UNREAD_MARK)


def watch_button(name: str) -> Markup:
    """Where a page's watch/unwatch button goes (filled in per request)."""
    return Markup(f"<!--tacit:watch {quote(name, safe='')}-->")


def _looked_at(response) -> str | None:
    """The page a successful view of a page or its talk looked at (it counts as seen)."""
    if request.endpoint not in LOOKING or request.method != "GET" or response.status_code != 200 \
            or request.args.get("rev"):
        return None
    raw = (request.view_args or {}).get("page") or request.args.get("page")
    try:
        return names.check_name(raw or "")
    except names.BadPageName:
        return None


def _fill(response):
    if response.mimetype != "text/html" or response.is_streamed or response.direct_passthrough:
        return response
    actor = current_actor()
    if not actor.authenticated:
        return response
    body = response.get_data(as_text=True)
    if UNREAD_MARK not in body and "<!--tacit:watch " not in body:
        return response
    try:
        badge_template, button_template = current_app.extensions["tacit.watch_parts"]
        activity = get_wiki().watches.visit(actor, _looked_at(response))
        count = len(access.policy().readable(actor, [p.page for p in activity.pages]))
        state = [str(count)]

        def button(m: re.Match) -> str:
            name = unquote(m.group(1))
            watching = name in activity.watched
            state.append(f"{name}={watching}")
            return button_template.render(action=action_url("watch", name), csrf=generate_csrf(), watching=watching)

        body = _WATCH_MARK.sub(button, body.replace(UNREAD_MARK, badge_template.render(count=count)))
    except Exception:  # the page itself is fine; without its live parts it is still useful
        log.exception("could not fill in the watchlist parts of %s", request.path)
        return response
    response.set_data(body)
    etag = response.get_etag()[0]
    if etag:  # the cached page's ETag does not change with the count: make the live state part of it
        response.set_etag(f"{etag}-{hashlib.sha1('|'.join(state).encode()).hexdigest()[:12]}")
        response.make_conditional(request)
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
    access.OPEN_ENDPOINTS.add("watch.feed")  # feed readers cannot log in; the token is the key
    app.after_request(_fill)
    app.extensions["tacit.watch_parts"] = (app.jinja_env.from_string(_BADGE), app.jinja_env.from_string(_BUTTON))
    app.jinja_env.globals.update(watchlist_badge=watchlist_badge, watch_button=watch_button)
