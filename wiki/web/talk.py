"""Talk threads on the web: each page's discussion, one thread, edits, deletions, status.

Routes (each also answers ``/-/<action>?page=NAME``, see routing.py; the thread and
comment travel as query or form fields, never in the path, so they can never be
mistaken for part of a page name; templating.talk_url builds the first two)::

    GET  /-/talk/<page>                            the threads, newest activity first, and the
                                                   new-thread form (?quote=&revision= prefill it)
    POST /-/talk/<page>                            start a thread: title, body, quote, revision
    GET  /-/talk/<page>?thread=<id>                one thread; comments are anchored #c-<comment id>;
                                                   &edit=<comment id> opens that comment's edit form
    POST /-/talk/<page>?thread=<id>                reply: body, reply_to (a comment id, optional)
    POST /-/talk-edit/<page>?thread=&comment=      save an edited comment: body
    POST /-/talk-delete/<page>?thread=&comment=    delete a comment (its replies stay)
    POST /-/talk-status/<page>?thread=<id>         status=resolved | reopened
    GET  /-/talk-history/<page>?thread=&comment=   earlier versions of a comment

Reading follows the page's read access (a hidden page's talk is 404 like the page),
and works for a deleted page whose threads remain. Writing needs an account that may
read the page, or edit it when WIKI_TALK=editor. Comments are changed by their author
or an admin; threads are resolved or reopened by their author, the page's editors and
admins. The JSON API (api.py) uses the same helpers.
"""

from __future__ import annotations

import html as html_lib

from flask import Blueprint, abort, flash, redirect, render_template, request

from ..core.pages import LookupKind
from ..core.search.extract import html_to_text
from ..core.talk import ALLOWED_TAGS, BadTalk, Comment, NotAllowed, TalkNotFound, Thread
from . import get_wiki
from .access import can_read, can_write, current_actor, current_author, deny_anonymous
from .errors import Answer, error_response, map_errors
from .routing import page_arg, page_name, page_route
from .templating import action_url, talk_url
from .watch import comment_posted

bp = Blueprint("talk", __name__)


def _route(rule: str, **options):
    return page_route(bp, rule, **options)


# -- who may do what -------------------------------------------------------------------

def may_comment(name: str) -> bool:
    """Comment, start threads: an account that may read the page (or write it, WIKI_TALK=editor)."""
    actor = current_actor()
    if not actor.authenticated:
        return False
    return can_write(name) if get_wiki().talk_policy == "editor" else can_read(name)


def ensure_comment(name: str) -> None:
    """Anonymous visitors are asked to log in (401 in the API); accounts that may not, 403."""
    if may_comment(name):
        return
    if not current_actor().authenticated:
        deny_anonymous()
    abort(403, "Only editors of this page may take part in its talk." if get_wiki().talk_policy == "editor"
          else "You may not comment on this page.")


def may_moderate() -> bool:
    """Admins may edit and delete any comment."""
    return current_actor().is_admin


def may_change(comment: Comment) -> bool:
    """Edit or delete: the comment's author, or an admin (the core checks again)."""
    actor = current_actor()
    return actor.authenticated and not comment.deleted and (comment.author == actor.name or may_moderate())


def may_resolve(thread: Thread) -> bool:
    """Resolve or reopen: the thread's author, the page's editors, admins."""
    actor = current_actor()
    return actor.authenticated and (thread.author == actor.name or can_write(thread.page))


def ensure_logged_in() -> None:
    """Deleting and resolving need an account: the core decides by user name who may."""
    if not current_actor().authenticated:
        deny_anonymous()


def talk_page(raw: str | None, follow: bool = False) -> str:
    """The page name from the URL, readable by this visitor, with a page or threads to show.

    With `follow`, a renamed page's old name (or a name in the wrong case) redirects to the
    talk of the page it leads to, as the page view does, since threads move with their page.
    """
    name = page_name(page_arg(raw))
    wiki = get_wiki()
    if not wiki.pages.exists(name) and not wiki.talk.counts(name).total:
        lookup = wiki.pages.lookup(name) if follow else None
        if lookup is not None and lookup.kind in (LookupKind.REDIRECT, LookupKind.CASE) and can_read(lookup.name):
            abort(redirect(action_url("talk", lookup.name, **request.args.to_dict())))
        abort(404, f"There is no page named {name}.")
    return name


# -- quotes ----------------------------------------------------------------------------

def _normal(text: str) -> str:
    return " ".join(text.split())


def page_text(name: str) -> str | None:
    """The current page's visible text, whitespace-normalized (None for a deleted page)."""
    wiki = get_wiki()
    page = wiki.pages.get(name)
    if page is None:
        return None
    rendered = wiki.renderer.render(lambda: page.markdown, page.name, cache_key=page.blob)
    return _normal(html_to_text(rendered.html))


