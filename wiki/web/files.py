"""Attachments on the web: a page's files, uploads, deletions, versions, and how files are served.

Routes (the page routes also answer ``/-/files?page=NAME``, see routing.py)::

    GET  /-/files/<page>                 the page's files: upload form, list, thumbnails of images
    GET  /-/files/<page>?file=<name>     one file's versions (each a link to download it)
    POST /-/files/<page>                 upload (field `file`, several allowed; `message`;
                                         `unique=1` picks a free name instead of replacing, as
                                         drag-and-drop in the editor does); `action=delete` and
                                         `name` delete a file. Answers JSON when asked for it.
    GET  /-/file/<page>/<name>?rev=<c>   a file (at a revision); the current one is also served
                                         at its path, /<page>/<name>, by the page view

Reading follows the page's read access (and a rule over the file's own path); uploading and
deleting need write access to the page. Every file response carries ``nosniff`` and a sandboxing
CSP; only raster images are shown inline, everything else (SVG and HTML always) is a download,
and nothing is ever served as HTML.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Blueprint, Flask, Response, abort, flash, jsonify, redirect, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..core import names
from ..core.attachments import (AttachmentStore, BadFileName, FileNotFound, FileTooLarge, check_file_name,
                                content_type, human_size, is_safe_image, safe_file_name)
from ..core.pages import Conflict, PageNotFound
from ..core.relink import relative_path
from . import get_wiki
from .access import can_read, can_write, current_author, ensure_read, ensure_write
from .errors import Answer, error_response, map_errors
from .conflicts import Subject, conflict_text
from .routing import page_arg, page_name, page_route
from .templating import action_url, page_url

bp = Blueprint("files", __name__)

FILE_CSP = "sandbox; default-src 'none'"


def attachments() -> AttachmentStore:
    from flask import current_app

    return current_app.extensions["tacit.files"]


# -- serving -------------------------------------------------------------------------------

def file_response(path: str, data: bytes, etag: str | None = None) -> Response:
    """A file of the repository as a response that can never script the wiki's origin."""
    name = names.base_name(path)
    mimetype = content_type(name)
    response = Response(data, mimetype=mimetype)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers.set("Content-Disposition", "inline" if is_safe_image(name) else "attachment",
                         **download_names(name))
    response.cache_control.no_cache = True  # revalidate: a file can be replaced under its name
    if etag:
        response.set_etag(etag)
    else:
        response.add_etag()
    return response.make_conditional(request)


def download_names(name: str) -> dict[str, str]:
    """The file name for Content-Disposition. A header carries only ASCII safely (gunicorn refuses
    anything else: a 500), so other names travel as RFC 6266's filename* (UTF-8, percent-encoded)
    with an ASCII approximation as filename for old clients."""
    if name.isascii() and name.isprintable():
        return {"filename": name}
    simple = "".join(c for c in unicodedata.normalize("NFKD", name) if c.isascii() and c.isprintable())
    return {"filename": simple or "file", "filename*": "UTF-8''" + quote(name, safe="!#$&+-.^_`|~")}


def _readable_file(path: str) -> bool:
    owner = names.folder_of(path)
    return can_read(path) and (not owner or can_read(owner))


def serve_file(path: str) -> Response | None:
    """The current version of a non-page file at its path (the page view's fallback), a redirect
    when a folder move took it elsewhere, or None."""
    wiki = get_wiki()
    head = wiki.pages.head()
    if head is None:
        return None
    blob = wiki.repo.blob_id(head, path)
    if blob is None:
        target = wiki.pages.redirects().get(path)
        if target and "." in names.base_name(target) and wiki.repo.blob_id(head, target) \
                and _readable_file(path) and _readable_file(target):
            return redirect(page_url(target), 302)
        return None
    if not _readable_file(path):
        abort(404, f"There is no page named {path}.")
    if request.if_none_match and request.if_none_match.contains(blob):
        return file_response(path, b"", blob)
    return file_response(path, wiki.repo.read_blob(blob), blob)


