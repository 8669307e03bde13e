"""Read-your-writes across hosts: after a change, the same visitor never sees an older wiki elsewhere.

A state-changing request answered by a host of a wiki with several hosts leaves a cookie naming the
head it produced; any host that has not fetched that commit yet fetches before answering, waiting
at most a second (then it answers from what it has, rather than not at all).
"""

from __future__ import annotations

import re

from flask import Flask, Response, current_app, request

COOKIE = "tacit_seen"
_COMMIT = re.compile(r"[0-9a-f]{40}")
WAIT_SECONDS = 1.0
COOKIE_SECONDS = 300  # hosts converge within a second or two; the cookie only has to outlive that


def init_app(app: Flask) -> None:
    wiki = app.extensions["tacit"]
    if wiki.follower is None:
        return  # one host: nothing to wait for

    @app.before_request
    def catch_up_with_the_visitor() -> None:
        wiki.follow()  # running in this process (an app built before gunicorn forked has it started here)
        seen = request.cookies.get(COOKIE, "")
        if _COMMIT.fullmatch(seen) and not wiki.remote.has(seen):
            wiki.follower.catch_up(seen, wait=WAIT_SECONDS, timeout=2 * WAIT_SECONDS)

    @app.after_request
    def remember_what_the_visitor_made(response: Response) -> Response:
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and response.status_code < 400:
            head = wiki.repo.head()
            if head and head != request.cookies.get(COOKIE):
                response.set_cookie(COOKIE, head, max_age=COOKIE_SECONDS, httponly=True, samesite="Lax",
                                    secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure,
                                    path=current_app.config.get("APPLICATION_ROOT") or "/")
        return response
