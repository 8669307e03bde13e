"""Settings: defaults, then WIKI_* environment variables, then create_app(config)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    "WIKI_NAME": "Tacit",
    "WIKI_REPO": "./pages_repo",  # the content repository
    "WIKI_DATA": "./instance",  # derived data: render cache, later index and database
    "WIKI_BRANCH": None,  # default: the repository's current branch
    "WIKI_SECRET_KEY": None,  # default: generated once and kept in WIKI_DATA
    "WIKI_DATABASE_URL": None,  # default: SQLite in WIKI_DATA/wiki.db
    "WIKI_READ": "anonymous",  # anonymous | user
    "WIKI_WRITE": "editor",  # anonymous | user | editor
    "WIKI_TALK": "user",  # who may comment: user (anyone logged in who may read the page) | editor
    "WIKI_SMTP_HOST": None,  # with it, mentions and replies are mailed; without it nothing is sent
    "WIKI_SMTP_PORT": 25,
    "WIKI_SMTP_USER": None,
    "WIKI_SMTP_PASSWORD": None,
    "WIKI_SMTP_TLS": "starttls",  # starttls | ssl | none
    "WIKI_MAIL_FROM": "tacit@localhost",
    "WIKI_REGISTRATION": "approval",  # open | approval | closed
    "WIKI_LOGIN_LIMIT_ACCOUNT": "5 per minute",  # failed logins per account name
    "WIKI_LOGIN_LIMIT_ADDRESS": "20 per minute",  # failed logins per client address
    "WIKI_PROXIES": 0,  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host (trust that many)
    "WIKI_ANONYMOUS_NAME": "Anonymous",
    "WIKI_ANONYMOUS_EMAIL": "anonymous@wiki.invalid",
}


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, overridden by the environment, overridden by explicit settings."""
    settings = dict(DEFAULTS)
    for key, value in os.environ.items():
        if key.startswith("WIKI_") and value != "":
            settings[key] = value
    if overrides:
        settings.update(overrides)
    try:
        settings["WIKI_PROXIES"] = int(settings["WIKI_PROXIES"])
    except (TypeError, ValueError):
        raise ValueError("WIKI_PROXIES must be a number (of reverse proxies in front of the wiki)") from None
    if settings["WIKI_REGISTRATION"] not in ("open", "approval", "closed"):
        raise ValueError("WIKI_REGISTRATION must be open, approval or closed")
    settings["WIKI_REPO"] = str(Path(settings["WIKI_REPO"]).expanduser().resolve())
    settings["WIKI_DATA"] = str(Path(settings["WIKI_DATA"]).expanduser().resolve())
    return settings


def secret_key(data_dir: str | Path) -> str:
    """The generated secret, created once (atomically, mode 0600) and reused by every worker."""
    path = Path(data_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        os.unlink(path)
        return secret_key(data_dir)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip()