def file_exists(name: str, commit: str | None = None) -> bool:
    """For links: is `name` a readable file (not a page)? Only names with a dot are served at their path."""
    if "." not in names.base_name(name):
        return False
    wiki = get_wiki()
    commit = commit or wiki.pages.head()
    try:
        return bool(commit) and wiki.repo.blob_id(commit, names.check_name(name)) is not None \
            and _readable_file(name)
    except names.BadPageName:
        return False


def link_target_exists(name: str, commit: str | None = None) -> bool:
    """A link's target exists for this visitor: a readable page or file, or an old name a rename
    left behind (following the link redirects). Everything that marks red links asks this."""
    pages = get_wiki().pages
    if can_read(name) and pages.exists(name, commit):
        return True
    if file_exists(name, commit):
        return True
    target = pages.redirects().get(name)
    return bool(target) and can_read(target) and pages.exists(target)


# -- the files page --------------------------------------------------------------------------

def markdown_for(page: str, name: str) -> str:
    """What the editor inserts: an image or a link, relative to the page's folder."""
    rel = relative_path(page, f"{page}/{name}")
    if any(c in rel for c in " ()<>%") or any(ord(c) < 33 for c in rel):
        rel = quote(rel, safe="/!$&'*+,;=:@~")
    if is_safe_image(name) or content_type(name) == "image/svg+xml":
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return f"![{stem}]({rel})"
    return f"[{name}]({rel})"


def file_url(page: str, name: str, rev: str | None = None) -> str:
    path = f"{page}/{name}"
    if rev is None and "." in name and not get_wiki().pages.exists(path):
        return page_url(path)
    return page_url(f"-/file/{path}", rev=rev)


def _file_json(page: str, found) -> dict:
    change = found.change
    return {"name": found.name, "path": found.path, "size": found.size, "type": found.content_type,
            "image": found.is_image, "url": file_url(page, found.name), "markdown": markdown_for(page, found.name),
            "revision": change.sha if change else None, "updated": change.time if change else None,
            "author": {"name": change.author.name, "email": change.author.email} if change else None,
            "message": change.summary if change else None}


def _wants_json() -> bool:
    """A script's request (the editor's drag-and-drop asks for JSON); forms get pages."""
    return request.accept_mimetypes.best == "application/json"


def _page_with_files(page: str | None, access: str = "read") -> str:
    name = page_name(page_arg(page), access)
    wiki = get_wiki()
    if not wiki.pages.exists(name) and not attachments().count(name):
        abort(404, f"There is no page named {name}.")
    return name


@page_route(bp, "/-/files", methods=["GET", "POST"])
def files(page: str | None = None):
    if request.method == "POST":
        name = _page_with_files(page, "write")
        if request.form.get("action") == "delete":
            return _delete(name)
        return _upload(name)
    name = _page_with_files(page)
    wiki = get_wiki()
    history_of = request.args.get("file")
    if history_of:
        if "/" in history_of or history_of.startswith("."):  # a file of this page, nothing else
            abort(404, f"{name} has no file named {history_of}.")
        versions = attachments().history(name, history_of)
        if not versions:
            abort(404, f"{name} has no file named {history_of}.")
        return render_template("files.html", name=name, exists=wiki.pages.exists(name), history_of=history_of,
                               versions=versions, current=attachments().find(name, history_of), files=[],
                               error=None, limit=attachments().max_bytes)
    return _files_page(name)


def _files_page(name: str, error: str | None = None, status: int = 200):
    return render_template("files.html", name=name, exists=get_wiki().pages.exists(name), history_of=None,
                           files=attachments().list(name), error=error, limit=attachments().max_bytes,
                           writable=can_write(name)), status


def _refuse(name: str, status: int, message: str):
    if _wants_json():
        return jsonify(error=message, status=status), status
    return _files_page(name, message, status)


