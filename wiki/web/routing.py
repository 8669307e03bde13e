"""Routes of page actions: at `/-/<action>/<page>`, and at `/-/<action>?page=NAME`.

The query form exists for names a browser rewrites in a URL path (a last
part of `.` or `..`, such as tldr's `common/.`); templating.page_url and
action_url produce it for exactly those names.
"""

from __future__ import annotations

from flask import Blueprint, abort, request

from ..core import names
from .access import ensure_read, ensure_write


def page_route(bp: Blueprint, rule: str, suffix: str = "", **options):
    def decorator(view_func):
        bp.add_url_rule(f"{rule}/<path:page>{suffix}", view_func.__name__, view_func, **options)
        bp.add_url_rule((rule or "/-/view") + suffix, view_func.__name__ + "_by_query", view_func, **options)
        return view_func
    return decorator


def page_arg(page: str | None) -> str:
    page = page if page is not None else request.args.get("page")
    if not page:
        abort(400, "Say which page, e.g. ?page=Home")
    return page


def page_name(raw: str, access: str = "read") -> str:
    """Check a name from the URL and that the visitor may read (or write) it.

    The /-/ prefix belongs to the wiki's own routes.
    """
    if raw == "-" or raw.startswith("-/"):
        abort(404)
    name = names.check_name(raw)
    (ensure_write if access == "write" else ensure_read)(name)
    return name