def quote_outdated(quote: str | None, text: str | None) -> bool:
    """Whether a thread's quote no longer appears in the page's current text.

    The quote goes through the same text extraction as the page (html_to_text of the
    escaped quote), so both sides drop the same symbols; spacing is not compared, since
    a browser's selection spaces block boundaries differently.
    """
    if not quote:
        return False
    if text is None:
        return True
    wanted = _normal(html_to_text(html_lib.escape(quote)))
    return wanted not in text and "".join(wanted.split()) not in "".join(text.split())


# -- rendering -------------------------------------------------------------------------

def comment_html(name: str, comment: Comment) -> str:
    """A comment's sanitized HTML, with links to pages this visitor cannot see marked missing."""
    if comment.deleted:
        return ""
    return body_html(name, comment.body)


def body_html(name: str, body: str) -> str:
    wiki = get_wiki()
    rendered = wiki.renderer.render_comment(body, name)
    if not rendered.links:
        return rendered.html
    from .files import link_target_exists  # pages, and files beside them
    return wiki.renderer.mark_missing(rendered.html, link_target_exists)


# -- views -----------------------------------------------------------------------------

@_route("/-/talk", methods=["GET", "POST"])
def talk(page: str | None = None):
    """The page's threads (start one by POST), or with ?thread= one thread (reply by POST)."""
    name = talk_page(page, follow=request.method == "GET")
    thread_id = request.values.get("thread")
    if request.method == "POST":
        return _reply(name, thread_id) if thread_id else _start(name)
    if thread_id:
        return _thread_view(name, get_wiki().talk.thread(name, thread_id))
    return _talk_list(name)


def _talk_list(name: str, form: dict | None = None, error: str | None = None, status: int = 200):
    wiki = get_wiki()
    threads = wiki.talk.threads(name)
    form = form or {"title": "", "body": "", "quote": request.args.get("quote", "")[:4000],
                    "revision": request.args.get("revision", "")}
    text = page_text(name) if any(t.quote for t in threads) else None
    return render_template(
        "talk.html", name=name, exists=wiki.pages.exists(name),
        open_threads=[t for t in threads if not t.resolved], resolved_threads=[t for t in threads if t.resolved],
        outdated={t.id for t in threads if t.quote and quote_outdated(t.quote, text)},
        form=form, error=error, may_comment=may_comment(name), allowed_tags=ALLOWED_TAGS,
    ), status


def start_thread(name: str, title: str, body: str, quote: str | None = None, revision: str | None = None) -> str:
    """Start a thread as the current user, then watch and notify (the views' and the API's one way)."""
    thread_id, result = get_wiki().talk.start(name, title, body, current_author(), current_actor().name,
                                              quote=quote, revision=revision)
    comment_posted(name, thread_id, body, result.commit)
    return thread_id


def post_reply(name: str, thread: Thread, body: str, reply_to: str | None) -> str:
    """Reply as the current user; the author replied to (or the thread's) is told."""
    comment_id, result = get_wiki().talk.reply(name, thread.id, body, current_author(), current_actor().name,
                                               reply_to)
    replied = (thread.comment(reply_to) or thread.opening).author if reply_to else thread.author
    comment_posted(name, thread.id, body, result.commit, replied)
    return comment_id


def _start(name: str):
    ensure_comment(name)
    form = {key: request.form.get(key, "") for key in ("title", "body", "quote", "revision")}
    try:
        thread_id = start_thread(name, form["title"], form["body"], form["quote"] or None,
                                 form["revision"] or None)
    except BadTalk as e:
        return _talk_list(name, form, str(e), 400)
    flash("Thread started.", "ok")
    return redirect(talk_url(name, thread_id))


def _thread_view(name: str, t: Thread, reply: dict | None = None, edit: dict | None = None,
                 error: str | None = None, status: int = 200):
    """The thread page; `reply` or `edit` ({"comment": id, "body": text}) reopen a form with an error."""
    if edit is None and request.args.get("edit"):
        target = t.comment(request.args["edit"])
        if target is None:
            raise TalkNotFound(request.args["edit"])
        if not may_change(target):
            abort(403, "Only the author of a comment (or an admin) may change it.")
        edit = {"comment": target.id, "body": target.body}
    comments = t.tree()
    wiki = get_wiki()
    return render_template(
        "thread.html", name=name, thread=t, comments=comments, exists=wiki.pages.exists(name),
        html={c.id: comment_html(name, c) for c in comments},
        outdated=quote_outdated(t.quote, page_text(name)) if t.quote else False,
        reply=reply, edit=edit, error=error, may_comment=may_comment(name), may_resolve=may_resolve(t),
        may_change=may_change, allowed_tags=ALLOWED_TAGS,
    ), status


def _reply(name: str, thread_id: str):
    ensure_comment(name)
    wiki = get_wiki()
    t = wiki.talk.thread(name, thread_id)
    body, reply_to = request.form.get("body", ""), request.form.get("reply_to") or None
    try:
        comment_id = post_reply(name, t, body, reply_to)
    except BadTalk as e:
        under = reply_to if reply_to and t.comment(reply_to) else ""  # else the form at the bottom
        return _thread_view(name, t, reply={"comment": under, "body": body}, error=str(e), status=400)
    flash("Reply posted.", "ok")
    return redirect(talk_url(name, t.id) + f"#c-{comment_id}")


