"""WSGI entry point of a checkout: `gunicorn wsgi:app` serves the wiki configured by WIKI_* variables.

An installed wheel has `wiki.wsgi:app` (or `wiki:create_app()`) instead.
"""

from wiki.wsgi import app  # noqa: F401
