"""Who is asking, and what they may do: the web side of core.access.

Reading a page one may not read answers 404 (the page's name must not
leak); writing without permission sends an anonymous visitor to the login
page (401 for the API) and answers 403 to a logged-in one.
"""

from __future__ import annotations

from flask import abort, g, redirect, request, url_for
from flask_login import current_user

from ..core.access import ANONYMOUS, Actor, Policy
from ..core.gitrepo import Person
from . import get_wiki
from .errors import wants_json


def current_actor() -> Actor:
    actor = g.get("actor")
    if actor is None:
        user = getattr(current_user, "user", None) if current_user.is_authenticated else None
        actor = ANONYMOUS if user is None else Actor(user.id, user.name, user.email, user.role, user.groups)
        g.actor = actor
    return actor


def current_author() -> Person:
    """The git author of a change: the acting user, or the configured anonymous name."""
    actor = current_actor()
    return Person(actor.name, actor.email) if actor.authenticated else get_wiki().anonymous


def policy() -> Policy:
    p = g.get("policy")
    if p is None:
        p = g.policy = get_wiki().policy()
    return p


def can_read(name: str) -> bool:
    return policy().can_read(current_actor(), name)


def can_write(name: str) -> bool:
    return policy().can_write(current_actor(), name)


def ensure_read(name: str) -> None:
    """404 for a page this visitor may not read (or a login page when the whole wiki needs one)."""
    if can_read(name):
        return
    if not current_actor().authenticated and not policy().can_read(ANONYMOUS, name) \
            and policy().read == "user":
        deny_anonymous()
    abort(404, f"There is no page named {name}.")


def ensure_write(name: str) -> None:
    if can_write(name):
        return
    ensure_read(name)
    if not current_actor().authenticated:
        deny_anonymous()
    abort(403, "You may not change this page.")


def deny_anonymous():
    """Ask for a login: 401 for the API, a redirect to the login page otherwise."""
    if wants_json():
        abort(401, "Log in, or send an API token as 'Authorization: Bearer <token>'.")
    abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))


def ensure_admin() -> None:
    actor = current_actor()
    if not actor.authenticated:
        deny_anonymous()
    if not actor.is_admin:
        abort(403, "Only admins may do this.")


# Routes an anonymous visitor may reach even when the wiki is readable by users only.
OPEN_ENDPOINTS = {"auth.login", "auth.logout", "auth.register", "static", "pages.highlight_css",
                  "git.smart_http",  # git clients authenticate with HTTP Basic there
                  "health.health", "health.ready",  # probes: states, never content
                  "metrics.scrape"}  # asks for an admin's token itself (a scraper follows no login page)


def init_app(app) -> None:
    @app.before_request
    def _members_only_wiki() -> None:
        """With WIKI_READ=user, everything but logging in asks for a login first."""
        if get_wiki().read_policy == "user" and request.endpoint not in OPEN_ENDPOINTS \
                and not current_actor().authenticated:
            deny_anonymous()

    app.jinja_env.globals.update(current_actor=current_actor, policy=policy, can_write=can_write)
