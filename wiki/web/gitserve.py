"""The content repository over git's smart HTTP protocol, at /-/wiki.git.

git's own `git http-backend` does the protocol (run as a CGI program for each request, its
output streamed back); this module only authenticates and authorizes. Credentials come as
HTTP Basic: a user name and password, or any name and an API token as the password.

* Cloning and fetching need read access to every page (a clone carries the whole repository,
  so an account that some rule hides pages from cannot clone).
* Pushing needs an account that may edit; the pre-receive hook (`core/receive.py`) then checks
  every changed file against the same rules as the web, so a push is refused as a whole with
  the file and the reason.
* Wrong credentials: 401 with `WWW-Authenticate`; no rights: 403. Failed logins count towards
  the login throttle.

A push is not a browser form: it needs git's own content type, which no cross-site form can
send, so these requests skip the CSRF token that every other state-changing request carries.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import threading
from typing import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request

from ..core.access import ANONYMOUS, Actor
from ..core import metrics
from ..core.pushreport import push_outcome
from ..core.receive import install_hooks
from ..logconfig import HOOK_FD_VARIABLE, child_environment
from . import get_wiki
from .access import policy
from .ratelimit import login_throttle

log = logging.getLogger(__name__)
bp = Blueprint("git", __name__)
SERVICES = {"git-upload-pack": "read", "git-receive-pack": "write"}
GIT_CONTENT_TYPES = ("application/x-git-upload-pack-request", "application/x-git-receive-pack-request")
_CHUNK = 64 * 1024
_ANSWER_KEPT = 1024 * 1024  # of a push's answer, for its report (a longer one is not counted)


def is_git_request() -> bool:
    """A request of a git client to the repository (exempt from the CSRF form token)."""
    return request.endpoint == "git.smart_http" and request.mimetype in GIT_CONTENT_TYPES


def _challenge(message: str) -> Response:
    return Response(message + "\n", 401, {"WWW-Authenticate": 'Basic realm="Tacit wiki", charset="UTF-8"',
                                          "Content-Type": "text/plain; charset=utf-8"})


def _denied(status: int, message: str) -> Response:
    return Response(message + "\n", status, {"Content-Type": "text/plain; charset=utf-8"})


def _basic_actor() -> Actor | Response:
    """The account named by HTTP Basic credentials, ANONYMOUS without any, or a 401/429 response."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return ANONYMOUS
    try:
        name, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return _challenge("The credentials could not be read.")
    throttle = login_throttle()
    wait = throttle.retry_after(name)
    if wait:
        return Response(f"Too many failed logins; try again in {wait} seconds.\n", 429,
                        {"Retry-After": str(wait), "Content-Type": "text/plain; charset=utf-8"})
    users = get_wiki().users
    user = users.from_token(secret) if secret.startswith("tacit_") else None
    if user is None:
        user = users.authenticate(name, secret)
    if user is None:
        throttle.failed(name)
        return _challenge("Wrong user name, password or token.")
    return Actor(user.id, user.name, user.email, user.role, user.groups)


@bp.route("/-/wiki.git/<path:rest>", methods=["GET", "POST"])
def smart_http(rest: str):
    service = request.args.get("service") if rest == "info/refs" else rest
    if rest not in ("info/refs", "git-upload-pack", "git-receive-pack") or service not in SERVICES:
        return _denied(404, "Only git's smart HTTP protocol is served here (git clone this URL).")
    if request.method == "POST" and request.mimetype != f"application/x-{service}-request":
        return _denied(415, f"A {service} request needs the content type application/x-{service}-request.")
    actor = _basic_actor()
    if isinstance(actor, Response):
        return actor
    site = policy()
    wiki = get_wiki()
    if not site.can_read_everything(actor):
        if not actor.authenticated:
            return _challenge("Log in to clone this wiki.")
        return _denied(403, "Some pages of this wiki are hidden from you, so you cannot clone it.")
    if SERVICES[service] == "write":
        if not actor.authenticated:
            return _challenge("Log in to push to this wiki.")
        if not site.can_write_somewhere(actor):
            return _denied(403, "You may not edit this wiki.")
    return _backend(wiki, actor, rest, service)