@_route("/-/talk-edit", methods=["POST"])
def edit_comment(page: str | None = None):
    name = talk_page(page)
    ensure_comment(name)
    wiki = get_wiki()
    t = wiki.talk.thread(name, _arg("thread"))
    comment_id, body = _arg("comment"), request.form.get("body", "")
    comment = t.comment(comment_id)
    if comment is None:
        raise TalkNotFound(comment_id)
    try:
        wiki.talk.edit(name, t.id, comment_id, body, current_author(), current_actor().name, may_moderate())
    except BadTalk as e:
        if not may_change(comment):  # deleted meanwhile, or not theirs: no form to show again
            raise
        return _thread_view(name, t, edit={"comment": comment_id, "body": body}, error=str(e), status=400)
    flash("Comment saved.", "ok")
    return redirect(talk_url(name, t.id) + f"#c-{comment_id}")


@_route("/-/talk-delete", methods=["POST"])
def delete_comment(page: str | None = None):
    name = talk_page(page)
    ensure_logged_in()
    wiki = get_wiki()
    thread_id, comment_id = _arg("thread"), _arg("comment")
    wiki.talk.delete(name, thread_id, comment_id, current_author(), current_actor().name, may_moderate())
    flash("Comment deleted; replies to it stay.", "ok")
    return redirect(talk_url(name, thread_id) + f"#c-{comment_id}")


@_route("/-/talk-status", methods=["POST"])
def set_status(page: str | None = None):
    name = talk_page(page)
    ensure_logged_in()
    kind = request.form.get("status", "")
    if kind not in ("resolved", "reopened"):
        abort(400, "Say status=resolved or status=reopened.")
    wiki = get_wiki()
    t = wiki.talk.thread(name, _arg("thread"))
    wiki.talk.set_status(name, t.id, kind, current_author(), current_actor().name, may_change=can_write(name))
    flash("Thread resolved." if kind == "resolved" else "Thread reopened.", "ok")
    return redirect(talk_url(name, t.id))


@_route("/-/talk-history")
def comment_history(page: str | None = None):
    name = talk_page(page)
    wiki = get_wiki()
    t = wiki.talk.thread(name, _arg("thread"))
    comment = t.comment(_arg("comment"))
    if comment is None:
        raise TalkNotFound(request.args.get("comment"))
    if comment.deleted and not may_moderate():
        abort(404, "This comment was deleted.")
    versions = wiki.talk.comment_history(name, t.id, comment.id)
    return render_template("comment_history.html", name=name, thread=t, comment=comment,
                           versions=[(sha, when, who, body_html(name, body)) for sha, when, who, body in versions])


def _arg(key: str) -> str:
    value = request.values.get(key, "")
    if not value:
        abort(400, f"Say which {key}: ?{key}=<id>")
    return value


# -- the JSON shape (shared with api.py) ---------------------------------------------------

def _iso(when) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def comment_json(name: str, c: Comment) -> dict:
    return {"id": c.id, "author": c.author, "name": c.name, "date": _iso(c.date),
            "body": "" if c.deleted else c.body, "html": comment_html(name, c), "reply_to": c.reply_to,
            "edited": _iso(c.edited), "deleted": c.deleted,
            "replies": [comment_json(name, r) for r in c.replies]}


def thread_json(t: Thread, text: str | None) -> dict:
    """A thread with its comments nested as replies; `text` is the current page text (page_text),
    which marks a quote `outdated`."""
    tree = t.tree()
    return {"id": t.id, "page": t.page, "title": t.title, "author": t.author, "name": t.name,
            "status": t.status, "quote": t.quote, "revision": t.revision,
            "outdated": quote_outdated(t.quote, text), "created": _iso(t.date),
            "last_activity": _iso(t.last_activity), "reply_count": t.reply_count,
            "comments": [comment_json(t.page, c) for c in tree if c.depth == 0]}


def threads_json(name: str) -> list[dict]:
    threads = get_wiki().talk.threads(name)
    text = page_text(name) if any(t.quote for t in threads) else None
    return [thread_json(t, text) for t in threads]


# -- wiring ----------------------------------------------------------------------------

def init_app(app) -> None:
    app.register_blueprint(bp)

    map_errors(app, {BadTalk: Answer(400, "Bad comment"), NotAllowed: Answer(403, "Not allowed")})

    @app.errorhandler(TalkNotFound)
    def talk_not_found(e: TalkNotFound):
        what = f" {e.args[0]}" if e.args and e.args[0] else ""
        return error_response(404, "Thread or comment not found", f"There is no thread or comment{what} here.")

    def talk_counts(name: str):
        return get_wiki().talk.counts(name)

    app.jinja_env.globals.update(talk_counts=talk_counts, may_comment=may_comment)
    app.jinja_env.filters["isodate"] = _iso
