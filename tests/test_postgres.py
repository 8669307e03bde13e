"""PostgreSQL works unchanged: a real server in a temporary cluster."""

import pytest

from wiki.core.db import SCHEMA_HEAD


@pytest.fixture
def postgres_url(postgres):
    return postgres.create_database("accounts")


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
