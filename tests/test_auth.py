"""Accounts on the web: registration, login, sessions, tokens, admin actions, protection."""

import re
from urllib.parse import urlsplit

import pytest

from .conftest import git


@pytest.fixture
def make_app(tmp_path):
    from wiki import create_app

    def make(csrf: bool = False, **settings):
        config = {"TESTING": True, "WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data"),
                  "WTF_CSRF_ENABLED": csrf, **settings}
        return create_app(config)
    return make


def register(client, name, password="password-123", email=None):
    return client.post("/-/register", data={"name": name, "email": email or f"{name.lower()}@example.org",
                                            "password": password, "password2": password})


def login(client, name, password="password-123", **extra):
    return client.post("/-/login", data={"name": name, "password": password, **extra})


def test_first_user_becomes_admin_and_later_ones_wait_for_approval(make_app):
    app = make_app()
    ada, bob = app.test_client(), app.test_client()
    assert register(ada, "Ada").status_code == 302
    assert b"Administration" in ada.get("/Home").data
    assert register(bob, "Bob").status_code == 302
    r = login(bob, "Bob")
    assert r.status_code == 403 and b"waiting for an admin" in r.data
    users = app.extensions["tacit"].users
    bob_id = users.by_name("Bob").id
    assert ada.post(f"/-/admin/users/{bob_id}", data={"action": "approve"}).status_code == 302
    assert login(bob, "Bob").status_code == 302
    assert users.by_name("Bob").role == "editor"


def test_open_and_closed_registration(make_app, tmp_path):
    app = make_app(WIKI_REGISTRATION="open")
    register(app.test_client(), "Ada")
    bob = app.test_client()
    assert register(bob, "Bob").status_code == 302
    assert b"Bob" in bob.get("/Home").data  # logged in at once
    closed = make_app(WIKI_REGISTRATION="closed", WIKI_DATA=str(tmp_path / "closed"))
    client = closed.test_client()
    assert register(client, "First").status_code == 302  # the first account is always possible
    assert closed.test_client().get("/-/register").status_code == 403
    assert register(closed.test_client(), "Second").status_code == 403


def test_registration_errors_are_shown(make_app):
    client = make_app().test_client()
    r = client.post("/-/register", data={"name": "Ada", "email": "ada@example.org",
                                         "password": "password-123", "password2": "different-123"})
    assert r.status_code == 400 and b"differ" in r.data
    assert register(client, "Ada", password="short").status_code == 400
    register(client, "Ada")
    assert register(make_app().test_client(), "ada").status_code == 400  # taken, whatever the case


def test_failed_login_says_the_same_for_unknown_names(make_app):
    app = make_app()
    register(app.test_client(), "Ada")
    wrong = login(app.test_client(), "Ada", "wrong-password")
    unknown = login(app.test_client(), "Nobody", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: re.sub(rb'value="[^"]*"', b"", r.data)  # the typed name is echoed back
    assert strip(wrong) == strip(unknown)


def test_login_is_rate_limited_per_account_and_per_address(make_app):
    app = make_app(WIKI_LOGIN_LIMIT_ACCOUNT="3 per minute", WIKI_LOGIN_LIMIT_ADDRESS="5 per minute")
    register(app.test_client(), "Ada")
    client = app.test_client()
    assert [login(client, "Ada", "bad-guess").status_code for _ in range(3)] == [401, 401, 401]
    assert login(client, "Ada", "bad-guess").status_code == 429
    assert login(client, "Ada").status_code == 429  # even the right password, until the window ends
    other = app.test_client()  # same address (the test client's), other accounts
    statuses = [login(other, f"user{i}", "bad-guess").status_code for i in range(3)]
    assert statuses[:1] == [401] and 429 in statuses  # the address has used up its 5 failures
    fresh = app.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert login(fresh, "Someone", "bad-guess").status_code == 401


def test_successful_logins_are_not_counted(make_app):
    app = make_app(WIKI_LOGIN_LIMIT_ACCOUNT="2 per minute")
    register(app.test_client(), "Ada")
    client = app.test_client()
    for _ in range(4):
        assert login(client, "Ada").status_code == 302
        client.post("/-/logout")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "http:/evil.example", " //evil.example",
                                    "/%0d%0aLocation:evil", "\\\\evil.example"])
