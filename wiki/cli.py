"""The `wiki` command: create the content repository and serve the wiki."""

from __future__ import annotations

import os
import sys

import click

from .config import load_config
from .core.bootstrap import NotAGitRepository, init_repository
from .core.gitrepo import GitError
from .core.hosts import DatabaseUnavailable
from .core.remote import RemoteUnavailable
from .core.gitrepo import Person
from .logconfig import gunicorn_options, install_unless_configured


def _settings(overrides: dict | None = None) -> dict:
    """The settings, a bad one said as a one-line error instead of a traceback."""
    try:
        return load_config(overrides)
    except ValueError as e:
        raise click.ClickException(str(e)) from None


@click.group(help="Tacit, a team wiki kept in git.")
def main() -> None:
    try:  # the commands' own records (and the processes they start) in the operator's format
        install_unless_configured()
    except ValueError as e:
        raise click.ClickException(str(e)) from None


@main.command()
@click.option("--repo", "repo_path", type=click.Path(file_okay=False), default=None,
              help="Content repository (default: WIKI_REPO or ./pages_repo).")
def init(repo_path: str | None) -> None:
    """Create the content repository with a welcome page; an existing one is left untouched."""
    settings = _settings({"WIKI_REPO": repo_path} if repo_path else None)
    repo, created = _open_repository(settings)
    if created:
        click.echo(f"Created the wiki repository at {repo.path} with a welcome page.")
    else:
        click.echo(f"{repo.path} is already a git repository; opened it as it is (branch {repo.branch}).")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: 2 per CPU, at least 2).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (more than 1 uses gunicorn's gthread workers).")
@click.option("--dev", is_flag=True, help="Use Flask's development server with reloading (never in production).")
def serve(host: str, port: int, workers: int | None, threads: int, dev: bool) -> None:
    """Serve the wiki with gunicorn (several worker processes)."""
    settings = _settings()
    _open_repository(settings)
    from . import create_app

    if dev:
        create_app().run(host=host, port=port, debug=True)
        return
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    click.echo(f"Serving {settings['WIKI_NAME']} at http://{host}:{port}/ "
               f"({workers} workers; repository {settings['WIKI_REPO']})")
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
               "worker_class": "gthread" if threads > 1 else "sync",
               "accesslog": "-", "timeout": 60, "graceful_timeout": 10,
               **gunicorn_options(settings["WIKI_LOG_FORMAT"], settings["WIKI_LOG_LEVEL"])}).run()


def _open_repository(settings: dict):
    """Open or create the content repository (each worker's wiki writes a missing commit-graph in
    the background, so a large repository starts serving at once)."""
    if settings.get("WIKI_REMOTE"):  # several hosts: WIKI_REPO is this host's mirror of the git server
        wiki = _wiki(build_search=False)
        repo, created = wiki.repo, False
        wiki.close()
    else:
        author = Person(settings["WIKI_ANONYMOUS_NAME"], settings["WIKI_ANONYMOUS_EMAIL"])
        try:
            repo, created = init_repository(settings["WIKI_REPO"], author)
        except NotAGitRepository as e:
            raise click.ClickException(str(e)) from None
    return repo, created


def _users():
    from .core.users import UserStore
    from .core.wiki import open_database

    settings = _settings()
    return UserStore(open_database(settings["WIKI_DATA"], settings.get("WIKI_DATABASE_URL")))


def _user_or_fail(store, name: str):
    user = store.by_name(name)
    if user is None:
        raise click.ClickException(f"There is no user named {name}.")
    return user


def _wiki(build_search: bool = True):
    from .core.wiki import Wiki

    settings = _settings()
    try:
        return Wiki.from_settings(settings, build_search=build_search)
    except (NotAGitRepository, GitError, RemoteUnavailable, DatabaseUnavailable) as e:
        raise click.ClickException(str(e)) from None


def _progress_bar(label: str):
    """A click progress bar fed with (done, total) calls."""
    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = click.progressbar(length=max(total, 1), label=label, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    def close() -> None:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)

    return update, close


