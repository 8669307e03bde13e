"""Outgoing mail: a small SMTP client that never holds up or breaks a request.

Mail is optional. Without WIKI_SMTP_HOST the mailer is disabled and ``send`` does nothing,
not even a connection attempt. With it, each message is handed to a background thread that
talks to the server (plain, STARTTLS or SSL, with a login when a user is set); a server that
is down or refuses a message is logged, never raised: a comment must not fail because its
notification could not be delivered.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Mapping

log = logging.getLogger(__name__)
TLS_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 25
    user: str | None = None
    password: str | None = None
    tls: str = "starttls"  # starttls | ssl | none
    sender: str = "tacit@localhost"
    site: str = "Tacit"  # the wiki's name, for subjects

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MailSettings":
        """From the WIKI_SMTP_* settings; a bad port or TLS mode is refused at start-up."""
        tls = str(config.get("WIKI_SMTP_TLS") or "starttls").lower()
        if tls not in TLS_MODES:
            raise ValueError(f"WIKI_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        try:
            port = int(config.get("WIKI_SMTP_PORT") or (465 if tls == "ssl" else 25))
        except (TypeError, ValueError):
            raise ValueError("WIKI_SMTP_PORT must be a number") from None
        return cls(host=config.get("WIKI_SMTP_HOST") or None, port=port,
                   user=config.get("WIKI_SMTP_USER") or None, password=config.get("WIKI_SMTP_PASSWORD") or None,
                   tls=tls, sender=config.get("WIKI_MAIL_FROM") or "tacit@localhost",
                   site=config.get("WIKI_NAME") or "Tacit")


class Mailer:
    """Sends plain-text mail in background threads; disabled (a no-op) without a host."""

    def __init__(self, settings: MailSettings | None = None, timeout: float = 20.0) -> None:
        self.settings = settings or MailSettings()
        self.timeout = timeout
        self._pending: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.host)

    def send(self, to: str, subject: str, body: str) -> threading.Thread | None:
        """Queue one message; returns its thread (None when mail is off or the message is unusable)."""
        if not self.enabled or not to:
            return None
        try:
            message = self._message(to, subject, body)
            thread = threading.Thread(target=self._deliver, args=(message,), name="tacit-mail", daemon=True)
            with self._lock:
                self._pending = [t for t in self._pending if t.is_alive()]
                self._pending.append(thread)
            thread.start()
            return thread
        except Exception:  # a bad address or header: log it, the request goes on
            log.exception("could not queue mail to %s", to)
            return None

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for queued messages (tests, and a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for thread in pending:
            thread.join(timeout)

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = to
        message["Subject"] = " ".join(f"[{s.site}] {subject}".split())
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # no vacation replies to the wiki
        message.set_content(body)
        return message

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            if s.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            with smtp:
                if s.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.user:
                    smtp.login(s.user, s.password or "")
                smtp.send_message(message)
        except Exception as e:  # the server is down, refuses, or TLS fails: a log line, nothing more
            log.warning("mail to %s failed: %s", message["To"], e)
