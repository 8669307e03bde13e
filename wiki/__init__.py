"""Tacit: a team wiki whose pages are markdown files in a git repository."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .config import load_config, secret_key

if TYPE_CHECKING:
    from flask import Flask

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent


def templates_folder() -> Path:
    """The page templates: inside the package when installed from a wheel, else the checkout's templates/."""
    packaged = PACKAGE / "templates"
    return packaged if (packaged / "base.html").exists() else ROOT / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> "Flask":
    """Build the web app for one wiki; settings come from config and WIKI_* variables."""
    from flask import Flask  # here, so the core (wiki.core) can be used without Flask

    settings = load_config(config)
    from .logconfig import install_unless_configured

    # under gunicorn's own settings, the app's records get the wiki's format; gunicorn keeps its handlers
    install_unless_configured(settings["WIKI_LOG_FORMAT"], settings["WIKI_LOG_LEVEL"])
    app = Flask(
        __name__,
        template_folder=str(templates_folder()),
        static_folder="static",
        static_url_path="/-/static",
    )
    app.url_map.merge_slashes = False  # "a//b" is a bad page name, not a redirect
    app.config.update(settings)
    app.config["SECRET_KEY"] = settings.get("WIKI_SECRET_KEY") or secret_key(settings["WIKI_DATA"])
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("REMEMBER_COOKIE_DURATION", 30 * 24 * 3600)
    # bodies above an upload's limit (and a form's overhead) are refused before they are read: 413
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = max(4 * 1024 * 1024, settings["WIKI_MAX_UPLOAD"] + 1024 * 1024)
    app.config.setdefault("SEND_FILE_MAX_AGE_DEFAULT", 3600)
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a long edit must not expire its form

    if settings["WIKI_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings["WIKI_PROXIES"]  # client address and https as the proxy saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from .web import init_app

    init_app(app)
    return app