@main.command()
@click.option("--pages-only", is_flag=True, help="Rebuild the page index only, not the history and semantic indexes.")
def reindex(pages_only: bool) -> None:
    """Rebuild the search indexes from the repository (searches keep working meanwhile)."""
    import time

    wiki = _wiki(build_search=False)
    steps = [("Pages  ", wiki.search.rebuild, "pages")]
    if not pages_only:
        steps.append(("History", wiki.search.rebuild_history, "page revisions"))
        if wiki.search.meaning.available():
            steps.append(("Meaning", wiki.search.rebuild_vectors, "passages (semantic index)"))
        else:
            click.echo("Search by meaning is off (WIKI_SEMANTIC=0, or no model installed): no semantic index.")
    for label, build, what in steps:
        started = time.perf_counter()
        update, close = _progress_bar(label)
        try:
            count = build(update)
        except RuntimeError as e:  # the meaning service could not be started or stopped answering
            raise click.ClickException(f"{label.strip()} index not built: {e}. "
                                       "Search answers by words meanwhile; run 'wiki reindex' again.") from None
        finally:
            close()
        click.echo(f"Indexed {count} {what} in {time.perf_counter() - started:.1f} s.")


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--history", is_flag=True, help="Search past revisions.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 200))
def search(query: tuple[str, ...], history: bool, limit: int) -> None:
    """Search the wiki from the command line (as an admin would: every page)."""
    import html
    import re

    wiki = _wiki()
    wiki.search.catch_up(wait=True)
    wiki.search.wait_for_rebuild()
    if wiki.search.meaning.available():
        wiki.search.meaning.ready(30)  # a first question waits for the model, not for the words alone
    result = wiki.search.search(" ".join(query), 0, limit, [], history)
    wiki.close()  # a catch-up the search started finishes before the command ends
    if result.error:
        raise click.ClickException(result.error)
    if result.suggestion:
        click.echo(f"Did you mean: {result.suggestion}")
    click.echo(f"{result.total} result{'s' if result.total != 1 else ''}")
    for hit in result.hits:
        where = f" @ {hit.revision[:10]}" if hit.source == "history" else ""
        click.echo(click.style(f"{hit.path}{where}", bold=True) + (f"  ({hit.title})" if hit.title != hit.path else ""))
        snippet = html.unescape(re.sub(r"</?mark[^>]*>", "", hit.snippet_html)).replace("\n", " ")
        click.echo("    " + snippet[:200])


@main.command()
@click.option("--repair", is_flag=True, help="Clear stale locks and temporary files, bring the indexes in step.")
def check(repair: bool) -> None:
    """Verify the repository (git fsck), lock files, talk files and the search indexes."""
    from .core.check import check_wiki

    wiki = _wiki(build_search=False)
    findings = check_wiki(wiki, repair)
    for f in findings:
        mark = "repaired" if f.repaired else "PROBLEM"
        click.echo(f"{mark:>8}  {f.area}: {f.problem}")
    left = [f for f in findings if not f.repaired]
    if not findings:
        click.echo(f"All good: the repository is sound at {str(wiki.repo.head())[:12]}, "
                   "and the search indexes are in step.")
    elif left:
        hint = "" if repair else " (--repair fixes locks, temporary files and indexes)"
        raise click.ClickException(f"{len(left)} problem{'s' if len(left) != 1 else ''} left{hint}.")


@main.command()
@click.argument("dest", type=click.Path(file_okay=False))
def backup(dest: str) -> None:
    """Write a backup folder: a git bundle of everything and the accounts database."""
    from .core.backup import BackupError, backup as make_backup

    wiki = _wiki(build_search=False)
    try:
        manifest = make_backup(wiki.repo, wiki.engine, dest)
    except (BackupError, OSError) as e:
        raise click.ClickException(f"the backup was not written: {e}") from None
    rows = ", ".join(f"{n} {t}" for t, n in manifest["rows"].items() if n)
    click.echo(f"Backed up {manifest['branch']} at {manifest['head'][:12]} and {rows or 'no rows'} to {dest}.")


