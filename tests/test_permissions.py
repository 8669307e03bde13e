"""The permissions matrix: every route, for every kind of visitor, under every site policy.

A route this table does not know fails the test: whoever adds a route says
here who may use it.
"""

import io
import itertools
from dataclasses import dataclass
from typing import Callable

import pytest

from wiki.core.gitrepo import Person

ACTORS = ("anonymous", "reader", "editor", "admin", "disabled")
POLICIES = list(itertools.product(("anonymous", "user"), ("anonymous", "user", "editor")))
PASSWORD = "matrix-password"
ADMIN = Person("Ada", "ada@example.org")


@dataclass
class Case:
    endpoint: str
    method: str
    kind: str  # open, read, write, create, account, admin, comment, moderate
    ok: tuple[int, ...]
    request: Callable  # (app, counter) -> (url, keyword arguments for the test client)


def fresh_page(app, n: int, prefix: str = "Matrix/Page") -> str:
    name = f"{prefix}{n}"
    app.extensions["tacit"].pages.save(name, f"text {n}\n", ADMIN, "setup")
    return name


def head(app) -> str:
    return app.extensions["tacit"].pages.head()


def two_revisions(app, n: int) -> tuple[str, str]:
    """A fresh page with two revisions; returns (name, first commit)."""
    pages = app.extensions["tacit"].pages
    name = f"Matrix/Rev{n}"
    first = pages.save(name, "first\n", ADMIN, "one").commit
    pages.save(name, "second\n", ADMIN, "two", base=first)
    return name, first


def fresh_user(app, n: int) -> int:
    return app.extensions["tacit"].users.create(f"temp{n}", f"temp{n}@example.org", PASSWORD).id


def fresh_group(app, n: int) -> str:
    app.extensions["tacit"].users.create_group(f"g{n}")
    return f"g{n}"


def fresh_rule(app, n: int) -> int:
    return app.extensions["tacit"].rules.set(f"Matrix/Rule{n}/", "users", None).id


def tagged_page(app, n: int) -> str:
    """A fresh page tagged t<n>; returns the tag."""
    app.extensions["tacit"].pages.save(f"Matrix/Tagged{n}", f"---\ntags: [t{n}]\nstatus: on-track\n---\ntext\n",
                                       ADMIN, "setup")
    return f"t{n}"


def without_rules(app) -> str:
    """Drop every access rule (a clone needs every page readable; rules made by other cases hide some)."""
    rules = app.extensions["tacit"].rules
    for rule in rules.rules():
        rules.remove(rule.id)
    return ""


def fresh_thread(app, n: int, resolved: bool = False) -> tuple[str, str]:
    """A fresh page with a thread Ada started: (page, thread id); the opening comment has the thread's id."""
    name = fresh_page(app, n, "Matrix/Talk")
    talk = app.extensions["tacit"].talk
    thread, _ = talk.start(name, "Topic", "Opening words", ADMIN, "Ada")
    if resolved:
        talk.set_status(name, thread, "resolved", ADMIN, "Ada", may_change=True)
    return name, thread


