"""JSON API under /-/api/v1/: pages as resources.

Authentication: ``Authorization: Bearer <token>`` (then no CSRF token is
needed), or the browser session (then writes carry the X-CSRFToken header,
as every state-changing request of a session does). 401 asks for
credentials (with ``WWW-Authenticate: Bearer``), 403 refuses them, and a
page one may not read is 404.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, request, url_for

from ..core import names
from ..core.gitrepo import Change, UnknownRevision
from ..core.history import BadCursor
from ..core.frontmatter import parse as parse_front_matter, with_meta
from ..core.pages import Conflict, PageNotFound, SaveStatus
from . import get_wiki
from . import talk
from .access import can_write, current_actor, current_author, ensure_write, policy
from .errors import error_response
from .conflicts import Subject, conflict_json
from .routing import page_name

bp = Blueprint("api", __name__, url_prefix="/-/api/v1")


def _change_json(change: Change | None) -> dict:
    if change is None:
        return {"updated": None, "author": None}
    return {"updated": change.time, "author": {"name": change.author.name, "email": change.author.email},
            "message": change.summary}


def _json_body() -> dict:
    if not request.is_json:
        abort(415, "Send the body as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "The body must be a JSON object.")
    try:  # JSON may escape a lone surrogate (\ud800), which is no character and cannot be stored
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        abort(400, "The body holds text that is not valid Unicode (a lone surrogate escape such as \\ud800).")
    return body


def _string(body: dict, key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            abort(400, f"'{key}' is required.")
        return None
    if not isinstance(value, str):
        abort(400, f"'{key}' must be a string.")
    return value


@functools.cache
def openapi_document() -> dict:
    """The API's description as written in openapi.yaml beside this file (read once per process)."""
    import yaml

    return yaml.safe_load(Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    """This API in OpenAPI 3.1, for clients and their generators; the server is this wiki's own prefix."""
    document = {**openapi_document(), "servers": [{"url": request.script_root + bp.url_prefix}]}
    return current_app.response_class(json.dumps(document, ensure_ascii=False), mimetype="application/json")


@bp.get("/pages")
def list_pages():
    wiki = get_wiki()
    readable, actor = policy(), current_actor()
    return jsonify(pages=[
        {"path": name, "revision": change.sha if change else None, **_change_json(change)}
        for name, change in wiki.pages.pages_with_changes() if readable.can_read(actor, name)
    ], head=wiki.pages.head())


@bp.get("/pages/<path:page>")
def get_page(page: str):
    name = page_name(page)
    wiki = get_wiki()
    found = wiki.pages.get(name, request.args.get("rev") or None)
    if found is None:
        raise PageNotFound(name)
    rendered = wiki.renderer.render(found.markdown, found.name, cache_key=found.blob)
    html = rendered.html
    if rendered.links:
        from .files import link_target_exists
        html = wiki.renderer.mark_missing(html, lambda n: link_target_exists(n, found.commit))
    meta = wiki.status.meta_of_blob(found.blob)
    return jsonify(path=found.name, title=meta.title or rendered.title or names.base_name(found.name),
                   markdown=found.markdown, html=html, revision=found.revision,
                   commit=found.commit, meta=meta.as_json(), meta_problems=list(meta.problems),
                   **_change_json(found.change))


@bp.put("/pages/<path:page>")
def put_page(page: str):
    name = page_name(page, "write")
    body = _json_body()
    markdown = _string(body, "markdown", required=True)
    message = _string(body, "message") or ""
    base = _string(body, "base")
    if base is not None and not base.strip():
        base = None
    meta = body.get("meta")
    if meta is not None:  # fields to set in the front matter (null removes one), the rest kept
        if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
            return error_response(400, "bad meta", "meta must be an object of front matter fields")
        try:
            markdown = with_meta(markdown, meta)
        except ValueError as e:
            return error_response(400, "bad front matter", str(e))
    problems = list(parse_front_matter(markdown, get_wiki().statuses)[0].problems)
    if problems:
        return error_response(400, "bad front matter", " ".join(problems))
    result, refusal = _attempt(lambda: get_wiki().pages.save(name, markdown, current_author(), message, base))
    return refusal or _saved(name, result)


@bp.get("/status")
def status_board():
    """Every page with a status (in ?folder= and below), as the dashboard shows them."""
    from .status import board_rows
    folder = (request.args.get("folder") or "").strip().strip("/") or None
    if folder:
        names.check_name(folder)
    rows = board_rows(folder, status=request.args.get("status") or None, owner=request.args.get("owner") or None,
                      overdue=request.args.get("overdue") == "1")
    wiki = get_wiki()
    return jsonify(folder=folder, counts=dict(wiki.status.counts(rows)), pages=[{
        "path": r.page, "meta": r.meta.as_json(), "status": r.meta.status, "owner": r.meta.owner,
        "last_change": _iso(r.last_change.time) if r.last_change else None,
        "next_review": r.next_review.isoformat() if r.next_review else None, "overdue": r.overdue,
        "open_threads": r.open_threads, "edits_per_week": list(r.activity)} for r in rows])


@bp.get("/tags")
def tag_list():
    found = get_wiki().status.tags(readable=lambda n: policy().can_read(current_actor(), n))
    return jsonify([{"tag": t, "count": len(p), "pages": p} for t, p in sorted(found.items())])


def _attempt(action):
    """Run a write; a conflict answers 409 with both texts, an unknown base revision 400."""
    try:
        return action(), None
    except Conflict as conflict:
        return None, conflict_json(conflict)
    except UnknownRevision as e:
        return None, error_response(400, "unknown revision",
                                    f"{e.args[0] if e.args else 'That'} is not a revision of this wiki.")


def _saved(name: str, result):
    status = 201 if result.status is SaveStatus.CREATED else 200
    return jsonify(path=result.name, status=result.status.value, merged=result.merged,
                   revision=result.commit or get_wiki().pages.last_change(name).sha,
                   commit=result.commit), status


@bp.delete("/pages/<path:page>")
def delete_page(page: str):
    name = page_name(page, "write")
    base = request.args.get("base") or None
    message = request.args.get("message") or ""
    result, refusal = _attempt(lambda: get_wiki().pages.delete(name, current_author(), message, base))
    return refusal or jsonify(path=name, status="deleted", commit=result.commit)


@bp.post("/pages/<path:page>/move")
def move_page(page: str):
    name = page_name(page, "write")
    body = _json_body()
    target = _string(body, "to", required=True)
    ensure_write(names.check_name(target))
    message, base = _string(body, "message") or "", _string(body, "base") or None
    result, refusal = _attempt(lambda: get_wiki().pages.rename(name, target, current_author(), message, base))
    return refusal or jsonify(path=result.name, **{"from": name}, status="renamed", commit=result.commit)


# -- history ---------------------------------------------------------------------------

def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def _limit() -> int:
    limit = request.args.get("limit", type=int) or 50
    return max(1, min(500, limit))


@bp.get("/pages/<path:page>/history")
def page_history(page: str):
    name = page_name(page)
    try:
        result = get_wiki().history.page_history(name, request.args.get("cursor"), _limit())
    except BadCursor as e:
        return error_response(400, "bad cursor", str(e))
    if not result.total:
        raise PageNotFound(name)
    response = jsonify([{"revision": r.commit, "author": r.author.name, "email": r.author.email,
                         "date": _iso(r.time), "message": r.message, "path": r.name, "status": r.status,
                         "old_path": r.old_name, "size_delta": r.size_delta} for r in result.revisions])
    response.headers["X-Total-Count"] = str(result.total)
    return _paged(response, result.next_cursor)


def _paged(response, next_cursor: str | None):
    """Lists are JSON arrays; the next page is in the Link header (and X-Next-Cursor)."""
    if next_cursor:
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = next_cursor
        link = url_for(request.endpoint, **(request.view_args or {}), **args)
        response.headers["Link"] = f'<{link}>; rel="next"'
        response.headers["X-Next-Cursor"] = next_cursor
    return response


@bp.get("/pages/<path:page>/diff")
def page_diff(page: str):
    name = page_name(page)
    d = get_wiki().history.page_diff(name, request.args.get("from") or None, request.args.get("to") or None)
    return jsonify(
        path=name, **{"from": d.old_commit, "to": d.new_commit}, from_path=d.old_name, added=d.diff.added,
        removed=d.diff.removed, unified=d.diff.unified(f"a/{d.old_name or name}", f"b/{name}"),
        hunks=[{"old_start": h.old_start, "old_count": h.old_count, "new_start": h.new_start,
                "new_count": h.new_count,
                "lines": [{"kind": ln.kind.value, "old": ln.old_no, "new": ln.new_no, "text": ln.text,
                           "segments": [[s.kind.value, s.text] for s in ln.segments]} for ln in h.lines]}
               for h in d.diff.hunks])


@bp.get("/pages/<path:page>/blame")
def page_blame(page: str):
    name = page_name(page)
    rev = request.args.get("rev") or None
    try:
        groups = get_wiki().history.blame(name, rev)
    except UnknownRevision:
        raise PageNotFound(name) from None
    return jsonify(path=name, rev=rev, lines=[
        {"line": line.number, "text": line.text, "commit": g.commit, "author": g.author.name,
         "email": g.author.email, "date": _iso(g.time), "summary": g.summary}
        for g in groups for line in g.lines])


@bp.get("/recent")
def recent():
    wiki = get_wiki()
    folder = (request.args.get("folder") or "").strip().strip("/") or None
    if folder:
        names.check_name(folder)
    try:
        changes, next_cursor, _ = wiki.history.recent(request.args.get("cursor"), _limit(),
                                                      request.args.get("author") or None, folder)
    except BadCursor as e:
        return error_response(400, "bad cursor", str(e))
    readable, actor = policy(), current_actor()
    out = []
    for change in changes:
        pages = [(n, f) for n, f in change.pages if readable.can_read(actor, n)]
        talk = [(n, t) for n, t in change.talk if readable.can_read(actor, n)]
        if not pages and not talk:
            continue
        e = change.entry
        hidden = len(pages) < len(change.pages) or len(talk) < len(change.talk)
        out.append({"revision": e.sha, "author": e.author.name, "email": e.author.email, "date": _iso(e.time),
                    "message": None if hidden else e.message,
                    "pages": [{"path": n, "status": f.status,
                               "old_path": names.page_name(f.old_path) if f.old_path else None} for n, f in pages],
                    "talk": [{"path": n, "thread": t} for n, t in talk]})
    return _paged(jsonify(out), next_cursor)


@bp.post("/pages/<path:page>/revert")
def revert_page(page: str):
    name = page_name(page, "write")
    body = _json_body()
    to = _string(body, "to", required=True)
    base = _string(body, "base") or None
    try:
        result = get_wiki().history.revert(get_wiki().pages, name, to, current_author(), base,
                                           _string(body, "message") or "")
    except Conflict as conflict:
        return conflict_json(conflict)
    except UnknownRevision as e:  # the revision to restore does not exist: 404, like any unknown page
        return error_response(404, "unknown revision", str(e))
    return _saved(name, result)


@bp.get("/search")
def search():
    from .search import run_search

    q = (request.args.get("q") or "").strip()
    if not q:
        return error_response(400, "empty query", "Send the words to search for as ?q=")
    limit = _limit()
    try:
        offset = int(request.args.get("cursor") or 0)
    except ValueError:
        return error_response(400, "bad cursor", "The cursor is not one this wiki gave out.")
    result = run_search(q, max(0, offset), limit, request.args.get("history") in ("1", "true", "yes"))
    if result.error:
        return error_response(400, "bad query", result.error)
    response = jsonify(total=result.total, suggestion=result.suggestion, reindexing=result.reindexing,
                       results=[{"path": h.path, "title": h.title, "snippet_html": h.snippet_html,
                                 "score": None if h.score == float("inf") else round(h.score, 4),
                                 "source": h.source, "revision": h.revision, "thread": h.thread}
                                for h in result.hits],
                       next_cursor=str(offset + limit) if offset + limit < result.total else None)
    return response


# -- talk ------------------------------------------------------------------------------
# The same rules as the talk pages (web/talk.py): reading follows the page; writing needs
# an account that may comment; BadTalk is 400, NotAllowed 403, an unknown thread or
# comment 404 (handlers in web/talk.py).

@bp.get("/pages/<path:page>/talk")
def page_talk(page: str):
    name = talk.talk_page(page)
    return jsonify(page=name, exists=get_wiki().pages.exists(name), threads=talk.threads_json(name))


@bp.post("/pages/<path:page>/talk")
def start_thread(page: str):
    name = talk.talk_page(page)
    talk.ensure_comment(name)
    body = _json_body()
    title, text = _string(body, "title", required=True), _string(body, "body", required=True)
    quote, revision = _string(body, "quote"), _string(body, "revision")
    thread_id = talk.start_thread(name, title, text, quote or None, revision or None)
    return _thread(name, thread_id), 201


@bp.get("/pages/<path:page>/talk/<thread>")
def get_thread(page: str, thread: str):
    name = talk.talk_page(page)
    return _thread(name, thread)


def _thread(name: str, thread_id: str):
    t = get_wiki().talk.thread(name, thread_id)
    return jsonify(talk.thread_json(t, talk.page_text(name) if t.quote else None))


def _comment(name: str, thread_id: str, comment_id: str, status: int = 200):
    t = get_wiki().talk.thread(name, thread_id)
    t.tree()  # fills in replies
    return jsonify(thread=t.id, status=t.status, **talk.comment_json(name, t.comment(comment_id))), status


@bp.post("/pages/<path:page>/talk/<thread>/comments")
def add_comment(page: str, thread: str):
    name = talk.talk_page(page)
    talk.ensure_comment(name)
    body = _json_body()
    text, reply_to = _string(body, "body", required=True), _string(body, "reply_to")
    comment_id = talk.post_reply(name, get_wiki().talk.thread(name, thread), text, reply_to or None)
    return _comment(name, thread, comment_id, 201)


@bp.patch("/pages/<path:page>/talk/<thread>/comments/<comment>")
def edit_comment(page: str, thread: str, comment: str):
    name = talk.talk_page(page)
    talk.ensure_comment(name)
    text = _string(_json_body(), "body", required=True)
    get_wiki().talk.edit(name, thread, comment, text, current_author(), current_actor().name, talk.may_moderate())
    return _comment(name, thread, comment)


@bp.delete("/pages/<path:page>/talk/<thread>/comments/<comment>")
def delete_comment(page: str, thread: str, comment: str):
    name = talk.talk_page(page)
    talk.ensure_logged_in()
    get_wiki().talk.delete(name, thread, comment, current_author(), current_actor().name, talk.may_moderate())
    return _comment(name, thread, comment)


@bp.post("/pages/<path:page>/talk/<thread>/resolve")
def resolve_thread(page: str, thread: str):
    return _set_status(page, thread, "resolved")


@bp.post("/pages/<path:page>/talk/<thread>/reopen")
def reopen_thread(page: str, thread: str):
    return _set_status(page, thread, "reopened")


def _set_status(page: str, thread: str, kind: str):
    name = talk.talk_page(page)
    talk.ensure_logged_in()
    get_wiki().talk.set_status(name, thread, kind, current_author(), current_actor().name,
                               may_change=can_write(name))
    return _thread(name, thread)


# -- attachments and folders -----------------------------------------------------------
# Files beside a page (rules in web/files.py: reading follows the page, writing needs write
# access to it; bodies are raw bytes, at most WIKI_MAX_UPLOAD) and folder moves (web/folders.py).

@bp.get("/pages/<path:page>/files")
def list_files(page: str):
    from .files import _file_json, _page_with_files, attachments

    name = _page_with_files(page)
    return jsonify(page=name, limit=attachments().max_bytes,
                   files=[_file_json(name, f) for f in attachments().list(name)])


@bp.get("/pages/<path:page>/files/<file>")
def get_file(page: str, file: str):
    from .access import can_read
    from .files import attachments, file_response

    name = page_name(page)
    found = attachments().get(name, file, request.args.get("rev") or None)
    if found is None or not can_read(found[0].path):
        return error_response(404, "file not found", f"{name} has no file named {file}.")
    return file_response(found[0].path, found[1], found[0].blob)


@bp.put("/pages/<path:page>/files/<file>")
def put_file(page: str, file: str):
    from ..core.attachments import FileTooLarge, check_file_name
    from .files import _file_json, attachments

    name = page_name(page, "write")
    file = check_file_name(name, file)
    ensure_write(f"{name}/{file}")
    store = attachments()
    if (request.content_length or 0) > store.max_bytes:
        raise FileTooLarge(request.content_length, store.max_bytes)
    try:
        result = store.put(name, file, request.get_data(cache=False), current_author(),
                           request.args.get("message") or "")
    except Conflict as conflict:
        return conflict_json(conflict, Subject.FILE)
    return jsonify(status=result.status.value, commit=result.commit,
                   **_file_json(name, store.find(name, file))), 201 if result.status is SaveStatus.UPLOADED else 200


@bp.delete("/pages/<path:page>/files/<file>")
def delete_file(page: str, file: str):
    from .files import attachments

    name = page_name(page, "write")
    if "/" not in file:
        ensure_write(f"{name}/{file}")
    result = attachments().delete(name, file, current_author(), request.args.get("message") or "")
    return jsonify(page=name, name=file, status="deleted", commit=result.commit)


@bp.post("/folders/<path:folder>/move")
def move_folder(folder: str):
    from . import folders

    body = _json_body()
    target = _string(body, "to", required=True)
    flags = {}
    for key in ("rewrite_links", "with_page"):
        if not isinstance(body.get(key, False), bool):
            abort(400, f"'{key}' must be true or false.")
        flags[key] = body.get(key, False)
    try:
        result = folders.move(folder, target, _string(body, "message") or "", **flags)
    except Conflict as conflict:
        return conflict_json(conflict, Subject.FOLDER, target)
    return jsonify(**{"from": result.folder}, to=result.name, status="moved", commit=result.commit,
                   pages=[{"from": old, "to": new} for old, new in result.pages],
                   files=[{"from": old, "to": new} for old, new in result.files],
                   threads=result.threads, rewritten=list(result.rewritten))
