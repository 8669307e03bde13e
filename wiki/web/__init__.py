"""The thin HTTP layer: blueprints that translate requests to core calls and back."""

from __future__ import annotations

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from ..core.gitrepo import Person
from ..core.wiki import Wiki

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    anonymous = Person(app.config["WIKI_ANONYMOUS_NAME"], app.config["WIKI_ANONYMOUS_EMAIL"])
    prefix = (app.config.get("APPLICATION_ROOT") or "/").rstrip("/")
    app.extensions["tacit"] = Wiki.open(app.config["WIKI_REPO"], app.config["WIKI_DATA"], anonymous,
                                        url_prefix=prefix, branch=app.config.get("WIKI_BRANCH"))
    csrf.init_app(app)
    from .viewcache import ViewCache

    app.extensions["tacit.views"] = ViewCache()

    from . import api, errors, pages, templating

    templating.init_app(app)
    errors.init_app(app)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # the API refuses simple (form) requests instead; see api.py
    app.register_blueprint(pages.bp)


def get_wiki() -> Wiki:
    return current_app.extensions["tacit"]


def current_author() -> Person:
    """Who the change is by: the configured anonymous author until accounts exist."""
    return get_wiki().anonymous
