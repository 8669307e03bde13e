"""The baseline for bench/run.py: the smallest Flask app, served with the wiki's gunicorn settings.

    cd bench && ../.venv/bin/gunicorn -w 4 -k sync -b 127.0.0.1:8000 hello:app
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello, World!"
