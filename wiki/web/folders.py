"""Folder moves on the web: /-/rename-folder?folder=NAME (the API's folders/<folder>/move shares `move`).

A folder moves with all its pages, files and talk threads in one commit (``PageStore.rename_folder``),
leaving a redirect from every old name; "rewrite links" also points the links of other pages at the
new names in the same commit. The visitor must be allowed to change every page moved and every page
whose links are rewritten; a hidden page in the folder makes the move impossible (without naming it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for

from ..core import names
from ..core.pages import BadContent, Conflict, FolderMove, FolderNotFound, MoveNotAllowed
from . import get_wiki
from .conflicts import Subject, conflict_text
from .access import can_read, can_write, current_actor, current_author, deny_anonymous

bp = Blueprint("folders", __name__)
log = logging.getLogger(__name__)


@dataclass
class Contents:
    folder: str
    pages: list[str]  # readable pages in the folder
    files: list[str]  # readable other files (paths)
    hidden: int  # pages and files the visitor may not see
    threads: int  # talk files under .talk/<folder>/
    page_exists: bool  # a page named like the folder (whose files live in it)


def contents(folder: str) -> Contents:
    """What a move of the folder would carry; 404 when the visitor sees nothing in it."""
    try:
        folder = names.check_name(folder.strip().strip("/"))
    except names.BadPageName:
        abort(404, f"There is no folder named {folder}.")
    wiki = get_wiki()
    head = wiki.pages.head()
    found = wiki.repo.entry(head, folder) if head and not any(p.startswith(".") for p in folder.split("/")) else None
    if found is None or found[0] != b"40000":
        abort(404, f"There is no folder named {folder}.")
    pages, files, hidden = [], [], 0
    for rel, _, _ in wiki.pages._walk(found[1]):
        path = f"{folder}/{rel}"
        page = names.page_name(path)
        owner = names.folder_of(path)
        if page is not None:
            if can_read(page):
                pages.append(page)
            else:
                hidden += 1
        elif can_read(path) and can_read(owner):
            files.append(path)
        else:
            hidden += 1
    if not pages and not files:
        abort(404, f"There is no folder named {folder}.")
    talk = wiki.repo.entry(head, f".talk/{folder}")
    threads = sum(1 for _ in wiki.pages._walk(talk[1])) if talk and talk[0] == b"40000" else 0
    return Contents(folder, sorted(pages, key=str.casefold), sorted(files, key=str.casefold), hidden, threads,
                    can_read(folder) and wiki.pages.exists(folder))


def ensure_may_move(c: Contents) -> None:
    if c.hidden or not all(can_write(p) for p in c.pages) or not all(
            can_write(names.folder_of(f)) for f in c.files):
        _deny("You may not change every page in this folder, so you may not move it.")


def _deny(message: str):
    if not current_actor().authenticated:
        deny_anonymous()
    abort(403, message)


def move(folder: str, to: str, message: str = "", rewrite_links: bool = False,
         with_page: bool = False) -> FolderMove:
    """Move a folder as the visitor; refusals abort (404, 401/403), Conflict and BadPageName are raised."""
    c = contents(folder)
    ensure_may_move(c)
    target = names.check_new_name(to.strip().strip("/"))
    try:
        result = get_wiki().pages.rename_folder(c.folder, target, current_author(), message,
                                                rewrite_links=rewrite_links, with_page=with_page and c.page_exists,
                                                may_write=can_write)
    except MoveNotAllowed as e:
        _deny(f"You may not change {e.name}." if can_read(e.name) else
              "The move would change a page you may not change.")
    except FolderNotFound:
        abort(404, f"There is no folder named {c.folder}.")
    except BadContent as e:
        abort(400, str(e))
    try:  # watches follow the pages (the mover does not start watching every page moved)
        for old, new in result.pages:
            get_wiki().watches.renamed(old, new)
    except Exception:
        log.exception("could not carry watches along a folder move")
    return result


@bp.route("/-/rename-folder", methods=["GET", "POST"])
def rename_folder():
    folder = (request.values.get("folder") or "").strip().strip("/")
    if not folder:
        abort(400, "Say which folder, e.g. ?folder=Projects/Alpha")
    c = contents(folder)
    ensure_may_move(c)
    if request.method == "GET":
        return _form(c, c.folder, "", False, c.page_exists, None)
    to = request.form.get("new_folder", "").strip().strip("/")
    message = request.form.get("message", "")
    rewrite = request.form.get("rewrite_links") in ("1", "on", "true")
    with_page = request.form.get("with_page") in ("1", "on", "true")
    try:
        result = move(c.folder, to, message, rewrite, with_page)
    except names.BadPageName as e:
        return _form(c, to, message, rewrite, with_page, e.rule, 400)
    except Conflict as conflict:
        return _form(c, to, message, rewrite, with_page, conflict_text(conflict, Subject.FOLDER, to), 409)
    moved = len(result.pages)
    text = (f"Moved {c.folder}/ to {result.name}/: {moved} page{'s' if moved != 1 else ''}"
            + (f", {len(result.files)} file{'s' if len(result.files) != 1 else ''}" if result.files else "")
            + ". The old names redirect to the new ones")
    if result.rewritten:
        text += f"; links were updated in {len(result.rewritten)} page{'s' if len(result.rewritten) != 1 else ''}"
    flash(text + ".", "ok")
    return redirect(url_for("pages.page_list", folder=result.name))


def _form(c: Contents, new_folder: str, message: str, rewrite: bool, with_page: bool, error: str | None,
          status: int = 200):
    return render_template("rename_folder.html", c=c, new_folder=new_folder, message=message,
                           rewrite=rewrite, with_page=with_page, error=error), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