CASES = [
    Case("pages.home", "GET", "read", (302,), lambda a, n: ("/", {})),
    Case("pages.view", "GET", "read", (200,), lambda a, n: ("/Home", {})),
    Case("pages.view_by_query", "GET", "read", (200,), lambda a, n: ("/-/view?page=Home", {})),
    Case("pages.raw", "GET", "read", (200,), lambda a, n: ("/-/raw/Home", {})),
    Case("pages.raw_by_query", "GET", "read", (200,), lambda a, n: ("/-/raw?page=Home", {})),
    Case("pages.page_list", "GET", "read", (200,), lambda a, n: ("/-/pages", {})),
    Case("pages.highlight_css", "GET", "open", (200,), lambda a, n: ("/-/highlight.css", {})),
    Case("health.health", "GET", "open", (200,), lambda a, n: ("/-/health", {})),  # probes: states, no content
    Case("health.ready", "GET", "open", (200,), lambda a, n: ("/-/ready", {})),
    Case("metrics.scrape", "GET", "admin", (200,), lambda a, n: ("/-/metrics", {})),  # WIKI_METRICS=admin
    Case("static", "GET", "open", (200,), lambda a, n: ("/-/static/style.css", {})),
    Case("pages.edit", "GET", "write", (200,), lambda a, n: ("/-/edit/Home", {})),
    Case("pages.edit_by_query", "GET", "write", (200,), lambda a, n: ("/-/edit?page=Home", {})),
    Case("pages.edit", "POST", "write", (302,), lambda a, n: (
        f"/-/edit/{fresh_page(a, n)}", {"data": {"text": "changed", "base": head(a)}})),
    Case("pages.edit_by_query", "POST", "write", (302,), lambda a, n: (
        f"/-/edit?page={fresh_page(a, n)}", {"data": {"text": "changed", "base": head(a)}})),
    Case("pages.new", "GET", "create", (200,), lambda a, n: ("/-/new", {})),
    Case("pages.new", "POST", "create", (302,), lambda a, n: ("/-/new", {"data": {"name": f"Matrix/New{n}", "text": "x"}})),
    Case("pages.rename", "GET", "write", (200,), lambda a, n: (f"/-/rename/{fresh_page(a, n)}", {})),
    Case("pages.rename", "POST", "write", (302,), lambda a, n: (
        f"/-/rename/{fresh_page(a, n)}", {"data": {"new_name": f"Matrix/Renamed{n}"}})),
    Case("pages.rename_by_query", "GET", "write", (200,), lambda a, n: (f"/-/rename?page={fresh_page(a, n)}", {})),
    Case("pages.rename_by_query", "POST", "write", (302,), lambda a, n: (
        f"/-/rename?page={fresh_page(a, n)}", {"data": {"new_name": f"Matrix/Renamed{n}"}})),
    Case("pages.delete", "GET", "write", (200,), lambda a, n: (f"/-/delete/{fresh_page(a, n)}", {})),
    Case("pages.delete", "POST", "write", (302,), lambda a, n: (f"/-/delete/{fresh_page(a, n)}", {"data": {}})),
    Case("pages.delete_by_query", "GET", "write", (200,), lambda a, n: (f"/-/delete?page={fresh_page(a, n)}", {})),
    Case("pages.delete_by_query", "POST", "write", (302,), lambda a, n: (
        f"/-/delete?page={fresh_page(a, n)}", {"data": {}})),
    Case("pages.preview", "POST", "create", (200,), lambda a, n: ("/-/preview", {"data": {"text": "**x**"}})),
    Case("api.list_pages", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages", {})),
    Case("api.get_page", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages/Home", {})),
    Case("api.put_page", "PUT", "write", (201,), lambda a, n: (f"/-/api/v1/pages/Matrix/Api{n}", {"json": {"markdown": "x"}})),
    Case("api.delete_page", "DELETE", "write", (200,), lambda a, n: (f"/-/api/v1/pages/{fresh_page(a, n)}", {})),
    Case("api.move_page", "POST", "write", (200,), lambda a, n: (
        f"/-/api/v1/pages/{fresh_page(a, n)}/move", {"json": {"to": f"Matrix/Moved{n}"}})),
    Case("history.page_history", "GET", "read", (200,), lambda a, n: ("/-/history/Home", {})),
    Case("history.page_history_by_query", "GET", "read", (200,), lambda a, n: ("/-/history?page=Home", {})),
    Case("history.page_feed", "GET", "read", (200,), lambda a, n: ("/-/history/Home.atom", {})),
    Case("history.page_feed_by_query", "GET", "read", (200,), lambda a, n: ("/-/history.atom?page=Home", {})),
    Case("history.diff", "GET", "read", (200,), lambda a, n: (f"/-/diff/Home?to={head(a)}", {})),
    Case("history.diff_by_query", "GET", "read", (200,), lambda a, n: ("/-/diff?page=Home", {})),
    Case("history.blame", "GET", "read", (200,), lambda a, n: ("/-/blame/Home", {})),
    Case("history.blame_by_query", "GET", "read", (200,), lambda a, n: ("/-/blame?page=Home", {})),
    Case("history.recent", "GET", "read", (200,), lambda a, n: ("/-/recent", {})),
    Case("history.recent_feed", "GET", "read", (200,), lambda a, n: ("/-/recent.atom", {})),
    Case("history.commit", "GET", "read", (200,), lambda a, n: (f"/-/commit/{head(a)}", {})),
    Case("history.revert", "GET", "write", (200,), lambda a, n: (
        "/-/revert/{0}?to={1}".format(*two_revisions(a, n)), {})),
    Case("history.revert", "POST", "write", (302,), lambda a, n: (
        "/-/revert/{0}?to={1}".format(*two_revisions(a, n)), {"data": {"base": head(a)}})),
    Case("history.revert_by_query", "GET", "write", (200,), lambda a, n: (
        "/-/revert?page={0}&to={1}".format(*two_revisions(a, n)), {})),
    Case("history.revert_by_query", "POST", "write", (302,), lambda a, n: (
        "/-/revert?page={0}&to={1}".format(*two_revisions(a, n)), {"data": {"base": head(a)}})),
    Case("api.page_history", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages/Home/history", {})),
    Case("api.page_diff", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages/Home/diff", {})),
    Case("api.page_blame", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages/Home/blame", {})),
    Case("api.recent", "GET", "read", (200,), lambda a, n: ("/-/api/v1/recent", {})),
    Case("api.revert_page", "POST", "write", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/revert".format(two_revisions(a, n)[0]),
        {"json": {"to": a.extensions["tacit"].history.revisions(f"Matrix/Rev{n}")[-1].commit, "base": head(a)}})),
    Case("search.search", "GET", "read", (200,), lambda a, n: ("/-/search?q=welcome", {})),
    Case("search.backlinks", "GET", "read", (200,), lambda a, n: ("/-/backlinks/Home", {})),
    Case("search.backlinks_by_query", "GET", "read", (200,), lambda a, n: ("/-/backlinks?page=Home", {})),
    Case("search.wanted", "GET", "read", (200,), lambda a, n: ("/-/wanted", {})),
    Case("search.orphans", "GET", "read", (200,), lambda a, n: ("/-/orphans", {})),
    Case("api.search", "GET", "read", (200,), lambda a, n: ("/-/api/v1/search?q=welcome", {})),
    Case("talk.talk", "GET", "read", (200,), lambda a, n: ("/-/talk/Home", {})),
    Case("talk.talk", "GET", "read", (200,), lambda a, n: ("/-/talk/{0}?thread={1}".format(*fresh_thread(a, n)), {})),
    Case("talk.talk_by_query", "GET", "read", (200,), lambda a, n: ("/-/talk?page=Home", {})),
    Case("talk.talk", "POST", "comment", (302,), lambda a, n: (
        f"/-/talk/{fresh_page(a, n)}", {"data": {"title": "Question", "body": "Why?"}})),
    Case("talk.talk", "POST", "comment", (302,), lambda a, n: (
        "/-/talk/{0}?thread={1}".format(*fresh_thread(a, n)), {"data": {"body": "Because."}})),
    Case("talk.talk_by_query", "POST", "comment", (302,), lambda a, n: (
        f"/-/talk?page={fresh_page(a, n)}", {"data": {"title": "Question", "body": "Why?"}})),
    Case("talk.edit_comment", "POST", "admin", (302,), lambda a, n: (  # only Ada (author, admin) may
        "/-/talk-edit/{0}?thread={1}&comment={1}".format(*fresh_thread(a, n)), {"data": {"body": "Changed"}})),
    Case("talk.edit_comment_by_query", "POST", "admin", (302,), lambda a, n: (
        "/-/talk-edit?page={0}&thread={1}&comment={1}".format(*fresh_thread(a, n)), {"data": {"body": "Changed"}})),
    Case("talk.delete_comment", "POST", "admin", (302,), lambda a, n: (
        "/-/talk-delete/{0}?thread={1}&comment={1}".format(*fresh_thread(a, n)), {})),
    Case("talk.delete_comment_by_query", "POST", "admin", (302,), lambda a, n: (
        "/-/talk-delete?page={0}&thread={1}&comment={1}".format(*fresh_thread(a, n)), {})),
    Case("talk.set_status", "POST", "moderate", (302,), lambda a, n: (
        "/-/talk-status/{0}?thread={1}".format(*fresh_thread(a, n)), {"data": {"status": "resolved"}})),
    Case("talk.set_status_by_query", "POST", "moderate", (302,), lambda a, n: (
        "/-/talk-status?page={0}&thread={1}".format(*fresh_thread(a, n)), {"data": {"status": "resolved"}})),
    Case("talk.comment_history", "GET", "read", (200,), lambda a, n: (
        "/-/talk-history/{0}?thread={1}&comment={1}".format(*fresh_thread(a, n)), {})),
    Case("talk.comment_history_by_query", "GET", "read", (200,), lambda a, n: (
        "/-/talk-history?page={0}&thread={1}&comment={1}".format(*fresh_thread(a, n)), {})),
    Case("api.page_talk", "GET", "read", (200,), lambda a, n: ("/-/api/v1/pages/Home/talk", {})),
    Case("api.get_thread", "GET", "read", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}".format(*fresh_thread(a, n)), {})),
    Case("api.start_thread", "POST", "comment", (201,), lambda a, n: (
        f"/-/api/v1/pages/{fresh_page(a, n)}/talk", {"json": {"title": "Question", "body": "Why?"}})),
    Case("api.add_comment", "POST", "comment", (201,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}/comments".format(*fresh_thread(a, n)), {"json": {"body": "Because."}})),
    Case("api.edit_comment", "PATCH", "admin", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}/comments/{1}".format(*fresh_thread(a, n)), {"json": {"body": "Changed"}})),
    Case("api.delete_comment", "DELETE", "admin", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}/comments/{1}".format(*fresh_thread(a, n)), {})),
    Case("api.resolve_thread", "POST", "moderate", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}/resolve".format(*fresh_thread(a, n)), {})),
    Case("api.reopen_thread", "POST", "moderate", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/talk/{1}/reopen".format(*fresh_thread(a, n, resolved=True)), {})),
    Case("auth.login", "GET", "open", (200,), lambda a, n: ("/-/login", {})),
    Case("auth.login", "POST", "open", (401,), lambda a, n: ("/-/login", {"data": {"name": f"x{n}", "password": "wrong-one"}})),
    Case("auth.register", "GET", "open", (200,), lambda a, n: ("/-/register", {})),
    Case("auth.register", "POST", "open", (302,), lambda a, n: ("/-/register", {"data": {
        "name": f"new{n}", "email": f"new{n}@example.org", "password": PASSWORD, "password2": PASSWORD}})),
    Case("auth.logout", "POST", "open", (302,), None),  # tried with a throwaway session, below
    Case("auth.account", "GET", "account", (200,), lambda a, n: ("/-/account", {})),
    Case("auth.account", "POST", "account", (400,), lambda a, n: (
        "/-/account", {"data": {"current": "not-the-password", "new": "x" * 10, "new2": "x" * 10}})),
    Case("auth.profile", "GET", "read", (200,), lambda a, n: ("/-/user/Ada", {})),
    Case("watch.watchlist", "GET", "account", (200,), lambda a, n: ("/-/watchlist", {})),
    Case("watch.mark_all_seen", "POST", "account", (302,), lambda a, n: ("/-/watchlist/seen", {})),
    Case("watch.feed_token", "POST", "account", (200,), lambda a, n: ("/-/watchlist/feed", {})),
    Case("watch.feed", "GET", "open", (200,), lambda a, n: (  # the token is the key, also for feed readers
        "/-/watchlist.atom?token=" + a.extensions["tacit"].watches.new_feed_token(
            a.extensions["tacit"].users.by_name("Ada").id), {})),
    Case("watch.watch", "POST", "account", (302,), lambda a, n: ("/-/watch/Home", {"data": {"action": "watch"}})),
    Case("watch.watch_by_query", "POST", "account", (302,), lambda a, n: (
        "/-/watch?page=Home", {"data": {"action": "unwatch"}})),
    Case("admin.index", "GET", "admin", (302,), lambda a, n: ("/-/admin/", {})),
    Case("admin.users", "GET", "admin", (200,), lambda a, n: ("/-/admin/users", {})),
    Case("admin.change_user", "POST", "admin", (302,), lambda a, n: (
        f"/-/admin/users/{fresh_user(a, n)}", {"data": {"action": "role", "role": "reader"}})),
    Case("admin.groups", "GET", "admin", (200,), lambda a, n: ("/-/admin/groups", {})),
    Case("admin.groups", "POST", "admin", (302,), lambda a, n: ("/-/admin/groups", {"data": {"name": f"new{n}"}})),
    Case("admin.delete_group", "POST", "admin", (302,), lambda a, n: (f"/-/admin/groups/{fresh_group(a, n)}/delete", {})),
    Case("admin.members", "POST", "admin", (302,), lambda a, n: (
        f"/-/admin/groups/{fresh_group(a, n)}/members", {"data": {"user": "Ada", "action": "add"}})),
    Case("admin.rules", "GET", "admin", (200,), lambda a, n: ("/-/admin/rules", {})),
    Case("admin.rules", "POST", "admin", (302,), lambda a, n: (
        "/-/admin/rules", {"data": {"path": f"Matrix/R{n}/", "read": "users", "write": ""}})),
    Case("admin.delete_rule", "POST", "admin", (302,), lambda a, n: (f"/-/admin/rules/{fresh_rule(a, n)}/delete", {})),
    Case("status.dashboard", "GET", "read", (200,), lambda a, n: ("/-/status", {})),
    Case("status.dashboard", "GET", "read", (200,), lambda a, n: ("/-/status/Matrix", {})),
    Case("status.stale", "GET", "read", (200,), lambda a, n: ("/-/stale", {})),
    Case("status.tags", "GET", "read", (200,), lambda a, n: ("/-/tags", {})),
    Case("status.tag", "GET", "read", (200,), lambda a, n: (f"/-/tags/{tagged_page(a, n)}", {})),
    Case("status.reviewed", "POST", "write", (302,), lambda a, n: (f"/-/reviewed/{fresh_page(a, n)}", {})),
    Case("status.reviewed_by_query", "POST", "write", (302,), lambda a, n: (
        f"/-/reviewed?page={fresh_page(a, n)}", {})),
    Case("api.status_board", "GET", "read", (200,), lambda a, n: ("/-/api/v1/status?folder=Matrix", {})),
    Case("api.tag_list", "GET", "read", (200,), lambda a, n: ("/-/api/v1/tags", {})),
    Case("api.openapi", "GET", "read", (200,), lambda a, n: ("/-/api/v1/openapi.json", {})),
    # git clients authenticate with HTTP Basic, never with the session: see tests/test_git_http.py
    Case("git.smart_http", "GET", "git-read", (200,),
         lambda a, n: (without_rules(a) + "/-/wiki.git/info/refs?service=git-upload-pack", {})),
    Case("git.smart_http", "POST", "git-write", (200,), lambda a, n: (
        "/-/wiki.git/git-receive-pack", {"data": b"", "headers": {"Content-Type": "application/x-git-receive-pack-request"}})),
    Case("git.repository_page", "GET", "read", (200,), lambda a, n: ("/-/repository", {})),
    # attachments and folder moves (tests/test_attachments.py, tests/test_folders.py)
    Case("files.files", "GET", "read", (200,), lambda a, n: (f"/-/files/{fresh_page(a, n)}", {})),
    Case("files.files", "POST", "write", (302,), lambda a, n: (f"/-/files/{fresh_page(a, n)}", {
        "data": {"file": (io.BytesIO(b"hello"), "hello.txt")}, "content_type": "multipart/form-data"})),
    Case("files.files_by_query", "GET", "read", (200,), lambda a, n: (f"/-/files?page={fresh_page(a, n)}", {})),
    Case("files.files_by_query", "POST", "write", (302,), lambda a, n: (
        "/-/files?page={0}".format(fresh_file(a, n)[0]), {"data": {"action": "delete", "name": f"file{n}.png"}})),
    Case("files.download", "GET", "read", (200,), lambda a, n: ("/-/file/{0}/{1}".format(*fresh_file(a, n)), {})),
    Case("folders.rename_folder", "GET", "write", (200,), lambda a, n: (
        f"/-/rename-folder?folder={fresh_folder(a, n)}", {})),
    Case("folders.rename_folder", "POST", "write", (302,), lambda a, n: (
        f"/-/rename-folder?folder={fresh_folder(a, n)}", {"data": {"new_folder": f"Matrix/MovedFolder{n}"}})),
    Case("api.list_files", "GET", "read", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/files".format(fresh_file(a, n)[0]), {})),
    Case("api.get_file", "GET", "read", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/files/{1}".format(*fresh_file(a, n)), {})),
    Case("api.put_file", "PUT", "write", (201,), lambda a, n: (
        f"/-/api/v1/pages/{fresh_page(a, n)}/files/up{n}.txt", {"data": b"hello", "content_type": "text/plain"})),
    Case("api.delete_file", "DELETE", "write", (200,), lambda a, n: (
        "/-/api/v1/pages/{0}/files/{1}".format(*fresh_file(a, n)), {})),
    Case("api.move_folder", "POST", "write", (200,), lambda a, n: (
        f"/-/api/v1/folders/{fresh_folder(a, n)}/move", {"json": {"to": f"Matrix/MovedFolder{n}"}})),
]


def fresh_file(app, n: int) -> tuple[str, str]:
    """A fresh page with a file file<n>.png: (page, file name)."""
    page = fresh_page(app, n)
    app.extensions["tacit.files"].put(page, f"file{n}.png", b"\x89PNG\r\n\x1a\n", ADMIN, "setup")
    return page, f"file{n}.png"


def fresh_folder(app, n: int) -> str:
    """A fresh folder with two pages and a file."""
    pages = app.extensions["tacit"].pages
    pages.save(f"Matrix/Folder{n}/One", "one\n", ADMIN, "setup")
    pages.save(f"Matrix/Folder{n}/Two", "two [[Matrix/Folder{n}/One]]\n", ADMIN, "setup")
    return f"Matrix/Folder{n}"


def expected(kind: str, actor: str, read: str, write: str) -> str:
    role = actor if actor in ("reader", "editor", "admin") else None  # a disabled user is anonymous again
    if kind == "open":
        return "ok"
    if kind == "git-read":  # sessions do not count for git: only what anonymous may do
        return "ok" if read == "anonymous" else "login"
    if kind == "git-write":
        return "login"
    if read == "user" and role is None:
        return "login"
    if kind == "read":
        return "ok"
    if kind in ("write", "create"):
        allowed = role == "admin" or write == "anonymous" or (write == "user" and role) \
            or (write == "editor" and role in ("editor", "admin"))
        return "ok" if allowed else ("login" if role is None else "forbidden")
    if kind == "comment":  # talk under WIKI_TALK=user: any account that may read the page
        return "ok" if role else "login"
    if kind == "moderate":  # resolve or reopen someone else's thread: the page's editors (and admins)
        allowed = role == "admin" or (role and write in ("anonymous", "user")) \
            or (write == "editor" and role in ("editor", "admin"))
        return "ok" if allowed else ("login" if role is None else "forbidden")
    if kind == "account":
        return "ok" if role else "login"
    if kind == "admin":
        return "ok" if role == "admin" else ("login" if role is None else "forbidden")
    raise AssertionError(kind)


def outcome(response, ok: tuple[int, ...]) -> str:
    status = response.status_code
    if status in ok and not (status == 302 and "/-/login" in response.headers.get("Location", "")):
        return "ok"
    if status == 401 or (status == 302 and "/-/login" in response.headers.get("Location", "")):
        return "login"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "hidden"
    return "ok" if status in ok else f"unexpected {status}"


def _login(app, name):
    client = app.test_client()
    r = client.post("/-/login", data={"name": name, "password": PASSWORD})
    assert r.status_code == 302, (name, r.status_code)
    return client


@pytest.fixture(scope="module", params=POLICIES, ids=lambda p: f"read={p[0]}-write={p[1]}")
def matrix_app(request, tmp_path_factory):
    from wiki import create_app

    read, write = request.param
    tmp = tmp_path_factory.mktemp(f"matrix-{read}-{write}")
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "WIKI_REPO": str(tmp / "repo"),
                      "WIKI_DATA": str(tmp / "data"), "WIKI_READ": read, "WIKI_WRITE": write,
                      "WIKI_LOGIN_LIMIT_ADDRESS": "10000 per minute"})
    users = app.extensions["tacit"].users
    users.create("Ada", "ada@example.org", PASSWORD)  # first: admin
    users.create("Rita", "rita@example.org", PASSWORD, role="reader")
    users.create("Ed", "ed@example.org", PASSWORD, role="editor")
    users.create("Dee", "dee@example.org", PASSWORD, role="editor")
    names = {"reader": "Rita", "editor": "Ed", "admin": "Ada", "disabled": "Dee"}
    clients = {"anonymous": app.test_client()}
    clients.update({actor: _login(app, name) for actor, name in names.items()})
    users.set_status(users.by_name("Dee").id, "disabled")  # mid-session
    return app, read, write, clients, names


def test_every_route_is_in_the_matrix(app):
    known = {case.endpoint for case in CASES}
    routes = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert routes - known == set(), "add these routes to the permissions matrix"
    methods = {(rule.endpoint, m) for rule in app.url_map.iter_rules()
               for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert methods - {(c.endpoint, c.method) for c in CASES} == set()


def test_permissions_matrix(matrix_app):
    app, read, write, clients, names = matrix_app
    failures = []
    counter = itertools.count()
    for case in CASES:
        for actor in ACTORS:
            n = next(counter)
            if case.endpoint == "auth.logout":
                client = app.test_client() if actor in ("anonymous", "disabled") else _login(app, names[actor])
                url, kwargs = "/-/logout", {}
            else:
                client = clients[actor]
                url, kwargs = case.request(app, n)
            response = client.open(url, method=case.method, **kwargs)
            want = expected(case.kind, actor, read, write)
            got = outcome(response, case.ok)
            if got != want:
                failures.append(f"{case.method} {url} as {actor}: expected {want}, got {got} ({response.status_code})")
            if url.startswith("/-/api/") and response.status_code >= 400:
                assert response.is_json, (url, actor)
    assert not failures, "\n".join(failures)
