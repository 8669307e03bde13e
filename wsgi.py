"""WSGI entry point: `gunicorn wsgi:app` serves the wiki configured by WIKI_* variables."""

from wiki import create_app

app = create_app()
