"""Every error a readable page (or JSON under the API), with the right status."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from typing import Callable

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, InvalidatePoolError, OperationalError
from werkzeug.exceptions import HTTPException

from ..core.gitrepo import Busy, GitError, UnknownRevision
from ..core.hosts import DatabaseUnavailable
from ..core.remote import RemoteRefused, RemoteUnavailable
from ..core.names import BadPageName
from ..core.pages import BadContent, PageNotFound, PageTooLarge

log = logging.getLogger(__name__)

API_PREFIX = "/-/api/"


def wants_json() -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(status: int, error: str, detail: str = ""):
    if wants_json():
        return jsonify(error=error, detail=detail), status
    return render_template("error.html", status=status, error=error, detail=detail), status


def not_saved(status: int, title: str, detail: str, retry_after: int | None = None):
    """A change that could not be made: say why and hand back what the visitor sent (the form's
    text, or the API body's markdown as `yours`), so nothing typed is lost."""
    if wants_json():
        body = request.get_json(silent=True) if request.is_json else None
        yours = body.get("markdown") if isinstance(body, dict) else None
        response = jsonify(error=title, detail=detail, **({"yours": yours} if isinstance(yours, str) else {}))
    else:
        text = request.form.get("text") if request.method == "POST" else None
        response = current_app.make_response(render_template("error.html", status=status, error=title,
                                                              detail=detail, kept_text=text))
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def bearer_challenge() -> str:
    """RFC 6750's answer to a request without credentials, or with a token that is not valid."""
    return 'Bearer realm="Tacit wiki"' + (', error="invalid_token"' if g.get("bad_token") else "")


@dataclass(frozen=True)
class Answer:
    """How one kind of core exception is answered: status, title, the sentence (from the
    exception), and, for a change that could not be made, the visitor's text handed back."""

    status: int
    title: str
    detail: Callable[[Exception], str] = str
    keeps_text: bool = False
    retry_after: int | None = None
    logged: bool = False  # an operator should hear of it

    def respond(self, e: Exception):
        if self.logged:
            log.error("%s: %s", self.title, str(e).splitlines()[0] if str(e) else type(e).__name__)
        if self.keeps_text:
            return not_saved(self.status, self.title, self.detail(e), self.retry_after)
        return error_response(self.status, self.title, self.detail(e))


def _unreachable(service: str) -> Answer:
    return Answer(503, f"The wiki's {service} cannot be reached",
                  lambda e: "Nothing was saved; reading goes on. Try again in a moment.",
                  keeps_text=True, retry_after=5, logged=True)


_DATABASE_DOWN = Answer(503, "The wiki's database cannot be reached",
                        lambda e: "Logging in, accounts and saving wait for it; pages open to everyone can still be "
                                  "read. Try again in a moment.", keeps_text=True, retry_after=5, logged=True)

# The one table of how the core's exceptions reach HTTP (blueprints add their own with map_errors).
ERRORS: dict[type[Exception], Answer] = {
    BadPageName: Answer(400, "Bad page name", lambda e: e.rule),
    PageNotFound: Answer(404, "Page not found", lambda e: f"There is no page named {e.name}."),
    UnknownRevision: Answer(404, "Unknown revision",
                            lambda e: f"{e.args[0] if e.args else ''} is not a revision of this wiki."),
    PageTooLarge: Answer(413, "Page too large"),
    BadContent: Answer(400, "Bad content"),
    CSRFError: Answer(400, "Form expired or forged",
                      lambda e: "The form could not be verified (CSRF). Reload the page and try again; "
                                "your draft is kept in this browser."),
    GitError: Answer(503, "The repository could not be changed",
                     lambda e: "Git reported a problem; nothing was saved. Try again in a moment. "
                               f"({e.detail[:300]})", logged=True),
    Busy: Answer(503, "Too busy to save", keeps_text=True, retry_after=1),
    RemoteUnavailable: _unreachable("git server"),
    DatabaseUnavailable: _unreachable("database"),
    OperationalError: _DATABASE_DOWN,
    InterfaceError: _DATABASE_DOWN,
    InvalidatePoolError: _DATABASE_DOWN,
    RemoteRefused: Answer(503, "The wiki's git server refused the change", keeps_text=True, logged=True),
}


def map_errors(app: Flask, table: dict[type[Exception], Answer]) -> None:
    for kind, answer in table.items():
        app.register_error_handler(kind, answer.respond)


def init_app(app: Flask) -> None:
    map_errors(app, ERRORS)

    @app.errorhandler(OSError)
    def storage_error(e: OSError):
        """A full or read-only disk: say so, keep the visitor's text, write nothing half."""
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            status, title = 507, "The server's disk is full"
        elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            status, title = 503, "The wiki is read-only right now"
        else:
            log.exception("storage error")
            status, title = 503, "The wiki could not write to its storage"
        log.error("%s: %s", title, e)
        return not_saved(status, title,
                         "Nothing was saved and nothing was damaged; try again once an administrator has fixed it.")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        """The readable body, keeping the exception's own headers (a 405's Allow) and, on a 401 of
        the API, the challenge that tells a client to send a token."""
        body, status = error_response(e.code or 500, e.name, e.description or "")
        headers = [(key, value) for key, value in e.get_headers() if key.lower() != "content-type"]
        if status == 401 and (wants_json() or g.get("bad_token")) \
                and not any(key.lower() == "www-authenticate" for key, _ in headers):
            headers.append(("WWW-Authenticate", bearer_challenge()))
        return body, status, headers

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unexpected error")
        return error_response(500, "Internal error", "Something went wrong on our side; nothing was lost.")
