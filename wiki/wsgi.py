"""WSGI entry point inside the package: `gunicorn wiki.wsgi:app` serves the wiki configured by WIKI_* variables.

`gunicorn 'wiki:create_app()'` does the same; this module is for servers that want a module attribute.
"""

from . import create_app

app = create_app()
