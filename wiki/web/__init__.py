"""The thin HTTP layer: blueprints that translate requests to core calls and back."""

from __future__ import annotations

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from ..core.wiki import Wiki

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    config = app.config
    prefix = (config.get("APPLICATION_ROOT") or "/").rstrip("/")
    wiki = Wiki.from_settings(config, url_prefix=prefix)
    app.extensions["tacit"] = wiki
    wiki.follow()  # several hosts: this process follows what the others publish
    csrf.init_app(app)

    from . import access, admin, api, gitserve, auth, errors, history, pages, protection, ratelimit, search, talk, \
        templating
    from . import status, watch
    from .viewcache import ViewCache

    app.extensions["tacit.views"] = ViewCache()
    from . import health, metrics  # probes, and every request timed
    metrics.init_app(app)
    health.init_app(app)
    protection.init_app(app, wiki.clock)
    from . import hosts  # several hosts: read-your-writes
    hosts.init_app(app)
    ratelimit.init_app(app, wiki.engine, wiki.clock)
    templating.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    access.init_app(app)
    app.register_blueprint(admin.bp)
    app.register_blueprint(gitserve.bp)
    app.register_blueprint(api.bp)
    history.init_app(app)
    search.init_app(app)
    talk.init_app(app)
    watch.init_app(app)
    from . import files, folders  # attachments, folder moves
    files.init_app(app)
    folders.init_app(app)
    status.init_app(app)
    app.register_blueprint(status.bp)
    app.register_blueprint(pages.bp)


def get_wiki() -> Wiki:
    return current_app.extensions["tacit"]
