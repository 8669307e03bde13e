"""Search and links: /-/search, what links here, wanted and orphaned pages."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..core import names
from . import get_wiki
from .access import can_read, current_actor, policy
from .routing import page_arg, page_name, page_route

bp = Blueprint("search", __name__)
PER_PAGE = 20


def hidden_paths() -> list[str]:
    """Rule paths this visitor may not read: masked out of every search."""
    p, actor = policy(), current_actor()
    return [r.path for r in p.rules if r.read is not None and not p.can_read(actor, r.path.rstrip("/") + (
        "/x" if r.is_folder else ""))]


def run_search(q: str, offset: int, limit: int, history: bool):
    wiki = get_wiki()
    result = wiki.search.search(q, offset, limit, hidden_paths(), history)
    result.hits = [h for h in result.hits if can_read(h.path)]  # rules nested inside masked folders
    return result


@bp.route("/-/search")
def search():
    q = (request.args.get("q") or "").strip()
    history = request.args.get("history") == "1"
    page = max(1, request.args.get("page", type=int) or 1)
    if not q:
        return render_template("search.html", q=q, result=None, page=1, history=history, pages=0)
    result = run_search(q, (page - 1) * PER_PAGE, PER_PAGE, history)
    pages = (result.total + PER_PAGE - 1) // PER_PAGE
    return render_template("search.html", q=q, result=result, page=page, history=history, pages=pages)


@page_route(bp, "/-/backlinks")
def backlinks(page: str | None = None):
    name = page_name(page_arg(page))
    wiki = get_wiki()
    linking = [p for p in wiki.search.links_to(name) if can_read(p)]
    return render_template("backlinks.html", name=name, linking=linking, exists=wiki.pages.exists(name))


@bp.route("/-/wanted")
def wanted():
    wiki = get_wiki()
    existing = set(wiki.pages.listing())
    wanted: dict[str, list[str]] = {}
    for source, targets in wiki.search.all_links().items():
        if not can_read(source):
            continue
        for target in targets:
            if target not in existing and _creatable(target) and not _is_file(target):
                wanted.setdefault(target, []).append(source)
    rows = sorted(wanted.items(), key=lambda kv: (-len(kv[1]), kv[0].casefold()))
    return render_template("wanted.html", rows=rows)


def _is_file(name: str) -> bool:
    """A link to a file beside the pages (an attachment) is not a wanted page."""
    head = get_wiki().pages.head()
    return "." in names.base_name(name) and bool(head) and get_wiki().repo.blob_id(head, name) is not None


def _creatable(name: str) -> bool:
    try:
        names.check_new_name(name)
        return True
    except names.BadPageName:
        return False


@bp.route("/-/orphans")
def orphans():
    wiki = get_wiki()
    linked = set()
    for targets in wiki.search.all_links().values():
        linked |= targets
    rows = sorted((n for n in wiki.pages.listing() if n not in linked and n != "Home" and can_read(n)),
                  key=lambda n: (n.casefold(), n))
    return render_template("orphans.html", rows=rows)


def init_app(app) -> None:
    app.register_blueprint(bp)