def test_login_redirects_only_within_the_site(make_app, target):
    app = make_app()
    register(app.test_client(), "Ada")
    r = login(app.test_client(), "Ada", next=target)
    assert r.status_code == 302
    location = r.headers["Location"]
    parts = urlsplit(location)
    assert location.startswith("/") and not location.startswith("//") and not parts.netloc and not parts.scheme
    assert "\\" not in location and "\r" not in location and "\n" not in location


def test_login_follows_a_local_next(make_app):
    app = make_app()
    register(app.test_client(), "Ada")
    r = login(app.test_client(), "Ada", next="/Projects/Alpha?rev=abc")
    assert r.headers["Location"] == "/Projects/Alpha?rev=abc"


def test_remember_me_sets_a_long_lived_httponly_cookie(make_app):
    app = make_app()
    register(app.test_client(), "Ada")
    r = login(app.test_client(), "Ada", remember="1")
    cookies = r.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember and "Expires=" in remember
    session = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    https = app.test_client()
    r = https.post("/-/login", data={"name": "Ada", "password": "password-123", "remember": "1"},
                   base_url="https://wiki.example")
    assert all("Secure" in c for c in r.headers.getlist("Set-Cookie"))


def test_disabled_user_is_logged_out_mid_session(make_app):
    app = make_app(WIKI_REGISTRATION="open")
    admin, bob = app.test_client(), app.test_client()
    register(admin, "Ada")
    register(bob, "Bob")
    assert b'name="base"' in bob.get("/-/edit/Home").data
    bob_id = app.extensions["tacit"].users.by_name("Bob").id
    admin.post(f"/-/admin/users/{bob_id}", data={"action": "disable"})
    r = bob.get("/-/edit/Home")
    assert r.status_code == 302 and "/-/login" in r.headers["Location"]
    assert login(bob, "Bob").status_code == 403


def test_admin_resets_a_password_shown_once(make_app):
    app = make_app(WIKI_REGISTRATION="open")
    admin, bob = app.test_client(), app.test_client()
    register(admin, "Ada")
    register(bob, "Bob")
    bob_id = app.extensions["tacit"].users.by_name("Bob").id
    r = admin.post(f"/-/admin/users/{bob_id}", data={"action": "password"})
    assert r.status_code == 200
    new_password = re.search(rb"<code>([^<]+)</code>", r.data).group(1).decode()
    assert bob.get("/-/account").status_code == 302  # the old session ended
    assert login(app.test_client(), "Bob").status_code == 401
    assert login(app.test_client(), "Bob", new_password).status_code == 302
    assert new_password.encode() not in admin.get("/-/admin/users").data


def test_change_own_password(make_app):
    app = make_app()
    client = app.test_client()
    register(client, "Ada")
    other = app.test_client()
    login(other, "Ada")
    bad = client.post("/-/account", data={"current": "nope-nope", "new": "new-password-1", "new2": "new-password-1"})
    assert bad.status_code == 400
    ok = client.post("/-/account", data={"current": "password-123", "new": "new-password-1", "new2": "new-password-1"})
    assert ok.status_code == 302
    assert client.get("/-/account").status_code == 200  # this session continues
    assert other.get("/-/account").status_code == 302  # the other one ended


def test_edits_are_authored_by_the_user_and_listed_on_the_profile(make_app):
    app = make_app()
    client = app.test_client()
    register(client, "Ada Lovelace", email="ada@example.org")
    client.post("/-/new", data={"name": "Notes", "text": "hello", "message": "first notes"})
    repo = app.config["WIKI_REPO"]
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Ada Lovelace <ada@example.org>"
    profile = client.get("/-/user/Ada Lovelace")
    assert profile.status_code == 200 and b"first notes" in profile.data and b'href="/Notes"' in profile.data
    assert client.get("/-/user/Nobody").status_code == 404


def test_anonymous_edits_carry_the_configured_name(make_app):
    app = make_app(WIKI_WRITE="anonymous", WIKI_ANONYMOUS_NAME="Guest", WIKI_ANONYMOUS_EMAIL="guest@wiki.invalid")
    app.test_client().post("/-/new", data={"name": "Open", "text": "hello"})
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%an <%ae>").strip() == "Guest <guest@wiki.invalid>"


