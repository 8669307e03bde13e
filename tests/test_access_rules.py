"""Folder rules are honoured wherever a page's name or text could show."""

import re

import pytest

from wiki.core.gitrepo import Person

from .test_permissions import CASES

PASSWORD = "rules-password"
ADA = Person("Ada", "ada@example.org")


@pytest.fixture
def wiki_app(tmp_path):
    from wiki import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "WIKI_REPO": str(tmp_path / "repo"),
                      "WIKI_DATA": str(tmp_path / "data")})
    wiki = app.extensions["tacit"]
    wiki.users.create("Ada", "ada@example.org", PASSWORD)
    wiki.users.create("Hana", "hana@example.org", PASSWORD, role="editor")
    wiki.users.create("Ed", "ed@example.org", PASSWORD, role="editor")
    wiki.users.create_group("hr")
    wiki.users.set_membership("hr", "Hana", True)
    wiki.rules.set("HR/", "group:hr", "group:hr")
    wiki.rules.set("Policies/", None, "admins")
    hana = Person("Hana", "hana@example.org")
    wiki.pages.save("HR/Salaries", "secret numbers\n", hana, "salaries")
    wiki.pages.save("HR/Old", "old\n", hana)
    wiki.pages.rename("HR/Old", "HR/Renamed", hana)
    wiki.pages.save("Policies/Travel", "travel rules\n", ADA)
    wiki.pages.save("Home", "See [[HR/Salaries]] and [[Policies/Travel]].\n", ADA, base=wiki.pages.head())
    return app


def client_for(app, name=None):
    client = app.test_client()
    if name:
        assert client.post("/-/login", data={"name": name, "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("who", [None, "Ed"])
def test_hidden_pages_look_missing_everywhere(wiki_app, who):
    client = client_for(wiki_app, who)
    for url in ("/HR/Salaries", "/-/raw/HR/Salaries", "/-/api/v1/pages/HR/Salaries", "/hr/salaries",
                "/HR/Old", "/-/view?page=HR/Salaries", "/-/raw?page=HR/Salaries"):
        r = client.get(url)
        assert r.status_code in (404, 302) and b"secret numbers" not in r.data, url
        if r.status_code == 302:
            assert "/-/login" in r.headers["Location"] or "Salaries" not in r.headers["Location"], url
    assert client.get("/HR/Salaries").status_code == 404
    listing = client.get("/-/pages").data + client.get("/-/api/v1/pages").data
    assert b"Salaries" not in listing and b"Travel" in listing
    home = client.get("/Home").data.decode()
    hr_link = re.search(r'<a[^>]*data-wikilink="HR/Salaries"[^>]*>', home).group(0)
    assert "missing" in hr_link  # shown like a page that does not exist
    profile = client.get("/-/user/Hana").data
    assert b"HR/" not in profile
    assert client.get("/-/pages/HR").status_code == 404


def test_group_members_see_and_edit_their_folder(wiki_app):
    hana = client_for(wiki_app, "Hana")
    assert b"secret numbers" in hana.get("/HR/Salaries").data
    assert hana.get("/HR/Old").status_code == 302  # the redirect left by the rename
    assert b"HR/Salaries" in hana.get("/-/api/v1/pages").data
    edit = hana.get("/-/edit/HR/Salaries")
    assert edit.status_code == 200
    assert hana.put("/-/api/v1/pages/HR/New", json={"markdown": "x"}).status_code == 201
    assert b"salaries" in hana.get("/-/user/Hana").data


def test_admins_only_folder_is_readable_but_not_editable(wiki_app):
    ed = client_for(wiki_app, "Ed")
    assert ed.get("/Policies/Travel").status_code == 200
    assert ed.get("/-/edit/Policies/Travel").status_code == 403
    assert ed.put("/-/api/v1/pages/Policies/Travel", json={"markdown": "x", "base": "HEAD"}).status_code == 403
    assert b"/-/edit/Policies/Travel" not in ed.get("/Policies/Travel").data
    ada = client_for(wiki_app, "Ada")
    assert ada.get("/-/edit/Policies/Travel").status_code == 200
    assert b"secret numbers" in ada.get("/HR/Salaries").data


def test_a_page_cannot_be_moved_or_created_into_a_folder_one_may_not_write(wiki_app):
    ed = client_for(wiki_app, "Ed")
    ed.put("/-/api/v1/pages/Mine", json={"markdown": "mine"})
    assert ed.post("/-/api/v1/pages/Mine/move", json={"to": "Policies/Mine"}).status_code == 403
    assert ed.post("/-/new", data={"name": "Policies/New", "text": "x"}).status_code == 403
    assert ed.post("/-/rename/Mine", data={"new_name": "Policies/Mine"}).status_code == 403


def test_rule_changes_apply_at_once(wiki_app):
    ed = client_for(wiki_app, "Ed")
    assert ed.get("/Policies/Travel").status_code == 200
    ada = client_for(wiki_app, "Ada")
    assert ada.post("/-/admin/rules", data={"path": "Policies/", "read": "admins", "write": "admins"}).status_code == 302
    assert ed.get("/Policies/Travel").status_code == 404


def test_every_state_changing_form_needs_a_csrf_token(tmp_path):
    from wiki import create_app

    app = create_app({"WIKI_REPO": str(tmp_path / "repo"), "WIKI_DATA": str(tmp_path / "data")})
    app.extensions["tacit"].users.create("Ada", "ada@example.org", PASSWORD)
    client = app.test_client()
    form = client.get("/-/login").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/-/login", data={"name": "Ada", "password": PASSWORD}).status_code == 400
    assert client.post("/-/login", data={"name": "Ada", "password": PASSWORD, "csrf_token": token}).status_code == 302
    tried = 0
    for n, case in enumerate(CASES):
        if case.method == "GET":
            continue
        if case.endpoint == "git.smart_http":  # git's own content type and HTTP Basic; a form cannot send it
            assert client.post("/-/wiki.git/git-receive-pack", data={"x": "1"}).status_code in (400, 415)
            continue
        if case.request is None:
            url, kwargs = "/-/logout", {}
        else:
            url, kwargs = case.request(app, 10_000 + n)
        r = client.open(url, method=case.method, **kwargs)
        assert r.status_code == 400, (case.endpoint, case.method, r.status_code)
        assert b"CSRF" in r.data or b"csrf" in r.data.lower()
        tried += 1
    assert tried >= 20
    assert client.get("/-/account").status_code == 200  # still logged in: the logout was refused too
