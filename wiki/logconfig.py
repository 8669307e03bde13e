"""Logging for operators: every process of a wiki writes its records to stderr in one format, so
one journal holds gunicorn, its workers, the commands, the rebuild process, the meaning service
and the git hook, and each line says which process and part it came from.

    text  gunicorn's error-log line; the wiki's own records add the logger's name:
          [2026-01-05 10:00:00 +0100] [4242] [WARNING] [wiki.core.mail] mail to ann@example.org failed: ...
    json  one object a line: time, level, logger, process, message, exception (when there is one)
          and any extra fields; an access line adds method, path, query, status, bytes,
          duration_ms, remote_addr, user_agent and referer.

WIKI_LOG_FORMAT and WIKI_LOG_LEVEL choose. Child processes get the same through their
environment (`child_environment`); the git hook, whose stderr git sends to the pusher, writes
to the descriptor its parent names in TACIT_LOG_FD (`hook_stream`).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import threading
from datetime import datetime
from typing import Any, Mapping, TextIO

from .config import DEFAULTS

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error", "critical")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # gunicorn's
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"  # gunicorn's error log
NAMED_TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] [%(name)s] %(message)s"
# gunicorn's access line without its own time (the line starts with one), with the duration
ACCESS_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
HOOK_FD_VARIABLE = "TACIT_LOG_FD"

QUIET_LOGGERS = {"alembic.runtime.plugins": "WARNING"}  # a line per plugin at every migration check
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_installed: tuple[str, str] | None = None  # (format, level) this process logs with


def checked_format(value: Any) -> str:
    """WIKI_LOG_FORMAT, lower-cased; a ValueError names the choices."""
    text = str(value).strip().lower()
    if text not in FORMATS:
        raise ValueError("WIKI_LOG_FORMAT must be text or json")
    return text


def checked_level(value: Any) -> str:
    """WIKI_LOG_LEVEL, lower-cased (warn is warning); a ValueError names the choices."""
    text = str(value).strip().lower()
    text = {"warn": "warning", "fatal": "critical"}.get(text, text)
    if text not in LEVELS:
        raise ValueError("WIKI_LOG_LEVEL must be debug, info, warning, error or critical")
    return text


def _from_environment(log_format: str | None, level: str | None) -> tuple[str, str]:
    log_format = log_format or os.environ.get("WIKI_LOG_FORMAT") or DEFAULTS["WIKI_LOG_FORMAT"]
    level = level or os.environ.get("WIKI_LOG_LEVEL") or DEFAULTS["WIKI_LOG_LEVEL"]
    return checked_format(log_format), checked_level(level)


class TextFormatter(logging.Formatter):
    """gunicorn's error-log line; records of other loggers than gunicorn's carry their name."""

    def __init__(self) -> None:
        super().__init__(NAMED_TEXT_FORMAT, DATE_FORMAT)
        self._gunicorn_style = logging.PercentStyle(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.name.startswith("gunicorn."):
            return self._gunicorn_style.format(record)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for a log collector to index without parsing text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in entry:
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of gunicorn's access record (its atoms: m, U, q, s, B, D, h, a, f)."""
    status = atoms.get("s")
    try:
        status = int(status)
    except (TypeError, ValueError):
        pass
    fields = {
        "message": f"{atoms.get('m')} {atoms.get('U')} {status}",
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "query": atoms.get("q") or "",
        "status": status,
        "bytes": atoms.get("B"),
        "duration_ms": round(int(atoms.get("D") or 0) / 1000, 3),
        "remote_addr": atoms.get("h"),
        "user_agent": atoms.get("a"),
        "referer": atoms.get("f"),
    }
    return fields


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of a WIKI_LOG_FORMAT."""
    return JsonFormatter() if checked_format(log_format) == "json" else TextFormatter()


def install(log_format: str | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    """Send every record of this process to stderr (or `stream`) in one format, replacing the
    root logger's handlers; unset arguments come from WIKI_LOG_FORMAT / WIKI_LOG_LEVEL."""
    global _installed
    log_format, level = _from_environment(log_format, level)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(logging.getLevelName(quiet), root.level))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    _installed = (log_format, level)


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    """A crash is a record like any other (a bare traceback would break the log's format)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("wiki").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if not issubclass(args.exc_type, SystemExit):
        name = args.thread.name if args.thread else "?"
        logging.getLogger("wiki").error("uncaught exception in thread %s", name,
                                        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def install_unless_configured(log_format: str | None = None, level: str | None = None) -> bool:
    """install(), unless something configured logging already (gunicorn's `logconfig_dict`,
    an application embedding the wiki, a test runner); whether it installed."""
    if logging.getLogger().handlers:
        return False
    install(log_format, level)
    return True


def gunicorn_options(log_format: str | None = None, level: str | None = None) -> dict[str, Any]:
    """gunicorn settings that log its error and access lines, and everything of its workers,
    through the same format on stderr; access lines stay at INFO whatever the level."""
    global _installed
    log_format, level = _from_environment(log_format, level)
    _installed = (log_format, level)  # the workers are forked from this process
    style = "JsonFormatter" if log_format == "json" else "TextFormatter"
    return {
        "accesslog": "-",
        "access_log_format": ACCESS_FORMAT,
        "loglevel": level,
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"wiki": {"()": f"{__name__}.{style}"}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "wiki",
                                    "stream": "ext://sys.stderr"}},
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {
                "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
                "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
                **{name: {"level": max(quiet, level.upper(), key=logging.getLevelName)}
                   for name, quiet in QUIET_LOGGERS.items()},
            },
        },
    }


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the format and level this process logs
    with, for a child process to log the same way."""
    log_format, level = _installed or _from_environment(None, None)
    env = dict(os.environ if base is None else base)
    env["WIKI_LOG_FORMAT"], env["WIKI_LOG_LEVEL"] = log_format, level
    return env


def hook_stream() -> TextIO | None:
    """The log stream a git hook was handed in TACIT_LOG_FD (its stderr goes to the pusher), or None."""
    fd = os.environ.get(HOOK_FD_VARIABLE, "")
    if not fd.isdigit():
        return None
    try:
        return os.fdopen(int(fd), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    except OSError:
        return None
