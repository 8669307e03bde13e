"""The `wiki` command: create the content repository and serve the wiki."""

from __future__ import annotations

import os
import sys

import click

from .config import load_config
from .core.bootstrap import NotAGitRepository, init_repository
from .core.gitrepo import Person


@click.group(help="Tacit, a team wiki kept in git.")
def main() -> None:
    pass


@main.command()
@click.option("--repo", "repo_path", type=click.Path(file_okay=False), default=None,
              help="Content repository (default: WIKI_REPO or ./pages_repo).")
def init(repo_path: str | None) -> None:
    """Create the content repository with a welcome page; an existing one is left untouched."""
    settings = load_config({"WIKI_REPO": repo_path} if repo_path else None)
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
@click.option("--dev", is_flag=True, help="Use Flask's development server with reloading (never in production).")
def serve(host: str, port: int, workers: int | None, dev: bool) -> None:
    """Serve the wiki with gunicorn (several worker processes)."""
    settings = load_config()
    _open_repository(settings)
    from . import create_app

    if dev:
        create_app().run(host=host, port=port, debug=True)
        return
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    click.echo(f"Serving {settings['WIKI_NAME']} at http://{host}:{port}/ "
               f"({workers} workers; repository {settings['WIKI_REPO']})")
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
               "accesslog": "-", "timeout": 60, "graceful_timeout": 10}).run()


def _open_repository(settings: dict):
    """Open or create the content repository and refresh its commit-graph."""
    author = Person(settings["WIKI_ANONYMOUS_NAME"], settings["WIKI_ANONYMOUS_EMAIL"])
    try:
        repo, created = init_repository(settings["WIKI_REPO"], author)
    except NotAGitRepository as e:
        raise click.ClickException(str(e)) from None
    repo.maintain()
    return repo, created


class _Gunicorn:
    """gunicorn's embedding API, with create_app() called in each worker."""

    def __new__(cls, options: dict):
        from gunicorn.app.base import BaseApplication

        class Application(BaseApplication):
            def load_config(self) -> None:
                for key, value in options.items():
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
