"""PostgreSQL works unchanged: a real server in a temporary cluster."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from wiki.core.db import SCHEMA_HEAD

from .system import ensure_package


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb = ensure_package("/usr/lib/postgresql/*/bin/initdb", "postgresql")
    bindir = Path(initdb).parent
    # its own folder under /tmp: pytest's folders are private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="tacit-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(as_postgres + [str(initdb), "-D", str(data), "-U", "wiki", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = _free_port()
    subprocess.run(as_postgres + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                                  "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run(as_postgres + [str(bindir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "wiki",
                                      "tacit"], check=True, capture_output=True)
        yield f"postgresql+psycopg://wiki@127.0.0.1:{port}/tacit"
    finally:
        subprocess.run(as_postgres + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_the_wiki_runs_on_postgresql(postgres_url, tmp_path):
    from wiki import create_app

    config = {"TESTING": True, "WTF_CSRF_ENABLED": False, "WIKI_REPO": str(tmp_path / "repo"),
              "WIKI_DATA": str(tmp_path / "data"), "WIKI_DATABASE_URL": postgres_url,
              "WIKI_LOGIN_LIMIT_ACCOUNT": "2 per minute"}
    app = create_app(config)
    create_app(config)  # a second app (another host) migrates the same database: nothing to do
    assert not (tmp_path / "data" / "wiki.db").exists()
    client = app.test_client()
    r = client.post("/-/register", data={"name": "Ada", "email": "ada@example.org",
                                         "password": "password-123", "password2": "password-123"})
    assert r.status_code == 302
    assert client.put("/-/api/v1/pages/On Postgres", json={"markdown": "stored"}).status_code == 201
    wiki = app.extensions["tacit"]
    ada = wiki.users.by_name("ada")
    assert ada.role == "admin"
    wiki.users.create_group("hr")
    wiki.users.set_membership("hr", "Ada", True)
    assert wiki.users.by_name("Ada").groups == {"hr"}
    wiki.rules.set("HR/", "group:hr", None)
    token, secret = wiki.users.create_token(ada.id)
    assert wiki.users.from_token(secret).name == "Ada"
    other = app.test_client()
    statuses = [other.post("/-/login", data={"name": "Ada", "password": "wrong-pass"}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # the limiter's counters live in PostgreSQL too
    with wiki.engine.connect() as conn:
        assert conn.dialect.name == "postgresql"
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert version == SCHEMA_HEAD
