"""Request-wide protection: CSRF, security headers, secure cookies.

CSRF: every state-changing request carries Flask-WTF's token (a form field,
or the X-CSRFToken header for scripts), except API calls that carry no cookie
of ours: a forged request rides on the cookies a browser sends by itself, and
a call authenticated by a bearer token, or by nothing (then it is anonymous,
and asked for a token where that is not enough), has none to ride on. Forms
always need the token, even from a browser without cookies (a forged login).
"""

from __future__ import annotations

from flask import Flask, abort, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_login.config import COOKIE_NAME as REMEMBER_COOKIE
from itsdangerous import TimestampSigner

from ..core.clock import SYSTEM_CLOCK, Clock
from . import csrf
from .errors import API_PREFIX

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

CSP = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


class _SessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS, and date it by the wiki's
    clock: a session signed on a host whose clock runs ahead would otherwise be refused by the others
    as signed in the future (with several hosts the clock is the database's)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock.now())

        self._signer = ClockSigner

    def get_signing_serializer(self, app: Flask):
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            serializer.signer = self._signer
        return serializer

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def sends_login_cookie(app: Flask) -> bool:
    """Whether the request carries our session or remember cookie, which a browser sends by itself."""
    names = (app.config["SESSION_COOKIE_NAME"], app.config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE))
    return any(name in request.cookies for name in names)


def init_app(app: Flask, clock: Clock = SYSTEM_CLOCK) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below, so bearer-token calls can skip it
    app.session_interface = _SessionInterface(clock)

    @app.before_request
    def _token_and_csrf() -> None:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            current_user._get_current_object()  # runs the token loader
            if g.get("bad_token"):
                abort(401, "The API token is not valid (unknown, revoked, or its user is disabled).")
        if request.method not in STATE_CHANGING or g.get("token_auth"):
            return
        if request.path.startswith(API_PREFIX) and not sends_login_cookie(app):
            return  # an API client without cookies: nothing to forge; access rules answer 401/403
        from .gitserve import is_git_request
        if is_git_request():  # git's own content type, authenticated by HTTP Basic (gitserve.py)
            return
        if app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()

    @app.after_request
    def _headers(response):
        headers = response.headers
        present = {key.lower() for key in headers.keys()}
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            # flask-login's remember cookie follows the request's scheme too
            cookies = headers.getlist("Set-Cookie")
            if any(c.startswith("remember_token=") and "Secure" not in c for c in cookies):
                headers.remove("Set-Cookie")
                for c in cookies:
                    headers.add("Set-Cookie", c + "; Secure" if c.startswith("remember_token=")
                                and "Secure" not in c else c)
        return response
