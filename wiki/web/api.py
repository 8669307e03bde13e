"""JSON API under /-/api/v1/: pages as resources.

Authentication: ``Authorization: Bearer <token>`` (then no CSRF token is
needed), or the browser session (then writes carry the X-CSRFToken header,
as every state-changing request of a session does). 401 asks for
credentials, 403 refuses them, and a page one may not read is 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from ..core import names
from ..core.gitrepo import Change, UnknownRevision
from ..core.pages import Conflict, PageNotFound
from . import get_wiki
from .access import current_actor, current_author, ensure_read, ensure_write, policy
from .errors import error_response

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


def _conflict(conflict: Conflict):
    body = {
        "error": "conflict",
        "reason": conflict.reason,
        "detail": {
            "exists": "The page already exists; send its revision as base to update it.",
            "conflict": "The page changed since base and the changes overlap.",
            "deleted": "The page was deleted since base.",
            "changed": "The page changed since base.",
            "case": f"A page whose name differs only in case exists: {conflict.other}.",
            "same": "The page already has that name.",
        }.get(conflict.reason, "conflict"),
        "path": conflict.name,
        "current": conflict.current,
        "revision": conflict.current_revision,
        "yours": conflict.yours,
    }
    if conflict.merged is not None:
        body["merged_with_conflicts"] = conflict.merged
    if conflict.other is not None:
        body["other"] = conflict.other
    return jsonify(body), 409


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
    name = names.check_name(page)
    ensure_read(name)
    wiki = get_wiki()
    found = wiki.pages.get(name, request.args.get("rev") or None)
    if found is None:
        raise PageNotFound(name)
    rendered = wiki.renderer.render(found.markdown, found.name, cache_key=found.blob)
    html = rendered.html
    if rendered.links:
        readable, actor = policy(), current_actor()
        html = wiki.renderer.mark_missing(
            html, lambda n: readable.can_read(actor, n) and wiki.pages.exists(n, found.commit))
    return jsonify(path=found.name, title=rendered.title or names.base_name(found.name),
                   markdown=found.markdown, html=html, revision=found.revision,
                   commit=found.commit, **_change_json(found.change))


@bp.put("/pages/<path:page>")
def put_page(page: str):
    name = names.check_name(page)
    ensure_write(name)
    body = _json_body()
    markdown = _string(body, "markdown", required=True)
    message = _string(body, "message") or ""
    base = _string(body, "base")
    if base is not None and not base.strip():
        base = None
    try:
        result = get_wiki().pages.save(name, markdown, current_author(), message, base)
    except Conflict as conflict:
        return _conflict(conflict)
    except UnknownRevision:
        return error_response(400, "unknown base", f"{base} is not a revision of this wiki.")
    status = 201 if result.status == "created" else 200
    return jsonify(path=result.name, status=result.status, merged=result.merged,
                   revision=result.commit or get_wiki().pages.last_change(name).sha,
                   commit=result.commit), status


@bp.delete("/pages/<path:page>")
def delete_page(page: str):
    name = names.check_name(page)
    ensure_write(name)
    base = request.args.get("base") or None
    message = request.args.get("message") or ""
    try:
        result = get_wiki().pages.delete(name, current_author(), message, base)
    except Conflict as conflict:
        return _conflict(conflict)
    except UnknownRevision:
        return error_response(400, "unknown base", f"{base} is not a revision of this wiki.")
    return jsonify(path=name, status="deleted", commit=result.commit)


@bp.post("/pages/<path:page>/move")
def move_page(page: str):
    name = names.check_name(page)
    ensure_write(name)
    body = _json_body()
    target = _string(body, "to", required=True)
    ensure_write(names.check_name(target))
    try:
        result = get_wiki().pages.rename(name, target, current_author(), _string(body, "message") or "",
                                         _string(body, "base") or None)
    except Conflict as conflict:
        return _conflict(conflict)
    except UnknownRevision:
        return error_response(400, "unknown base", "base is not a revision of this wiki.")
    return jsonify(path=result.name, **{"from": name}, status="renamed", commit=result.commit)