@main.command()
@click.argument("src", type=click.Path(file_okay=False, exists=True))
@click.option("--force", is_flag=True, help="Load the database rows even though WIKI_REPO already exists.")
def restore(src: str, force: bool) -> None:
    """Bring a backup back: the repository into WIKI_REPO (must be new), the rows into the database."""
    from .core.backup import BackupError, restore as load_backup
    from .core.wiki import open_database

    settings = _settings()
    engine = open_database(settings["WIKI_DATA"], settings.get("WIKI_DATABASE_URL"))
    try:
        manifest = load_backup(src, settings["WIKI_REPO"], engine, force)
    except BackupError as e:
        raise click.ClickException(str(e)) from None
    except (OSError, ValueError, KeyError) as e:  # not a backup folder, or a damaged one
        raise click.ClickException(f"{src} is not a readable backup ({e}); nothing was restored") from None
    click.echo(f"Restored {manifest['branch']} at {manifest['head'][:12]} into {settings['WIKI_REPO']}; "
               "the search index is rebuilt on first start.")


@main.group()
def user() -> None:
    """Manage accounts."""


@user.command("add")
@click.argument("name")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["reader", "editor", "admin"]), default="editor", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(name: str, email: str, role: str, password_stdin: bool) -> None:
    """Create an active account (the first account is always an admin)."""
    from .core.users import AccountError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        created = _users().create(name, email, password, role=role, status="active")
    except AccountError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Created {created.name} <{created.email}> as {created.role}.")


@user.command("list")
def user_list() -> None:
    """List accounts with role and status."""
    rows = _users().list()
    if not rows:
        click.echo("No accounts yet.")
    for u in rows:
        groups = f"  groups: {', '.join(sorted(u.groups))}" if u.groups else ""
        click.echo(f"{u.name:<24} {u.email:<32} {u.role:<7} {u.status}{groups}")


@user.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["reader", "editor", "admin"]))
def user_set_role(name: str, role: str) -> None:
    """Change an account's role."""
    from .core.users import AccountError

    store = _users()
    try:
        store.set_role(_user_or_fail(store, name).id, role)
    except AccountError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{name} is now {role}.")


@main.group()
def token() -> None:
    """Manage API tokens (used as 'Authorization: Bearer <token>')."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
def token_create(name: str, label: str) -> None:
    """Create a token for an account and print it once (only its hash is kept)."""
    store = _users()
    created, secret = store.create_token(_user_or_fail(store, name).id, label)
    click.echo(f"Token {created.id} ({created.label}) for {name}; it is shown only this once:", err=True)
    click.echo(secret)


@token.command("list")
@click.argument("name", required=False)
def token_list(name: str | None) -> None:
    """List tokens (of one account, or all)."""
    store = _users()
    owner = _user_or_fail(store, name).id if name else None
    names = {u.id: u.name for u in store.list()}
    for t in store.tokens(owner):
        state = "revoked" if t.revoked else "active"
        used = t.last_used_at.strftime("%Y-%m-%d") if t.last_used_at else "never used"
        click.echo(f"{t.id:>4}  {names.get(t.user_id, '?'):<20} {t.label:<24} {state:<8} {used}")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its number (see `wiki token list`)."""
    from .core.users import AccountError

    try:
        _users().revoke_token(token_id)
    except AccountError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Token {token_id} revoked.")


class _Gunicorn:
    """gunicorn's embedding API, with create_app() called in each worker."""

    def __new__(cls, options: dict):
        from gunicorn.app.base import BaseApplication

        class Application(BaseApplication):
            def load_config(self) -> None:
                from .gunicorn_hooks import HOOKS  # the metrics folder and server, the start-up readiness check

                for key, value in {**HOOKS, **options}.items():
                    self.cfg.set(key, value)
                if "control_socket_disable" in self.cfg.settings:
                    # gunicorn >= 24 opens ~/.gunicorn/gunicorn.ctl, shared by every server of the user
                    self.cfg.set("control_socket_disable", True)

            def load(self):
                from . import create_app
                return create_app()

        return Application()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
