"""Page routes: view, edit, create, rename, delete, raw, the page list, preview."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request

from ..core import names
from ..core import pagetemplates
from ..core.pages import Conflict, LookupKind, Page, SaveStatus
from ..core.render import pygments_css
from ..core.sections import SectionNotFound, get_section, replace_section, split_sections
from . import get_wiki
from .conflicts import Subject, conflict_text
from .access import can_read, can_write, current_actor, current_author, deny_anonymous, policy
from .status import embed_dashboards
from .routing import page_arg, page_name
from .templating import page_url
from . import metaform, routing
from .viewcache import as_html, cached_view
from .watch import auto_watch

bp = Blueprint("pages", __name__)

_STATUS_MESSAGES = {
    SaveStatus.CREATED: "Page created.",
    SaveStatus.SAVED: "Saved.",
    SaveStatus.MERGED: "Saved. Someone changed this page while you edited; your changes were merged with theirs.",
    SaveStatus.UNCHANGED: "No changes to save.",
}


def _visible(name: str, commit: str | None = None) -> bool:
    """Exists and may be read: a hidden page is shown as missing, like any absent one."""
    from .files import link_target_exists  # pages, files beside them, and renamed pages' old names
    return link_target_exists(name, commit)


_SECTION_EDIT = re.compile(r' ?<a class="edit-section" href="[^"]*">edit</a>')


def strip_section_edits(html: str) -> str:
    return _SECTION_EDIT.sub("", html)


def _rendered(page: Page, editable: bool = True) -> tuple[str, object]:
    wiki = get_wiki()
    rendered = wiki.renderer.render(lambda: page.markdown, page.name, cache_key=page.blob)
    html = rendered.html
    if rendered.links:
        html = wiki.renderer.mark_missing(html, lambda n: _visible(n, page.commit))
    if not editable or not can_write(page.name):  # no section edit links on old revisions either
        html = strip_section_edits(html)
    return html, rendered


@bp.route("/")
def home():
    return redirect(page_url("Home"))


def page_route(rule: str, **options):
    return routing.page_route(bp, rule, **options)


@page_route("")
@cached_view
def view(page: str | None = None):
    return _view(page_arg(page))


def _view(page: str):
    if page.endswith("/") and page.strip("/"):
        return redirect(page_url("-/pages/" + page.strip("/")))
    name = page_name(page)
    wiki = get_wiki()
    rev = request.args.get("rev") or None
    found = wiki.pages.get(name, rev)
    if found is None:
        if rev:
            abort(404, f"The page {name} did not exist at revision {rev}.")
        if "." in names.base_name(name):
            from .files import serve_file  # safe headers, read access of the owning page, moved files
            served = serve_file(name)
            if served is not None:
                return served
        lookup = wiki.pages.lookup(name)
        if lookup.kind in (LookupKind.REDIRECT, LookupKind.CASE) and not can_read(lookup.name):
            lookup = lookup.__class__("missing", name)
        if lookup.kind is LookupKind.AMBIGUOUS:
            readable = policy().readable(current_actor(), lookup.candidates)
            if len(readable) == 1:
                return redirect(page_url(readable[0]), 301)
            lookup = lookup.__class__("ambiguous", name, tuple(readable)) if readable \
                else lookup.__class__("missing", name)
        if lookup.kind in (LookupKind.REDIRECT, LookupKind.CASE):
            query = {"redirected_from": name} if lookup.kind is LookupKind.REDIRECT else {}
            return redirect(page_url(lookup.name, **query), 301 if lookup.kind is LookupKind.CASE else 302)
        if lookup.kind is LookupKind.AMBIGUOUS:
            return render_template("ambiguous.html", name=name, candidates=lookup.candidates), 300
        return render_template("missing.html", name=name), 404
    html, rendered = _rendered(found, editable=rev is None)
    html = embed_dashboards(html)
    meta = wiki.status.meta_of_blob(found.blob)
    row = wiki.status.row(name) if rev is None and (meta.status or meta.review_every) else None
    older = newer = None
    if rev:
        older, newer = wiki.history.neighbours(name, found.commit)
    return as_html(render_template(
        "page.html", page=found, html=html, rendered=rendered, rev=rev, older=older, newer=newer,
        redirected_from=request.args.get("redirected_from"), meta=meta, row=row,
    ))


@page_route("/-/raw")
def raw(page: str | None = None):
    page = page_arg(page)
    name = page_name(page)
    found = get_wiki().pages.get(name, request.args.get("rev") or None)
    if found is None:
        abort(404, f"There is no page named {name}.")
    response = Response(found.markdown, mimetype="text/markdown")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.set_etag(found.blob)
    return response.make_conditional(request)


@page_route("/-/edit", methods=["GET", "POST"])
def edit(page: str | None = None):
    page = page_arg(page)
    name = page_name(page, "write")
    wiki = get_wiki()
    section = request.values.get("section", type=int)
    if request.method == "POST":
        return _save(name, section)
    found = wiki.pages.get(name)
    if found is None:
        names.check_new_name(name)
        text, base = _template_text(name) or request.args.get("text", ""), ""
    else:
        text, base = found.markdown, found.commit
        if section is not None:
            try:
                text = get_section(found.markdown, section)
            except SectionNotFound:
                abort(404, f"The page {name} has no section {section}.")
    section_title = None
    if section is not None and found is not None:
        section_title = next((s.title for s in split_sections(found.markdown) if s.number == section), None)
    return render_template("edit.html", name=name, text=text, base=base, page=found,
                           section=section, section_title=section_title, message="",
                           meta_form=None if section is not None else metaform.form_for(text, wiki.statuses),
                           templates=_templates() if found is None else [])


def _templates() -> list[str]:
    return [t for t in pagetemplates.available(get_wiki().pages) if can_read(t)]


def _template_text(name: str) -> str | None:
    """The chosen template (?template=Templates/...) with its placeholders filled, or None."""
    chosen = request.args.get("template") or ""
    if not chosen.startswith(pagetemplates.FOLDER + "/") or not can_read(chosen):
        return None
    found = get_wiki().pages.get(chosen)
    if found is None:
        return None
    return pagetemplates.instantiate(found.markdown, name, current_author().name)


def _with_meta_form(name: str, text: str) -> tuple[str, str | None]:
    """Apply the metadata form; (text, problem) where a problem keeps the editor open."""
    try:
        text = metaform.apply(text, request.form)
    except ValueError as e:
        return text, str(e)
    text = pagetemplates.instantiate(text, name, current_author().name) if request.form.get("from_template") \
        else text
    bad = metaform.problems(text, get_wiki().statuses)
    return text, (" ".join(bad) + " Fix the front matter, or clear the field, and save again.") if bad else None


def _save(name: str, section: int | None):
    wiki = get_wiki()
    text = request.form.get("text", "")
    message = request.form.get("message", "")
    base = request.form.get("base") or None
    if section is None:
        text, problem = _with_meta_form(name, text)
        if problem:
            found = wiki.pages.get(name)
            return render_template("edit.html", name=name, text=text, base=base or "", page=found,
                                   section=None, section_title=None, message=message, error=problem,
                                   meta_form=metaform.form_for(text, wiki.statuses), templates=[]), 400
    if section is not None:
        if base is None:
            abort(400, "A section edit needs the revision it started from.")
        original = wiki.pages.get(name, base)
        if original is None:
            abort(409, "The page no longer exists.")
        try:
            text = replace_section(original.markdown, section, text)
        except SectionNotFound:
            abort(400, f"The page has no section {section}.")
    try:
        result = wiki.pages.save(name, text, current_author(), message, base)
    except Conflict as conflict:
        return _conflict_page(name, conflict, text, message)
    auto_watch(name)
    flash(_STATUS_MESSAGES[result.status], "merged" if result.merged else "ok")
    return redirect(page_url(name))


def _conflict_page(name: str, conflict: Conflict, yours: str, message: str):
    wiki = get_wiki()
    head = wiki.pages.head()
    return render_template("conflict.html", name=name, conflict=conflict, yours=yours,
                           message=message, base=head or ""), 409


def _ensure_may_create() -> None:
    if not policy().can_write_somewhere(current_actor()):
        if not current_actor().authenticated:
            deny_anonymous()
        abort(403, "You may not create pages.")


@bp.route("/-/new", methods=["GET", "POST"])
def new():
    _ensure_may_create()
    statuses = get_wiki().statuses
    if request.method == "GET":
        name = request.args.get("name", "")
        text = _template_text(name) or ""
        return render_template("new.html", name=name, text=text, message="", error=None, templates=_templates(),
                               meta_form=metaform.form_for(text, statuses),
                               template=request.args.get("template") if text else None)
    raw_name = request.form.get("name", "").strip().strip("/")
    text, problem = _with_meta_form(raw_name, request.form.get("text", ""))
    message = request.form.get("message", "")
    if problem:
        return render_template("new.html", name=raw_name, text=text, message=message, error=problem,
                               templates=[], meta_form=metaform.form_for(text, statuses)), 400
    try:
        name = names.check_new_name(raw_name)
    except names.BadPageName as e:
        return render_template("new.html", name=raw_name, text=text, message=message, error=e.rule), 400
    if not policy().can_write(current_actor(), name):
        return render_template("new.html", name=raw_name, text=text, message=message,
                               error=f"You may not create pages in {names.folder_of(name) or 'this place'}."), 403
    try:
        get_wiki().pages.save(name, text, current_author(), message, None)
    except Conflict as conflict:
        return render_template("new.html", name=raw_name, text=text, message=message,
                               error=conflict_text(conflict, Subject.PAGE, name),
                               existing=conflict.other or name), 409
    auto_watch(name)
    flash(_STATUS_MESSAGES[SaveStatus.CREATED], "ok")
    return redirect(page_url(name))


def _existing_page(page: str | None) -> tuple[str, Page]:
    name = page_name(page_arg(page), "write")
    found = get_wiki().pages.get(name)
    if found is None:
        abort(404, f"There is no page named {name}.")
    return name, found


@page_route("/-/rename", methods=["GET", "POST"])
def rename(page: str | None = None):
    name, found = _existing_page(page)
    wiki = get_wiki()
    if request.method == "GET":
        return render_template("rename.html", page=found, new_name=name, message="", error=None,
                               linking=[p for p in wiki.search.links_to(name) if can_read(p)])
    new_name = request.form.get("new_name", "").strip().strip("/")
    message = request.form.get("message", "")
    try:
        if not policy().can_write(current_actor(), names.check_name(new_name)):
            return render_template("rename.html", page=found, new_name=new_name, message=message,
                                   error="You may not create pages under that name."), 403
        result = wiki.pages.rename(name, new_name, current_author(), message,
                                   request.form.get("base") or None)
    except names.BadPageName as e:
        return render_template("rename.html", page=found, new_name=new_name, message=message, error=e.rule), 400
    except Conflict as conflict:
        return render_template("rename.html", page=found, new_name=new_name, message=message,
                               error=conflict_text(conflict, Subject.PAGE, new_name)), 409
    auto_watch(result.name, renamed_from=name)
    linking = [p for p in wiki.search.links_to(name) if can_read(p)]
    flash(f"Renamed {name} to {result.name}. The old name redirects here"
          + (f"; {len(linking)} page{'s' if len(linking) != 1 else ''} still link to the old name: "
             + ", ".join(linking[:10]) + ("…" if len(linking) > 10 else "") if linking else "") + ".", "ok")
    return redirect(page_url(result.name))


@page_route("/-/delete", methods=["GET", "POST"])
def delete(page: str | None = None):
    name, found = _existing_page(page)
    wiki = get_wiki()
    if request.method == "GET":
        return render_template("delete.html", page=found, error=None)
    try:
        wiki.pages.delete(name, current_author(), request.form.get("message", ""),
                          request.form.get("base") or None)
    except Conflict:
        return render_template("delete.html", page=wiki.pages.get(name),
                               error="The page changed since you opened this form; "
                                     "check the new version before deleting it."), 409
    flash(f"Deleted {name}. It stays in the history.", "ok")
    return redirect(page_url("Home"))


@bp.route("/-/pages")
@bp.route("/-/pages/<path:folder>")
@cached_view
def page_list(folder: str = ""):
    folder = folder.strip("/")
    if folder:
        folder = names.check_name(folder)
    wiki = get_wiki()
    prefix = folder + "/" if folder else ""
    readable = policy()
    actor = current_actor()
    entries = [(n, c) for n, c in wiki.pages.pages_with_changes()
               if n.startswith(prefix) and readable.can_read(actor, n)]
    if folder and not entries:
        abort(404, f"There is no folder named {folder}.")
    return render_template("pages.html", folder=folder, tree=_tree(entries, prefix), count=len(entries))


def _tree(entries, prefix: str) -> dict:
    """Nest a sorted list of pages into folders for the page list."""
    root: dict = {"folders": {}, "pages": [], "total": 0}
    for name, change in entries:
        parts = name[len(prefix):].split("/")
        node = root
        for i, part in enumerate(parts[:-1]):
            node = node["folders"].setdefault(part, {"folders": {}, "pages": [], "total": 0,
                                                     "path": prefix + "/".join(parts[: i + 1])})
            node["total"] += 1
        node["pages"].append((name, parts[-1], change))
    return root


@bp.route("/-/preview", methods=["POST"])
def preview():
    _ensure_may_create()
    name = request.form.get("name") or "Preview"
    try:
        name = names.check_name(name)
    except names.BadPageName:
        name = "Preview"
    wiki = get_wiki()
    rendered = wiki.renderer.render(request.form.get("text", ""), name)
    html = wiki.renderer.mark_missing(rendered.html, _visible) if rendered.links else rendered.html
    return Response(html, mimetype="text/html")


@bp.route("/-/highlight.css")
def highlight_css():
    response = Response(pygments_css(), mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