def _backend(wiki, actor: Actor, rest: str, service: str) -> Response:
    repo = wiki.repo
    root = repo.git_dir.parent
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.git_dir.name}/{rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_ADDR": request.remote_addr or "",
        "REMOTE_USER": actor.name or "",
        "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
        "TACIT_USER_ID": str(actor.user_id or ""),
        "TACIT_BRANCH": repo.branch,
        "TACIT_DATA": str(current_app.config["WIKI_DATA"]),
        "TACIT_DATABASE_URL": current_app.config.get("WIKI_DATABASE_URL") or "",
        "TACIT_READ": wiki.read_policy,
        "TACIT_WRITE": wiki.write_policy,
        "PYTHONPATH": os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH", "")) if p),
        "GIT_COMMITTER_NAME": actor.name or "Tacit",
        "GIT_COMMITTER_EMAIL": actor.email or "tacit@localhost",
        **child_environment({}),  # the hook logs in the wiki's format and level
    }
    if wiki.remote is not None:  # several hosts: the hook publishes a push on the central repository
        env["TACIT_REMOTE"] = wiki.remote.url
        if service == "git-upload-pack" and rest.startswith("info/refs") and wiki.follower is not None:
            wiki.follower.catch_up(wait=1.0, timeout=5.0)  # a clone or pull gets what the other hosts published
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    config = ["-c", "receive.denyNonFastForwards=true", "-c", "receive.denyDeletes=true",
              "-c", "receive.fsckObjects=true", "-c", "uploadpack.allowFilter=true",
              "-c", f"http.receivepack={'true' if service == 'git-receive-pack' else 'false'}"]
    if service == "git-receive-pack":
        # updateInstead: a push to a checked-out branch goes through the push-to-checkout hook,
        # which updates the checkout (or refuses the push rather than overwrite local edits)
        hooks = install_hooks(current_app.config["WIKI_DATA"], remote=wiki.remote is not None)
        config += ["-c", f"core.hooksPath={hooks}", "-c", "receive.denyCurrentBranch=updateInstead"]
    log_fd = _log_descriptor() if service == "git-receive-pack" else None
    if log_fd is not None:  # git sends the hook's stderr to the pusher: its log lines go here instead
        env[HOOK_FD_VARIABLE] = str(log_fd)
    try:
        proc = subprocess.Popen(["git", *config, "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, pass_fds=() if log_fd is None else (log_fd,))
    finally:
        if log_fd is not None:
            os.close(log_fd)
    request.max_content_length = None  # a push may be larger than any upload (MAX_CONTENT_LENGTH)
    body = request.stream if request.method == "POST" else None
    feeder = threading.Thread(target=_feed, args=(proc, body), daemon=True)
    feeder.start()
    status, headers = _read_cgi_headers(proc.stdout)
    pushed = request.method == "POST" and service == "git-receive-pack"
    search, follower = wiki.search, wiki.follower
    answer = bytearray()  # a push's answer (progress and git's report, small): its outcome is counted

    def stream() -> Iterator[bytes]:
        try:
            while True:
                chunk = proc.stdout.read1(_CHUNK) if hasattr(proc.stdout, "read1") else proc.stdout.read(_CHUNK)
                if not chunk:
                    break
                if pushed and len(answer) < _ANSWER_KEPT:
                    answer.extend(chunk)
                yield chunk
        finally:
            proc.stdout.close()
            proc.wait()
            feeder.join(timeout=5)
            if proc.stderr:
                err = proc.stderr.read().decode("utf-8", "replace").strip()
                proc.stderr.close()
                if err:
                    log.log(logging.WARNING if proc.returncode else logging.INFO, "git http-backend: %s", err)
            if pushed:
                if follower is not None:
                    follower.announce()  # the other hosts fetch it at once
                search.catch_up_soon()  # the index reflects the push within a second
                outcome = push_outcome(bytes(answer))
                if outcome is not None:
                    metrics.count_push(outcome)

    return Response(stream(), status=status, headers=headers, direct_passthrough=True)


def _feed(proc: subprocess.Popen, body) -> None:
    try:
        if body is not None:
            while True:
                chunk = body.read(_CHUNK)
                if not chunk:
                    break
                proc.stdin.write(chunk)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _read_cgi_headers(out) -> tuple[int, list[tuple[str, str]]]:
    status, headers = 200, []
    while True:
        line = out.readline()
        if not line or line in (b"\r\n", b"\n"):
            break
        key, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
        if key.lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        else:
            headers.append((key.strip(), value.strip()))
    return status, headers


def _log_descriptor() -> int | None:
    """A copy of this process's stderr (where its log goes) for the hook, or None without one."""
    try:
        return os.dup(2)
    except OSError:
        return None


def _package_root() -> str:
    """The folder holding the `wiki` package, so the hook's python finds it."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@bp.route("/-/repository")
def repository_page():
    """How to clone, edit offline and push back."""
    if shutil.which("git") is None:
        abort(503, "git is not installed on the server.")
    return render_template("repository.html")