def _upload(name: str):
    uploads = [f for f in request.files.getlist("file") if f and f.filename]
    if not uploads:
        return _refuse(name, 400, "Choose a file to upload.")
    store = attachments()
    unique = request.form.get("unique") in ("1", "true", "on")
    message = request.form.get("message", "")
    done = []
    for upload in uploads:
        file_name = safe_file_name(upload.filename)
        try:
            file_name = check_file_name(name, file_name)
            ensure_write(f"{name}/{file_name}")
            if unique:
                file_name = store.unused_name(name, file_name)
            data = upload.read(store.max_bytes + 1)
            if len(data) > store.max_bytes:
                raise FileTooLarge(len(data) + len(upload.stream.read()), store.max_bytes)
            result = store.put(name, file_name, data, current_author(), message)
        except BadFileName as e:
            return _refuse(name, 400, f"{upload.filename}: {e}")
        except FileTooLarge as e:
            return _refuse(name, 413, f"{upload.filename} is too large: {e}")
        except Conflict as conflict:
            return _refuse(name, 409, conflict_text(conflict, Subject.FILE))
        except PageNotFound:
            return _refuse(name, 404, f"There is no page named {name}; create it before adding files.")
        found = store.find(name, file_name)
        done.append({**_file_json(name, found), "status": result.status.value})
    if _wants_json():
        return jsonify(page=name, files=done), 201 if any(d["status"] == "uploaded" for d in done) else 200
    words = {"uploaded": "Uploaded", "replaced": "Replaced", "unchanged": "Unchanged (the same file):"}
    flash("; ".join(f"{words.get(d['status'], 'Saved')} {d['name']}" for d in done) + ".", "ok")
    return redirect(action_url("files", name))


def _delete(name: str):
    file_name = request.form.get("name", "")
    if file_name and "/" not in file_name:
        ensure_write(f"{name}/{file_name}")
    try:
        attachments().delete(name, file_name, current_author(), request.form.get("message", ""))
    except FileNotFound:
        return _refuse(name, 404, f"{name} has no file named {file_name}.")
    if _wants_json():
        return jsonify(page=name, name=file_name, status="deleted")
    flash(f"Deleted {file_name}. It stays in the history.", "ok")
    return redirect(action_url("files", name))


@bp.route("/-/file/<path:path>")
def download(path: str):
    """A file as it is, or as it was at ?rev= (the files page links old versions here)."""
    path = names.check_name(path)
    page, file_name = names.folder_of(path), names.base_name(path)
    if not page:
        abort(404, f"There is no file named {path}.")
    ensure_read(page)
    ensure_read(path)
    try:
        found = attachments().get(page, file_name, request.args.get("rev") or None)
    except LookupError:  # an unknown revision
        found = None
    if found is None:
        abort(404, f"{page} has no file named {file_name}" + (" at that revision." if request.args.get("rev") else "."))
    attachment, data = found
    return file_response(path, data, attachment.blob)


# -- wiring ----------------------------------------------------------------------------------

def _file_count(page: str) -> int:
    return attachments().count(page)


def init_app(app: Flask) -> None:
    app.extensions["tacit.files"] = AttachmentStore(get_wiki_from(app).pages, int(app.config["WIKI_MAX_UPLOAD"]))
    app.register_blueprint(bp)
    app.jinja_env.globals.update(file_count=_file_count, file_url=file_url, markdown_for=markdown_for)
    app.jinja_env.filters["filesize"] = human_size

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e: RequestEntityTooLarge):
        return error_response(413, "Too large", "Nothing was saved: the request was larger than the wiki "
                              f"accepts (files can be at most {human_size(int(app.config['WIKI_MAX_UPLOAD']))} each).")

    map_errors(app, {FileTooLarge: Answer(413, "File too large"), BadFileName: Answer(400, "Bad file name"),
                     FileNotFound: Answer(404, "File not found")})


def get_wiki_from(app: Flask):
    return app.extensions["tacit"]