def test_api_tokens(make_app):
    app = make_app(csrf=True)
    users = app.extensions["tacit"].users
    ada = users.create("Ada", "ada@example.org", "password-123")
    token, secret = users.create_token(ada.id, "script")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    r = client.put("/-/api/v1/pages/Scripted", json={"markdown": "by script"}, headers=auth)
    assert r.status_code == 201  # no CSRF token needed with a bearer token
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%an").strip() == "Ada"
    assert client.put("/-/api/v1/pages/Nope", json={"markdown": "x"}).status_code == 401  # no token, no cookie
    bad = client.get("/-/api/v1/pages", headers={"Authorization": "Bearer tacit_wrong"})
    assert bad.status_code == 401 and bad.get_json()["error"]
    users.revoke_token(token.id)
    revoked = client.put("/-/api/v1/pages/Scripted", json={"markdown": "again"}, headers=auth)
    assert revoked.status_code == 401 and "detail" in revoked.get_json()


def test_api_401_and_403(make_app):
    app = make_app()
    users = app.extensions["tacit"].users
    users.create("Ada", "ada@example.org", "password-123")
    reader = users.create("Rita", "rita@example.org", "password-123", role="reader")
    _, secret = users.create_token(reader.id)
    client = app.test_client()
    anon = client.put("/-/api/v1/pages/X", json={"markdown": "x"})
    assert anon.status_code == 401 and anon.is_json
    forbidden = client.put("/-/api/v1/pages/X", json={"markdown": "x"}, headers={"Authorization": f"Bearer {secret}"})
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]


