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
    "WIKI_DATABASE_URL": None,  # default: SQLite in WIKI_DATA/wiki.db; PostgreSQL with several hosts
    "WIKI_REMOTE": None,  # the central git repository of a wiki served by several hosts (WIKI_REPO mirrors it)
    "WIKI_READ": "anonymous",  # anonymous | user
    "WIKI_WRITE": "editor",  # anonymous | user | editor
    "WIKI_STATUSES": "on-track,at-risk,blocked,done",  # the values a page's `status:` may take, in order
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
    "WIKI_MAX_UPLOAD": 10 * 1024 * 1024,  # the largest file one may attach to a page (bytes; 10MB, 512KB work)
    "WIKI_SEMANTIC": "1",  # 0 turns search by meaning off
    "WIKI_SEMANTIC_IDLE": 1800,  # seconds of quiet after which the meaning service exits
    "WIKI_SEMANTIC_MODEL": None,  # default: the packaged all-MiniLM-L6-v2 (int8 ONNX)
    "WIKI_LOG_FORMAT": "text",  # text (gunicorn's error-log format) | json (one JSON object a line)
    "WIKI_LOG_LEVEL": "info",
    "WIKI_METRICS": "admin",  # who may read /-/metrics: off | admin (an admin's token or session) | a bind such as 127.0.0.1:9100
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
    settings["WIKI_MAX_UPLOAD"] = parse_size(settings["WIKI_MAX_UPLOAD"], "WIKI_MAX_UPLOAD")
    if settings["WIKI_REGISTRATION"] not in ("open", "approval", "closed"):
        raise ValueError("WIKI_REGISTRATION must be open, approval or closed")
    from .logconfig import checked_format, checked_level

    settings["WIKI_LOG_FORMAT"] = checked_format(settings["WIKI_LOG_FORMAT"])
    settings["WIKI_LOG_LEVEL"] = checked_level(settings["WIKI_LOG_LEVEL"])
    check_several_hosts(settings)
    settings["WIKI_REPO"] = str(Path(settings["WIKI_REPO"]).expanduser().resolve())
    settings["WIKI_DATA"] = str(Path(settings["WIKI_DATA"]).expanduser().resolve())
    return settings


def check_several_hosts(settings: Mapping[str, Any]) -> None:
    """A wiki on a central git server is served by several hosts: they must share PostgreSQL (accounts,
    coordination) and one secret key (sessions and forms signed on one host are read on another)."""
    if not settings.get("WIKI_REMOTE"):
        return
    url = str(settings.get("WIKI_DATABASE_URL") or "")
    if not url.startswith("postgresql"):
        raise ValueError("WIKI_REMOTE (several hosts) needs WIKI_DATABASE_URL to be a PostgreSQL database shared "
                         "by every host, such as postgresql+psycopg://wiki@db.example.org/tacit")
    if not settings.get("WIKI_SECRET_KEY"):
        raise ValueError("WIKI_REMOTE (several hosts) needs WIKI_SECRET_KEY, the same long random value on every "
                         "host (python -c 'import secrets; print(secrets.token_hex(32))')")


def parse_size(value: Any, setting: str) -> int:
    """Bytes from 10485760, "10MB", "10M", "512KB" or "1GB" (binary units)."""
    text = str(value).strip().upper().replace(" ", "").replace("IB", "B")
    for suffix, factor in (("KB", 1024), ("MB", 1024 ** 2), ("GB", 1024 ** 3), ("K", 1024), ("M", 1024 ** 2),
                           ("G", 1024 ** 3), ("B", 1)):
        if text.endswith(suffix):
            text, unit = text[: -len(suffix)], factor
            break
    else:
        unit = 1
    try:
        size = int(float(text) * unit)
    except ValueError:
        raise ValueError(f"{setting} must be a size such as 10485760, 10MB or 512KB") from None
    if size <= 0:
        raise ValueError(f"{setting} must be more than 0 bytes")
    return size


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