def test_session_api_writes_need_the_csrf_header(make_app):
    app = make_app(csrf=True)
    client = app.test_client()
    form = client.get("/-/register").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post("/-/register", data={"name": "Ada", "email": "ada@example.org", "password": "password-123",
                                     "password2": "password-123", "csrf_token": token})
    assert client.put("/-/api/v1/pages/S", json={"markdown": "x"}).status_code == 400
    ok = client.put("/-/api/v1/pages/S", json={"markdown": "x"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201


API_WRITES = [  # one of each kind of API write
    ("PUT", "/-/api/v1/pages/X", {"json": {"markdown": "x"}}),
    ("DELETE", "/-/api/v1/pages/Home", {}),
    ("POST", "/-/api/v1/pages/Home/move", {"json": {"to": "Elsewhere"}}),
    ("POST", "/-/api/v1/pages/Home/revert", {"json": {"to": "main"}}),
    ("PUT", "/-/api/v1/pages/Home/files/a.txt", {"data": b"a"}),
    ("POST", "/-/api/v1/pages/Home/talk", {"json": {"title": "t", "body": "b"}}),
    ("POST", "/-/api/v1/folders/Templates/move", {"json": {"to": "Forms"}}),
]


def test_api_writes_without_credentials_ask_for_a_token(make_app):
    """No cookie and no token: nothing a forged request could ride on, so the answer is 401 with
    a Bearer challenge, not a CSRF error an API client cannot act on."""
    app = make_app(csrf=True)  # only editors write (WIKI_WRITE=editor, the default)
    app.extensions["tacit"].users.create("Ada", "ada@example.org", "password-123")
    head = git(app.config["WIKI_REPO"], "rev-parse", "main")
    for method, url, kwargs in API_WRITES:
        r = app.test_client().open(url, method=method, **kwargs)
        assert r.status_code == 401, (method, url, r.status_code, r.data)
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), (method, url)
        assert r.is_json and r.get_json()["error"] and "Bearer" in r.get_json()["detail"], (method, url)
    assert git(app.config["WIKI_REPO"], "rev-parse", "main") == head
    bad = app.test_client().put("/-/api/v1/pages/X", json={"markdown": "x"},
                                headers={"Authorization": "Bearer tacit_wrong"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_api_writes_without_cookies_on_an_open_wiki_need_no_csrf_token(make_app):
    app = make_app(csrf=True, WIKI_WRITE="anonymous")
    r = app.test_client().put("/-/api/v1/pages/Open", json={"markdown": "x"})
    assert r.status_code == 201
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%an").strip() == "Anonymous"


def test_api_writes_with_a_cookie_still_need_the_csrf_token(make_app):
    """A browser sends its cookies by itself, so a write carrying one must prove it came from our page."""
    app = make_app(csrf=True, WIKI_WRITE="anonymous")
    app.extensions["tacit"].users.create("Ada", "ada@example.org", "password-123")
    logged_in, remembered, visitor = app.test_client(), app.test_client(), app.test_client()
    for client, remember in ((logged_in, ""), (remembered, "1")):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/-/login").data.decode()).group(1)
        assert login(client, "Ada", csrf_token=token, remember=remember).status_code == 302
    remembered.delete_cookie("session")  # the browser was closed; the remember cookie still logs it in
    assert remembered.get_cookie("session") is None and remembered.get_cookie("remember_token")
    visitor.get("/-/login")  # not logged in; its session cookie holds a form's token
    for client in (logged_in, remembered, visitor):
        for method, url, kwargs in API_WRITES:
            r = client.open(url, method=method, **kwargs)
            assert r.status_code == 400, (method, url, r.status_code, r.data)
            assert r.is_json and "CSRF" in r.get_json()["detail"]
    assert git(app.config["WIKI_REPO"], "log", "--format=%s").count("\n") == 1  # only the welcome commit
    token = re.search(r'name="csrf_token" value="([^"]+)"', logged_in.get("/-/new").data.decode()).group(1)
    ok = logged_in.put("/-/api/v1/pages/S", json={"markdown": "x"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201
    assert git(app.config["WIKI_REPO"], "log", "-1", "--format=%an").strip() == "Ada"


def test_forms_without_cookies_still_need_the_csrf_token(make_app):
    """Outside the API nothing changes: a form posted by a browser with no cookie yet (a forged
    login, an anonymous edit) is refused without the token."""
    app = make_app(csrf=True, WIKI_WRITE="anonymous")
    app.extensions["tacit"].users.create("Ada", "ada@example.org", "password-123")
    assert login(app.test_client(), "Ada").status_code == 400
    assert app.test_client().post("/-/new", data={"name": "Forged", "text": "x"}).status_code == 400
    assert not app.extensions["tacit"].pages.exists("Forged")


def test_security_headers(make_app):
    r = make_app().test_client().get("/Home")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_templates_show_who_is_logged_in_and_hide_what_they_cannot_do(make_app):
    app = make_app(WIKI_REGISTRATION="open")
    anon = app.test_client()
    page = anon.get("/Home").data
    assert b"Log in" in page and b"Register" in page and b"/-/edit/Home" not in page and b"New page" not in page
    ada = app.test_client()
    register(ada, "Ada")
    page = ada.get("/Home").data
    assert b"Ada" in page and b"Log out" in page and b"/-/edit/Home" in page and b"Administration" in page
    users = app.extensions["tacit"].users
    rita = users.create("Rita", "rita@example.org", "password-123", role="reader")
    reader = app.test_client()
    login(reader, "Rita")
    page = reader.get("/Home").data
    assert b"Rita" in page and b"/-/edit/Home" not in page and b"Administration" not in page
    assert reader.get("/-/edit/Home").status_code == 403
    assert rita.role == "reader"


def test_behind_a_tls_proxy_cookies_are_secure_and_addresses_are_the_clients(make_app):
    app = make_app(WIKI_PROXIES=1, WIKI_LOGIN_LIMIT_ADDRESS="2 per minute")
    register(app.test_client(), "Ada")
    client = app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    r = client.post("/-/login", data={"name": "Ada", "password": "password-123", "remember": "1"}, headers=forwarded)
    assert r.status_code == 302
    assert all("Secure" in c for c in r.headers.getlist("Set-Cookie"))
    assert "Strict-Transport-Security" in r.headers
    for _ in range(2):
        client.post("/-/login", data={"name": "x", "password": "wrong-pass"}, headers=forwarded)
    assert client.post("/-/login", data={"name": "y", "password": "wrong-pass"}, headers=forwarded).status_code == 429
    other = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}
    assert client.post("/-/login", data={"name": "z", "password": "wrong-pass"}, headers=other).status_code == 401
